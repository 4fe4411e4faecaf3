"""The log's signing keys: key history, rotations, pins, checkpoint signatures."""

from __future__ import annotations

import json
from dataclasses import dataclass
from itertools import pairwise

from audit.note import (
    SIG_TYPE_ED25519,
    Checkpoint,
    MalformedNoteError,
    NoteError,
    VerifierKey,
    checkpoint_verify,
    parse_vkey,
    split_note,
)
from audit.verify.common import KEY_HISTORY, KEY_ROTATED, PUBLIC_KEY, Failure
from audit.verify.entries import where
from audit.verify.files import read_jsonl

# A log signs with one key at a time. Rotating it appends an entry with action "audit.key_rotated"
# whose details name the old and new vkeys; the checkpoint whose size is that entry's index + 1
# (the hand-over size) must carry both keys' signatures. key-history.jsonl lists every key and the
# checkpoint sizes it signs; it must say exactly what the rotation entries say, so the export's own
# word adds nothing: the old key's signatures vouch for the entry naming its successor. Pinned keys
# (--key) are what makes the result independent of the export altogether.


@dataclass(frozen=True)
class Period:
    key: VerifierKey
    first: int
    last: int | None  # inclusive; None for the current key

    def sizes(self) -> str:
        return f"sizes {self.first} to {'now' if self.last is None else self.last}"

    def covers(self, size: int) -> bool:
        return self.first <= size and (self.last is None or size <= self.last)


def read_key_history(path: str, public: VerifierKey) -> list[Period]:
    """key-history.jsonl: well formed, contiguous, distinct keys, ending with public-key.vkey."""
    periods: list[Period] = []
    for number, record in read_jsonl(path, KEY_HISTORY, "key_history"):
        where = f"{KEY_HISTORY} line {number}"
        first, last = record.get("first_size"), record.get("last_size")
        if (
            set(record) != {"vkey", "first_size", "last_size"}
            or not isinstance(record["vkey"], str)
            or type(first) is not int
            or (last is not None and type(last) is not int)
        ):
            raise Failure(
                "key_history",
                f'{where} must be exactly {{"first_size": integer, "last_size": integer or null, "vkey": string}}',
            )
        try:
            key = parse_vkey(record["vkey"])
        except NoteError as exc:
            raise Failure("key_history", f"{where}: not a valid vkey: {exc}") from None
        if key.sig_type != SIG_TYPE_ED25519:
            raise Failure("key_history", f"{where}: {key.vkey} is not an Ed25519 note-signing key (type 0x01)")
        if any(period.key == key for period in periods):
            raise Failure("key_history", f"{where}: {key.vkey} is listed twice (a retired key never signs again)")
        expected_first = periods[-1].last if periods else 0
        if periods and expected_first is None:
            raise Failure("key_history", f"{where}: the key before it has no last size, so no key can follow it")
        if first != expected_first:
            raise Failure(
                "key_history",
                f"{where}: {key.vkey} starts at size {first}, but "
                + (f"the key before it signs up to size {expected_first}" if periods else "the first key starts at 0")
                + ": consecutive keys must meet at the hand-over size",
                checkpoint_size=first,
            )
        if last is not None and last <= first:
            raise Failure("key_history", f"{where}: last size {last} is not after first size {first}")
        periods.append(Period(key, first, last))
    if not periods:
        raise Failure("key_history", f"{KEY_HISTORY} lists no key")
    if periods[-1].last is not None:
        raise Failure("key_history", f"{KEY_HISTORY}: the last key must be the current one (last size null)")
    if periods[-1].key != public:
        raise Failure(
            "key_history",
            f"{PUBLIC_KEY} is {public.vkey}, but the current key in {KEY_HISTORY} is {periods[-1].key.vkey}",
        )
    return periods


def check_pins(periods: list[Period], pins: list[VerifierKey]) -> None:
    """Every key the export uses must be pinned; the pins are the auditor's, not the export's, word."""
    if len(periods) == 1 and len(pins) == 1 and periods[0].key != pins[0]:
        raise Failure(
            "public_key", f"the export is signed by {periods[0].key.vkey}, not by the expected key {pins[0].vkey}"
        )
    for period in periods:
        if period.key not in pins:
            raise Failure(
                "public_key",
                f"the export's key {period.key.vkey} (checkpoint {period.sizes()}) is not among the pinned keys",
                checkpoint_size=period.first,
            )


def rotation_records(candidates: list[tuple[int, bytes]]) -> list[tuple[int, VerifierKey, VerifierKey]]:
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
            raise Failure("key_history", f"{where(index)} records a key rotation, but {exc}", index=index) from None
        records.append((index, old, new))
    return records


def check_rotations(periods: list[Period], rotations: list[tuple[int, VerifierKey, VerifierKey]]) -> None:
    """The key history must be exactly the one the log's rotation entries record."""
    if len(periods) == 1 and rotations:
        index, old, new = rotations[0]
        raise Failure(
            "key_history",
            f"{where(index)} records a rotation from {old.vkey} to {new.vkey}, but the export has no "
            f"{KEY_HISTORY} with the keys before and after it",
            index=index,
        )
    if len(rotations) != len(periods) - 1:
        raise Failure(
            "key_history", f"{KEY_HISTORY} lists {len(periods)} keys, but the log records {len(rotations)} rotations"
        )
    for (index, old, new), (before, after) in zip(rotations, pairwise(periods), strict=True):
        if before.key != old or after.key != new:
            raise Failure(
                "key_history",
                f"{KEY_HISTORY} hands the log over from {before.key.vkey} to {after.key.vkey}, but the log's "
                f"{KEY_ROTATED} entry {index} hands it over from {old.vkey} to {new.vkey}",
                index=index,
                checkpoint_size=index + 1,
            )
        if before.last != index + 1:
            raise Failure(
                "key_history",
                f"{KEY_HISTORY} moves the hand-over from {old.vkey} to {new.vkey} to size {before.last}, but the "
                f"log's {KEY_ROTATED} entry {index} puts it at size {index + 1}",
                index=index,
                checkpoint_size=before.last,
            )


def check_signatures(where: str, size: int, text: str, periods: list[Period]) -> Checkpoint:
    """Verify a checkpoint with the key(s) valid at its size: both of them at a hand-over size."""
    try:
        signed_size = Checkpoint.parse(split_note(text)[0]).size
    except MalformedNoteError as exc:
        raise Failure("checkpoint_format", f"{where}: malformed checkpoint: {exc}", checkpoint_size=size) from None
    size = signed_size  # the keys are chosen by what the note says, not by the record around it
    required = [period for period in periods if period.covers(size)]
    checkpoint = None
    for period in required:
        try:
            checkpoint = checkpoint_verify(text, vkey=period.key)
        except MalformedNoteError as exc:
            raise Failure("checkpoint_format", f"{where}: malformed checkpoint: {exc}", checkpoint_size=size) from None
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
            raise Failure("checkpoint_signature", message, checkpoint_size=size) from None
    if checkpoint is None:  # cannot happen: the periods cover every size from 0
        message = f"{where}: no key of the history covers size {size}"
        raise Failure("checkpoint_signature", message, checkpoint_size=size)
    return checkpoint
