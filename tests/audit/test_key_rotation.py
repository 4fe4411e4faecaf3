"""Rotating the audit signing key: the log records the hand-over, exports across it verify offline,
and every way of lying about the keys fails with the documented check."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from django.core.management import CommandError, call_command

from audit import note
from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, audit_record
from audit.export import audit_export_write
from audit.integrator import audit_checkpoint_now, audit_integrate
from audit.keys import audit_key_history, audit_key_name, audit_signing_key, audit_vkey, audit_vkeys_to_pin
from audit.models import AuditCheckpoint, AuditEntry
from audit.rotation import RotationError, audit_key_rotate
from audit.verify import verify_export, write_manifest

ROOT = Path(__file__).resolve().parents[2]


def _seed(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())).decode()


def _write(n: int) -> None:
    for i in range(n):
        audit_record(action=Action.CASE_VIEW, actor=SYSTEM_ACTOR, object_type="case", object_id=i)


@pytest.fixture
def keys(settings):
    """The process's key (old) and a fresh one; the key cache is reset around the test."""
    audit_signing_key.cache_clear()
    yield audit_signing_key(), Ed25519PrivateKey.generate()
    audit_signing_key.cache_clear()


def _switch(settings, key: Ed25519PrivateKey) -> None:
    """What a restart with the new AUDIT_SIGNING_KEY does."""
    settings.AUDIT_SIGNING_KEY = _seed(key)
    audit_signing_key.cache_clear()


@pytest.fixture
def rotated(db, settings, keys, tmp_path):
    """A log of 9 checkpointed entries, rotated (hand-over at 10), then 5 more under the new key."""
    old, new = keys
    old_vkey, new_vkey = audit_vkey(), note.vkey_from_public_key(audit_key_name(), new.public_key())
    _write(9)
    audit_checkpoint_now()
    key_file = tmp_path / "new.key"
    key_file.write_text(_seed(new) + "\n")
    call_command("audit_key_rotate", new_key_file=str(key_file), cause="custody")
    _switch(settings, new)
    _write(5)
    audit_checkpoint_now()
    export = tmp_path / "export"
    audit_export_write(export)
    return {"dir": export, "old": old, "new": new, "old_vkey": old_vkey, "new_vkey": new_vkey, "handover": 10}


def _failure(path: Path, **kwargs) -> dict:
    result = verify_export(path, **kwargs)
    assert not result.ok, "verification should have failed"
    return result.failure


def _copy(rotated, tmp_path) -> Path:
    return Path(shutil.copytree(rotated["dir"], tmp_path / "tampered"))


def _history(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "key-history.jsonl").read_text().splitlines()]


def _set_history(path: Path, records: list[dict]) -> None:
    (path / "key-history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    write_manifest(path, origin=json.loads((path / "manifest.json").read_text())["origin"])


def _checkpoints(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "checkpoints.jsonl").read_text().splitlines()]


def _set_checkpoints(path: Path, records: list[dict]) -> None:
    (path / "checkpoints.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    write_manifest(path, origin=json.loads((path / "manifest.json").read_text())["origin"])


# --------------------------------------------------------------------------- the node side


def test_rotation_is_recorded_in_the_log_and_cross_signed(rotated):
    entry = AuditEntry.objects.get(action=Action.AUDIT_KEY_ROTATED)
    details = json.loads(entry.canonical)["details"]
    assert details == {"old_key": rotated["old_vkey"], "new_key": rotated["new_vkey"], "cause": "custody"}
    assert entry.index + 1 == rotated["handover"]  # everything pending before it was integrated first
    handover = AuditCheckpoint.objects.get(size=rotated["handover"])
    assert [sig.key_id for sig in note.split_note(handover.note)[1]] == [
        note.parse_vkey(rotated["old_vkey"]).key_id,
        note.parse_vkey(rotated["new_vkey"]).key_id,
    ]
    for vkey in (rotated["old_vkey"], rotated["new_vkey"]):
        note.checkpoint_verify(handover.note, vkey=vkey)
    latest = AuditCheckpoint.objects.order_by("-size").first()
    assert latest.size == 15
    note.checkpoint_verify(latest.note, vkey=rotated["new_vkey"])
    assert [p.as_record() for p in audit_key_history()] == [
        {"vkey": rotated["old_vkey"], "first_size": 0, "last_size": 10},
        {"vkey": rotated["new_vkey"], "first_size": 10, "last_size": None},
    ]


def test_a_process_still_on_the_old_key_signs_nothing_after_the_hand_over(db, keys, tmp_path, caplog):
    _, new = keys
    _write(3)
    audit_checkpoint_now()
    checkpoint = audit_key_rotate(new, cause="scheduled")
    _write(2)
    with caplog.at_level(logging.ERROR, logger="audit.integrator"):
        audit_integrate(force_checkpoint=True)
    assert AuditEntry.objects.count() == 6  # entries still flow
    assert AuditCheckpoint.objects.order_by("-size").first().size == checkpoint.size == 4
    assert "handed over" in caplog.text and "restart" in caplog.text
    # An export made meanwhile stops at the hand-over and verifies.
    audit_export_write(tmp_path / "meanwhile")
    result = verify_export(tmp_path / "meanwhile", key=audit_vkeys_to_pin())
    assert result.ok, result.failure
    assert result.key == note.vkey_from_public_key(audit_key_name(), new.public_key())
    # ...and that stale process cannot rotate again either.
    with pytest.raises(RotationError, match="handed over"):
        audit_key_rotate(Ed25519PrivateKey.generate(), cause="compromise")


def test_rotation_refuses_the_current_key_a_retired_key_and_unknown_causes(db, settings, keys, tmp_path):
    old, new = keys
    _write(2)
    with pytest.raises(RotationError, match="already signed"):
        audit_key_rotate(old, cause="scheduled")
    with pytest.raises(RotationError, match="cause"):
        audit_key_rotate(new, cause="boredom")
    audit_key_rotate(new, cause="scheduled")
    _switch(settings, new)
    with pytest.raises(RotationError, match="already signed"):
        audit_key_rotate(old, cause="scheduled")  # a retired key never comes back
    with pytest.raises(CommandError, match="not a file"):
        call_command("audit_key_rotate", new_key_file=str(tmp_path / "missing.key"), cause="scheduled")
    assert AuditEntry.objects.filter(action=Action.AUDIT_KEY_ROTATED).count() == 1


def test_two_rotations_chain(db, settings, keys, tmp_path):
    old, second = keys
    third = Ed25519PrivateKey.generate()
    _write(4)
    audit_key_rotate(second, cause="scheduled")
    _switch(settings, second)
    _write(3)
    audit_checkpoint_now()
    audit_key_rotate(third, cause="compromise")
    _switch(settings, third)
    _write(1)
    audit_checkpoint_now()
    audit_export_write(tmp_path / "export")
    vkeys = [note.vkey_from_public_key(audit_key_name(), k.public_key()) for k in (old, second, third)]
    result = verify_export(tmp_path / "export", key=vkeys, require_complete=True)
    assert result.ok, result.failure
    assert [(k["first_size"], k["last_size"]) for k in result.keys] == [(0, 5), (5, 9), (9, None)]


def test_an_export_of_a_never_rotated_log_keeps_the_original_layout(db, tmp_path):
    _write(4)
    audit_checkpoint_now()
    audit_export_write(tmp_path / "export")
    assert not (tmp_path / "export" / "key-history.jsonl").exists()
    assert "key-history.jsonl" not in json.loads((tmp_path / "export" / "manifest.json").read_text())["files"]
    result = verify_export(tmp_path / "export", key=audit_vkey())
    assert result.ok and result.keys == [{"vkey": audit_vkey(), "first_size": 0, "last_size": None}]


# --------------------------------------------------------------------------- the verifier


def test_export_across_the_rotation_verifies(rotated):
    result = verify_export(rotated["dir"], key=[rotated["old_vkey"], rotated["new_vkey"]])
    assert result.ok, result.failure
    assert result.key == rotated["new_vkey"]
    assert result.keys == [
        {"vkey": rotated["old_vkey"], "first_size": 0, "last_size": 10},
        {"vkey": rotated["new_vkey"], "first_size": 10, "last_size": None},
    ]


def test_pinned_keys(rotated):
    both = [rotated["old_vkey"], rotated["new_vkey"]]
    assert verify_export(rotated["dir"], key=both).ok
    failure = _failure(rotated["dir"], key=[rotated["new_vkey"]])
    assert failure["check"] == "public_key"
    assert failure["message"] == (
        f"the export's key {rotated['old_vkey']} (checkpoint sizes 0 to 10) is not among the pinned keys"
    )
    failure = _failure(rotated["dir"], key=rotated["old_vkey"])
    assert failure["check"] == "public_key" and rotated["new_vkey"] in failure["message"]


def test_cli_takes_one_key_option_per_key(rotated):
    def run(*args):
        return subprocess.run(
            [sys.executable, "-m", "audit.verify", str(rotated["dir"]), *args], cwd=ROOT, capture_output=True, text=True
        )

    done = run("--key", rotated["old_vkey"], "--key", rotated["new_vkey"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "(sizes 0 to 10)" in done.stdout and "(sizes 10 to now)" in done.stdout
    done = run("--key", rotated["new_vkey"])
    assert done.returncode == 1 and "FAILED [public_key]" in done.stdout


def test_swapped_key_fails(rotated, tmp_path):
    path = _copy(rotated, tmp_path)
    forged = note.vkey_from_public_key(audit_key_name(), Ed25519PrivateKey.generate().public_key())
    history = _history(path)
    history[1]["vkey"] = forged
    (path / "public-key.vkey").write_text(forged + "\n")
    _set_history(path, history)
    failure = _failure(path)
    assert failure["check"] == "key_history"
    assert failure["message"] == (
        f"key-history.jsonl hands the log over from {rotated['old_vkey']} to {forged}, but the log's "
        f"audit.key_rotated entry 9 hands it over from {rotated['old_vkey']} to {rotated['new_vkey']}"
    )
    # Pinned, the swap is caught before the export gets a word in.
    failure = _failure(path, key=[rotated["old_vkey"], rotated["new_vkey"]])
    assert failure["check"] == "public_key" and forged in failure["message"]


def test_swapped_key_in_the_history_only_fails(rotated, tmp_path):
    path = _copy(rotated, tmp_path)
    history = _history(path)
    history[1]["vkey"] = note.vkey_from_public_key(audit_key_name(), Ed25519PrivateKey.generate().public_key())
    _set_history(path, history)
    failure = _failure(path)
    assert failure["check"] == "key_history" and failure["message"].startswith("public-key.vkey is ")


@pytest.mark.parametrize("to", [5, 12, 15])
def test_moved_boundary_fails(rotated, tmp_path, to):
    path = _copy(rotated, tmp_path)
    history = _history(path)
    history[0]["last_size"] = history[1]["first_size"] = to
    _set_history(path, history)
    failure = _failure(path)
    assert failure["check"] == "key_history"
    assert failure["message"] == (
        f"key-history.jsonl moves the hand-over from {rotated['old_vkey']} to {rotated['new_vkey']} to size {to}, "
        "but the log's audit.key_rotated entry 9 puts it at size 10"
    )


def test_ranges_that_do_not_meet_fail(rotated, tmp_path):
    path = _copy(rotated, tmp_path)
    history = _history(path)
    history[0]["last_size"] = 12
    _set_history(path, history)
    failure = _failure(path)
    assert failure["check"] == "key_history" and "must meet at the hand-over size" in failure["message"]


def test_missing_key_history_fails(rotated, tmp_path):
    path = _copy(rotated, tmp_path)
    (path / "key-history.jsonl").unlink()
    write_manifest(path, origin=json.loads((path / "manifest.json").read_text())["origin"])
    failure = _failure(path)
    assert failure["check"] == "key_history" and failure["index"] == 9
    assert "records a rotation" in failure["message"] and "no key-history.jsonl" in failure["message"]


def test_checkpoint_after_the_rotation_signed_by_the_old_key_fails(rotated, tmp_path):
    path = _copy(rotated, tmp_path)
    records = _checkpoints(path)
    last = records[-1]
    checkpoint = note.Checkpoint.parse(note.split_note(last["note"])[0])
    last["note"] = note.checkpoint_sign(checkpoint, name=audit_key_name(), private_key=rotated["old"])
    _set_checkpoints(path, records)
    failure = _failure(path)
    assert failure["check"] == "checkpoint_signature" and failure["checkpoint_size"] == 15
    assert failure["message"].endswith(
        f"the key valid at size 15 (sizes 10 to now); it is signed by {rotated['old_vkey']}, which signs only "
        "sizes 0 to 10"
    )


def test_hand_over_without_the_cross_signature_fails(rotated, tmp_path):
    for dropped, role in ((1, "new"), (0, "old")):
        path = _copy(rotated, tmp_path / role)
        records = _checkpoints(path)
        handover = next(r for r in records if r["size"] == 10)
        body, signatures = note.split_note(handover["note"])
        kept = [sig for i, sig in enumerate(signatures) if i != dropped]
        handover["note"] = body.decode() + "\n" + "".join(sig.line() for sig in kept)
        _set_checkpoints(path, records)
        failure = _failure(path)
        assert failure["check"] == "checkpoint_signature" and failure["checkpoint_size"] == 10
        vkey = rotated[f"{role}_vkey"]
        assert failure["message"].endswith(
            f"the hand-over checkpoint of size 10 is not cross-signed: it carries no valid signature from the "
            f"{role} key {vkey}"
        )


def test_missing_hand_over_checkpoint_fails(rotated, tmp_path):
    path = _copy(rotated, tmp_path)
    _set_checkpoints(path, [r for r in _checkpoints(path) if r["size"] != 10])
    failure = _failure(path)
    assert failure["check"] == "checkpoint_signature" and failure["checkpoint_size"] == 10
    assert failure["message"] == (
        f"no checkpoint of size 10: the hand-over from {rotated['old_vkey']} to {rotated['new_vkey']} "
        "is not cross-signed"
    )
