"""Leads over the exchange: a shared lead arrives at the partner, and its update flows back."""

from __future__ import annotations

import pytest

from cases.models import Lead, LeadShareRequest
from cases.selectors import case_context
from cases.services.cases import case_create
from cases.services.leads import lead_create, lead_update
from cases.sharing import lead_share_request
from exchange.delivery import outbox_deliver
from exchange.models import Bundle

pytestmark = pytest.mark.django_db


def _deliver_all():
    for bundle in Bundle.objects.filter(direction="out", state="pending").order_by("pk"):
        assert outbox_deliver(bundle.pk).state == "applied"


def test_lead_shared_then_identified_at_the_partner_flows_back(partnership, alice, charlie, agency_b):
    case = case_create(acting_user=alice, title="Series Blue", tlp="GREEN")
    context = case_context(user=alice, case_id=case.pk)
    lead = lead_create(
        acting_user=alice, context=context, title="Child in blue room", tlp="GREEN", clues=[("language", "Dutch")]
    )
    share = lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    share.refresh_from_db()
    assert share.state == "sent"
    outgoing = Bundle.objects.get(direction="out", kind="lead.share")
    assert outgoing.recipient_code == "RNP" and outgoing.tlp == "GREEN"
    _deliver_all()
    received = Lead.objects.get(agency=agency_b, share_uid=lead.share_uid)
    assert received.received and received.origin_agency_code == "NSP" and received.title == "Child in blue room"

    # RNP identifies the victim: the update goes back to NSP through the exchange.
    lead_update(acting_user=charlie, lead=received, status="identified")
    update = Bundle.objects.get(direction="out", kind="lead.update")
    assert update.sender_code == "RNP" and update.recipient_code == "NSP"
    _deliver_all()
    lead.refresh_from_db()
    assert lead.status == "identified"


def test_red_lead_waits_for_a_supervisor(partnership, alice, sam, adam):
    from cases.sharing import lead_share_approve
    from exchange.services import ShareRefused, agreement_set

    case = case_create(acting_user=alice, title="Series Red", tlp="RED")
    lead = lead_create(acting_user=alice, context=case_context(user=alice, case_id=case.pk), title="Lead", tlp="RED")
    # The agreement with RNP stops at AMBER: the sharing rule refuses a RED lead when it is asked for.
    with pytest.raises(ShareRefused, match="TLP:AMBER"):
        lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    assert not LeadShareRequest.objects.exists() and not Bundle.objects.exists()
    # Under an agreement up to RED, it waits for a supervisor; then the exchange seals it.
    agreement_set(acting_user=adam, partner=partnership[0], data_types=["lead"], max_tlp="RED", requires_approval=False)
    share = lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    assert share.state == "requested" and not Bundle.objects.exists()
    lead_share_approve(acting_user=sam, share=LeadShareRequest.objects.get(pk=share.pk))
    assert Bundle.objects.get(direction="out", kind="lead.share").tlp == "RED"
