"""Investigator: open a case from a template, add a colleague, upload a hash_files manifest of
seized (benign, generated) pictures, triage it (known / unknown, categories, series, victim
identified, agencies that disagree), classify an unknown item, open a victim-identification lead
and ask to share it with a partner agency."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from cases import services
from cases.models import Case, EvidenceItem, Lead, LeadShareRequest, ShareState

pytestmark = pytest.mark.browser


def test_investigator_case_triage_lead_and_share_request(
    server, logged_in, screenshot, alice, bob, sam, partners, seized
):
    services.case_template_create(
        acting_user=sam,
        name="Online distribution",
        description="Material traded online; seized devices hashed",
        tasks=[("Preserve account data", 3), ("Hash the seized devices", 7)],
    )

    page = logged_in(alice)
    expect(page.get_by_text("You are on no open case.")).to_be_visible()
    page.get_by_role("link", name="Open a case").first.click()
    page.get_by_label("Title").fill("Operation Lantern")
    page.get_by_label("Description").fill("Devices seized at the address; chat logs point to a trading group.")
    page.get_by_label("Start from template").select_option(label="Online distribution")
    page.get_by_label("TLP").select_option("AMBER")
    screenshot(page, "investigator-case-new")
    page.get_by_role("button", name="Open case").click()
    expect(page.get_by_text(re.compile(r"Case NSP-\S+ opened\. You are its lead\."))).to_be_visible()
    case = Case.objects.get(title="Operation Lantern")
    tasks = page.locator("#tasks")
    expect(tasks.get_by_role("link", name="Preserve account data")).to_be_visible()
    expect(tasks.get_by_role("link", name="Hash the seized devices")).to_be_visible()

    members = page.locator("#members")
    members.get_by_label("Username").fill("bob")
    members.get_by_label("Case role").select_option("member")
    members.get_by_role("button", name="Add or change member").click()
    expect(page.get_by_text("bob is on the case.")).to_be_visible()
    expect(page.locator("#members").get_by_role("cell", name="bob", exact=True)).to_be_visible()
    screenshot(page, "investigator-case-detail")

    # Evidence: the manifest `manage.py hash_files` wrote for the seized folder (digests only).
    page.locator("#evidence").get_by_role("link", name="Add evidence").click()
    expect(page.get_by_role("heading", name=f"Add evidence to {case.reference}")).to_be_visible()
    page.get_by_label(re.compile("^Manifest or hash file")).set_input_files(str(seized["manifest"]))
    screenshot(page, "investigator-evidence-add")
    page.get_by_role("button", name="Add and match").nth(1).click()
    expect(page.get_by_text("6 items added: 3 known, 0 near matches, 3 unknown.")).to_be_visible()
    expect(page.get_by_role("heading", name="Evidence triage")).to_be_visible()

    table = page.locator("table.triage")
    expect(table.locator("tbody tr")).to_have_count(6)
    expect(table.locator("tr.match-known")).to_have_count(3)
    expect(table.locator("tr.match-known").filter(has_text="Series Lantern")).to_have_count(3)
    disagreeing = table.locator("tbody tr").filter(has=page.locator("strong", has_text="yes"))
    expect(disagreeing).to_have_count(1)
    expect(disagreeing).to_contain_text("NSP, RNP")
    identified = EvidenceItem.objects.get(case=case, md5=bytes.fromhex(seized["known"][0].md5))
    row_of_identified = table.locator("tbody tr").filter(has=page.get_by_label(f"Select item {identified.pk}"))
    expect(row_of_identified.get_by_role("cell", name="yes", exact=True)).to_be_visible()  # victim identified
    screenshot(page, "investigator-triage")

    # Classify one unknown item into the agency's case classifications.
    unknown = EvidenceItem.objects.filter(case=case, match_state="unknown").order_by("pk").first()
    page.get_by_label(f"Select item {unknown.pk}").check()
    bulk = page.locator("fieldset.bulk")
    bulk.get_by_label("Category").select_option("csam_b")
    bulk.get_by_label("Series (optional)").fill("Series Lantern")
    bulk.get_by_role("button", name="Classify selected").click()
    expect(page.get_by_text("1 item classified into “NSP case classifications”.")).to_be_visible()
    unknown.refresh_from_db()
    assert unknown.match_state == "known" and unknown.category == "csam_b"

    # Undo it (the item is unknown again), then classify it again: no category is preselected.
    last = page.get_by_role("region", name="Last bulk change")
    expect(last).to_contain_text("1 item classified as csam_b")
    last.get_by_role("button", name="Undo").click()
    expect(page.get_by_text("Classification of 1 item undone.")).to_be_visible()
    unknown.refresh_from_db()
    assert unknown.match_state == "unknown"
    page.get_by_label(f"Select item {unknown.pk}").check()
    expect(bulk.get_by_label("Category")).to_have_value("")
    bulk.get_by_label("Category").select_option("csam_b")
    bulk.get_by_label("Series (optional)").fill("Series Lantern")
    bulk.get_by_role("button", name="Classify selected").click()
    expect(page.get_by_text("1 item classified into “NSP case classifications”.")).to_be_visible()
    unknown.refresh_from_db()
    assert unknown.match_state == "known" and unknown.category == "csam_b"

    # Open a victim-identification lead from another unknown item.
    page.get_by_label("Match", exact=True).select_option("unknown")
    page.get_by_role("button", name="Filter").click()
    expect(table.locator("tbody tr")).to_have_count(2)
    lead_item = EvidenceItem.objects.filter(case=case, match_state="unknown").order_by("pk").first()
    page.get_by_label(f"Select item {lead_item.pk}").check()
    page.get_by_role("button", name="Open a lead with selected").click()
    expect(page.get_by_role("heading", name="Open a victim-identification lead")).to_be_visible()
    expect(page.get_by_text("1 evidence item will be linked.")).to_be_visible()
    page.get_by_label("Title").fill("Child in a yellow-walled bedroom")
    page.get_by_label("Description").fill("Same room in several files; wallpaper with a distinctive pattern.")
    screenshot(page, "investigator-lead-new")
    page.get_by_role("button", name="Open lead").click()
    expect(page.get_by_text("Lead opened. Add what is known as clues.")).to_be_visible()
    page.get_by_label("Clue type").select_option("language")
    page.get_by_role("textbox", name="Clue").fill("A calendar on the wall is printed in Dutch.")
    page.get_by_role("button", name="Add clue").click()
    expect(page.get_by_text("Clue added.")).to_be_visible()

    page.get_by_label("Partner agency codes").fill("RNP")
    page.get_by_role("button", name="Request share").click()
    expect(page.get_by_text("A supervisor other than you must approve this share before it leaves")).to_be_visible()
    expect(page.get_by_text("TLP:AMBER needs a supervisor's approval.")).to_be_visible()
    expect(page.get_by_role("cell", name="Awaiting approval")).to_be_visible()
    screenshot(page, "investigator-lead-share-requested")
    lead = Lead.objects.get(title="Child in a yellow-walled bedroom")
    assert list(lead.evidence.values_list("pk", flat=True)) == [lead_item.pk]
    share = LeadShareRequest.objects.get(lead=lead)
    assert share.state == ShareState.REQUESTED and share.partner_codes == ["RNP"]

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    expect(page.get_by_role("link", name=case.reference).first).to_be_visible()
    expect(page.get_by_text(re.compile(rf"{case.reference}: 4 of 6 known or near"))).to_be_visible()
    screenshot(page, "investigator-dashboard")
