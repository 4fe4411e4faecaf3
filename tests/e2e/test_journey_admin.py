"""Agency admin: add a user (who sets their own password and authenticator through a one-time link), onboard a partner
agency from its signed card with an out-of-band fingerprint check, set the sharing agreement,
rotate the agency's keys."""

from __future__ import annotations

import json
import re

import pytest
from django_otp.oath import totp
from playwright.sync_api import expect

from exchange.models import AgencyKeySet, Partner
from exchange.services import keys_ensure
from tests.e2e.conftest import code_from_key, key_from_manual_entry

pytestmark = pytest.mark.browser


def test_admin_adds_a_user_who_enrols_through_a_one_time_link(server, logged_in, open_page, screenshot, adam, alice):
    page = logged_in(adam)
    screenshot(page, "admin-dashboard")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Users").click()
    expect(page.get_by_role("heading", name="Users of Northshire Police")).to_be_visible()
    expect(page.get_by_role("cell", name="alice")).to_be_visible()
    page.get_by_role("link", name="Add a user").click()

    page.get_by_label("Username").fill("dana")
    page.get_by_label("Full name").fill("Dana Reyes")
    page.get_by_label("Email").fill("dana@example.org")
    page.get_by_label("Role").select_option("investigator")
    screenshot(page, "admin-user-add")
    page.get_by_role("button", name="Create user").click()
    # No password for the admin to see (H2): a one-time enrolment link, handed over out of band.
    expect(page.get_by_role("heading", name="Enrolment link for dana")).to_be_visible()
    link = page.locator("#enrolment-link").inner_text().strip()
    assert "/enrol/" in link
    screenshot(page, "admin-user-created")

    # Dana opens the link: chooses a password and sets up the authenticator (QR code, or the key by hand).
    first = open_page()
    first.goto(link)
    first.get_by_role("button", name="Begin").click()
    expect(first.get_by_role("heading", name="Set up your account dana")).to_be_visible()
    expect(first.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    screenshot(first, "enrol-authenticator")
    key = key_from_manual_entry(first.get_by_label("Manual setup key").inner_text())
    dana_password = "Dana-chooses-her-own-passphrase-2026"
    first.locator("#id_new_password").fill(dana_password)
    first.locator("#id_new_password_again").fill(dana_password)
    first.get_by_label("One-time code").fill(code_from_key(key))
    first.get_by_role("button", name="Set up my account").click()
    expect(first.get_by_role("heading", name="Your recovery codes")).to_be_visible()
    assert first.locator("#recovery-codes li").count() == 10
    first.get_by_role("link", name="I have saved them").click()

    # The link is spent: opened again, it says so.
    assert first.goto(link).status == 410

    # Her first login: her own password and the next code of her app.
    first.goto(f"{server}/login/")
    first.get_by_label("Username").fill("dana")
    first.get_by_label("Password").fill(dana_password)
    first.get_by_role("button", name="Continue").click()
    first.get_by_label("One-time code").fill(f"{totp(key, step=30, t0=0, digits=6, drift=1):06d}")
    first.get_by_role("button", name="Log in").click()
    expect(first.get_by_role("heading", name="Welcome, Dana Reyes")).to_be_visible()
    expect(first.get_by_text("dana · NSP · Investigator")).to_be_visible()

    page.goto(f"{server}/agency/users/")
    page.get_by_role("link", name="dana").click()
    expect(page.get_by_text("enrolled", exact=True)).to_be_visible()


def test_admin_onboards_a_partner_and_rotates_keys(server, logged_in, screenshot, adam, agency_b):
    rnp_keys = keys_ensure(agency=agency_b)  # what RNP's admin would send us: its signed agency card
    card_text = json.dumps(rnp_keys.card)

    page = logged_in(adam)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Exchange").click()
    expect(page.get_by_role("heading", name="Exchange with partner agencies")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="Download our agency card").click()
    own_card = json.loads(open(download.value.path(), encoding="utf-8").read())
    assert download.value.suggested_filename == "NSP-agency-card.json"
    assert "NSP" in json.dumps(own_card)

    page.get_by_role("link", name="Add a partner").click()
    page.get_by_role("button", name="Import card").click()
    expect(page.get_by_role("alert")).to_contain_text("Paste the partner's agency card")
    page.get_by_label("Agency card (JSON)").fill(card_text)
    screenshot(page, "admin-partner-add")
    page.get_by_role("button", name="Import card").click()
    expect(page.get_by_role("heading", name="Rivermark Police (RNP)")).to_be_visible()
    expect(page.get_by_text("Compare its fingerprint before anything is shared")).to_be_visible()
    shown = page.locator("dl.meta dd.mono").first.inner_text().strip()
    assert shown == rnp_keys.signing_fingerprint  # what the admin compares with RNP on the phone

    field = page.get_by_label("Signing fingerprint, as read out by the partner")
    field.fill("0" * len(rnp_keys.signing_fingerprint))
    page.get_by_role("button", name="Fingerprint matches: verify").click()
    expect(page.locator(".message.error")).to_be_visible()
    screenshot(page, "admin-partner-fingerprint-mismatch")
    # Read out over the phone in groups, lower case: the comparison ignores spacing and case.
    spoken = " ".join(re.findall(".{1,4}", rnp_keys.signing_fingerprint.lower()))
    page.get_by_label("Signing fingerprint, as read out by the partner").fill(spoken)
    page.get_by_role("button", name="Fingerprint matches: verify").click()
    expect(page.get_by_text("RNP is verified: sharing can start.")).to_be_visible()

    page.get_by_label("hashset").check()
    page.get_by_label("lead").check()
    page.get_by_label("Highest TLP").select_option("AMBER")
    page.get_by_label("A supervisor approves each outgoing share").check()
    page.get_by_role("button", name="Save agreement").click()
    expect(page.get_by_text("Sharing agreement saved.")).to_be_visible()
    screenshot(page, "admin-partner-verified")
    partner = Partner.objects.get(agency=adam.membership.agency, partner=agency_b)
    assert partner.state == Partner.State.VERIFIED
    assert sorted(partner.agreement.data_types) == ["hashset", "lead"] and partner.agreement.requires_approval

    page.get_by_role("link", name="Back to the exchange").click()
    expect(page.get_by_role("cell", name=re.compile("RNP"))).to_be_visible()
    before = AgencyKeySet.objects.filter(agency=adam.membership.agency).count()
    page.get_by_role("button", name="Rotate keys").click()
    expect(page.get_by_text(re.compile("New keys in use"))).to_be_visible()
    assert AgencyKeySet.objects.filter(agency=adam.membership.agency).count() == before + 1
    keys = page.locator("section.card", has=page.get_by_role("heading", name="Our keys"))
    expect(keys.get_by_text("in use")).to_have_count(1)
    expect(keys.get_by_text(re.compile("^retired"))).to_have_count(1)
    screenshot(page, "admin-keys-rotated")

    # Revoke the retired set (say it leaked): a reason is required, and partners must be told.
    retired = keys.get_by_role("row").filter(has_text="retired")
    retired.get_by_text("Revoke…").click()
    retired.get_by_label(re.compile("^Why")).fill("laptop with the old key backup was stolen")
    retired.get_by_role("button", name="Revoke these keys").click()
    expect(page.get_by_text(re.compile("Keys revoked: nothing signed with them is accepted"))).to_be_visible()
    expect(keys.get_by_text("laptop with the old key backup was stolen")).to_be_visible()
    assert AgencyKeySet.objects.filter(agency=adam.membership.agency, revoked_at__isnull=False).count() == 1
    screenshot(page, "admin-keys-revoked")
