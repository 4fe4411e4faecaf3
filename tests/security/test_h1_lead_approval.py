"""H1: four-eyes approval of leads could be bypassed three ways.

(a) an investigator marked a lead inside a TLP:RED case TLP:CLEAR and shared it at once; (b) the
sharing agreement's "a supervisor approves each share" was ignored for leads; (c) after one
approved share every later edit or clue went out as `lead.update` without approval. And what a
supervisor approved was the lead as it was at approval time, not what they had been shown.
"""

from __future__ import annotations

import json

import pytest

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from casebridge.errors import CasebridgeError, ForbiddenError
from cases.access import Access
from cases.models import Lead, LeadShareRequest
from cases.selectors import case_context
from cases.services.cases import case_create
from cases.services.leads import lead_clue_add, lead_create, lead_update
from cases.sharing import lead_share_approve, lead_share_reject, lead_share_request
from exchange.delivery import outbox_deliver
from exchange.models import Bundle
from exchange.services import agreement_set
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db

HOME_ADDRESS = "Seen leaving 12 Benign Example Street, Testtown"


def _entries(action: str) -> list[dict]:
    audit_integrate()
    return [json.loads(row.canonical) for row in AuditEntry.objects.filter(action=action).order_by("index")]


def _deliver_all() -> None:
    for bundle in Bundle.objects.filter(direction="out", state="pending").order_by("pk"):
        assert outbox_deliver(bundle.pk).state == "applied"


def _case(user, tlp: str):
    case = case_create(acting_user=user, title=f"Operation {tlp.title()}", tlp=tlp)
    return case, case_context(user=user, case_id=case.pk, need=Access.WRITE)


def _lead(user, tlp: str, **kwargs) -> Lead:
    _case_row, context = _case(user, tlp)
    return lead_create(acting_user=user, context=context, title="Child in a blue room", tlp=tlp, **kwargs)


# --- (a) a lead below its case's TLP ------------------------------------------------------------


def test_h1_a_investigator_cannot_mark_a_lead_below_its_case_tlp(alice, partnership):
    case, context = _case(alice, "RED")
    with pytest.raises(CasebridgeError, match="less restrictive than its case's TLP:RED"):
        lead_create(acting_user=alice, context=context, title="Quick share", tlp="CLEAR")
    assert not Lead.objects.filter(case=case).exists()
    refusal = _entries("access.denied")[-1]
    assert refusal["outcome"] == "denied" and "TLP:CLEAR below its case's TLP:RED" in refusal["reason"]

    # Editing a RED lead down to CLEAR is refused the same way; nothing went to the partner.
    lead = lead_create(acting_user=alice, context=context, title="Child in a blue room")
    assert lead.tlp == "RED"
    with pytest.raises(CasebridgeError, match="Only a supervisor"):
        lead_update(acting_user=alice, lead=lead, tlp="CLEAR")
    lead.refresh_from_db()
    assert lead.tlp == "RED" and len(_entries("access.denied")) == 2
    # Raising it, or staying at the case's TLP, needs no supervisor.
    _green_case, lower_context = _case(alice, "GREEN")
    green = lead_create(acting_user=alice, context=lower_context, title="Green lead")
    assert lead_update(acting_user=alice, lead=green, tlp="AMBER").tlp == "AMBER"
    assert not Bundle.objects.exists()


def test_h1_a_refused_on_the_api_and_the_page_with_a_clear_sentence(client, api_client, alice, partnership):
    case, context = _case(alice, "RED")
    login_verified(api_client, alice)
    response = api_client.post(f"/api/v1/cases/{case.pk}/leads", {"title": "x", "tlp": "CLEAR"}, format="json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert "less restrictive than its case's TLP:RED" in response.json()["detail"]
    lead = lead_create(acting_user=alice, context=context, title="Red lead")
    response = api_client.patch(f"/api/v1/leads/{lead.pk}", {"tlp": "GREEN"}, format="json")
    assert response.status_code == 400 and "Only a supervisor" in response.json()["detail"]

    login_verified(client, alice)
    page = client.post(f"/cases/{case.pk}/leads/new/", {"title": "Quick share", "tlp": "CLEAR"})
    assert page.status_code == 200 and "less restrictive than its case" in page.content.decode()
    assert Lead.objects.filter(case=case).count() == 1
    assert len(_entries("access.denied")) == 3  # each refusal audited, none rolled back


def test_h1_a_supervisor_lowers_with_a_reason_and_the_share_still_needs_approval(alice, sam, bob, partnership):
    _red_case, context = _case(alice, "RED")
    lead = lead_create(acting_user=alice, context=context, title="Red lead")
    with pytest.raises(CasebridgeError, match="give the reason"):
        lead_update(acting_user=sam, lead=lead, tlp="AMBER")
    lead = lead_update(acting_user=sam, lead=lead, tlp="AMBER", tlp_reason="Partner needs the room details")
    assert lead.tlp == "AMBER"
    lowered = _entries("lead.update")[-1]
    assert lowered["details"]["tlp"] == ["RED", "AMBER"] and lowered["details"]["tlp_below_case"] == "RED"
    assert "tlp_reason" in lowered["commitments"] and "room details" not in json.dumps(lowered)

    # Below its case, the lead still needs four eyes at the case's TLP, whoever asks.
    share = lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    assert share.state == "requested" and any("TLP:RED (its case's)" in r for r in share.approval_reasons)
    assert not Bundle.objects.exists()
    # A lead left below its case another way (the case raised later) is treated the same.
    green_case, green_context = _case(bob, "GREEN")
    green = lead_create(acting_user=bob, context=green_context, title="Green lead")
    green_case.tlp = "RED"
    green_case.save(update_fields=["tlp"])
    green.refresh_from_db()
    later = lead_share_request(acting_user=bob, lead=green, partner_codes=["RNP"], purpose="victim_identification")
    assert later.state == "requested" and not Bundle.objects.exists()


# --- (b) the agreement's approval rule ----------------------------------------------------------


def test_h1_b_agreement_requiring_approval_holds_for_leads(alice, sam, adam, partnership):
    a_to_b, _ = partnership
    agreement_set(
        acting_user=adam, partner=a_to_b, data_types=["hashset", "lead"], max_tlp="AMBER", requires_approval=True
    )
    lead = _lead(alice, "GREEN")  # GREEN alone would go at once
    share = lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    assert share.state == "requested" and share.needs_approval
    assert share.approval_reasons == ["The sharing agreement with RNP asks a supervisor to approve each share."]
    assert not Bundle.objects.exists()
    assert _entries("share.request")[-1]["details"]["needs_approval"] is True
    lead_share_approve(acting_user=sam, share=share)
    assert Bundle.objects.filter(direction="out", kind="lead.share", recipient_code="RNP").count() == 1


def test_h1_b_share_to_a_partner_the_agreement_does_not_cover_is_refused_at_request(alice, adam, partnership):
    a_to_b, _ = partnership
    agreement_set(acting_user=adam, partner=a_to_b, data_types=["hashset"], max_tlp="AMBER", requires_approval=False)
    lead = _lead(alice, "GREEN")
    with pytest.raises(CasebridgeError, match="does not cover lead data"):
        lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    assert not LeadShareRequest.objects.exists() and not Bundle.objects.exists()


# --- (c) later changes of an approved share -----------------------------------------------------


def test_h1_c_clue_added_after_an_approved_share_waits_for_approval(alice, sam, agency_b, partnership):
    lead = _lead(alice, "AMBER", clues=[("language", "Speaks Dutch")])
    share = lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    lead_share_approve(acting_user=sam, share=share)
    _deliver_all()
    received = Lead.objects.get(agency=agency_b, share_uid=lead.share_uid)

    # The reproduced leak: a home address added after approval reached the partner. Now it waits.
    lead_clue_add(acting_user=alice, lead=lead, kind="location", text=HOME_ADDRESS)
    lead_update(acting_user=alice, lead=lead, status="in_progress")
    assert not Bundle.objects.filter(kind="lead.update").exists()
    waiting = LeadShareRequest.objects.get(kind="lead.update", state="requested")
    assert waiting.partner_codes == ["RNP"] and waiting.requested_by == alice
    assert "The lead's share needed approval, so each later share or change of it does too." in (
        waiting.approval_reasons
    )
    # It shows exactly what changed against what RNP holds: the clue (and the status).
    assert {"what": "Clue added (location)", "before": "", "after": HOME_ADDRESS} in waiting.changes
    assert {"what": "Status", "before": "open", "after": "in_progress"} in waiting.changes
    assert len(waiting.changes) == 2
    # The clue alone was superseded by the later change (whose snapshot holds both).
    assert LeadShareRequest.objects.filter(kind="lead.update", state="superseded").count() == 1
    _deliver_all()
    assert not received.clues.filter(text=HOME_ADDRESS).exists()

    lead_share_approve(acting_user=sam, share=waiting)
    _deliver_all()
    received.refresh_from_db()
    assert received.clues.filter(text=HOME_ADDRESS).exists() and received.status == "in_progress"


def test_h1_c_sharing_again_after_lowering_the_tlp_still_needs_approval(alice, sam, partnership):
    _green_case, context = _case(alice, "GREEN")
    lead = lead_create(acting_user=alice, context=context, title="Amber lead in a green case", tlp="AMBER")
    lead_share_approve(
        acting_user=sam,
        share=lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification"),
    )
    lead_clue_add(acting_user=alice, lead=lead, kind="location", text=HOME_ADDRESS)
    # Not below the case, so alice may lower it; but a fresh share would carry the waiting clue.
    lead = lead_update(acting_user=alice, lead=lead, tlp="GREEN")
    again = lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    assert again.state == "requested" and again.needs_approval
    assert Bundle.objects.filter(kind="lead.share").count() == 1 and not Bundle.objects.filter(kind="lead.update")


def test_h1_c_superseded_change_cannot_be_approved(alice, sam, partnership):
    lead = _lead(alice, "AMBER")
    lead_share_approve(
        acting_user=sam,
        share=lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification"),
    )
    lead_clue_add(acting_user=alice, lead=lead, kind="object", text="A red chair")
    older = LeadShareRequest.objects.get(kind="lead.update", state="requested")
    lead_clue_add(acting_user=alice, lead=lead, kind="object", text="A green lamp")
    with pytest.raises(CasebridgeError, match="superseded"):
        lead_share_approve(acting_user=sam, share=older)
    assert not Bundle.objects.filter(kind="lead.update").exists()


def test_h1_c_updates_of_a_lead_that_needed_no_approval_flow_as_before(alice, agency_b, partnership):
    lead = _lead(alice, "GREEN")
    share = lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    share.refresh_from_db()
    assert share.state == "sent" and not share.needs_approval
    lead_clue_add(acting_user=alice, lead=lead, kind="object", text="A yellow wall")
    update = LeadShareRequest.objects.get(kind="lead.update")
    assert update.state == "sent" and not update.needs_approval
    _deliver_all()
    assert Lead.objects.get(agency=agency_b, share_uid=lead.share_uid).clues.filter(text="A yellow wall").exists()


# --- the approver sees, and sends, the snapshot --------------------------------------------------


def test_h1_snapshot_edit_after_the_request_does_not_leak_into_the_approved_bundle(
    client, alice, sam, agency_b, partnership
):
    lead = _lead(alice, "AMBER", description="A blue room", clues=[("language", "Speaks Dutch")])
    share = lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    # After the request, before approval: more text on the lead.
    lead_update(acting_user=alice, lead=lead, description=f"A blue room. {HOME_ADDRESS}")
    lead_clue_add(acting_user=alice, lead=lead, kind="location", text=HOME_ADDRESS)

    # The approver reads the snapshot, in words, not JSON; reading it is audited.
    login_verified(client, sam)
    page = client.get("/cases/shares/").content.decode()
    assert "A blue room" in page and "Speaks Dutch" in page and HOME_ADDRESS not in page
    assert '"share_uid"' not in page and "{&quot;" not in page
    viewed = [e for e in _entries("lead.view") if e["details"].get("via") == "share_queue"]
    assert viewed and viewed[-1]["details"]["share_request"] == share.pk

    lead_share_approve(acting_user=sam, share=LeadShareRequest.objects.get(pk=share.pk))
    assert _entries("share.approve")[-1]["details"]["payload_sha256"]
    _deliver_all()
    received = Lead.objects.get(agency=agency_b, share_uid=lead.share_uid)
    assert received.description == "A blue room"
    assert not received.clues.filter(text=HOME_ADDRESS).exists()


# --- four eyes ------------------------------------------------------------------------------------


def test_h1_requester_never_approves_their_own_request(client, alice, sam, charlie, partnership):
    lead = _lead(sam, "AMBER")
    own = lead_share_request(acting_user=sam, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    with pytest.raises(ForbiddenError, match="Four eyes"):
        lead_share_approve(acting_user=sam, share=own)
    with pytest.raises(ForbiddenError, match="Four eyes"):
        lead_share_reject(acting_user=sam, share=own)
    denied = _entries("share.approve")
    assert len(denied) == 2 and all(e["outcome"] == "denied" for e in denied)  # refusals survive
    # Nor through the page; an investigator and another agency's user cannot decide at all.
    login_verified(client, sam)
    client.post(f"/cases/shares/{own.pk}/", {"decision": "approve"})
    own.refresh_from_db()
    assert own.state == "requested" and not Bundle.objects.exists()
    with pytest.raises(ForbiddenError):
        lead_share_approve(acting_user=alice, share=own)
    with pytest.raises(ForbiddenError):
        lead_share_approve(acting_user=charlie, share=own)
    login_verified(client, charlie)
    assert client.post(f"/cases/shares/{own.pk}/", {"decision": "approve"}).status_code in (403, 404)
    own.refresh_from_db()
    assert own.state == "requested"


def test_h1_requester_of_a_change_never_approves_it(alice, sam, partnership):
    lead = _lead(alice, "AMBER")
    lead_share_approve(
        acting_user=sam,
        share=lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification"),
    )
    # The supervisor who approved the share edits the lead: someone else must approve the change.
    lead_clue_add(acting_user=sam, lead=lead, kind="object", text="A red chair")
    change = LeadShareRequest.objects.get(kind="lead.update", state="requested")
    assert change.requested_by == sam
    with pytest.raises(ForbiddenError, match="Four eyes"):
        lead_share_approve(acting_user=sam, share=change)
    assert not Bundle.objects.filter(kind="lead.update").exists()
