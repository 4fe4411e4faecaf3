"""A full export directory (docs/audit-log.md, "Export layout"): the whole log up to its latest checkpoint."""

from __future__ import annotations

import os
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from audit import merkle
from audit.note import Checkpoint
from audit.verify.common import (
    CHECKPOINTS,
    CHUNK,
    COSIGNATURES,
    ENTRIES,
    EXPORT_FORMAT,
    HASH,
    KEY_HISTORY,
    LEAF_HASHES,
    MANIFEST,
    OPTIONAL_FILES,
    PUBLIC_KEY,
    REQUIRED_FILES,
    Failure,
    VerificationResult,
)
from audit.verify.entries import read_entries, where
from audit.verify.files import (
    file_digest,
    first_difference,
    read_jsonl,
    read_leaf_hashes,
    read_manifest,
    read_public_key,
)
from audit.verify.keys import Period, check_pins, check_rotations, check_signatures, read_key_history, rotation_records
from audit.verify.trust import Trust, Witnessing, check_key_trust
from casebridge.lib.canonical_json import canonical_json


@dataclass
class _Signed:
    line: int
    checkpoint: Checkpoint
    note: str


def verify_directory(directory: str, result: VerificationResult, trust: Trust) -> None:
    """Every check on a full export, in order; raises Failure at the first that fails."""
    manifest = read_manifest(directory)
    files = manifest["files"]
    result.origin = manifest["origin"]

    for name in files:
        if name != ENTRIES and file_digest(os.path.join(directory, name)) != files[name]:
            raise Failure("manifest", f"SHA-256 of {name} does not match the manifest")

    tree = merkle.MemoryTree()
    candidates: list[tuple[int, bytes]] = []
    digest, entry_failure = read_entries(os.path.join(directory, ENTRIES), tree, candidates)
    if digest != files[ENTRIES]:
        raise Failure("manifest", f"SHA-256 of {ENTRIES} does not match the manifest")
    if entry_failure is not None:
        result.entries = entry_failure.index or 0
        raise entry_failure
    count = result.entries = tree.size
    if manifest["entries"] != count:
        raise Failure("manifest", f"manifest announces {manifest['entries']} entries, {ENTRIES} holds {count}")

    public = read_public_key(os.path.join(directory, PUBLIC_KEY))
    result.key = public.vkey
    periods = [Period(public, 0, None)]
    if KEY_HISTORY in files:
        periods = read_key_history(os.path.join(directory, KEY_HISTORY), public)
    result.keys = [{"vkey": p.key.vkey, "first_size": p.first, "last_size": p.last} for p in periods]
    if trust.keys:
        check_pins(periods, list(trust.keys))
    check_rotations(periods, rotation_records(candidates))

    stored: bytes | None = None
    if LEAF_HASHES in files:
        stored = read_leaf_hashes(os.path.join(directory, LEAF_HASHES), count)
    computed = tree.leaf_hashes() if stored is not None else b""

    # Checkpoints: format, signature, origin, order, extent.
    signed: list[_Signed] = []
    for number, record in read_jsonl(os.path.join(directory, CHECKPOINTS), CHECKPOINTS, "checkpoint_format"):
        place = f"{CHECKPOINTS} line {number}"
        if set(record) != {"size", "note"} or type(record["size"]) is not int or type(record["note"]) is not str:
            raise Failure("checkpoint_format", f'{place} must be exactly {{"note": string, "size": integer}}')
        size = record["size"]
        checkpoint = check_signatures(place, size, record["note"], periods)
        if checkpoint.size != size:
            raise Failure(
                "checkpoint_format",
                f"{place} says size {size} but its signed note says {checkpoint.size}",
                checkpoint_size=checkpoint.size,
            )
        if checkpoint.origin != result.origin:
            raise Failure(
                "checkpoint_origin",
                f"{place} is for origin {checkpoint.origin!r}, the export is for {result.origin!r}",
                checkpoint_size=size,
            )
        if signed and size < signed[-1].checkpoint.size:
            raise Failure(
                "checkpoint_order",
                f"tree shrank: {place} has size {size} after a checkpoint of size {signed[-1].checkpoint.size}",
                checkpoint_size=size,
            )
        if size > count:
            raise Failure(
                "checkpoint_beyond_export",
                f"checkpoint beyond export: {place} covers {size} entries, the export holds {count}",
                checkpoint_size=size,
            )
        signed.append(_Signed(number, checkpoint, record["note"]))
    result.checkpoints = len(signed)
    if manifest["checkpoints"] != len(signed):
        raise Failure(
            "manifest", f"manifest announces {manifest['checkpoints']} checkpoints, {CHECKPOINTS} holds {len(signed)}"
        )
    sizes = {item.checkpoint.size for item in signed}
    for before, after in pairwise(periods):
        if before.last not in sizes:
            raise Failure(
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
                index = first_difference(computed, stored, good, size)
                if (
                    index is not None
                    and merkle.root_from_leaf_hashes(stored[i * HASH : (i + 1) * HASH] for i in range(size))
                    == item.checkpoint.root_hash
                ):
                    message += (
                        f"; {where(index)} was altered: its hash differs from the stored leaf hash, and the stored "
                        "leaf hashes reproduce the signed root"
                    )
                elif index is not None:
                    message += f"; the first entry whose hash differs from {LEAF_HASHES} is {index}"
        raise Failure("checkpoint_root", message, index=index, checkpoint_size=size)
    result.covered = good

    if stored is not None:
        index = first_difference(computed, stored, 0, count)
        if index is not None:
            if index < good:
                message = (
                    f"{LEAF_HASHES} line {index + 1} differs from the hash of {where(index)}, which the signed "
                    f"checkpoint of size {good} confirms: {LEAF_HASHES} is wrong"
                )
            else:
                message = (
                    f"{where(index)} hashes differently from {LEAF_HASHES} line {index + 1}; no checkpoint covers "
                    "it, so either may have been altered"
                )
            raise Failure("leaf_hash", message, index=index)

    # Consistency of each checkpoint with the next, through RFC 9162 proofs built from the entries.
    for previous, current in pairwise(signed):
        old, new = previous.checkpoint, current.checkpoint
        proof = tree.consistency_proof(old.size, new.size)
        if not merkle.verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof):
            raise Failure(
                "consistency",
                f"checkpoint of size {new.size} (line {current.line}) is not consistent with the one of size "
                f"{old.size} (line {previous.line})",
                checkpoint_size=new.size,
            )

    # Coverage: every exported entry must be vouched for by a signed checkpoint. Entries past the
    # latest one are exactly what an attacker who cut the checkpoints short could have rewritten.
    if good < count:
        raise Failure(
            "coverage",
            f"{where(good)} is the first entry no signed checkpoint covers: the latest checkpoint has size {good}, "
            f"the export holds {count} entries, so entries {good} to {count - 1} are vouched for by nothing signed",
            index=good,
            checkpoint_size=good,
        )

    # Cosignatures: each one verified; only those by pinned witness keys count.
    witnessing = Witnessing(trust)
    if COSIGNATURES in files:
        by_size = {item.checkpoint.size: item.checkpoint for item in signed}
        for number, record in read_jsonl(os.path.join(directory, COSIGNATURES), COSIGNATURES, "cosignature"):
            place = f"{COSIGNATURES} line {number}"
            if (
                set(record) != {"size", "witness", "vkey", "line"}
                or type(record["size"]) is not int
                or not all(isinstance(record[k], str) for k in ("witness", "vkey", "line"))
            ):
                raise Failure(
                    "cosignature",
                    f'{place} must be exactly {{"line", "size", "vkey", "witness"}} with string values '
                    "and an integer size",
                )
            size = record["size"]
            checkpoint = by_size.get(size)
            if checkpoint is None:
                raise Failure(
                    "cosignature", f"{place} cosigns size {size}, which no checkpoint has", checkpoint_size=size
                )
            witnessing.add(place, checkpoint, record["vkey"], record["witness"], record["line"])
    witnessing.finish(result)
    check_key_trust(trust, result, periods[0].key)


def write_manifest(path: str | os.PathLike[str], *, origin: str) -> dict[str, Any]:
    """Write ``manifest.json`` for the export files present in ``path``; return the manifest.

    A reference for exporters: counts the lines of entries.jsonl and checkpoints.jsonl, digests
    every export file present and writes the manifest as canonical JSON plus a newline.
    """
    directory = os.fspath(path)
    files = {}
    for name in REQUIRED_FILES + OPTIONAL_FILES:
        if os.path.isfile(os.path.join(directory, name)):
            files[name] = file_digest(os.path.join(directory, name))

    def lines(name: str) -> int:
        with open(os.path.join(directory, name), "rb") as stream:
            return sum(chunk.count(b"\n") for chunk in iter(lambda: stream.read(CHUNK), b""))

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
