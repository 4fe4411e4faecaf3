"""Issue 14: the verifier fails closed (coverage, key trust, witness pins) and checks range exports."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, actor_for_user, audit_record
from audit.integrator import audit_checkpoint_now
from audit.keys import audit_vkeys_to_pin
from audit.merkle import MemoryTree, leaf_hash
from audit.models import AuditCheckpoint, AuditCosignature
from audit.note import Checkpoint, checkpoint_sign, cosignature_sign, cosigner_vkey, vkey_from_public_key
from audit.verify import verify_export
from casebridge.lib.canonical_json import canonical_json
from tests.audit.test_verify import (
    KEY,
    ORIGIN,
    OTHER_KEY,
    VKEY,
    WITNESS,
    WITNESS_KEY,
    build_export,
    entry_lines,
    make_entry,
    refresh_manifest,
    signed_checkpoints,
    write_checkpoints,
    write_lines,
)

ROOT = Path(__file__).resolve().parents[2]
WITNESS_VKEY = cosigner_vkey(WITNESS, WITNESS_KEY)
OTHER_WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(64, 96)))
OTHER_WITNESS_VKEY = cosigner_vkey("witness.test/w2", OTHER_WITNESS_KEY)


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    return subprocess.run(
        [sys.executable, "-m", "audit.verify", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


# --------------------------------------------------------------------------- coverage


def cut_and_rewrite(path: Path) -> None:
    """The attack: checkpoints cut to the first one, later entries rewritten, every digest regenerated."""
    lines = entry_lines(path)
    for i in range(10, len(lines)):
        lines[i] = canonical_json(make_entry(i) | {"action": "case.view", "object": {"type": "case", "id": "other"}})
    write_lines(path / "entries.jsonl", lines)
    (path / "leaf-hashes.txt").write_text("".join(leaf_hash(line).hex() + "\n" for line in lines))
    tree = MemoryTree(leaf_hash(line) for line in lines)
    write_checkpoints(path, signed_checkpoints(tree, (10,)))
    (path / "cosignatures.jsonl").unlink()
    refresh_manifest(path)


def test_c14_cut_and_rewritten_export_fails_with_the_first_uncovered_index(tmp_path):
    export = build_export(tmp_path / "e")
    cut_and_rewrite(export)
    result = verify_export(export, key=VKEY)
    assert not result.ok
    assert (result.failure["check"], result.failure["index"]) == ("coverage", 10)
    assert "entry 10 (line 11) is the first entry no signed checkpoint covers" in result.failure["message"]
    assert verify_export(export, key=VKEY, require_complete=True).failure["check"] == "coverage"  # alias
    done = run_cli(str(export), "--key", VKEY)
    assert done.returncode == 1 and "OK" not in done.stdout
    assert "FAILED [coverage]: entry 10 (line 11)" in done.stdout
    assert run_cli(str(export), "--key", VKEY, "--require-complete").returncode == 1


# --------------------------------------------------------------------------- the log key


def test_c14_missing_key_fails_loudly_unless_trusting_the_export_is_explicit(tmp_path):
    export = build_export(tmp_path / "e")
    result = verify_export(export)
    assert not result.ok and result.failure["check"] == "key_trust"
    assert "NO TRUSTED KEY" in result.failure["message"] and VKEY in result.failure["message"]
    done = run_cli(str(export))
    assert done.returncode == 1
    assert "FAILED [key_trust]" in done.stdout and "NOT PINNED" in done.stdout
    assert "no pinned log key" in done.stderr

    trusted = verify_export(export, trust_export_key=True)
    assert trusted.ok and not trusted.key_pinned
    assert any("NO TRUSTED KEY" in warning for warning in trusted.warnings)
    done = run_cli(str(export), "--trust-export-key")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNING: NO TRUSTED KEY" in done.stdout and "THE EXPORT’S OWN KEY" in done.stdout
    assert "no pinned log key" in done.stderr


def test_c14_a_forged_export_with_its_own_key_fails_against_the_pinned_key(tmp_path):
    export = build_export(tmp_path / "e")
    cut_and_rewrite(export)
    tree = MemoryTree(leaf_hash(line) for line in entry_lines(export))
    write_checkpoints(export, signed_checkpoints(tree, (10, 40), key=OTHER_KEY))
    (export / "public-key.vkey").write_text(vkey_from_public_key(ORIGIN, OTHER_KEY.public_key()) + "\n")
    refresh_manifest(export)
    assert verify_export(export).failure["check"] == "key_trust"
    assert verify_export(export, key=VKEY).failure["check"] == "public_key"


def test_c14_key_file_pins(tmp_path):
    export = build_export(tmp_path / "e")
    key_file = tmp_path / "known.vkeys"
    key_file.write_text(f"# NSP audit log key, from the agency's web site\n{VKEY}\n")
    assert verify_export(export, key_file=key_file).ok
    done = run_cli(str(export), "--key-file", str(key_file))
    assert done.returncode == 0 and "pinned by you" in done.stdout
    other = tmp_path / "other.vkeys"
    other.write_text(vkey_from_public_key(ORIGIN, OTHER_KEY.public_key()) + "\n")
    assert run_cli(str(export), "--key-file", str(other)).returncode == 1
    (tmp_path / "bad.vkeys").write_text("not a vkey\n")
    assert run_cli(str(export), "--key-file", str(tmp_path / "bad.vkeys")).returncode == 2
    assert run_cli(str(export), "--key-file", str(tmp_path / "missing")).returncode == 2
    assert run_cli(str(export), "--key", WITNESS_VKEY).returncode == 2  # a cosigner key is no log key


# --------------------------------------------------------------------------- witnesses


def test_c14_pinned_witness_key_is_enforced(tmp_path):
    export = build_export(tmp_path / "e")  # cosigned by WITNESS at size 40
    ok = verify_export(export, key=VKEY, witness_keys=[WITNESS_VKEY])
    assert ok.ok and ok.witnessed == 40 and ok.witnessed_at == "2025-02-19T21:20:00Z"

    refused = verify_export(export, key=VKEY, witness_keys=[OTHER_WITNESS_VKEY])
    assert not refused.ok and refused.failure["check"] == "witness"
    assert OTHER_WITNESS_VKEY in refused.failure["message"]
    done = run_cli(str(export), "--key", VKEY, "--witness-key", OTHER_WITNESS_VKEY)
    assert done.returncode == 1 and "FAILED [witness]" in done.stdout

    # A cosignature by a key of the same witness name that is not the pinned one counts for nothing.
    impostor = Ed25519PrivateKey.generate()
    tree = MemoryTree(leaf_hash(line) for line in entry_lines(export))
    record = {
        "size": 40,
        "witness": "witness.test/w2",
        "vkey": cosigner_vkey("witness.test/w2", impostor),
        "line": cosignature_sign(
            Checkpoint(ORIGIN, 40, tree.root(40)), name="witness.test/w2", private_key=impostor, timestamp=1
        ),
    }
    write_lines(export / "cosignatures.jsonl", [canonical_json(record)])
    refresh_manifest(export)
    refused = verify_export(export, key=VKEY, witness_keys=[OTHER_WITNESS_VKEY])
    assert refused.failure["check"] == "witness"
    assert any("unpinned witness key" in warning for warning in refused.warnings)


def test_c14_an_earlier_witnessed_checkpoint_counts_and_the_rest_is_reported(tmp_path):
    export = build_export(tmp_path / "e", cosign=False)
    tree = MemoryTree(leaf_hash(line) for line in entry_lines(export))
    line = cosignature_sign(
        Checkpoint(ORIGIN, 25, tree.root(25)), name=WITNESS, private_key=WITNESS_KEY, timestamp=1_740_000_000
    )
    record = {"size": 25, "witness": WITNESS, "vkey": WITNESS_VKEY, "line": line}
    write_lines(export / "cosignatures.jsonl", [canonical_json(record)])
    refresh_manifest(export)
    result = verify_export(export, key=VKEY, witness_keys=[WITNESS_VKEY])
    assert result.ok and result.witnessed == 25
    assert any("entries 25 to 39 rest on the node's key alone" in warning for warning in result.warnings)


# --------------------------------------------------------------------------- range exports, built by hand


def range_document(n: int = 40, size: int = 40, first: int = 5, last: int = 14, *, key=KEY) -> dict:
    lines = [canonical_json(make_entry(i)) for i in range(n)]
    tree = MemoryTree(leaf_hash(line) for line in lines)
    note = checkpoint_sign(Checkpoint(ORIGIN, size, tree.root(size)), name=ORIGIN, private_key=key)
    return {
        "format": "casebridge-audit-range/2",
        "origin": ORIGIN,
        "contiguous": True,
        "range": {"first": first, "last": last},
        "checkpoint": {"size": size, "note": note},
        "cosignatures": [],
        "witnessed": None,
        "public_key": vkey_from_public_key(ORIGIN, key.public_key()),
        "entries": [
            {
                "index": i,
                "entry": lines[i].decode(),
                "leaf_hash": leaf_hash(lines[i]).hex(),
                "inclusion_path": [p.hex() for p in tree.inclusion_proof(i, size)],
            }
            for i in range(first, last + 1)
        ],
    }


def write_doc(tmp_path: Path, document: dict) -> Path:
    path = tmp_path / "range.json"
    path.write_text(json.dumps(document, ensure_ascii=False))
    return path


def test_c14_range_export_verifies_with_the_same_command(tmp_path):
    path = write_doc(tmp_path, range_document())
    result = verify_export(path, key=VKEY)
    assert result.ok, result.failure
    assert (result.kind, result.entries, result.covered) == ("range", 10, 40)
    done = run_cli(str(path), "--key", VKEY)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "range export" in done.stdout and "OK: every one of the 10 entries" in done.stdout
    assert verify_export(path).failure["check"] == "key_trust"
    assert verify_export(path, key=vkey_from_public_key(ORIGIN, OTHER_KEY.public_key())).failure["check"] == (
        "checkpoint_signature"
    )


@pytest.mark.parametrize(
    ("tamper", "check", "index"),
    [
        (
            lambda d: d["entries"][3].update(entry=d["entries"][3]["entry"].replace("officer", "mallory")),
            "leaf_hash",
            8,
        ),
        (
            lambda d: d["entries"][3].update(
                entry=d["entries"][3]["entry"].replace("officer", "mallory"),
                leaf_hash=leaf_hash(d["entries"][3]["entry"].replace("officer", "mallory").encode()).hex(),
            ),
            "inclusion",
            8,
        ),
        (lambda d: d["entries"].pop(4), "range_complete", 9),
        (lambda d: d["entries"].reverse(), "entry_index", 13),
        (lambda d: d["entries"][0]["inclusion_path"].pop(), "inclusion", 5),
        (lambda d: d["entries"][0].update(index=6), "entry_index", 6),
        (lambda d: d["entries"][0].update(entry=d["entries"][0]["entry"] + " "), "entry_canonical", 5),
        (lambda d: d.update(origin="elsewhere.test/audit"), "checkpoint_origin", None),
        (lambda d: d.update(format="casebridge-audit-range/1"), "range_format", None),
        (lambda d: d.pop("entries"), "range_format", None),
    ],
)
def test_c14_tampered_range_export_fails(tmp_path, tamper, check, index):
    document = range_document()
    tamper(document)
    result = verify_export(write_doc(tmp_path, document), key=VKEY)
    assert not result.ok
    assert (result.failure["check"], result.failure["index"]) == (check, index), result.failure


def test_c14_range_beyond_its_checkpoint_fails(tmp_path):
    document = range_document(size=20, first=15, last=19)
    extra = range_document(size=40, first=20, last=20)["entries"][0]
    document["entries"].append(extra)
    document["range"]["last"] = 20
    result = verify_export(write_doc(tmp_path, document), key=VKEY)
    assert (result.failure["check"], result.failure["index"]) == ("inclusion", 20)


def test_c14_range_witness_rule(tmp_path):
    document = range_document()
    tree = MemoryTree(leaf_hash(canonical_json(make_entry(i))) for i in range(40))
    earlier = Checkpoint(ORIGIN, 16, tree.root(16))
    document["witnessed"] = {
        "size": 16,
        "note": checkpoint_sign(earlier, name=ORIGIN, private_key=KEY),
        "cosignatures": [
            {
                "witness": WITNESS,
                "vkey": WITNESS_VKEY,
                "line": cosignature_sign(earlier, name=WITNESS, private_key=WITNESS_KEY, timestamp=1_740_000_000),
            }
        ],
        "consistency_path": [p.hex() for p in tree.consistency_proof(16, 40)],
    }
    path = write_doc(tmp_path, document)
    result = verify_export(path, key=VKEY, witness_keys=[WITNESS_VKEY])
    assert result.ok and result.witnessed == 16, result.failure
    assert verify_export(path, key=VKEY, witness_keys=[OTHER_WITNESS_VKEY]).failure["check"] == "witness"
    document["witnessed"]["consistency_path"][0] = "00" * 32
    assert verify_export(write_doc(tmp_path, document), key=VKEY).failure["check"] == "consistency"


# --------------------------------------------------------------------------- on a node


@pytest.fixture
def logged(db, alice, audrey, charlie):
    for user in (alice, charlie, alice, audrey):
        audit_record(action=Action.CASE_VIEW, actor=actor_for_user(user), object_type="case", object_id=7)
    for _ in range(6):
        audit_record(action=Action.CASE_VIEW, actor=SYSTEM_ACTOR)
    audit_checkpoint_now()


def pins() -> list[str]:
    return [arg for vkey in audit_vkeys_to_pin() for arg in ("--key", vkey)]


def test_c14_ui_range_export_verifies_offline_and_a_tampered_one_fails(client, as_user, audrey, logged, tmp_path):
    as_user(audrey)
    response = client.get("/audit/export/", {"actor": "alice"})
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["format"] == "casebridge-audit-range/2" and len(document["entries"]) == 2
    assert all(json.loads(r["entry"])["agency"] == "NSP" for r in document["entries"])  # scope kept
    path = tmp_path / "audit-range.json"
    path.write_bytes(response.content)
    done = run_cli(str(path), *pins())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "a filtered range" in done.stdout  # says what a filtered range cannot prove

    document["entries"][1]["entry"] = document["entries"][1]["entry"].replace('"case.view"', '"case.list"')
    document["entries"][1].pop("leaf_hash")
    path.write_text(json.dumps(document))
    done = run_cli(str(path), *pins())
    assert done.returncode == 1 and "FAILED [inclusion]" in done.stdout


def test_c14_audit_export_from_to_verifies_and_a_tampered_one_fails(logged, tmp_path):
    out = tmp_path / "range"
    call_command("audit_export", out=str(out), first=2, last=6)
    document = json.loads((out / "audit-range.json").read_text())
    assert [r["index"] for r in document["entries"]] == [2, 3, 4, 5, 6] and document["contiguous"]
    done = run_cli(str(out), *pins())  # the directory works as well as the file
    assert done.returncode == 0, done.stdout + done.stderr
    assert verify_export(out / "audit-range.json", key=audit_vkeys_to_pin()).ok

    del document["entries"][2]
    (out / "audit-range.json").write_text(json.dumps(document))
    result = verify_export(out, key=audit_vkeys_to_pin())
    assert (result.failure["check"], result.failure["index"]) == ("range_complete", 4)

    with pytest.raises(CommandError, match="0 <= from <= to"):
        call_command("audit_export", out=str(tmp_path / "bad"), first=5, last=10_000)
    with pytest.raises(CommandError, match="go together"):
        call_command("audit_export", out=str(tmp_path / "bad2"), first=5)


def test_c14_range_export_carries_an_earlier_witnessed_checkpoint(logged, tmp_path):
    earlier = AuditCheckpoint.objects.order_by("-size").first()
    checkpoint = Checkpoint(settings.AUDIT_ORIGIN, earlier.size, bytes(earlier.root_hash))
    AuditCosignature.objects.create(
        checkpoint_size=earlier.size,
        witness=WITNESS,
        vkey=WITNESS_VKEY,
        line=cosignature_sign(checkpoint, name=WITNESS, private_key=WITNESS_KEY, timestamp=1_740_000_000),
        created_at=timezone.now(),
    )
    audit_record(action=Action.CASE_VIEW, actor=SYSTEM_ACTOR)
    out = tmp_path / "range"
    call_command("audit_export", out=str(out), first=0, last=3)
    document = json.loads((out / "audit-range.json").read_text())
    assert document["witnessed"]["size"] == earlier.size < document["checkpoint"]["size"]
    result = verify_export(out, key=audit_vkeys_to_pin(), witness_keys=[WITNESS_VKEY])
    assert result.ok and result.witnessed == earlier.size, result.failure


def test_c14_audit_verify_command_and_ui_pin_the_node_key_not_the_exports(client, as_user, audrey, logged, tmp_path):
    out = tmp_path / "export"
    call_command("audit_export", out=str(out))
    call_command("audit_verify", str(out))  # the node's own key is pinned: verified
    # Re-sign everything with another key and ship that key: self-consistent, but not this node's.
    entries = entry_lines(out)
    tree = MemoryTree(leaf_hash(line) for line in entries)
    sizes = [json.loads(line)["size"] for line in (out / "checkpoints.jsonl").read_text().splitlines()]
    notes = [
        (
            s,
            checkpoint_sign(
                Checkpoint(settings.AUDIT_ORIGIN, s, tree.root(s)), name=settings.AUDIT_ORIGIN, private_key=OTHER_KEY
            ),
        )
        for s in sizes
    ]
    write_checkpoints(out, notes)
    (out / "public-key.vkey").write_text(vkey_from_public_key(settings.AUDIT_ORIGIN, OTHER_KEY.public_key()) + "\n")
    manifest = json.loads((out / "manifest.json").read_text())
    for name in ("checkpoints.jsonl", "public-key.vkey"):
        manifest["files"][name] = hashlib.sha256((out / name).read_bytes()).hexdigest()
    (out / "manifest.json").write_text(json.dumps(manifest))
    assert verify_export(out, trust_export_key=True).ok  # the export vouches for itself...
    with pytest.raises(SystemExit) as excinfo:
        call_command("audit_verify", str(out))  # ...the node does not
    assert excinfo.value.code == 1

    as_user(audrey)
    response = client.post("/audit/verify/")
    assert response.status_code == 200 and response.context["result"].ok
    assert response.context["result"].key_pinned
