"""Exchange pages and the partner API: who may do what, and the full admin flow in the UI."""

from __future__ import annotations

import json

import pytest

from exchange.models import Bundle, Partner, SharingAgreement
from exchange.services import keys_ensure, partner_token_issue
from tests.exchange.conftest import craft

pytestmark = pytest.mark.django_db


def test_admin_adds_verifies_and_sets_agreement_in_the_ui(client, as_user, adam, agency_b):
    card = keys_ensure(agency=agency_b).card
    as_user(adam)
    response = client.post("/exchange/partners/add/", {"card": json.dumps(card)})
    partner = Partner.objects.get(agency=adam.membership.agency, partner=agency_b)
    assert response.url == f"/exchange/partners/{partner.pk}/"
    page = client.get(response.url).content.decode()
    assert card["card"]["signing_keys"]["fingerprint"] in page
    bad = client.post(response.url, {"action": "verify", "signing_fingerprint": "0000-0000-0000-0000-0000"})
    assert "does not match" in bad.content.decode() or Partner.objects.get(pk=partner.pk).state == "unverified"
    fingerprint = card["card"]["signing_keys"]["fingerprint"].lower().replace("-", " ")
    client.post(response.url, {"action": "verify", "signing_fingerprint": fingerprint})
    assert Partner.objects.get(pk=partner.pk).state == "verified"
    client.post(
        response.url, {"action": "agreement", "data_types": ["hashset"], "max_tlp": "GREEN", "requires_approval": "on"}
    )
    agreement = SharingAgreement.objects.get(partner=partner)
    assert agreement.data_types == ["hashset"] and agreement.max_tlp == "GREEN" and agreement.requires_approval


def test_forged_card_is_refused(client, as_user, adam, agency_b):
    card = keys_ensure(agency=agency_b).card
    card["card"]["agency"]["name"] = "Someone Else"
    as_user(adam)
    response = client.post("/exchange/partners/add/", {"card": json.dumps(card)})
    assert "signature_invalid" in response.content.decode()
    assert not Partner.objects.exists()


def test_investigator_cannot_manage_partners(client, as_user, alice, adam, agency_b):
    as_user(alice)
    assert client.get("/exchange/partners/add/").status_code == 403
    assert client.get("/exchange/card/").status_code == 403
    assert client.post("/exchange/keys/rotate/").status_code == 403


def test_other_agencys_partner_is_404(client, as_user, partnership, alice, charlie):
    a_to_b, _ = partnership
    as_user(charlie)
    assert client.get(f"/exchange/partners/{a_to_b.pk}/").status_code == 404


def test_overview_outbox_and_inbox_pages(client, as_user, partnership, alice, agency_a, agency_b):
    import io

    from exchange.inbox import inbox_receive

    inbox_receive(src=io.BytesIO(craft(sender=agency_a, recipient=agency_b)), via="test")
    as_user(alice)
    assert client.get("/exchange/").status_code == 200
    assert client.get("/exchange/bundles/out/").status_code == 200
    from agencies.models import Membership
    from tests.conftest import login_verified

    charlie = (
        Membership.objects.get(agency=agency_b, role="investigator").user
        if Membership.objects.filter(agency=agency_b, role="investigator").exists()
        else None
    )
    if charlie:
        login_verified(client, charlie)
        inbox = client.get("/exchange/bundles/in/")
        assert "hashset.delta" in inbox.content.decode()


def test_agency_card_is_public_and_partner_api_needs_a_token(api_client, partnership, carl, agency_a, agency_b):
    card = api_client.get(f"/api/v1/exchange/agencies/{agency_a.code}/card")
    assert card.status_code == 200 and card.json()["card"]["agency"]["code"] == "NSP"
    assert api_client.get("/api/v1/exchange/agencies/NOPE/card").status_code == 404
    data = craft(sender=agency_a, recipient=agency_b)
    anonymous = api_client.post("/api/v1/exchange/inbox", data=data, content_type="application/octet-stream")
    assert anonymous.status_code in (401, 403)
    token = partner_token_issue(acting_user=carl, partner=Partner.objects.get(agency=agency_b, partner=agency_a))
    auth = {"HTTP_AUTHORIZATION": f"Partner {token}"}
    pushed = api_client.post("/api/v1/exchange/inbox", data=data, content_type="application/octet-stream", **auth)
    assert pushed.status_code == 202 and pushed.json()["state"] == "applied"
    again = api_client.post("/api/v1/exchange/inbox", data=data, content_type="application/octet-stream", **auth)
    assert again.status_code == 202 and again.json()["state"] == "duplicate"
    broken = api_client.post(
        "/api/v1/exchange/inbox", data=data + b"x", content_type="application/octet-stream", **auth
    )
    assert broken.status_code == 422 and broken.json()["code"] == "trailing_data"
    wrong = api_client.post(
        "/api/v1/exchange/inbox",
        data=data,
        content_type="application/octet-stream",
        HTTP_AUTHORIZATION="Partner cbp_nope",
    )
    assert wrong.status_code == 401
    assert Bundle.objects.filter(direction="in", state="quarantined", reject_code="trailing_data").exists()


def test_feed_lists_bundles_for_the_calling_partner_only(
    api_client, partnership, adam, alice, agency_a, agency_b, tmp_path
):
    from audit.capture import SYSTEM_ACTOR
    from hashsets.exchange_kinds import hashset_publish
    from hashsets.models import HashSet
    from hashsets.services import hashset_import_run, import_job_create
    from tests.hashsets.factories import vics2_file, vics2_records

    hashset = HashSet.objects.create(owner=agency_a, name="feed", tlp="GREEN")
    job = import_job_create(acting_user=None, hashset=hashset, file_name="x", total_bytes=1, scheme=None)
    hashset_import_run(job=job, path=vics2_file(tmp_path / "s.json", vics2_records(3)), actor=SYSTEM_ACTOR)
    bundle = hashset_publish(acting_user=alice, hashset=hashset, recipient_codes=["RNP"])[0]
    token = partner_token_issue(acting_user=adam, partner=Partner.objects.get(agency=agency_a, partner=agency_b))
    auth = {"HTTP_AUTHORIZATION": f"Partner {token}"}
    feed = api_client.get("/api/v1/exchange/feed", {"after": 0}, **auth)
    assert feed.status_code == 200 and [item["sequence"] for item in feed.json()] == [1]
    assert api_client.get("/api/v1/exchange/feed", {"after": 1}, **auth).json() == []
    download = api_client.get(f"/api/v1/exchange/bundles/{bundle.bundle_id}", **auth)
    assert download.status_code == 200 and b"".join(download.streaming_content)[:4] == b"\x89CBB"
