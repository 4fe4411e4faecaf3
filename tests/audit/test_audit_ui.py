"""Auditor UI and API: only auditors browse entries; their viewing is audited; export verifies."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from audit import merkle
from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, actor_for_user, audit_record
from audit.integrator import audit_checkpoint_now, audit_integrate
from audit.keys import audit_vkeys_to_pin
from audit.models import AuditEntry

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def some_entries(alice, bob, charlie):
    for user in (alice, charlie, alice):
        audit_record(action=Action.CASE_VIEW, actor=actor_for_user(user), object_type="case", object_id=7)
    audit_record(action=Action.HASH_LOOKUP, actor=actor_for_user(bob))
    audit_checkpoint_now()


@pytest.mark.parametrize("persona", ["alice", "sam", "adam", "charlie"])
def test_only_auditors_browse_the_log(client, as_user, some_entries, persona, request):
    as_user(request.getfixturevalue(persona))
    for url in ("/audit/", "/audit/entries/0/", "/audit/export/", "/audit/verify/", "/audit/checkpoint/"):
        assert client.get(url).status_code == 403, url


def test_auditor_filters_and_viewing_is_audited(client, as_user, audrey, some_entries):
    as_user(audrey)
    response = client.get("/audit/", {"actor": "alice"})
    assert response.status_code == 200
    names = {e.actor_name for e in response.context["page"].object_list}
    assert names == {"alice"}
    # charlie belongs to RNP: an NSP auditor does not see RNP's entries
    assert not client.get("/audit/", {"actor": "charlie"}).context["page"].object_list
    response = client.get("/audit/", {"action": "hash"})
    assert {e.action for e in response.context["page"].object_list} == {"hash.lookup"}
    audit_integrate()
    viewed = AuditEntry.objects.filter(action="audit.view", actor_name="audrey")
    assert viewed.count() == 3
    assert json.loads(viewed.order_by("index").first().canonical)["details"]["filters"] == {"actor": "alice"}


def test_entry_page_shows_a_proof_that_verifies(client, as_user, audrey, some_entries):
    as_user(audrey)
    response = client.get("/audit/entries/2/")  # alice's second view (NSP)
    assert response.status_code == 200
    proof = response.context["proof"]
    root = bytes(response.context["checkpoint"].root_hash)
    leaf = bytes(AuditEntry.objects.get(index=2).leaf_hash)
    assert merkle.verify_inclusion(leaf, 2, proof["tree_size"], proof["inclusion_path"], root)
    assert client.get("/audit/entries/1/").status_code == 404  # charlie's (RNP): not an NSP auditor's
    assert client.get("/audit/entries/999/").status_code == 404


def test_filtered_export_carries_verifiable_proofs(client, as_user, audrey, some_entries):
    as_user(audrey)
    response = client.get("/audit/export/", {"actor": "alice"})
    document = json.loads(response.content)
    assert len(document["entries"]) == 2
    size = document["checkpoint"]["size"]
    root = base64.b64decode(document["checkpoint"]["note"].split("\n")[2])
    for record in document["entries"]:
        leaf = merkle.leaf_hash(record["entry"].encode())
        path = [bytes.fromhex(h) for h in record["inclusion_path"]]
        assert merkle.verify_inclusion(leaf, record["index"], size, path, root)
    audit_integrate()
    assert AuditEntry.objects.filter(action="audit.export").exists()


def test_verify_from_the_ui(client, as_user, audrey, some_entries):
    as_user(audrey)
    response = client.post("/audit/verify/")
    assert response.status_code == 200
    assert response.context["result"].ok
    assert "Verified" in response.content.decode()


def test_api_checkpoint_and_proofs(api_client, alice, some_entries):
    from tests.conftest import login_verified

    login_verified(api_client, alice)
    checkpoint = api_client.get("/api/v1/audit/checkpoint").json()
    root = base64.b64decode(checkpoint["root_hash"])
    size = checkpoint["size"]
    proof = api_client.get("/api/v1/audit/proof/inclusion", {"index": 2}).json()
    path = [base64.b64decode(h) for h in proof["inclusion_path"]]
    assert merkle.verify_inclusion(base64.b64decode(proof["leaf_hash"]), 2, size, path, root)
    consistency = api_client.get("/api/v1/audit/proof/consistency", {"first": 1, "second": size}).json()
    assert len(consistency["consistency_path"]) >= 1
    too_big = api_client.get("/api/v1/audit/proof/inclusion", {"index": 0, "tree_size": size + 100})
    assert too_big.status_code == 400 and "latest checkpoint" in too_big.json()["detail"]
    # entries themselves are for auditors only
    assert api_client.get("/api/v1/audit/entries/0").status_code == 403


def test_export_command_then_offline_verifier_without_django(tmp_path, some_entries):
    out = tmp_path / "export"
    call_command("audit_export", out=str(out))
    env = {"PATH": "/usr/bin:/bin"}
    pins = [arg for vkey in audit_vkeys_to_pin() for arg in ("--key", vkey)]
    result = subprocess.run(
        [sys.executable, "-m", "audit.verify", str(out), *pins],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = (out / "entries.jsonl").read_bytes().splitlines()
    tampered = lines[1].replace(b'"case.view"', b'"case.edit"')
    (out / "entries.jsonl").write_bytes(b"\n".join([lines[0], tampered, *lines[2:]]) + b"\n")
    result = subprocess.run(
        [sys.executable, "-m", "audit.verify", str(out), *pins],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1


def test_audit_verify_command_exit_codes(tmp_path, some_entries):
    out = tmp_path / "export"
    call_command("audit_export", out=str(out))
    call_command("audit_verify", str(out))  # no SystemExit: verified
    (out / "checkpoints.jsonl").write_text("")
    with pytest.raises(SystemExit) as excinfo:
        call_command("audit_verify", str(out))
    assert excinfo.value.code == 1


def test_system_actor_entries_have_no_agency(db):
    audit_record(action=Action.AUDIT_EXPORT, actor=SYSTEM_ACTOR)
    audit_integrate()
    assert AuditEntry.objects.get().agency_code == ""
