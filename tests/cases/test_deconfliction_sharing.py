"""Deconfliction across agencies without leaking case content; lead sharing round trip; purpose."""

from __future__ import annotations

import hashlib
import json

import pytest

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from casebridge.errors import CasebridgeError, ForbiddenError
from cases import services, sharing
from cases.access import Access
from cases.deconfliction import identifier_hash, identifier_normalise
from cases.models import Case, CaseIdentifier, DeconflictionHit, Lead, LeadEvent, LeadShareRequest
from tests.cases.conftest import ctx, entries
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db


def test_evidence_hit_across_two_agencies_without_leaking_titles(api_client, alice, charlie, case_a, case_b):
    digest = hashlib.sha256(b"new material").hexdigest()
    services.evidence_add(
        acting_user=charlie, context=ctx(charlie, case_b, Access.WRITE), parsed=services.evidence_parse_pasted(digest)
    )
    result = services.evidence_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), parsed=services.evidence_parse_pasted(digest)
    )
    assert result.hits == 1
    assert DeconflictionHit.objects.filter(case=case_a, other_case=case_b, kind="evidence").exists()
    assert DeconflictionHit.objects.filter(case=case_b, other_case=case_a, kind="evidence").exists()
    login_verified(api_client, charlie)
    body = api_client.get(f"/api/v1/cases/{case_b.pk}/deconfliction").json()
    assert body["results"][0]["other_agency"] == "NSP" and body["results"][0]["contact"] == "alice"
    text = json.dumps(body)
    assert "Operation Lantern" not in text and "Secret description" not in text and case_a.reference not in text
    page = api_client.get(f"/api/v1/cases/{case_a.pk}")
    assert page.status_code == 404  # charlie still cannot open NSP's case
    hits = entries("deconfliction.hit")
    assert {h["agency"] for h in hits} == {"NSP", "RNP"} and all("Lantern" not in json.dumps(h) for h in hits)


def test_identifiers_are_normalised_keyed_hashes_and_deconflict(alice, charlie, case_a, case_b):
    assert identifier_normalise("email", " Target@Example.ORG ") == "target@example.org"
    assert identifier_normalise("phone", "0044 (20) 7946-0958") == "+442079460958"
    assert identifier_normalise("ip", "2001:DB8:0:0:0:0:0:1") == "2001:db8::1"
    assert identifier_normalise("username", "@Night_Owl") == "night_owl"
    with pytest.raises(CasebridgeError, match="not an IPv4 or IPv6"):
        identifier_normalise("ip", "999.1.1.1")
    services.identifier_add(
        acting_user=charlie, context=ctx(charlie, case_b, Access.WRITE), kind="email", value="target@example.org"
    )
    _, hits = services.identifier_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), kind="email", value="TARGET@example.org "
    )
    assert hits == 1
    stored = [bytes(h) for h in CaseIdentifier.objects.values_list("keyed_hash", flat=True)]
    assert stored == [identifier_hash("email", "target@example.org")] * 2
    assert all(b"target" not in h for h in stored)
    assert "target@example.org" not in json.dumps(entries())  # only commitments reach the log


def test_series_hit(alice, charlie, case_a, case_b):
    services.case_series_link(acting_user=charlie, context=ctx(charlie, case_b, Access.WRITE), name="Series Wren")
    services.case_series_link(acting_user=alice, context=ctx(alice, case_a, Access.WRITE), name="Series Wren")
    assert DeconflictionHit.objects.filter(kind="series").count() == 2


def test_purpose_recorded_and_refused_for_a_non_member_case(api_client, alice, agency_a, case_a):
    from agencies.models import Role
    from tests.conftest import make_member

    dave = make_member(agency_a, Role.INVESTIGATOR, "dave")  # same agency, not on the case
    login_verified(api_client, alice)
    assert (
        api_client.get("/api/v1/cases/?q=lantern&purpose=victim_identification&purpose_text=tip 42").status_code == 200
    )
    assert api_client.get(f"/api/v1/cases/?purpose_case={case_a.reference}").status_code == 200
    login_verified(api_client, dave)
    refused = api_client.get(f"/api/v1/cases/?purpose_case={case_a.reference}")
    assert refused.status_code == 400 and f"not a member of case {case_a.reference}" in refused.json()["detail"]
    assert api_client.get("/api/v1/cases/?purpose=gossip").status_code == 400
    search = entries("case.search")
    assert search[0]["purpose"] == {"code": "victim_identification"}
    assert set(search[0]["commitments"]) == {"search", "purpose_text"} and "lantern" not in json.dumps(search)
    listed = entries("case.list")
    assert listed[0]["purpose"] == {"code": "case", "case": case_a.reference}
    denied = entries("access.denied")
    assert denied[-1]["object"]["type"] == "purpose"
    views = entries("case.view") or []
    login_verified(api_client, alice)
    api_client.get(f"/api/v1/cases/{case_a.pk}/notes")
    assert entries("case.view")[len(views)]["purpose"] == {"code": "case", "case": case_a.reference}


@pytest.fixture
def shared_lead(alice, case_a):
    # A GREEN lead lives in a GREEN case: below its case's TLP only a supervisor may mark it (H1).
    Case.objects.filter(pk=case_a.pk).update(tlp="GREEN")
    case_a.refresh_from_db()
    services.evidence_add(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE),
        parsed=services.evidence_parse_pasted(hashlib.sha256(b"victim series item").hexdigest()),
    )  # fmt: skip
    item = case_a.evidence.get()
    return services.lead_create(
        acting_user=alice, context=ctx(alice, case_a, Access.WRITE), title="Girl in blue room",
        description="Unidentified", series=["Series Heron"], evidence_ids=[item.pk],
        clues=[("language", "Speaks Dutch"), ("device", "Canon EOS 550D")], tlp="GREEN",
    )  # fmt: skip


def test_payload_round_trip_is_idempotent_and_reports_identification(alice, charlie, agency_a, agency_b, shared_lead):
    payload = sharing.lead_share_payload(shared_lead)
    assert json.loads(json.dumps(payload)) == payload
    assert not any(isinstance(v, float) for v in json.dumps(payload))
    assert payload["series"] == ["Series Heron"] and len(payload["clues"]) == 2
    assert payload["evidence"][0]["sha256"] == hashlib.sha256(b"victim series item").hexdigest()
    received = sharing.lead_apply(
        recipient_agency=agency_b, sender_agency_code="NSP", payload=payload, kind="lead.share"
    )
    again = sharing.lead_apply(recipient_agency=agency_b, sender_agency_code="NSP", payload=payload, kind="lead.share")
    assert received.pk == again.pk and Lead.objects.filter(agency=agency_b).count() == 1
    assert received.received and received.share_uid == shared_lead.share_uid and received.clues.count() == 2
    assert LeadEvent.objects.filter(lead=received).count() == 1
    with pytest.raises(CasebridgeError, match="origin agency"):
        sharing.lead_apply(recipient_agency=agency_b, sender_agency_code="XYZ", payload=payload, kind="lead.share")
    # RNP identifies the victim and reports back to NSP
    LeadShareRequest.objects.create(lead=shared_lead, partner_codes=["RNP"], purpose="victim_identification",
                                    requested_by=alice, state="sent")  # fmt: skip
    back = sharing.lead_share_payload(received)
    back["status"] = "identified"
    origin = sharing.lead_apply(recipient_agency=agency_a, sender_agency_code="RNP", payload=back, kind="lead.update")
    sharing.lead_apply(recipient_agency=agency_a, sender_agency_code="RNP", payload=back, kind="lead.update")
    assert origin.pk == shared_lead.pk and origin.status == "identified"
    updates = LeadEvent.objects.filter(lead=shared_lead, kind="partner_update")
    assert updates.count() == 1 and updates[0].to_status == "identified" and updates[0].agency_code == "RNP"
    with pytest.raises(CasebridgeError, match=r"payload\.status"):
        sharing.lead_apply(
            recipient_agency=agency_a, sender_agency_code="RNP", payload={**back, "status": "x"}, kind="lead.update"
        )


def test_share_request_four_eyes(alice, sam, agency_a, shared_lead, partnership, monkeypatch):
    sent = []
    monkeypatch.setattr(sharing, "exchange_share_enqueue", lambda **kwargs: sent.append(kwargs))
    Lead.objects.filter(pk=shared_lead.pk).update(tlp="AMBER")
    shared_lead.refresh_from_db()
    share = sharing.lead_share_request(
        acting_user=alice, lead=shared_lead, partner_codes=["rnp"], purpose="victim_identification"
    )
    assert share.state == "requested" and share.partner_codes == ["RNP"] and not sent
    with pytest.raises(ForbiddenError):
        sharing.lead_share_approve(acting_user=alice, share=share)
    with pytest.raises(CasebridgeError, match="Unknown purpose"):
        sharing.lead_share_request(acting_user=alice, lead=shared_lead, partner_codes=["RNP"], purpose="curiosity")
    own = sharing.lead_share_request(
        acting_user=sam, lead=shared_lead, partner_codes=["RNP"], purpose="victim_identification"
    )
    with pytest.raises(ForbiddenError, match="Four eyes"):
        sharing.lead_share_approve(acting_user=sam, share=own)
    approved = sharing.lead_share_approve(acting_user=sam, share=share)
    assert approved.state == "sent" and approved.approved_by == sam
    assert sent[0]["kind"] == "lead.share" and sent[0]["partner_codes"] == ["RNP"]
    assert sent[0]["payload"]["share_uid"] == str(shared_lead.share_uid)
    requested = entries("share.request")
    assert requested[0]["recipients"] == ["RNP"] and requested[0]["purpose"]["code"] == "victim_identification"
    assert "Girl in blue room" not in json.dumps(entries())
    # The share needed approval, so the change does too (H1) before it goes as a lead.update.
    services.lead_update(acting_user=alice, lead=shared_lead, status="identified")
    assert sent[-1]["kind"] == "lead.share"
    change = LeadShareRequest.objects.get(kind="lead.update", state="requested")
    sharing.lead_share_approve(acting_user=sam, share=change)
    assert sent[-1]["kind"] == "lead.update" and sent[-1]["payload"]["status"] == "identified"


def test_green_lead_needs_no_approval_and_goes_to_the_outbox(alice, shared_lead, partnership):
    from exchange.models import Bundle

    share = sharing.lead_share_request(
        acting_user=alice, lead=shared_lead, partner_codes=["RNP"], purpose="victim_identification"
    )
    share.refresh_from_db()
    assert share.state == "sent" and not share.needs_approval
    assert Bundle.objects.filter(direction="out", kind="lead.share", recipient_code="RNP").count() == 1
    with pytest.raises(CasebridgeError, match="not with your own"):
        sharing.lead_share_request(
            acting_user=alice, lead=shared_lead, partner_codes=["NSP"], purpose="victim_identification"
        )


def test_every_action_is_audited(alice, case_a, shared_lead):
    audit_integrate()
    actions = set(AuditEntry.objects.values_list("action", flat=True))
    assert {"case.create", "case.member_change", "evidence.add", "lead.create"} <= actions
    lead_entry = entries("lead.create")[0]
    assert "Girl in blue room" not in json.dumps(lead_entry) and "title" in lead_entry["commitments"]
    assert "clue_0" in lead_entry["commitments"]
