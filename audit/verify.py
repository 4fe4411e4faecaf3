"""Offline verifier for Casebridge audit-log exports.

    python -m audit.verify EXPORT_DIR [--json] [--key VKEY ...] [--require-complete]

Needs only the standard library, ``cryptography`` and ``casebridge.lib.canonical_json``: no
Django, no database, no network. The export layout and every check are described in
docs/audit-log.md. Checks run in a fixed order and stop at the first failure, which is reported
with a machine-readable ``check`` name, the entry ``index`` and ``checkpoint_size`` it concerns
(when there is one) and a human message.

Exit status: 0 all checks passed, 1 a check failed, 2 usage error or missing directory.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import pairwise
from operator import itemgetter
from typing import Any

from audit import merkle
from audit.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    MalformedNoteError,
    NoteError,
    SignatureLine,
    VerifierKey,
    checkpoint_verify,
    cosignature_verify,
    parse_vkey,
    split_note,
)
from casebridge.lib.canonical_json import CanonicalJSONError, canonical_json

__all__ = ["EXPORT_FORMAT", "VerificationResult", "main", "verify_export", "write_manifest"]

EXPORT_FORMAT = "casebridge-audit-export/1"
ENTRIES = "entries.jsonl"
LEAF_HASHES = "leaf-hashes.txt"
CHECKPOINTS = "checkpoints.jsonl"
COSIGNATURES = "cosignatures.jsonl"
PUBLIC_KEY = "public-key.vkey"
KEY_HISTORY = "key-history.jsonl"
MANIFEST = "manifest.json"
REQUIRED_FILES = (ENTRIES, CHECKPOINTS, PUBLIC_KEY)
OPTIONAL_FILES = (LEAF_HASHES, COSIGNATURES, KEY_HISTORY)
KEY_ROTATED = "audit.key_rotated"
# In a canonical entry the top-level member is exactly these bytes (a nested one may match too).
_ROTATION_MARK = b'"action":"audit.key_rotated"'
_HASH = merkle.HASH_SIZE
_CHUNK = 1 << 20

# Check names, in the order they run.
CHECKS = (
    "manifest",
    "entry_format",
    "entry_canonical",
    "entry_index",
    "public_key",
    "key_history",
    "leaf_hashes_format",
    "checkpoint_format",
    "checkpoint_signature",
    "checkpoint_origin",
    "checkpoint_order",
    "checkpoint_beyond_export",
    "checkpoint_root",
    "leaf_hash",
    "consistency",
    "cosignature",
    "coverage",
)


@dataclass
class VerificationResult:
    """Outcome of :func:`verify_export`.

    ``failure`` is ``None`` or ``{"check", "index", "checkpoint_size", "message"}``. ``covered`` is
    the size of the latest checkpoint: entries at or beyond it are not (yet) authenticated by a
    signed checkpoint. ``key`` is the log's current vkey, ``keys`` every key of the log with the
    checkpoint sizes it signs (``{"vkey", "first_size", "last_size"}``, oldest first).
    """

    ok: bool
    entries: int = 0
    checkpoints: int = 0
    failure: dict[str, Any] | None = None
    covered: int = 0
    cosignatures: int = 0
    origin: str | None = None
    key: str | None = None
    keys: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Failure(Exception):
    def __init__(
        self, check: str, message: str, *, index: int | None = None, checkpoint_size: int | None = None
    ) -> None:
        super().__init__(message)
        self.check = check
        self.message = message
        self.index = index
        self.checkpoint_size = checkpoint_size

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "index": self.index,
            "checkpoint_size": self.checkpoint_size,
            "message": self.message,
        }


# --------------------------------------------------------------------------- canonical entries
#
# Every entry line must be byte-for-byte canonical_json(json.loads(line)): the literal check,
# _slow_entry(). Done literally it costs a Python-level serialization per line, so two faster
# tiers go first. Each either PROVES that the literal check would accept the line, or defers to
# the next tier; the literal check alone rejects. The tiers can only make verification faster,
# never laxer (tests/audit/test_verify.py checks the verdicts against the literal check).
#
# Tier 1, no parsing at all (lines without escapes: the vast majority):
#   a. No backslash and no byte below 0x20 in the line. So no string has an escape or a raw
#      control character, the `"` bytes are exactly the string delimiters, and each string's
#      canonical form is its raw text between quotes. The line splits on `"` into an odd
#      number of parts: even ones are the text outside strings (the "skeleton"), odd ones the
#      strings' UTF-8 contents. The line must decode as UTF-8.
#   b. The skeleton, with every digit mapped to "1" and each string reduced to one `"`, must be
#      a JSON object in canonical form (no whitespace, integers of at most 15 digits, true /
#      false / null), checked once per distinct shape by a small parser and cached. The real
#      first digit of every negative or multi-digit integer must not be 0 (no "-0", no leading
#      zero); the shape records where those digits are.
#   c. The member names of every object, taken from the odd parts, must be strictly increasing
#      as UTF-8 bytes (sorted and unique). Byte order equals RFC 8785's UTF-16 order when the
#      line has no character outside the BMP; lines with 4-byte UTF-8 sequences are deferred.
#      The verdict is cached per shape and sequence of names (joined with NUL, which tier 1
#      lines cannot contain).
#   d. The top-level member "index" must be an integer; its digits are read from the skeleton.
#
# Tier 2, the C JSON scanner and encoder: for lines that parse without floats, NaN or Infinity,
# have no run of 16 or more digits (RFC 8785 integers stop at 2**53 - 1) and no character
# outside the BMP, json's C encoder with sort_keys and ensure_ascii=False writes exactly what
# canonical_json writes; comparing its output with the line decides.

_CTRL_OR_BACKSLASH = bytes(range(0x20)) + b"\\"
_CTRL_OR_BACKSLASH_BUT_NEWLINE = _CTRL_OR_BACKSLASH.replace(b"\n", b"")
_DIGITS_TO_ONE = bytes.maketrans(b"0123456789", b"1111111111")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_SIXTEEN_DIGITS = b"0" * 16
_MAX_SHAPES = 65536
_MAX_NAME_SETS = 1024  # per shape
_MAX_KNOWN_TOTAL = 100_000  # over all shapes: the caches stay small whatever the export holds
_KNOWN_TOTAL = [0]
_SHAPES: dict[bytes, _Shape | None] = {}
_LEAF_PREFIX = hashlib.sha256(b"\x00")


class _Shape:
    """What one skeleton shape tells about its lines: where member names are, where "index" is."""

    __slots__ = ("first_digits", "known", "names", "pairs", "top")

    def __init__(
        self, names: Any, pairs: list[tuple[int, int]], top: list[tuple[int, str, int]], first_digits: Any
    ) -> None:
        self.names = names  # parts -> tuple of every member name, in text order
        self.pairs = pairs  # (i, j): names[i] must sort before names[j] (same object, adjacent)
        self.top = top  # (position in names, value kind, part holding the value) per top-level member
        self.first_digits = first_digits  # skeleton -> first digits that must not be "0" (or None)
        self.known: dict[bytes, int] = {}

    def index_part(self, names: tuple[bytes, ...], joined: bytes) -> int:
        """The part holding the "index" digits if the names are in canonical order, else 0."""
        part = 0
        if all(names[i] < names[j] for i, j in self.pairs):
            for position, kind, value_part in self.top:
                if names[position] == b"index" and kind == "number":
                    part = value_part
        if len(self.known) < _MAX_NAME_SETS and _KNOWN_TOTAL[0] < _MAX_KNOWN_TOTAL:
            self.known[joined] = part
            _KNOWN_TOTAL[0] += 1
        return part


def _shape(shape: bytes) -> _Shape | None:
    """Parse a skeleton shape (digits as '1', one '"' per string); None unless a canonical object."""
    tokens: list[tuple[str, int]] = []
    first_digits: list[int] = []
    position, length, strings = 0, len(shape), 0
    while position < length:
        byte = shape[position]
        if byte in b"{}[]:,":
            tokens.append((chr(byte), 0))
            position += 1
        elif byte == 0x22:
            tokens.append(('"', strings))
            strings += 1
            position += 1
        elif byte == 0x2D or byte == 0x31:
            end = position + 1
            while end < length and shape[end] == 0x31:
                end += 1
            digits = end - position - (byte == 0x2D)
            if not 1 <= digits <= 15:
                return None
            if byte == 0x2D or digits > 1:  # canonical only if this first digit is not 0
                first_digits.append(end - digits)
            tokens.append(("number", 0))
            position = end
        else:
            for literal in (b"true", b"false", b"null"):
                if shape.startswith(literal, position):
                    tokens.append(("literal", 0))
                    position += len(literal)
                    break
            else:
                return None

    names: list[int] = []
    pairs: list[tuple[int, int]] = []
    top: list[tuple[int, str, int]] = []
    cursor = 0

    def take(kind: str) -> bool:
        nonlocal cursor
        if cursor < len(tokens) and tokens[cursor][0] == kind:
            cursor += 1
            return True
        return False

    def value(depth: int) -> str:
        nonlocal cursor
        if cursor >= len(tokens) or depth > 100:
            raise ValueError
        kind, string = tokens[cursor]
        cursor += 1
        if kind == "{":
            own: list[int] = []
            if take("}"):
                return "object"
            while True:
                if cursor >= len(tokens) or tokens[cursor][0] != '"':
                    raise ValueError
                string = tokens[cursor][1]
                cursor += 1
                if not take(":"):
                    raise ValueError
                own.append(len(names))
                names.append(2 * string + 1)
                member = value(depth + 1)
                if depth == 0:
                    top.append((own[-1], member, 2 * string + 2))
                if take(","):
                    continue
                if take("}"):
                    break
                raise ValueError
            pairs.extend(pairwise(own))
            return "object"
        if kind == "[":
            if take("]"):
                return "array"
            while True:
                value(depth + 1)
                if take(","):
                    continue
                if take("]"):
                    return "array"
                raise ValueError
        if kind in ('"', "number", "literal"):
            return kind
        raise ValueError

    try:
        if not tokens or tokens[0][0] != "{" or value(0) != "object" or cursor != len(tokens) or not names:
            return None
    except ValueError:
        return None
    return _Shape(_tuple_getter(names), pairs, top, _tuple_getter(first_digits) if first_digits else None)


def _tuple_getter(positions: list[int]) -> Any:
    """Like itemgetter(*positions), but always returning a tuple."""
    if len(positions) == 1:
        (only,) = positions
        return lambda sequence: (sequence[only],)
    return itemgetter(*positions)


class _NotFast(Exception):
    pass


def _not_fast(_: str) -> None:
    raise _NotFast


_SCAN = json.JSONDecoder(parse_float=_not_fast, parse_constant=_not_fast).scan_once
if json.encoder.c_make_encoder is not None:  # CPython: the C encoder, without the per-call setup
    _C_ENCODER = json.encoder.c_make_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def _encode(value: Any) -> str:
        return "".join(_C_ENCODER(value, 0))

else:  # pragma: no cover - other interpreters
    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _tier2(line: bytes) -> Any:
    """The value of a line proven canonical by the C scanner and encoder, else None."""
    if _SIXTEEN_DIGITS in line.translate(_DIGITS_TO_ZERO) or not (line.isascii() or max(line) < 0xF0):
        return None
    try:
        text = line.decode()
        value, end = _SCAN(text, 0)
        if end == len(text) and _encode(value) == text:
            return value
    except (_NotFast, ValueError, StopIteration, RecursionError):
        pass
    return None


class _DuplicateName(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _DuplicateName(name)
            seen.add(name)
    return result


def _where(index: int) -> str:
    return f"entry {index} (line {index + 1})"


def _slow_entry(line: bytes, index: int) -> Any:
    """The literal check: decode, parse, re-serialize with canonical_json, compare bytes."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Failure("entry_format", f"{_where(index)} is not valid UTF-8 (byte {exc.start})", index=index) from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except _DuplicateName as exc:
        raise _Failure(
            "entry_canonical", f"{_where(index)} repeats the member name {exc.args[0]!r}", index=index
        ) from None
    except (ValueError, RecursionError) as exc:
        raise _Failure("entry_format", f"{_where(index)} is not valid JSON: {exc}", index=index) from None
    if type(value) is not dict:
        raise _Failure("entry_format", f"{_where(index)} is not a JSON object", index=index)
    try:
        canonical = canonical_json(value)
    except (CanonicalJSONError, RecursionError) as exc:
        raise _Failure(
            "entry_canonical", f"{_where(index)} has no RFC 8785 canonical form: {exc}", index=index
        ) from None
    if canonical != line:
        at = next(
            (i for i, (a, b) in enumerate(zip(canonical, line, strict=False)) if a != b), min(len(canonical), len(line))
        )
        raise _Failure(
            "entry_canonical",
            f"{_where(index)} is not in RFC 8785 canonical form (first difference at byte {at})",
            index=index,
        )
    return value


def _check_lines(lines: list[bytes], first: int, *, clean: bool = False, utf8: bool = False) -> list[bytes]:
    """Check complete entry lines (newline removed) numbered from ``first``; return leaf hashes.

    ``clean``: the caller checked that no line has a backslash or control byte; ``utf8``: that
    every line is valid UTF-8 (both are cheaper to establish once per chunk).
    """
    new_leaf = _LEAF_PREFIX.copy  # copying a primed context is cheaper than a new one
    shapes = _SHAPES
    hashes = []
    append = hashes.append
    index = first
    for line in lines:
        got: Any = None
        # Tier 1 (see above).
        if clean or len(line.translate(None, _CTRL_OR_BACKSLASH)) == len(line):
            parts = line.split(b'"')
            if len(parts) & 1:
                skeleton = b'"'.join(parts[0::2])
                key = skeleton.translate(_DIGITS_TO_ONE)
                shape = shapes.get(key, False)
                if shape is False:
                    shape = _shape(key)
                    if len(shapes) < _MAX_SHAPES:
                        shapes[key] = shape
                if (
                    shape is not None
                    and (shape.first_digits is None or 0x30 not in shape.first_digits(skeleton))
                    and (line.isascii() or max(line) < 0xF0)
                ):
                    names = shape.names(parts)
                    joined = b"\x00".join(names)
                    part = shape.known.get(joined)
                    if part is None:
                        part = shape.index_part(names, joined)
                    if part:
                        try:
                            utf8 or line.decode()
                            got = int(parts[part][1:-1])
                        except UnicodeDecodeError:
                            got = None
        if got is None:
            value = _tier2(line)
            if value is None:
                value = _slow_entry(line, index)
            if type(value) is not dict:
                raise _Failure("entry_format", f"{_where(index)} is not a JSON object", index=index)
            got = value.get("index")
        if got != index or type(got) is not int:
            if type(got) is not int:
                message = f"{_where(index)} has no integer 'index' member"
            else:
                message = f"{_where(index)} has index {got}, expected {index} (lines missing or out of order)"
            raise _Failure("entry_index", message, index=index)
        leaf = new_leaf()
        leaf.update(line)
        append(leaf.digest())
        index += 1
    return hashes


def _read_entries(
    path: str, tree: merkle.MemoryTree, rotations: list[tuple[int, bytes]]
) -> tuple[str, _Failure | None]:
    """Stream entries.jsonl into ``tree``; return its SHA-256 and the first entry failure.

    Lines that may record a key rotation are collected in ``rotations`` as (index, line).
    """
    digest = hashlib.sha256()
    failure: _Failure | None = None
    pending: list[bytes] = []  # the start of a line that continues in the next chunk
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            if failure is not None:
                continue  # keep hashing: a digest mismatch outranks the entry failure
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                pending.append(chunk)
                continue
            region = b"".join([*pending, chunk[:cut]]) if pending else chunk[:cut]
            pending = [chunk[cut:]] if cut < len(chunk) else []
            lines = region.split(b"\n")
            lines.pop()  # the empty string after the last newline
            clean = len(region.translate(None, _CTRL_OR_BACKSLASH_BUT_NEWLINE)) == len(region)
            try:
                region.decode()
                utf8 = True
            except UnicodeDecodeError:
                utf8 = False
            try:
                hashes = _check_lines(lines, tree.size, clean=clean, utf8=utf8)
            except _Failure as exc:
                failure = exc
                continue
            if _ROTATION_MARK in region:  # rare: one bytes search per chunk otherwise
                rotations.extend((tree.size + n, line) for n, line in enumerate(lines) if _ROTATION_MARK in line)
            tree.extend(hashes)
    if failure is None and pending:
        failure = _Failure("entry_format", f"{_where(tree.size)} is not terminated by a newline", index=tree.size)
    return digest.hexdigest(), failure


# --------------------------------------------------------------------------- small files


def _file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _read_manifest(directory: str) -> dict[str, Any]:
    path = os.path.join(directory, MANIFEST)
    try:
        with open(path, "rb") as stream:
            manifest = json.loads(stream.read().decode("utf-8"))
    except FileNotFoundError:
        raise _Failure("manifest", f"{MANIFEST} is missing") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _Failure("manifest", f"{MANIFEST} is not valid UTF-8 JSON: {exc}") from None
    if type(manifest) is not dict:
        raise _Failure("manifest", f"{MANIFEST} is not a JSON object")
    if manifest.get("format") != EXPORT_FORMAT:
        raise _Failure("manifest", f"unsupported export format {manifest.get('format')!r}, expected {EXPORT_FORMAT!r}")
    origin = manifest.get("origin")
    if not isinstance(origin, str) or not origin:
        raise _Failure("manifest", "manifest origin must be a non-empty string")
    for member in ("entries", "checkpoints"):
        if type(manifest.get(member)) is not int or manifest[member] < 0:
            raise _Failure("manifest", f"manifest {member!r} must be a non-negative integer")
    files = manifest.get("files")
    if type(files) is not dict:
        raise _Failure("manifest", "manifest 'files' must be an object")
    for name, digest in files.items():
        if name not in REQUIRED_FILES + OPTIONAL_FILES:
            raise _Failure("manifest", f"manifest lists an unknown file {name!r}")
        if not isinstance(digest, str) or len(digest) != 64 or digest.strip("0123456789abcdef"):
            raise _Failure("manifest", f"manifest digest of {name} is not 64 lowercase hex digits")
    for name in REQUIRED_FILES:
        if name not in files:
            raise _Failure("manifest", f"manifest does not list the required file {name}")
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        present = os.path.isfile(os.path.join(directory, name))
        if name in files and not present:
            raise _Failure("manifest", f"{name} is listed in the manifest but missing")
        if present and name not in files:
            raise _Failure("manifest", f"{name} is present but not listed in the manifest")
    return manifest


def _jsonl(path: str, what: str, check: str) -> list[tuple[int, dict[str, Any]]]:
    """Parse a small JSON-lines file: one JSON object per newline-terminated line.

    Unlike entries, these lines need not be canonical: what they carry is authenticated by the
    signatures inside them, not by their bytes.
    """
    with open(path, "rb") as stream:
        data = stream.read()
    if data and not data.endswith(b"\n"):
        raise _Failure(check, f"{what}: the last line is not terminated by a newline")
    records = []
    for number, line in enumerate(data.split(b"\n")[:-1], 1):
        try:
            value = json.loads(line.decode("utf-8"), object_pairs_hook=_no_duplicates)
        except _DuplicateName as exc:
            raise _Failure(check, f"{what} line {number} repeats the member name {exc.args[0]!r}") from None
        except (ValueError, RecursionError) as exc:
            raise _Failure(check, f"{what} line {number} is not valid UTF-8 JSON: {exc}") from None
        if type(value) is not dict:
            raise _Failure(check, f"{what} line {number} is not a JSON object")
        records.append((number, value))
    return records


def _read_public_key(path: str) -> VerifierKey:
    with open(path, "rb") as stream:
        data = stream.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Failure("public_key", f"{PUBLIC_KEY} is not valid UTF-8") from None
    text = text[:-1] if text.endswith("\n") else text
    try:
        key = parse_vkey(text)
    except NoteError as exc:
        raise _Failure("public_key", f"{PUBLIC_KEY} is not a valid vkey: {exc}") from None
    if key.sig_type != SIG_TYPE_ED25519:
        raise _Failure("public_key", f"{PUBLIC_KEY} is not an Ed25519 note-signing key (type 0x01)")
    return key


# --------------------------------------------------------------------------- signing keys
#
# A log signs with one key at a time. Rotating it appends an entry with action "audit.key_rotated"
# whose details name the old and new vkeys; the checkpoint whose size is that entry's index + 1
# (the hand-over size) must carry both keys' signatures. key-history.jsonl lists every key and the
# checkpoint sizes it signs; it must say exactly what the rotation entries say, so the export's own
# word adds nothing: the old key's signatures vouch for the entry naming its successor. Pinned keys
# (--key) are what makes the result independent of the export altogether.


@dataclass(frozen=True)
class _Period:
    key: VerifierKey
    first: int
    last: int | None  # inclusive; None for the current key

    def sizes(self) -> str:
        return f"sizes {self.first} to {'now' if self.last is None else self.last}"

    def covers(self, size: int) -> bool:
        return self.first <= size and (self.last is None or size <= self.last)


def _read_key_history(path: str, public: VerifierKey) -> list[_Period]:
    """key-history.jsonl: well formed, contiguous, distinct keys, ending with public-key.vkey."""
    periods: list[_Period] = []
    for number, record in _jsonl(path, KEY_HISTORY, "key_history"):
        where = f"{KEY_HISTORY} line {number}"
        first, last = record.get("first_size"), record.get("last_size")
        if (
            set(record) != {"vkey", "first_size", "last_size"}
            or not isinstance(record["vkey"], str)
            or type(first) is not int
            or (last is not None and type(last) is not int)
        ):
            raise _Failure(
                "key_history",
                f'{where} must be exactly {{"first_size": integer, "last_size": integer or null, "vkey": string}}',
            )
        try:
            key = parse_vkey(record["vkey"])
        except NoteError as exc:
            raise _Failure("key_history", f"{where}: not a valid vkey: {exc}") from None
        if key.sig_type != SIG_TYPE_ED25519:
            raise _Failure("key_history", f"{where}: {key.vkey} is not an Ed25519 note-signing key (type 0x01)")
        if any(period.key == key for period in periods):
            raise _Failure("key_history", f"{where}: {key.vkey} is listed twice (a retired key never signs again)")
        expected_first = periods[-1].last if periods else 0
        if periods and expected_first is None:
            raise _Failure("key_history", f"{where}: the key before it has no last size, so no key can follow it")
        if first != expected_first:
            raise _Failure(
                "key_history",
                f"{where}: {key.vkey} starts at size {first}, but "
                + (f"the key before it signs up to size {expected_first}" if periods else "the first key starts at 0")
                + ": consecutive keys must meet at the hand-over size",
                checkpoint_size=first,
            )
        if last is not None and last <= first:
            raise _Failure("key_history", f"{where}: last size {last} is not after first size {first}")
        periods.append(_Period(key, first, last))
    if not periods:
        raise _Failure("key_history", f"{KEY_HISTORY} lists no key")
    if periods[-1].last is not None:
        raise _Failure("key_history", f"{KEY_HISTORY}: the last key must be the current one (last size null)")
    if periods[-1].key != public:
        raise _Failure(
            "key_history",
            f"{PUBLIC_KEY} is {public.vkey}, but the current key in {KEY_HISTORY} is {periods[-1].key.vkey}",
        )
    return periods


def _check_pins(periods: list[_Period], pins: list[VerifierKey]) -> None:
    """Every key the export uses must be pinned; the pins are the auditor's, not the export's, word."""
    if len(periods) == 1 and len(pins) == 1 and periods[0].key != pins[0]:
        raise _Failure(
            "public_key", f"the export is signed by {periods[0].key.vkey}, not by the expected key {pins[0].vkey}"
        )
    for period in periods:
        if period.key not in pins:
            raise _Failure(
                "public_key",
                f"the export's key {period.key.vkey} (checkpoint {period.sizes()}) is not among the pinned keys",
                checkpoint_size=period.first,
            )


def _rotation_records(candidates: list[tuple[int, bytes]]) -> list[tuple[int, VerifierKey, VerifierKey]]:
    """(index, old key, new key) of each entry whose top-level action is audit.key_rotated."""
    records = []
    for index, line in candidates:
        entry = json.loads(line)  # already proven canonical JSON
        if entry.get("action") != KEY_ROTATED:
            continue
        details = entry.get("details")
        try:
            if type(details) is not dict or not all(isinstance(details.get(k), str) for k in ("old_key", "new_key")):
                raise NoteError("its details must name the old_key and new_key vkeys")
            old, new = parse_vkey(details["old_key"]), parse_vkey(details["new_key"])
        except NoteError as exc:
            raise _Failure("key_history", f"{_where(index)} records a key rotation, but {exc}", index=index) from None
        records.append((index, old, new))
    return records


def _check_rotations(periods: list[_Period], rotations: list[tuple[int, VerifierKey, VerifierKey]]) -> None:
    """The key history must be exactly the one the log's rotation entries record."""
    if len(periods) == 1 and rotations:
        index, old, new = rotations[0]
        raise _Failure(
            "key_history",
            f"{_where(index)} records a rotation from {old.vkey} to {new.vkey}, but the export has no "
            f"{KEY_HISTORY} with the keys before and after it",
            index=index,
        )
    if len(rotations) != len(periods) - 1:
        raise _Failure(
            "key_history", f"{KEY_HISTORY} lists {len(periods)} keys, but the log records {len(rotations)} rotations"
        )
    for (index, old, new), (before, after) in zip(rotations, pairwise(periods), strict=True):
        if before.key != old or after.key != new:
            raise _Failure(
                "key_history",
                f"{KEY_HISTORY} hands the log over from {before.key.vkey} to {after.key.vkey}, but the log's "
                f"{KEY_ROTATED} entry {index} hands it over from {old.vkey} to {new.vkey}",
                index=index,
                checkpoint_size=index + 1,
            )
        if before.last != index + 1:
            raise _Failure(
                "key_history",
                f"{KEY_HISTORY} moves the hand-over from {old.vkey} to {new.vkey} to size {before.last}, but the "
                f"log's {KEY_ROTATED} entry {index} puts it at size {index + 1}",
                index=index,
                checkpoint_size=before.last,
            )


def _check_signatures(where: str, size: int, text: str, periods: list[_Period]) -> Checkpoint:
    """Verify a checkpoint with the key(s) valid at its size: both of them at a hand-over size."""
    try:
        signed_size = Checkpoint.parse(split_note(text)[0]).size
    except MalformedNoteError as exc:
        raise _Failure("checkpoint_format", f"{where}: malformed checkpoint: {exc}", checkpoint_size=size) from None
    size = signed_size  # the keys are chosen by what the note says, not by the record around it
    required = [period for period in periods if period.covers(size)]
    checkpoint = None
    for period in required:
        try:
            checkpoint = checkpoint_verify(text, vkey=period.key)
        except MalformedNoteError as exc:
            raise _Failure("checkpoint_format", f"{where}: malformed checkpoint: {exc}", checkpoint_size=size) from None
        except NoteError as exc:
            message = f"{where}: {exc}"
            if len(required) == 2:
                role = "old" if period is required[0] else "new"
                message = (
                    f"{where}: the hand-over checkpoint of size {size} is not cross-signed: it carries no valid "
                    f"signature from the {role} key {period.key.vkey}"
                )
            elif len(periods) > 1:
                message += f", the key valid at size {size} ({period.sizes()})"
                signers = {(sig.name, sig.key_id) for sig in split_note(text)[1]}
                for other in periods:
                    if other is not period and (other.key.name, other.key.key_id) in signers:
                        message += f"; it is signed by {other.key.vkey}, which signs only {other.sizes()}"
            raise _Failure("checkpoint_signature", message, checkpoint_size=size) from None
    if checkpoint is None:  # cannot happen: the periods cover every size from 0
        message = f"{where}: no key of the history covers size {size}"
        raise _Failure("checkpoint_signature", message, checkpoint_size=size)
    return checkpoint


def _read_leaf_hashes(path: str, count: int) -> bytes:
    """leaf-hashes.txt: one lowercase hex SHA-256 per line; returns them concatenated."""
    out = bytearray()
    line_size = 2 * _HASH + 1
    with open(path, "rb") as stream:
        number = 0
        while chunk := stream.read(line_size * 16384):
            rows = len(chunk) // line_size
            if len(chunk) % line_size or chunk[line_size - 1 :: line_size] != b"\n" * rows:
                raise _Failure(
                    "leaf_hashes_format",
                    f"{LEAF_HASHES} must hold one 64-digit lowercase hex hash per line (near line {number + 1})",
                )
            digits = chunk.replace(b"\n", b"")
            if digits.translate(None, b"0123456789abcdef"):
                raise _Failure("leaf_hashes_format", f"{LEAF_HASHES} contains a non-lowercase-hex character")
            out += bytes.fromhex(digits.decode("ascii"))
            number += rows
    if number != count:
        raise _Failure("leaf_hashes_format", f"{LEAF_HASHES} has {number} lines but the export holds {count} entries")
    return bytes(out)


def _first_difference(a: bytes, b: bytes, start: int, end: int) -> int | None:
    """First leaf index in [start, end) where two concatenations of 32-byte hashes differ."""
    lo, hi = start, end
    if a[lo * _HASH : hi * _HASH] == b[lo * _HASH : hi * _HASH]:
        return None
    while hi - lo > 1:  # invariant: the first difference lies in [lo, hi)
        mid = (lo + hi) // 2
        if a[lo * _HASH : mid * _HASH] == b[lo * _HASH : mid * _HASH]:
            lo = mid
        else:
            hi = mid
    return lo


# --------------------------------------------------------------------------- verification


@dataclass
class _Signed:
    line: int
    checkpoint: Checkpoint
    note: str


def _verify(directory: str, result: VerificationResult, pins: list[VerifierKey], require_complete: bool) -> None:
    manifest = _read_manifest(directory)
    files = manifest["files"]
    result.origin = manifest["origin"]

    for name in files:
        if name != ENTRIES and _file_digest(os.path.join(directory, name)) != files[name]:
            raise _Failure("manifest", f"SHA-256 of {name} does not match the manifest")

    tree = merkle.MemoryTree()
    candidates: list[tuple[int, bytes]] = []
    digest, entry_failure = _read_entries(os.path.join(directory, ENTRIES), tree, candidates)
    if digest != files[ENTRIES]:
        raise _Failure("manifest", f"SHA-256 of {ENTRIES} does not match the manifest")
    if entry_failure is not None:
        result.entries = entry_failure.index or 0
        raise entry_failure
    count = result.entries = tree.size
    if manifest["entries"] != count:
        raise _Failure("manifest", f"manifest announces {manifest['entries']} entries, {ENTRIES} holds {count}")

    public = _read_public_key(os.path.join(directory, PUBLIC_KEY))
    result.key = public.vkey
    periods = [_Period(public, 0, None)]
    if KEY_HISTORY in files:
        periods = _read_key_history(os.path.join(directory, KEY_HISTORY), public)
    result.keys = [{"vkey": p.key.vkey, "first_size": p.first, "last_size": p.last} for p in periods]
    if pins:
        _check_pins(periods, pins)
    _check_rotations(periods, _rotation_records(candidates))

    stored: bytes | None = None
    if LEAF_HASHES in files:
        stored = _read_leaf_hashes(os.path.join(directory, LEAF_HASHES), count)
    computed = tree.leaf_hashes() if stored is not None else b""

    # Checkpoints: format, signature, origin, order, extent.
    signed: list[_Signed] = []
    for number, record in _jsonl(os.path.join(directory, CHECKPOINTS), CHECKPOINTS, "checkpoint_format"):
        where = f"{CHECKPOINTS} line {number}"
        if set(record) != {"size", "note"} or type(record["size"]) is not int or type(record["note"]) is not str:
            raise _Failure("checkpoint_format", f'{where} must be exactly {{"note": string, "size": integer}}')
        size = record["size"]
        checkpoint = _check_signatures(where, size, record["note"], periods)
        if checkpoint.size != size:
            raise _Failure(
                "checkpoint_format",
                f"{where} says size {size} but its signed note says {checkpoint.size}",
                checkpoint_size=checkpoint.size,
            )
        if checkpoint.origin != result.origin:
            raise _Failure(
                "checkpoint_origin",
                f"{where} is for origin {checkpoint.origin!r}, the export is for {result.origin!r}",
                checkpoint_size=size,
            )
        if signed and size < signed[-1].checkpoint.size:
            raise _Failure(
                "checkpoint_order",
                f"tree shrank: {where} has size {size} after a checkpoint of size {signed[-1].checkpoint.size}",
                checkpoint_size=size,
            )
        if size > count:
            raise _Failure(
                "checkpoint_beyond_export",
                f"checkpoint beyond export: {where} covers {size} entries, the export holds {count}",
                checkpoint_size=size,
            )
        signed.append(_Signed(number, checkpoint, record["note"]))
    result.checkpoints = len(signed)
    if manifest["checkpoints"] != len(signed):
        raise _Failure(
            "manifest", f"manifest announces {manifest['checkpoints']} checkpoints, {CHECKPOINTS} holds {len(signed)}"
        )
    sizes = {item.checkpoint.size for item in signed}
    for before, after in pairwise(periods):
        if before.last not in sizes:
            raise _Failure(
                "checkpoint_signature",
                f"no checkpoint of size {before.last}: the hand-over from {before.key.vkey} to {after.key.vkey} "
                "is not cross-signed",
                checkpoint_size=before.last,
            )

    # Roots: each signed root must be the root of the first `size` entries.
    good = 0
    for item in signed:
        size = item.checkpoint.size
        if tree.root(size) == item.checkpoint.root_hash:
            good = size
            continue
        message = f"the signed root of the checkpoint of size {size} does not match the entries"
        index = None
        if good == size:
            message += (
                f"; an earlier checkpoint of the same size does: the node signed two different trees of size {size}"
            )
        else:
            message += f": an entry in [{good}, {size}) was altered, removed or inserted"
            if stored is not None:
                index = _first_difference(computed, stored, good, size)
                if (
                    index is not None
                    and merkle.root_from_leaf_hashes(stored[i * _HASH : (i + 1) * _HASH] for i in range(size))
                    == item.checkpoint.root_hash
                ):
                    message += (
                        f"; {_where(index)} was altered: its hash differs from the stored leaf hash, and the stored "
                        "leaf hashes reproduce the signed root"
                    )
                elif index is not None:
                    message += f"; the first entry whose hash differs from {LEAF_HASHES} is {index}"
        raise _Failure("checkpoint_root", message, index=index, checkpoint_size=size)
    result.covered = good

    if stored is not None:
        index = _first_difference(computed, stored, 0, count)
        if index is not None:
            if index < good:
                message = (
                    f"{LEAF_HASHES} line {index + 1} differs from the hash of {_where(index)}, which the signed "
                    f"checkpoint of size {good} confirms: {LEAF_HASHES} is wrong"
                )
            else:
                message = (
                    f"{_where(index)} hashes differently from {LEAF_HASHES} line {index + 1}; no checkpoint covers "
                    "it, so either may have been altered"
                )
            raise _Failure("leaf_hash", message, index=index)

    # Consistency of each checkpoint with the next, through RFC 9162 proofs built from the entries.
    for previous, current in pairwise(signed):
        old, new = previous.checkpoint, current.checkpoint
        proof = tree.consistency_proof(old.size, new.size)
        if not merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof):
            raise _Failure(
                "consistency",
                f"checkpoint of size {new.size} (line {current.line}) is not consistent with the one of size "
                f"{old.size} (line {previous.line})",
                checkpoint_size=new.size,
            )

    # Cosignatures.
    if COSIGNATURES in files:
        by_size = {item.checkpoint.size: item.checkpoint for item in signed}
        for number, record in _jsonl(os.path.join(directory, COSIGNATURES), COSIGNATURES, "cosignature"):
            where = f"{COSIGNATURES} line {number}"
            if (
                set(record) != {"size", "witness", "vkey", "line"}
                or type(record["size"]) is not int
                or not all(isinstance(record[k], str) for k in ("witness", "vkey", "line"))
            ):
                raise _Failure(
                    "cosignature",
                    f'{where} must be exactly {{"line", "size", "vkey", "witness"}} with string values '
                    "and an integer size",
                )
            size = record["size"]
            checkpoint = by_size.get(size)
            if checkpoint is None:
                raise _Failure(
                    "cosignature", f"{where} cosigns size {size}, which no checkpoint has", checkpoint_size=size
                )
            try:
                witness = parse_vkey(record["vkey"])
                if witness.sig_type != SIG_TYPE_COSIGNATURE_V1:
                    raise NoteError("witness vkey is not a cosignature/v1 key (type 0x04)")
                if witness.name != record["witness"]:
                    raise NoteError(f"witness {record['witness']!r} does not match its vkey name {witness.name!r}")
                line = record["line"] if record["line"].endswith("\n") else record["line"] + "\n"
                cosignature_verify(checkpoint, SignatureLine.parse(line), vkey=witness)
            except NoteError as exc:
                raise _Failure("cosignature", f"{where}: {exc}", checkpoint_size=size) from None
            result.cosignatures += 1

    if good < count:
        message = f"entries {good} to {count - 1} are not covered by a signed checkpoint yet"
        if require_complete:
            raise _Failure("coverage", message, index=good)
        result.warnings.append(message)


def write_manifest(path: str | os.PathLike[str], *, origin: str) -> dict[str, Any]:
    """Write ``manifest.json`` for the export files present in ``path``; return the manifest.

    A reference for exporters: counts the lines of entries.jsonl and checkpoints.jsonl, digests
    every export file present and writes the manifest as canonical JSON plus a newline.
    """
    directory = os.fspath(path)
    files = {}
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        if os.path.isfile(os.path.join(directory, name)):
            files[name] = _file_digest(os.path.join(directory, name))

    def lines(name: str) -> int:
        with open(os.path.join(directory, name), "rb") as stream:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(_CHUNK), b""))

    manifest = {
        "format": EXPORT_FORMAT,
        "origin": origin,
        "entries": lines(ENTRIES),
        "checkpoints": lines(CHECKPOINTS),
        "files": files,
    }
    with open(os.path.join(directory, MANIFEST), "wb") as stream:
        stream.write(canonical_json(manifest) + b"\n")
    return manifest


def verify_export(
    path: str | os.PathLike[str], *, key: str | Sequence[str] | None = None, require_complete: bool = False
) -> VerificationResult:
    """Verify an export directory; see docs/audit-log.md.

    ``key`` pins the node's vkey, or a list of vkeys after key rotations: every key the export
    uses must then be pinned (otherwise the export's own ``public-key.vkey`` and key history are
    trusted and should be compared with what the agency publishes). ``require_complete`` makes
    entries not covered by a checkpoint a failure instead of a warning. Raises ``ValueError`` for
    a pin that is not a vkey, ``FileNotFoundError`` or ``NotADirectoryError`` when ``path`` is not
    a directory.
    """
    pins = []
    for text in [key] if isinstance(key, str) else list(key or ()):
        try:
            pins.append(parse_vkey(text))
        except NoteError as exc:
            raise ValueError(f"the expected key is not a valid vkey: {exc}") from None
    directory = os.fspath(path)
    if not os.path.exists(directory):
        raise FileNotFoundError(f"no such directory: {directory}")
    if not os.path.isdir(directory):
        raise NotADirectoryError(f"not a directory: {directory}")
    result = VerificationResult(ok=False)
    try:
        _verify(directory, result, pins, require_complete)
    except _Failure as failure:
        result.failure = failure.as_dict()
        return result
    result.ok = True
    return result


def _report(path: str, result: VerificationResult) -> str:
    lines = [f"Casebridge audit export {path}"]
    if result.origin:
        lines.append(f"  origin        {result.origin}")
    if len(result.keys) > 1:
        for period in result.keys:
            last = "now" if period["last_size"] is None else period["last_size"]
            lines.append(f"  node key      {period['vkey']} (sizes {period['first_size']} to {last})")
    elif result.key:
        lines.append(f"  node key      {result.key}")
    lines.append(f"  entries       {result.entries}")
    lines.append(f"  checkpoints   {result.checkpoints} (latest covers {result.covered} entries)")
    lines.append(f"  cosignatures  {result.cosignatures} verified")
    for warning in result.warnings:
        lines.append(f"WARNING: {warning}")
    if result.ok:
        lines.append(
            "OK: every check passed. Compare the node key above with the one your agency publishes."
            if len(result.keys) < 2
            else "OK: every check passed, hand-overs included. Compare each node key above with the ones your "
            "agency publishes, or pin them all with --key."
        )
    else:
        failure = result.failure or {}
        lines.append(f"FAILED [{failure.get('check')}]: {failure.get('message')}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m audit.verify", description="Verify a Casebridge audit-log export offline."
    )
    parser.add_argument("directory", help="the export directory")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument(
        "--key",
        metavar="VKEY",
        action="append",
        help="fail unless every key the export uses is one of these vkeys (repeat it for each key of a rotated log)",
    )
    parser.add_argument(
        "--require-complete", action="store_true", help="fail if entries exist beyond the latest checkpoint"
    )
    args = parser.parse_args(argv)
    for pin in args.key or ():
        try:
            parse_vkey(pin)
        except NoteError as exc:
            parser.error(f"--key: {exc}")
    try:
        result = verify_export(args.directory, key=args.key, require_complete=args.require_complete)
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print(_report(args.directory, result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
