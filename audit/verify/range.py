"""A range export (docs/audit-log.md, "Range export"): chosen entries, each proven into a signed tree.

One JSON document, written by the auditor UI's *Export this range* (entries the filters select)
and by ``manage.py audit_export --from I --to J`` (every entry I..J, ``contiguous`` true). Each
entry carries its RFC 9162 inclusion path to the document's signed checkpoint, so it is checked on
its own, without the rest of the log. Cosignatures may be of the checkpoint itself or of an
earlier, witnessed one, which then comes with a consistency path to the checkpoint.
"""

from __future__ import annotations

import json
from typing import Any

from audit import merkle
from audit.note import Checkpoint, MalformedNoteError, NoteError, VerifierKey, checkpoint_verify, parse_vkey
from audit.verify.common import RANGE_FORMAT, Failure, VerificationResult
from audit.verify.entries import DuplicateName, check_entry, no_duplicates
from audit.verify.trust import Trust, Witnessing, check_key_trust

_MAX_DOCUMENT = 1 << 30  # the UI caps a range at 50,000 entries: far below this


def _hashes(value: Any, what: str, index: int | None = None) -> list[bytes]:
    if type(value) is not list:
        raise Failure("range_format", f"{what} must be a list of hex hashes", index=index)
    out = []
    for item in value:
        if not isinstance(item, str) or len(item) != 64 or item.strip("0123456789abcdef"):
            raise Failure("range_format", f"{what} holds something that is not 64 lowercase hex digits", index=index)
        out.append(bytes.fromhex(item))
    return out


def _read(path: str) -> dict[str, Any]:
    try:
        with open(path, "rb") as stream:
            data = stream.read(_MAX_DOCUMENT + 1)
        if len(data) > _MAX_DOCUMENT:
            raise Failure("range_format", f"{path} is larger than {_MAX_DOCUMENT} bytes")
        document = json.loads(data.decode("utf-8"), object_pairs_hook=no_duplicates)
    except DuplicateName as exc:
        raise Failure("range_format", f"the range document repeats the member name {exc.args[0]!r}") from None
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise Failure("range_format", f"the range document is not valid UTF-8 JSON: {exc}") from None
    if type(document) is not dict:
        raise Failure("range_format", "the range document is not a JSON object")
    if document.get("format") != RANGE_FORMAT:
        raise Failure(
            "range_format",
            f"unsupported range format {document.get('format')!r}, expected {RANGE_FORMAT!r} (export the range again)",
        )
    for member, kind in (
        ("origin", str),
        ("checkpoint", dict),
        ("public_key", str),
        ("entries", list),
        ("contiguous", bool),
        ("cosignatures", list),
    ):
        if type(document.get(member)) is not kind:
            raise Failure("range_format", f"range document member {member!r} must be a {kind.__name__}")
    witnessed = document.get("witnessed")
    if witnessed is not None and type(witnessed) is not dict:
        raise Failure("range_format", "range document member 'witnessed' must be an object or null")
    return document


def _checkpoint(record: Any, what: str, origin: str, keys: list[VerifierKey]) -> Checkpoint:
    """A signed checkpoint record {size, note}: signed by one of ``keys``, for ``origin``."""
    if type(record) is not dict or type(record.get("size")) is not int or type(record.get("note")) is not str:
        raise Failure("range_format", f'{what} must have an integer "size" and a string "note"')
    size, text = record["size"], record["note"]
    checkpoint = None
    problems = []
    for key in keys:
        try:
            checkpoint = checkpoint_verify(text, vkey=key)
            break
        except MalformedNoteError as exc:
            raise Failure("range_format", f"{what}: malformed checkpoint: {exc}", checkpoint_size=size) from None
        except NoteError as exc:
            problems.append(str(exc))
    if checkpoint is None:
        raise Failure(
            "checkpoint_signature",
            f"{what} is not signed by the trusted key{'s' if len(keys) > 1 else ''} "
            f"{', '.join(k.vkey for k in keys)}: {'; '.join(problems)}",
            checkpoint_size=size,
        )
    if checkpoint.size != size:
        raise Failure(
            "range_format", f"{what} says size {size}, its signed note {checkpoint.size}", checkpoint_size=size
        )
    if checkpoint.origin != origin:
        raise Failure(
            "checkpoint_origin",
            f"{what} is for origin {checkpoint.origin!r}, the range for {origin!r}",
            checkpoint_size=size,
        )
    return checkpoint


def _cosignatures(records: Any, what: str, checkpoint: Checkpoint, witnessing: Witnessing) -> None:
    if type(records) is not list:
        raise Failure("range_format", f"{what} must be a list")
    for number, record in enumerate(records, 1):
        place = f"{what} item {number}"
        if type(record) is not dict or set(record) != {"witness", "vkey", "line"}:
            raise Failure("cosignature", f'{place} must be exactly {{"line", "vkey", "witness"}}')
        if not all(isinstance(record[k], str) for k in ("witness", "vkey", "line")):
            raise Failure("cosignature", f"{place}: witness, vkey and line must be strings")
        witnessing.add(place, checkpoint, record["vkey"], record["witness"], record["line"])


def verify_range(path: str, result: VerificationResult, trust: Trust) -> None:
    """Every check on a range document, in order; raises Failure at the first that fails."""
    result.kind = "range"
    document = _read(path)
    origin = result.origin = document["origin"]
    try:
        shipped = parse_vkey(document["public_key"])
    except NoteError as exc:
        raise Failure("public_key", f"the range's public_key is not a valid vkey: {exc}") from None
    result.key = shipped.vkey
    keys = list(trust.keys) or [shipped]
    result.keys = [{"vkey": key.vkey, "first_size": None, "last_size": None} for key in keys]
    checkpoint = _checkpoint(document["checkpoint"], "the range's checkpoint", origin, keys)
    size = result.covered = checkpoint.size
    result.checkpoints = 1

    previous = None
    for number, record in enumerate(document["entries"]):
        if type(record) is not dict or not {"index", "entry", "inclusion_path"} <= set(record):
            raise Failure("range_format", f'entries item {number} must have "index", "entry" and "inclusion_path"')
        index, text = record["index"], record["entry"]
        if type(index) is not int or not isinstance(text, str):
            raise Failure("range_format", f"entries item {number}: index must be an integer, entry a string")
        if previous is not None and index <= previous:
            raise Failure(
                "entry_index",
                f"entry {index} follows entry {previous}: entries must be in increasing order",
                index=index,
            )
        leaf = check_entry(text.encode("utf-8"), index)
        if "leaf_hash" in record and _hashes([record["leaf_hash"]], f"entry {index}'s leaf_hash", index)[0] != leaf:
            raise Failure("leaf_hash", f"entry {index}'s leaf_hash is not the hash of its text", index=index)
        if not 0 <= index < size:
            raise Failure(
                "inclusion",
                f"entry {index} is beyond the checkpoint of size {size}: no signed tree vouches for it",
                index=index,
                checkpoint_size=size,
            )
        proof = _hashes(record["inclusion_path"], f"entry {index}'s inclusion_path", index)
        if not merkle.verify_inclusion(leaf, index, size, proof, checkpoint.root_hash):
            raise Failure(
                "inclusion",
                f"entry {index} is not in the signed tree of size {size}: it was altered, or its proof was",
                index=index,
                checkpoint_size=size,
            )
        previous = index
    count = result.entries = len(document["entries"])

    selected = document.get("range")
    if document["contiguous"]:
        bounds = selected if type(selected) is dict else {}
        if type(bounds.get("first")) is not int or type(bounds.get("last")) is not int:
            raise Failure("range_format", 'a contiguous range must name its "range": {"first", "last"}')
        first, last = selected["first"], selected["last"]
        indices = [record["index"] for record in document["entries"]]
        if indices != list(range(first, last + 1)):
            missing = next((i for i in range(first, last + 1) if i not in set(indices)), None)
            raise Failure(
                "range_complete",
                f"the range claims entries {first} to {last}, but holds {count} entries"
                + (f"; entry {missing} is missing" if missing is not None else ""),
                index=missing,
            )
    else:
        result.warnings.append(
            "a filtered range: each entry present is proven to be in the log, but nothing proves that no other "
            "entry matched the filters"
        )

    witnessing = Witnessing(trust)
    _cosignatures(document["cosignatures"], "cosignatures", checkpoint, witnessing)
    witnessed = document.get("witnessed")
    if witnessed is not None:
        earlier = _checkpoint(witnessed, "the witnessed checkpoint", origin, keys)
        proof = _hashes(witnessed.get("consistency_path"), "the witnessed checkpoint's consistency_path")
        if earlier.size > size or not merkle.verify_consistency(
            earlier.size, size, earlier.root_hash, checkpoint.root_hash, proof
        ):
            raise Failure(
                "consistency",
                f"the witnessed checkpoint of size {earlier.size} is not consistent with the range's checkpoint of "
                f"size {size}",
                checkpoint_size=earlier.size,
            )
        result.checkpoints = 2
        _cosignatures(witnessed.get("cosignatures"), "witnessed cosignatures", earlier, witnessing)
    witnessing.finish(result)
    if trust.keys:
        result.key_pinned = True
    check_key_trust(trust, result, shipped)
