"""Issue 14: who sees which audit entries.

An agency's auditors read their agency's entries (and the log's own key hand-overs); node-level
entries (failed logins of unknown users with their source address, witness cosigning, bundles
rejected that were addressed to no agency here) are for the node auditor, who belongs to no agency
and reads no agency's entries. The same scope holds in the list, the entry page, the API, the
activity chart and the export.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from agencies.admin import NodeAuditorForm
from agencies.models import NodeAuditor, Role
from agencies.selectors import audit_scope_of
from agencies.services import login_failure_record
from audit.actions import Action, Outcome
from audit.capture import SYSTEM_ACTOR, Actor, actor_for_user, audit_record
from audit.integrator import audit_checkpoint_now, audit_integrate
from audit.keys import audit_vkey
from audit.models import AuditEntry
from tests.conftest import login_verified, make_member

pytestmark = pytest.mark.django_db
User = get_user_model()


@pytest.fixture
def rita(agency_b):
    """RNP's auditor."""
    return make_member(agency_b, Role.AUDITOR, "rita")


@pytest.fixture
def nora(db):
    """The node auditor, made as the operator makes one."""
    call_command("node_auditor_create", "nora", stdout=io.StringIO())
    user = User.objects.get(username="nora")
    TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


@pytest.fixture
def world(alice, charlie, agency_a, agency_b):
    """One entry of each kind; returns their indices by name."""
    audit_record(action=Action.CASE_VIEW, actor=actor_for_user(alice), object_type="case", object_id=1)
    audit_record(action=Action.CASE_VIEW, actor=actor_for_user(charlie), object_type="case", object_id=2)
    # alice's mistyped password, and a username nobody has: failed logins with the source address
    login_failure_record(username="alice", address="198.51.100.7", stage="password", user=None)
    login_failure_record(username="nobody", address="203.0.113.9", stage="password")
    audit_record(
        action=Action.CHECKPOINT_COSIGN,
        actor=Actor(type="partner", id="XX", name="XX", auth="partner-token"),
        object_type="witnessed_log",
        object_id=1,
    )
    audit_record(
        action=Action.BUNDLE_REJECT,
        actor=Actor(type="partner", id="ZZ", name="ZZ", auth="bundle-signature"),
        outcome=Outcome.FAILURE,
        agency="",
        object_type="bundle",
        object_id="b-node",
        reason="unknown_recipient: addressed to no agency here",
    )
    # (the hand-over's entry only: the key stays the one this process signs with)
    audit_record(
        action=Action.AUDIT_KEY_ROTATED,
        actor=SYSTEM_ACTOR,
        object_type="audit_signing_key",
        object_id="k2",
        details={"old_key": "old", "new_key": audit_vkey(), "cause": "scheduled"},
    )
    audit_checkpoint_now()
    by = {}
    for entry in AuditEntry.objects.order_by("index"):
        body = json.loads(entry.canonical)
        name = {
            ("case.view", "NSP"): "nsp_view",
            ("case.view", "RNP"): "rnp_view",
            ("audit.cosign", ""): "cosign",
            ("bundle.reject", ""): "node_reject",
            ("audit.key_rotated", ""): "key_rotated",
        }.get((entry.action, entry.agency_code))
        if entry.action == "auth.login_failed":
            name = f"login_failed_{body['actor']['name']}"
        if name:
            by[name] = entry.index
    return by


NODE_LEVEL = {"login_failed_nobody", "cosign", "node_reject"}


def _listed(client, **query) -> set[int]:
    response = client.get("/audit/", query)
    assert response.status_code == 200
    return {e.index for e in response.context["page"].object_list}


def _chart_total(client) -> int:
    return sum(item["total"] for item in client.get("/audit/").context["chart"]["legend"])


def _exported(client) -> list[dict]:
    response = client.get("/audit/export/")
    assert response.status_code == 200
    return [json.loads(record["entry"]) for record in json.loads(response.content)["entries"]]


def test_14_agency_auditor_sees_its_agency_and_no_other_nor_node_level(client, api_client, rita, world):
    login_verified(client, rita)
    listed = _listed(client)
    assert world["rnp_view"] in listed and world["key_rotated"] in listed
    assert world["nsp_view"] not in listed
    assert not listed & {world[name] for name in NODE_LEVEL | {"login_failed_alice"}}
    # asking for NSP's entries by filter gives nothing either
    assert _listed(client, agency="NSP") == set()
    assert _listed(client, action="auth") == set()

    hidden = [world["nsp_view"], world["login_failed_alice"], world["login_failed_nobody"], world["cosign"]]
    for index in hidden:
        assert client.get(f"/audit/entries/{index}/").status_code == 404, index
    assert client.get(f"/audit/entries/{world['rnp_view']}/").status_code == 200

    login_verified(api_client, rita)
    for index in hidden:
        response = api_client.get(f"/api/v1/audit/entries/{index}")
        assert response.status_code == 404, index
        assert "nobody" not in response.content.decode() and "198.51" not in response.content.decode()
    assert api_client.get(f"/api/v1/audit/entries/{world['rnp_view']}").json()["entry"]["agency"] == "RNP"

    # the chart counts RNP's view and the key hand-over; not NSP's view, not the login failures
    # (rita's own audit.view entries are not integrated yet)
    assert _chart_total(client) == 2

    exported = _exported(client)
    assert {(e["agency"], e["action"]) for e in exported} <= {("RNP", "case.view"), ("", "audit.key_rotated")}
    assert "203.0.113.9" not in json.dumps(exported) and "198.51.100.7" not in json.dumps(exported)
    assert len(exported) == 2


def test_14_nsp_auditor_does_not_see_node_level_entries(client, audrey, world):
    login_verified(client, audrey)
    listed = _listed(client)
    assert world["nsp_view"] in listed
    assert not listed & {world[name] for name in NODE_LEVEL}
    assert client.get(f"/audit/entries/{world['login_failed_nobody']}/").status_code == 404


def test_14_node_auditor_sees_node_level_entries_only(client, api_client, nora, world):
    assert audit_scope_of(nora) == ""
    login_verified(client, nora)
    assert client.get("/").url == "/audit/"  # its dashboard is the node's log
    listed = _listed(client)
    assert {world[name] for name in NODE_LEVEL} <= listed
    assert world["nsp_view"] not in listed and world["rnp_view"] not in listed
    assert client.get(f"/audit/entries/{world['login_failed_nobody']}/").status_code == 200
    assert client.get(f"/audit/entries/{world['nsp_view']}/").status_code == 404
    assert client.get(f"/audit/entries/{world['rnp_view']}/").status_code == 404
    assert client.get("/audit/checkpoint/").status_code == 200
    assert client.get("/audit/verify/").status_code == 200

    exported = _exported(client)
    assert exported and {e["agency"] for e in exported} == {""}
    assert "203.0.113.9" in json.dumps(exported)
    assert {e["action"] for e in exported} >= {"auth.login_failed", "audit.cosign", "bundle.reject"}
    # chart: every integrated entry of no agency (the creation of nora's own account included)
    assert _chart_total(client) == AuditEntry.objects.filter(agency_code="").count()

    login_verified(api_client, nora)
    assert api_client.get(f"/api/v1/audit/entries/{world['cosign']}").status_code == 200
    assert api_client.get(f"/api/v1/audit/entries/{world['nsp_view']}").status_code == 404
    assert api_client.get("/api/v1/audit/checkpoint").status_code == 200
    assert api_client.get("/api/v1/audit/proof/inclusion", {"index": world["cosign"]}).status_code == 200

    # no agency's data: agency pages stay closed
    for url in ("/cases/", "/retention/report/", "/hashsets/"):
        assert client.get(url).status_code in (302, 403), url

    # its own viewing is a node-level entry with its role
    audit_integrate()
    viewed = AuditEntry.objects.filter(action="audit.view", actor_name="nora")
    assert viewed.exists() and {e.agency_code for e in viewed} == {""}
    assert json.loads(viewed.first().canonical)["actor"]["role"] == "node_auditor"


def test_14_node_auditor_command_refuses_taken_names_and_audits_creation(nora):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("node_auditor_create", "NORA")
    audit_integrate()
    created = AuditEntry.objects.get(action="user.create", object_id=str(nora.pk))
    assert created.agency_code == "" and json.loads(created.canonical)["details"]["role"] == "node_auditor"


def test_14_an_agency_member_is_never_a_node_auditor(client, alice, rita):
    """An operator who adds the node-auditor row to a member gains that member nothing."""
    assert not NodeAuditorForm(data={"user": alice.pk}).is_valid()
    NodeAuditor.objects.create(user=alice)  # bypassing the form, as a raw admin write could
    alice.refresh_from_db()
    assert audit_scope_of(alice) is None
    login_verified(client, alice)
    assert client.get("/audit/").status_code == 403
    NodeAuditor.objects.create(user=rita)
    rita.refresh_from_db()
    assert audit_scope_of(rita) == "RNP"


def test_14_rejected_bundle_is_the_entry_of_the_agency_here_it_was_addressed_to(tmp_path, agency_b, settings):
    from exchange.inbox import _quarantine

    settings.EXCHANGE_BUNDLE_DIR = str(tmp_path / "bundles")
    path = Path(tmp_path / "b.cbb")
    path.write_bytes(b"not a bundle")
    header = {"bundle_id": "b-1", "sender": {"agency": "ZZ"}, "recipients": [{"agency": "RNP"}]}
    _quarantine(path=path, header=header, code="bad_signature", message="x", via="http")
    _quarantine(path=path, header={**header, "bundle_id": "b-2", "recipients": [{"agency": "FAR"}]}, code="c",
                message="x", via="http")  # fmt: skip
    audit_integrate()
    assert dict(AuditEntry.objects.filter(action="bundle.reject").values_list("object_id", "agency_code")) == {
        "b-1": "RNP",
        "b-2": "",
    }
