"""C1 (issue 13): one agency's admin must not take over another agency's verified partner.

The demo-node story: NSP (admin adam) and RNP (admin carl) are hosted on one node. adam imports a
self-made card for DE-BKA; carl imports DE-BKA's genuine card and verifies its fingerprint by phone;
adam imports a second self-made DE-BKA card, valid from now. Before the fix RNP's partner stayed
"verified" but showed, sealed to and delivered to the attacker's card, and a bundle signed with the
forged key, pushed with a token adam issued on his own unverified DE-BKA row, was applied at RNP.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from audit.capture import SYSTEM_ACTOR
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from casebridge.errors import CasebridgeError
from exchange import keystore, selectors
from exchange.inbox import inbox_receive
from exchange.models import Bundle, Partner
from exchange.services import (
    ShareRefused,
    agreement_set,
    keys_ensure,
    partner_add_from_card,
    partner_outbound_token_set,
    partner_token_issue,
    partner_verify,
    share_enqueue,
)
from tests.conftest import login_verified
from tests.security.conftest import make_card

GENUINE_URL = "https://casebridge.bka.example"
EVIL_URL = "https://evil.example"
CRAFTED = b'{"hashset": {"name": "crafted", "version": 1, "scheme": "vic_us"}}\n'


def _entries(action: str) -> list[dict]:
    audit_integrate()
    return [json.loads(row.canonical) for row in AuditEntry.objects.filter(action=action).order_by("index")]


def _share(sender, code: str = "DE-BKA") -> Bundle:
    return share_enqueue(
        actor=SYSTEM_ACTOR, sender=sender, recipient_codes=[code], kind="hashset.delta", payload=CRAFTED,
        tlp="GREEN", summary="test share",
    )[0]  # fmt: skip


def _push(api_client, token: str, data: bytes):
    return api_client.post(
        "/api/v1/exchange/inbox", data=data, content_type="application/octet-stream",
        HTTP_AUTHORIZATION=f"Partner {token}",
    )  # fmt: skip


def _own_encryption_public(agency):
    return keystore.encryption_public(keys_ensure(agency=agency))


@pytest.fixture
def takeover(adam, carl, agency_a, agency_b):
    """The attack, step by step, as the finding describes it. Returns the cards involved."""
    keys_ensure(agency=agency_a)
    keys_ensure(agency=agency_b)
    forged_old = make_card(
        code="DE-BKA", node_url=EVIL_URL, name="Forged BKA", valid_from=datetime.now(UTC) - timedelta(days=30)
    )
    partner_add_from_card(acting_user=adam, card_document=forged_old.card)
    genuine = make_card(
        code="DE-BKA", node_url=GENUINE_URL, name="Genuine BKA", valid_from=datetime.now(UTC) - timedelta(days=2)
    )
    victim = partner_add_from_card(acting_user=carl, card_document=genuine.card)
    victim = partner_verify(acting_user=carl, partner=victim, signing_fingerprint=genuine.signing_fingerprint)
    agreement_set(acting_user=carl, partner=victim, data_types=["hashset", "lead"], max_tlp="AMBER",
                  requires_approval=False)  # fmt: skip
    forged_now = make_card(code="DE-BKA", node_url=EVIL_URL)
    attacker_row = partner_add_from_card(acting_user=adam, card_document=forged_now.card)
    return {"genuine": genuine, "forged_old": forged_old, "forged_now": forged_now,
            "victim": victim, "attacker_row": attacker_row}  # fmt: skip


def test_c1_victim_partner_stays_bound_to_the_card_it_verified(takeover, client, carl):
    victim = Partner.objects.get(pk=takeover["victim"].pk)
    genuine = takeover["genuine"]
    assert victim.state == Partner.State.VERIFIED
    assert (victim.verified_signing_key_id, victim.verified_encryption_key_id) == (
        genuine.signing_key_id,
        genuine.encryption_key_id,
    )
    assert victim.node_url == GENUINE_URL
    # Only RNP's own anchors are RNP's: the cards NSP imported are not even candidates.
    on_record = set(selectors.partner_key_sets_on_record(partner=victim).values_list("signing_key_id", flat=True))
    assert on_record == {genuine.signing_key_id}
    assert selectors.partner_keys_current(partner=victim).signing_key_id == genuine.signing_key_id

    login_verified(client, carl)
    page = client.get(f"/exchange/partners/{victim.pk}/").content.decode()
    assert genuine.signing_fingerprint in page and GENUINE_URL in page
    for forged in (takeover["forged_old"], takeover["forged_now"]):
        assert forged.signing_fingerprint not in page
    assert EVIL_URL not in page
    assert "<h1>Genuine BKA (DE-BKA)</h1>" in page  # the name of the card RNP verified, not NSP's first import


def test_c1_victim_share_is_sealed_to_the_genuine_key_and_delivered_to_the_genuine_url(
    takeover, carl, agency_b, monkeypatch, settings
):
    genuine = takeover["genuine"]
    bundle = _share(agency_b)
    entry = bundle.header["recipients"][0]
    assert entry["agency"] == "DE-BKA" and entry["encryption_key_id"] == genuine.encryption_key_id

    from exchange import delivery

    partner_outbound_token_set(acting_user=carl, partner=takeover["victim"], token="cbp_genuine")
    called = []

    def fake_call(request, *, timeout, limit):
        called.append((request.full_url, request.headers.get("Authorization")))
        return b'{"state": "applied"}'

    monkeypatch.setattr(delivery.outbound, "call", fake_call)
    outcome = delivery.outbox_deliver(bundle.pk)
    assert outcome.state == "applied"
    assert called == [(f"{GENUINE_URL}/api/v1/exchange/inbox", "Partner cbp_genuine")]


def test_c1_bundle_signed_with_a_forged_key_is_refused_at_the_victim(takeover, agency_b):
    data = takeover["forged_now"].seal(recipient_code="RNP", recipient_keys=_own_encryption_public(agency_b))
    result = inbox_receive(src=io.BytesIO(data), via="test")
    assert result.state == "rejected" and result.code == "unknown_key"
    assert not Bundle.objects.filter(direction="in", recipient_code="RNP", state="applied").exists()


def test_c1_forged_push_with_the_attackers_token_is_refused_and_audited(takeover, api_client, adam, agency_b):
    token = partner_token_issue(acting_user=adam, partner=takeover["attacker_row"])
    data = takeover["forged_now"].seal(recipient_code="RNP", recipient_keys=_own_encryption_public(agency_b))

    # Issued on NSP's unverified DE-BKA row: the token opens nothing.
    refused = _push(api_client, token, data)
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("application/problem+json")
    denied = _entries("access.denied")
    assert denied and denied[-1]["agency"] == "NSP" and "unverified" in denied[-1]["reason"]

    # Even once NSP "verifies" its own forged card, its token reaches NSP only, never RNP.
    partner_verify(acting_user=adam, partner=takeover["attacker_row"],
                   signing_fingerprint=takeover["forged_now"].signing_fingerprint)  # fmt: skip
    pushed = _push(api_client, token, data)
    assert pushed.status_code == 422 and pushed.json()["code"] == "not_recipient"
    assert not Bundle.objects.filter(direction="in", recipient_code="RNP").exclude(state="quarantined").exists()
    rejected = [e for e in _entries("bundle.reject") if e["agency"] == "RNP"]
    assert rejected and rejected[-1]["outcome"] == "failure" and "not_recipient" in rejected[-1]["reason"]
    assert not _entries("bundle.apply")


def test_c1_rekeyed_genuine_card_stays_unusable_until_verified_again(takeover, carl, agency_b):
    victim = takeover["victim"]
    rekeyed = make_card(code="DE-BKA", node_url=GENUINE_URL)
    victim = partner_add_from_card(acting_user=carl, card_document=rekeyed.card)
    assert victim.state == Partner.State.UNVERIFIED
    assert victim.verified_signing_key_id == "" and selectors.partner_keys_current(partner=victim) is None
    with pytest.raises(ShareRefused, match="not verified"):
        _share(agency_b)
    for card in (rekeyed, takeover["genuine"]):  # neither the new keys nor (now) the old ones are accepted
        data = card.seal(recipient_code="RNP", recipient_keys=_own_encryption_public(agency_b))
        assert inbox_receive(src=io.BytesIO(data), via="test").code == "unverified_partner"

    partner_verify(acting_user=carl, partner=victim, signing_fingerprint=rekeyed.signing_fingerprint)
    assert _share(agency_b).header["recipients"][0]["encryption_key_id"] == rekeyed.encryption_key_id
    data = rekeyed.seal(recipient_code="RNP", recipient_keys=_own_encryption_public(agency_b))
    assert inbox_receive(src=io.BytesIO(data), via="test").state == "applied"
    # The keys verified before the re-key are not trusted any more.
    old = takeover["genuine"].seal(recipient_code="RNP", recipient_keys=_own_encryption_public(agency_b), sequence=2)
    assert inbox_receive(src=io.BytesIO(old), via="test").code == "unknown_key"


def test_c1_card_pairing_known_signing_keys_with_other_encryption_keys_is_refused(takeover, carl):
    genuine = takeover["genuine"]
    from exchange.keys import AgencyCard, EncryptionPrivateKeys, card_sign

    card = AgencyCard(
        name="Bundeskriminalamt", code="DE-BKA", country="DE", node_url=EVIL_URL,
        signing_keys=genuine.signing.public_keys(), encryption_keys=EncryptionPrivateKeys.generate().public_keys(),
        valid_from=datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1),
        valid_until=datetime.now(UTC).replace(microsecond=0) + timedelta(days=30),
    )  # fmt: skip
    with pytest.raises(CasebridgeError, match="other keys"):
        partner_add_from_card(acting_user=carl, card_document=card_sign(card, genuine.signing))
    assert Partner.objects.get(pk=takeover["victim"].pk).node_url == GENUINE_URL


def test_c1_partner_token_is_bound_to_the_agency_that_issued_it(adam, carl, agency_a, agency_b, api_client):
    keys_ensure(agency=agency_a)
    keys_ensure(agency=agency_b)
    genuine = make_card(code="DE-BKA", node_url=GENUINE_URL)
    rows = {}
    for admin in (adam, carl):  # both agencies genuinely verify DE-BKA
        row = partner_add_from_card(acting_user=admin, card_document=genuine.card)
        partner_verify(acting_user=admin, partner=row, signing_fingerprint=genuine.signing_fingerprint)
        agreement_set(acting_user=admin, partner=row, data_types=["hashset"], max_tlp="AMBER", requires_approval=False)
        rows[admin.username] = row
    nsp_token = partner_token_issue(acting_user=adam, partner=rows["adam"])
    rnp_token = partner_token_issue(acting_user=carl, partner=rows["carl"])
    to_rnp = genuine.seal(recipient_code="RNP", recipient_keys=_own_encryption_public(agency_b))

    wrong = _push(api_client, nsp_token, to_rnp)  # NSP's token on a bundle for RNP
    assert wrong.status_code == 422 and wrong.json()["code"] == "not_recipient"
    assert not Bundle.objects.filter(direction="in", recipient_code="RNP").exclude(state="quarantined").exists()
    right = _push(api_client, rnp_token, to_rnp)
    assert right.status_code == 202 and right.json()["state"] == "applied"

    # And only from that partner as sender: RNP's own (genuine) bundle cannot ride on DE-BKA's token.
    from tests.exchange.conftest import craft

    relayed = _push(api_client, nsp_token, craft(sender=agency_b, recipient=agency_a))
    assert relayed.status_code == 422 and relayed.json()["code"] == "unknown_sender"


@pytest.mark.parametrize("state", [Partner.State.UNVERIFIED, Partner.State.SUSPENDED])
def test_c1_tokens_of_unverified_or_suspended_partnerships_are_refused(
    state, partnership, carl, agency_a, agency_b, api_client
):
    from tests.exchange.conftest import craft

    _, b_to_a = partnership
    token = partner_token_issue(acting_user=carl, partner=b_to_a)
    auth = {"HTTP_AUTHORIZATION": f"Partner {token}"}
    assert api_client.get("/api/v1/exchange/feed", {"after": 0}, **auth).status_code == 200  # verified: open
    Partner.objects.filter(pk=b_to_a.pk).update(state=state)
    data = craft(sender=agency_a, recipient=agency_b)

    answers = {
        "inbox": _push(api_client, token, data),
        "feed": api_client.get("/api/v1/exchange/feed", {"after": 0}, **auth),
        "download": api_client.get("/api/v1/exchange/bundles/00000000-0000-0000-0000-000000000000", **auth),
    }
    for name, answer in answers.items():
        assert answer.status_code == 403, name
        assert answer["Content-Type"].startswith("application/problem+json"), name
    # The witness endpoint (exchange/witness.py) is refused by the same authentication.
    assert api_client.get("/api/v1/exchange/witness", {"origin": "x"}, **auth).status_code == 403
    denied = [e for e in _entries("access.denied") if e["agency"] == "RNP" and state in e["reason"]]
    assert len(denied) == 4
    assert not Bundle.objects.filter(direction="in").exists()  # nothing read, nothing kept


def test_c1_unknown_token_is_still_401(db, api_client):
    answer = api_client.get("/api/v1/exchange/feed", HTTP_AUTHORIZATION="Partner cbp_nope")
    assert answer.status_code == 401


# --- across real nodes: two hosted agencies on A, the partner DE-BKA on B ---------------------------


@pytest.mark.federation
def test_c1_trio_insider_cannot_take_over_a_partner_across_nodes(trio_federation):
    """RNP's admin on node A forges DE-BKA (on node B) twice; NSP's lead still goes sealed to DE-BKA's
    genuine key, to node B, and is applied there; the forged pushes to NSP are refused and audited."""
    from exchange.keys import card_verify
    from tests.federation.conftest import http, wait_until

    a, b = trio_federation.a, trio_federation.b
    evil_url = "http://127.0.0.1:9/"  # loopback is an allowed partner network here: it would be called
    for valid_from in (datetime.now(UTC) - timedelta(days=30), None):
        forged = make_card(code="DE-BKA", node_url=evil_url, valid_from=valid_from)
        row = a.shell("partner_import_as", agency_code="RNP", card=forged.card)
        assert row["state"] == "unverified"
    nsp_row = a.sql(
        "SELECT p.state, p.node_url, p.verified_encryption_key_id FROM exchange_partner p "
        "JOIN agencies_agency s ON s.id = p.agency_id JOIN agencies_agency t ON t.id = p.partner_id "
        "WHERE s.code = 'NSP' AND t.code = 'DE-BKA'"
    )[0]
    status, genuine_doc = http("GET", b.url("/api/v1/exchange/agencies/DE-BKA/card"))
    assert status == 200
    genuine = card_verify(genuine_doc)
    assert nsp_row == {
        "state": "verified",
        "node_url": b.url(""),
        "verified_encryption_key_id": genuine.encryption_keys.key_id,
    }

    shared = a.shell("lead_share", title="trio lead", clue="en", partner_codes=["DE-BKA"])
    sent = wait_until(
        lambda: a.sql(
            "SELECT state, header FROM exchange_bundle WHERE direction = 'out' AND recipient_code = 'DE-BKA' "
            "AND sender_code = 'NSP' AND state IN ('applied', 'delivered', 'rejected')"
        ),
        timeout=90,
        what="NSP's lead share delivered",
    )
    assert [row["state"] for row in sent] == ["applied"], sent
    header = sent[0]["header"] if isinstance(sent[0]["header"], dict) else json.loads(sent[0]["header"])
    assert header["recipients"][0]["encryption_key_id"] == genuine.encryption_keys.key_id
    assert b.value("SELECT count(*) FROM cases_lead WHERE share_uid = %s", (shared["share_uid"],)) == 1

    # The insider's token on its own DE-BKA row, and a bundle signed with its forged key for NSP.
    status, nsp_doc = http("GET", a.url("/api/v1/exchange/agencies/NSP/card"))
    nsp_keys = card_verify(nsp_doc).encryption_keys
    data = forged.seal(recipient_code="NSP", recipient_keys=nsp_keys)
    token = a.shell("partner_token_issue_as", agency_code="RNP", partner_code="DE-BKA")["token"]
    headers = {"Content-Type": "application/octet-stream", "Authorization": f"Partner {token}"}
    status, body = http("POST", a.url("/api/v1/exchange/inbox"), data=data, headers=headers)
    assert status == 403, body
    a.shell("partner_import_as", agency_code="RNP", card=forged.card, signing_fingerprint=forged.signing_fingerprint)
    status, body = http("POST", a.url("/api/v1/exchange/inbox"), data=data, headers=headers)
    assert status == 422 and body["code"] == "not_recipient", body
    assert not a.sql(
        "SELECT id FROM exchange_bundle WHERE direction = 'in' AND recipient_code = 'NSP' AND sender_code = 'DE-BKA'"
        " AND state <> 'quarantined'"
    )
    wait_until(
        lambda: (
            a.sql(
                "SELECT agency_code FROM audit_entry WHERE action = 'bundle.reject' AND agency_code = 'NSP' "
                "AND outcome = 'failure'"
            )
            and a.sql("SELECT agency_code FROM audit_entry WHERE action = 'access.denied' AND agency_code = 'RNP'")
        ),
        timeout=30,
        what="the refused pushes audited on A",
    )


# --- the data migration (exchange 0003) on rows written by the old, shared model -------------------


def test_c1_migration_binds_verified_partners_to_the_keys_they_compared(adam, carl, agency_a, agency_b):
    import importlib

    from django.apps import apps
    from django.utils import timezone

    from agencies.models import Agency
    from exchange.models import AgencyKeySet

    migration = importlib.import_module("exchange.migrations.0003_trust_anchor_per_agency")
    now = timezone.now()
    remote = Agency.objects.create(name="BKA", code="DE-BKA", country="DE", node_url=EVIL_URL, hosted_here=False)
    other = Agency.objects.create(
        name="Far", code="FAR", country="FR", node_url="https://far.example", hosted_here=False
    )

    def old_row(card, *, agency, created_at):  # as the old partner_add_from_card stored it: shared, no owner
        return AgencyKeySet.objects.create(
            agency=agency, owner=None, signing_key_id=card.signing_key_id, encryption_key_id=card.encryption_key_id,
            signing_public=card.signing.public_keys().to_bytes(),
            encryption_public=card.encryption.public_keys().to_bytes(),
            signing_fingerprint=card.signing_fingerprint, encryption_fingerprint="X", card=card.card,
            valid_from=now - timedelta(days=1), valid_until=now + timedelta(days=300), created_at=created_at,
        )  # fmt: skip

    forged_old = make_card(code="DE-BKA", node_url=EVIL_URL)
    genuine = make_card(code="DE-BKA", node_url=GENUINE_URL)
    forged_now = make_card(code="DE-BKA", node_url=EVIL_URL)
    far = make_card(code="FAR", node_url="https://far.example")
    row = old_row(forged_old, agency=remote, created_at=now - timedelta(hours=3))
    AgencyKeySet.objects.filter(pk=row.pk).update(valid_from=now - timedelta(days=30))
    old_row(genuine, agency=remote, created_at=now - timedelta(hours=2))
    AgencyKeySet.objects.filter(pk=old_row(forged_now, agency=remote, created_at=now).pk).update(valid_from=now)
    far_row = old_row(far, agency=other, created_at=now)  # stored after FAR was "verified": not what was compared
    victim = Partner.objects.create(
        agency=agency_b, partner=remote, state="verified", verified_at=now - timedelta(hours=1)
    )
    attacker = Partner.objects.create(agency=agency_a, partner=remote)
    far_partner = Partner.objects.create(
        agency=agency_a, partner=other, state="verified", verified_at=now - timedelta(hours=1)
    )

    migration.anchors_per_agency(apps, None)

    victim.refresh_from_db()
    assert (victim.state, victim.verified_signing_key_id, victim.verified_encryption_key_id, victim.node_url) == (
        "verified", genuine.signing_key_id, genuine.encryption_key_id, GENUINE_URL,
    )  # fmt: skip
    attacker.refresh_from_db()
    assert attacker.state == "unverified" and attacker.verified_signing_key_id == ""
    far_partner.refresh_from_db()
    assert far_partner.state == "unverified"  # nothing on record when it was verified: compare again
    assert not AgencyKeySet.objects.filter(owner__isnull=True, agency__hosted_here=False).exists()
    assert not AgencyKeySet.objects.filter(pk=far_row.pk).exists()
    for owner in (agency_a, agency_b):  # every key set preserved, once per agency that may have imported it
        assert AgencyKeySet.objects.filter(owner=owner, agency=remote).count() == 3
    assert set(Agency.objects.filter(hosted_here=False).values_list("node_url", flat=True)) == {""}
    assert selectors.partner_keys_current(partner=victim).signing_key_id == genuine.signing_key_id
