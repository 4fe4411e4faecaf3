"""The small files of a full export: manifest, JSON lines, the public key, the leaf hashes."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from audit.note import SIG_TYPE_ED25519, NoteError, VerifierKey, parse_vkey
from audit.verify.common import (
    CHUNK,
    EXPORT_FORMAT,
    HASH,
    LEAF_HASHES,
    MANIFEST,
    OPTIONAL_FILES,
    PUBLIC_KEY,
    REQUIRED_FILES,
    Failure,
)
from audit.verify.entries import DuplicateName, no_duplicates


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(directory: str) -> dict[str, Any]:
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path, "rb") as stream:
            manifest = json.loads(stream.read().decode("utf-8"))
    except FileNotFoundError:
        raise Failure("manifest", f"{MANIFEST} is missing") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Failure("manifest", f"{MANIFEST} is not valid UTF-8 JSON: {exc}") from None
    if type(manifest) is not dict:
        raise Failure("manifest", f"{MANIFEST} is not a JSON object")
    if manifest.get("format") != EXPORT_FORMAT:
        raise Failure("manifest", f"unsupported export format {manifest.get('format')!r}, expected {EXPORT_FORMAT!r}")
    origin = manifest.get("origin")
    if not isinstance(origin, str) or not origin:
        raise Failure("manifest", "manifest origin must be a non-empty string")
    for member in ("entries", "checkpoints"):
        if type(manifest.get(member)) is not int or manifest[member] < 0:
            raise Failure("manifest", f"manifest {member!r} must be a non-negative integer")
    files = manifest.get("files")
    if type(files) is not dict:
        raise Failure("manifest", "manifest 'files' must be an object")
    for name, digest in files.items():
        if name not in REQUIRED_FILES + OPTIONAL_FILES:
            raise Failure("manifest", f"manifest lists an unknown file {name!r}")
        if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise Failure("manifest", f"manifest digest of {name} is not 64 lowercase hex digits")
    for name in REQUIRED_FILES:
        if name not in files:
            raise Failure("manifest", f"manifest does not list the required file {name}")
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        present = os.path.isfile(os.path.join(directory, name))
        if name in files and not present:
            raise Failure("manifest", f"{name} is listed in the manifest but missing")
        if present and name not in files:
            raise Failure("manifest", f"{name} is present but not listed in the manifest")
    return manifest


def read_jsonl(path: str, what: str, check: str) -> list[tuple[int, dict[str, Any]]]:
    """Parse a small JSON-lines file: one JSON object per newline-terminated line.

    Unlike entries, these lines need not be canonical: what they carry is authenticated by the
    signatures inside them, not by their bytes.
    """
    with open(path, "rb") as stream:
        data = stream.read()
    if data and not data.endswith(b"\n"):
        raise Failure(check, f"{what}: the last line is not terminated by a newline")
    records = []
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            value = json.loads(line.decode("utf-8"), object_pairs_hook=no_duplicates)
        except DuplicateName as exc:
            raise Failure(check, f"{what} line {number} repeats the member name {exc.args[0]!r}") from None
        except (ValueError, RecursionError) as exc:
            raise Failure(check, f"{what} line {number} is not valid UTF-8 JSON: {exc}") from None
        if type(value) is not dict:
            raise Failure(check, f"{what} line {number} is not a JSON object")
        records.append((number, value))
    return records


def read_public_key(path: str) -> VerifierKey:
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise Failure("public_key", f"{PUBLIC_KEY} is not valid UTF-8") from None
    text = text[:-1] if text.endswith("\n") else text
    try:
        key = parse_vkey(text)
    except NoteError as exc:
        raise Failure("public_key", f"{PUBLIC_KEY} is not a valid vkey: {exc}") from None
    if key.sig_type != SIG_TYPE_ED25519:
        raise Failure("public_key", f"{PUBLIC_KEY} is not an Ed25519 note-signing key (type 0x01)")
    return key


def read_leaf_hashes(path: str, count: int) -> bytes:
    """leaf-hashes.txt: one lowercase hex SHA-256 per line; returns them concatenated."""
    out = bytearray()
    line_size = 2 * HASH + 1
    with open(path, "rb") as stream:
        number = 0
        while chunk := stream.read(line_size * 16384):
            rows = len(chunk) // line_size
            if len(chunk) % line_size or chunk[line_size - 1 :: line_size] != b"\n" * rows:
                raise Failure(
                    "leaf_hashes_format",
                    f"{LEAF_HASHES} must hold one 64-digit lowercase hex hash per line (near line {number + 1})",
                )
            digits = chunk.replace(b"\n", b"")
            if digits.translate(None, b"0123456789abcdef"):
                raise Failure("leaf_hashes_format", f"{LEAF_HASHES} contains a non-lowercase-hex character")
            out += bytes.fromhex(digits.decode("ascii"))
            number += rows
    if number != count:
        raise Failure("leaf_hashes_format", f"{LEAF_HASHES} has {number} lines but the export holds {count} entries")
    return bytes(out)


def first_difference(a: bytes, b: bytes, start: int, end: int) -> int | None:
    """First leaf index in [start, end) where two concatenations of 32-byte hashes differ."""
    lo, hi = start, end
    if a[lo * HASH : hi * HASH] == b[lo * HASH : hi * HASH]:
        return None
    while hi - lo > 1:  # invariant: the first difference lies in [lo, hi)
        mid = (lo + hi) // 2
        if a[lo * HASH : mid * HASH] == b[lo * HASH : mid * HASH]:
            lo = mid
        else:
            hi = mid
    return lo
