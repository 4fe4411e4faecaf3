"""Hash set curator: create a set, import a VICS file with the progress page, see the counts and
where another agency classifies the same items differently, publish the set to a partner."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from exchange.models import Bundle
from hashsets.models import Classification, HashSet
from tests.e2e.conftest import import_file
from tests.hashsets.factories import vics2_file, vics2_records

pytestmark = pytest.mark.browser


def test_curator_imports_sees_disagreements_and_publishes(
    server, logged_in, screenshot, alice, agency_a, agency_b, partners, tmp_path
):
    # RNP's own set says items 0..4 are not CSAM (category 0) and shares it with NSP.
    rnp_set = HashSet.objects.create(owner=agency_b, name="RNP reference set", tlp="AMBER")
    import_file(rnp_set, vics2_file(tmp_path / "rnp.json", vics2_records(5, category=0, salt="curate")))
    rnp_set.shared_with.add(agency_a)
    # The file NSP received: ten items, CSAM ungraded (category 1), one series.
    upload = vics2_file(
        tmp_path / "nsp-known-2026-11.json", vics2_records(10, category=1, salt="curate", series="Series Lantern")
    )

    page = logged_in(alice)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Hash sets").click()
    expect(page.get_by_role("link", name="RNP reference set")).to_be_visible()
    page.get_by_role("link", name="New hash set").click()
    page.get_by_label("Name").fill("NSP known material")
    page.get_by_label("Description").fill("Items confirmed by NSP's grading team")
    expect(page.get_by_label("TLP")).to_have_value("AMBER")
    screenshot(page, "curator-hashset-new")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_text("Hash set “NSP known material” created")).to_be_visible()
    expect(page.get_by_text("Empty. Import a file to fill it.")).to_be_visible()

    page.get_by_label(re.compile(r"^File\b")).set_input_files(str(upload))
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("heading", name="Import into NSP known material")).to_be_visible()
    status = page.locator("#import-status")
    expect(status.get_by_text("Done", exact=True)).to_be_visible(timeout=30_000)
    expect(status).to_contain_text("10 records read")
    expect(status).to_contain_text("10 new and 0 updated classifications")
    expect(page.locator("#import-progress")).to_have_attribute("value", "100")
    screenshot(page, "curator-import-done")

    page.get_by_role("link", name="Back to the hash set").click()
    expect(page.get_by_role("heading", name="10 classifications")).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("csam_ungraded 10"))).to_be_visible()
    conflicts = page.locator("table", has=page.get_by_role("columnheader", name="They say"))
    expect(conflicts.get_by_role("row")).to_have_count(6)  # header and items 0..4
    expect(conflicts.get_by_role("row").nth(1)).to_contain_text("RNP")
    screenshot(page, "curator-hashset-detail")

    page.get_by_role("checkbox", name="RNP").check()
    page.get_by_role("button", name=re.compile("^Publish")).click()
    expect(page.get_by_text(re.compile(r"Version 2 queued for RNP"))).to_be_visible()

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exchange").click()
    outgoing = page.locator("table").filter(has_text="hashset.snapshot").first
    expect(outgoing).to_contain_text("RNP")
    expect(outgoing.get_by_text("Applied", exact=True)).to_be_visible()  # delivered and applied by RNP
    screenshot(page, "curator-published")

    # On this node RNP is a local agency: the bundle was delivered through the outbox and applied.
    received = Bundle.objects.get(direction=Bundle.Direction.IN, kind="hashset.snapshot", recipient_code="RNP")
    assert received.state == "applied", (received.state, received.last_error)
    # Both agencies are on this node, so RNP now sees NSP's set itself; nothing in it was lost.
    published = HashSet.objects.get(owner=agency_a, name="NSP known material")
    assert agency_b in published.shared_with.all()
    assert Classification.objects.filter(hashset=published, retracted_at__isnull=True).count() == 10
