"""Supervisor: approve an investigator's lead share (four eyes: never one's own request) and see
it delivered. On this single node RNP is a local agency, so the bundle goes through the outbox
and RNP's inbox; a supervisor of RNP then finds the received lead."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from agencies.models import Role
from cases import services, sharing
from cases.access import Access
from cases.models import Lead, LeadShareRequest, ShareState
from cases.selectors import case_context
from exchange.models import Bundle
from tests.conftest import make_member

pytestmark = pytest.mark.browser


def _lead_with_share_request(user, *, title: str, lead_title: str, digests: list[str]) -> LeadShareRequest:
    case = services.case_create(acting_user=user, title=title, description="Set up for the supervisor journey")
    context = case_context(user=user, case_id=case.pk, need=Access.WRITE)
    services.evidence_add(acting_user=user, context=context, parsed=services.evidence_parse_pasted("\n".join(digests)))
    lead = services.lead_create(
        acting_user=user,
        context=context,
        title=lead_title,
        description="Same room in several files.",
        evidence_ids=list(case.evidence.values_list("pk", flat=True)),
        clues=[("language", "A calendar on the wall is printed in Dutch.")],
    )
    return sharing.lead_share_request(
        acting_user=user, lead=lead, partner_codes=["RNP"], purpose="victim_identification"
    )


def test_supervisor_approves_a_share_and_sees_it_delivered(
    server, logged_in, screenshot, alice, sam, agency_b, partners, seized
):
    digests = [d.sha256 for d in seized["digests"][3:5]]
    alices = _lead_with_share_request(
        alice, title="Operation Lantern", lead_title="Child in a yellow-walled bedroom", digests=digests
    )
    sams = _lead_with_share_request(sam, title="Operation Heron", lead_title="Boy with a red scarf", digests=digests)
    assert alices.state == sams.state == ShareState.REQUESTED  # TLP:AMBER: four eyes

    page = logged_in(sam)
    screenshot(page, "supervisor-dashboard")
    page.get_by_role("link", name="2 shares to approve").click()
    expect(page.get_by_role("heading", name="Share approvals")).to_be_visible()
    own = page.locator("section").filter(has_text="Boy with a red scarf")
    expect(own.get_by_text("Your request")).to_be_visible()
    expect(own.get_by_role("button", name="Approve")).to_have_count(0)
    screenshot(page, "supervisor-share-queue")

    request = page.locator("section").filter(has_text="Child in a yellow-walled bedroom")
    expect(request).to_contain_text("alice")
    expect(request).to_contain_text("RNP")
    # What will be sent, in words: the clue as it was when alice asked.
    expect(request).to_contain_text("A calendar on the wall is printed in Dutch.")
    request.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Share to RNP approved.")).to_be_visible()
    expect(page.locator("section").filter(has_text="Child in a yellow-walled bedroom")).to_have_count(0)

    alices.refresh_from_db()
    assert alices.state == ShareState.SENT and alices.approved_by == sam
    page.goto(f"{server}/cases/leads/{alices.lead_id}/")
    shares = page.locator("table", has=page.get_by_role("columnheader", name="Decided by"))
    expect(shares.get_by_role("row").filter(has_text="RNP")).to_contain_text("Sent")
    expect(shares.get_by_role("row").filter(has_text="RNP")).to_contain_text("sam")
    screenshot(page, "supervisor-lead-shared")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exchange").click()
    outgoing = page.locator("table").filter(has_text="lead.share").first
    expect(outgoing.get_by_role("row").filter(has_text="RNP")).to_contain_text("Applied")
    screenshot(page, "supervisor-exchange-delivered")
    received = Bundle.objects.get(direction=Bundle.Direction.IN, kind="lead.share", recipient_code="RNP")
    assert received.state == "applied", (received.state, received.last_error)

    # RNP's side: a supervisor there finds the lead among received leads, with its clue.
    rita = make_member(agency_b, Role.SUPERVISOR, "rita")
    rnp_page = logged_in(rita)
    rnp_page.get_by_role("navigation", name="Main").get_by_role("link", name="Leads").click()
    row = rnp_page.get_by_role("row").filter(has_text="Child in a yellow-walled bedroom")
    expect(row).to_contain_text("— (received)")
    expect(row).to_contain_text("NSP")
    row.get_by_role("link", name="Child in a yellow-walled bedroom").click()
    expect(rnp_page.get_by_text(re.compile(r"origin NSP \(received\)"))).to_be_visible()
    expect(rnp_page.get_by_text("A calendar on the wall is printed in Dutch.")).to_be_visible()
    expect(rnp_page.get_by_text("2 digests from the origin agency.")).to_be_visible()
    screenshot(rnp_page, "supervisor-rnp-received-lead")
    assert Lead.objects.filter(agency=agency_b, received=True).count() == 1
