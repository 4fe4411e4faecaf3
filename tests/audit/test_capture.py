"""Capture: an entry exists exactly when its action committed; sensitive values only as commitments."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.db import transaction

from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from audit.integrator import audit_integrate
from audit.models import AuditEntry, AuditPending, AuditSensitiveValue
from casebridge.lib.canonical_json import CanonicalJSONError

pytestmark = pytest.mark.django_db


def test_rolled_back_action_leaves_no_entry(alice):
    before = AuditPending.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action=Action.CASE_CREATE, actor=actor_for_user(alice), object_type="case", object_id=1)
        raise RuntimeError("the business change failed")
    assert AuditPending.objects.count() == before


def test_committed_action_has_entry_with_every_field(alice):
    audit_record(
        action=Action.CASE_VIEW,
        actor=actor_for_user(alice, auth="password+totp"),
        object_type="case",
        object_id=42,
        purpose={"code": "investigation", "case": "NSP-2026-1"},
        details={"tab": "evidence"},
    )
    audit_integrate()
    entry = AuditEntry.objects.get()
    body = json.loads(entry.canonical)
    assert body["index"] == entry.index == 0
    assert body["actor"] == {
        "type": "user",
        "id": str(alice.pk),
        "name": "alice",
        "role": "investigator",
        "auth": "password+totp",
    }
    assert body["agency"] == "NSP" and body["action"] == "case.view" and body["outcome"] == "success"
    assert body["object"] == {"type": "case", "id": "42"}
    assert body["purpose"] == {"code": "investigation", "case": "NSP-2026-1"}
    assert body["time"].endswith("Z")
    assert entry.leaf_hash == hashlib.sha256(b"\x00" + entry.canonical.encode()).digest()


def test_sensitive_values_are_committed_not_stored_in_clear(alice):
    audit_record(
        action=Action.CASE_SEARCH, actor=actor_for_user(alice), sensitive={"search_terms": "blue bicycle bedroom"}
    )
    audit_integrate()
    entry = AuditEntry.objects.get()
    assert "blue bicycle" not in entry.canonical
    commitment = json.loads(entry.canonical)["commitments"]["search_terms"]
    side = AuditSensitiveValue.objects.get(commitment=commitment)
    assert hashlib.sha256(bytes(side.salt) + b"blue bicycle bedroom").hexdigest() == commitment


def test_erasure_of_a_sensitive_value_keeps_the_entry_and_tree(alice):
    audit_record(action=Action.LEAD_VIEW, actor=actor_for_user(alice), sensitive={"lead_text": "a clue"})
    audit_integrate()
    before = bytes(AuditEntry.objects.get().leaf_hash)
    AuditSensitiveValue.objects.all().delete()  # court-ordered erasure
    entry = AuditEntry.objects.get()
    assert bytes(entry.leaf_hash) == before
    assert hashlib.sha256(b"\x00" + entry.canonical.encode()).digest() == before


def test_action_outside_the_fixed_list_is_refused(alice):
    with pytest.raises(ValueError):
        audit_record(action="case.steal", actor=actor_for_user(alice))


def test_details_that_cannot_be_canonical_fail_the_callers_transaction(alice):
    with pytest.raises(CanonicalJSONError):
        audit_record(action=Action.CASE_VIEW, actor=actor_for_user(alice), details={"score": 0.5})


def test_refused_request_leaves_a_failure_entry(client, as_user, alice):
    as_user(alice)
    assert client.get("/audit/").status_code == 403
    audit_integrate()
    denied = AuditEntry.objects.get(action="access.denied")
    assert denied.outcome == Outcome.DENIED and denied.actor_name == "alice"
    assert json.loads(denied.canonical)["reason"]


def test_request_id_and_source_are_recorded(client, as_user, alice):
    as_user(alice)
    client.get("/audit/", HTTP_X_REQUEST_ID="req-1234567890")
    audit_integrate()
    body = json.loads(AuditEntry.objects.get(action="access.denied").canonical)
    # The entry's id is the node's own; the caller's is kept beside it (L9).
    assert body["request_id"] != "req-1234567890" and len(body["request_id"]) == 32 and body["source"] == "127.0.0.1"
    assert body["details"]["client_request_id"] == "req-1234567890"
