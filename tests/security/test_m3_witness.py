"""M3: the witness endpoint cosigns only for verified partners, never the node's own origin nor an
origin another partner holds, and with a witness key of its own (not the audit signing key)."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle, note
from audit.integrator import audit_integrate
from audit.keys import audit_key_name, audit_public_key_bytes
from audit.models import AuditEntry
from casebridge.errors import ForbiddenError
from exchange import keystore
from exchange.models import Partner, WitnessedLog, WitnessKey
from exchange.services import partner_token_issue
from exchange.witness import checkpoint_cosign, witness_vkey
from tests.conftest import card_names_audit_log

pytestmark = pytest.mark.django_db

ORIGIN = "rnp-node.example/audit"


@pytest.fixture
def log_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def witnessed(partnership, log_key):
    """NSP's node (this one) witnesses RNP's log: the partner row is RNP's view of NSP on RNP's
    side in tests/exchange/test_witness.py; here we take NSP's partner row of RNP, verified, whose
    card names RNP's log (ORIGIN, signed by `log_key`)."""
    partner = Partner.objects.get(agency__code="NSP", partner__code="RNP")
    card_names_audit_log(partner, origin=ORIGIN, private_key=log_key)
    return partner


@pytest.fixture
def other(partnership):
    return Partner.objects.get(agency__code="RNP", partner__code="NSP")


def _note(key, size: int, origin: str = ORIGIN) -> str:
    leaves = [merkle.leaf_hash(str(i).encode()) for i in range(size)]
    checkpoint = note.Checkpoint(origin=origin, size=size, root_hash=merkle.root_from_leaf_hashes(leaves))
    return note.checkpoint_sign(checkpoint, name=origin, private_key=key)


def _cosign(partner, key, *, origin: str = ORIGIN, size: int = 5):
    return checkpoint_cosign(
        partner=partner, note_text=_note(key, size, origin), old_size=0, proof=[],
        log_vkey=note.vkey_from_public_key(origin, key.public_key()),
    )  # fmt: skip


def _denials() -> list[AuditEntry]:
    audit_integrate()
    return list(AuditEntry.objects.filter(action="audit.cosign", outcome="denied"))


def test_m3_an_unverified_partner_is_not_witnessed(witnessed, log_key):
    Partner.objects.filter(pk=witnessed.pk).update(state=Partner.State.UNVERIFIED)
    witnessed.refresh_from_db()
    with pytest.raises(ForbiddenError, match="only verified partners"):
        _cosign(witnessed, log_key)
    assert not WitnessedLog.objects.exists(), "an unverified partner pinned an origin"
    assert [json.loads(e.canonical)["reason"] for e in _denials()] == ["refused: only verified partners are witnessed"]


def test_m3_an_unverified_partner_token_is_refused_at_the_api(api_client, witnessed, adam, log_key):
    token = partner_token_issue(acting_user=adam, partner=witnessed)
    Partner.objects.filter(pk=witnessed.pk).update(state=Partner.State.UNVERIFIED)
    body = {"note": _note(log_key, 5), "old_size": 0, "proof": [], "log_vkey": "x"}
    response = api_client.post("/api/v1/exchange/witness", body, format="json", HTTP_AUTHORIZATION=f"Partner {token}")
    assert response.status_code in (401, 403)
    assert not WitnessedLog.objects.exists()


def test_m3_the_nodes_own_origin_is_refused(witnessed, settings):
    forger = Ed25519PrivateKey.generate()  # a partner forging a checkpoint of *our* log under its own key
    with pytest.raises(ForbiddenError, match="this node's own log"):
        _cosign(witnessed, forger, origin=settings.AUDIT_ORIGIN)
    assert not WitnessedLog.objects.filter(origin=settings.AUDIT_ORIGIN).exists()
    assert _denials(), "the refusal is audited and survives it"


def test_m3_an_origin_another_partner_holds_is_refused(witnessed, other, log_key):
    _cosign(witnessed, log_key)
    claimant_key = Ed25519PrivateKey.generate()
    card_names_audit_log(other, origin=ORIGIN, private_key=claimant_key)  # even in a verified card
    with pytest.raises(ForbiddenError, match="witnessed for another partner"):
        _cosign(other, claimant_key, size=9)
    log = WitnessedLog.objects.get(origin=ORIGIN)
    assert log.partner_id == witnessed.pk and log.last_size == 5
    assert log.vkey == note.vkey_from_public_key(ORIGIN, log_key.public_key()), "the pin moved"
    assert len(_denials()) == 1


def test_m3_cosignatures_use_the_nodes_witness_key_not_its_audit_key(witnessed, log_key, api_client, adam):
    cosigned = _cosign(witnessed, log_key)
    audit_as_cosigner = note.cosigner_vkey(audit_key_name(), audit_public_key_bytes())
    assert cosigned.vkey == witness_vkey() != audit_as_cosigner
    checkpoint = note.note_open(_note(log_key, 5))[0]
    assert note.cosignature_verify(checkpoint, cosigned.line, vkey=cosigned.vkey) > 0
    with pytest.raises((note.NoteError, ValueError)):
        note.cosignature_verify(checkpoint, cosigned.line, vkey=audit_as_cosigner)

    # Stored wrapped under the KEK, like the agency keys; the raw key is nowhere in the row.
    row = WitnessKey.objects.get()
    raw = keystore.unwrap(bytes(row.private_wrapped), key_id=row.key_id)
    private = Ed25519PrivateKey.from_private_bytes(raw)
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert public == bytes(row.public) and raw not in bytes(row.private_wrapped)
    assert public != audit_public_key_bytes()

    # Published to partners with the witness state.
    token = partner_token_issue(acting_user=adam, partner=witnessed)
    state = api_client.get("/api/v1/exchange/witness", {"origin": ORIGIN}, HTTP_AUTHORIZATION=f"Partner {token}")
    assert state.json() == {"last_size": 5, "witness_vkey": cosigned.vkey}


def _reasons() -> list[str]:
    return [json.loads(e.canonical)["reason"] for e in _denials()]


def test_m3_origin_and_log_key_come_from_the_verified_card(witnessed, log_key):
    """A verified partner can no longer take an origin first-come or pin a key on first use: the
    origin and the starting key are the ones in the card whose fingerprint its admin compared."""
    # Another origin than the card's: refused, audited, nothing pinned.
    with pytest.raises(ForbiddenError, match="not the audit log named in the partner's verified card"):
        _cosign(witnessed, log_key, origin="someone-else.example/audit")
    # The card's origin under another key (a partner's node swapped its key, or an insider forging): refused.
    impostor = Ed25519PrivateKey.generate()
    with pytest.raises(ForbiddenError, match="not signed by the audit log key in the partner's verified card"):
        _cosign(witnessed, impostor)
    assert not WitnessedLog.objects.exists(), "a refused submission pinned an origin or a key"
    assert sorted(_reasons()) == [
        "refused: that origin is not the audit log named in the partner's verified card (rnp-node.example/audit)",
        "refused: the checkpoint is not signed by the audit log key in the partner's verified card",
    ]

    # The card's origin and key: cosigned, and the pin is the card's key.
    cosigned = _cosign(witnessed, log_key)
    assert note.cosignature_verify(note.note_open(_note(log_key, 5))[0], cosigned.line, vkey=cosigned.vkey) > 0
    log = WitnessedLog.objects.get()
    assert (log.origin, log.vkey, log.partner_id) == (
        ORIGIN, note.vkey_from_public_key(ORIGIN, log_key.public_key()), witnessed.pk
    )  # fmt: skip

    # Once pinned, the other key still gets nowhere (no hand-over signed by the pinned key).
    from casebridge.errors import CasebridgeError

    with pytest.raises(CasebridgeError, match="another key"):
        _cosign(witnessed, impostor, size=9)
    assert WitnessedLog.objects.get().last_size == 5


def test_m3_a_card_without_an_audit_log_is_not_witnessed(witnessed, log_key):
    card_names_audit_log(witnessed, origin=None)  # a card made before cards named the node's log
    with pytest.raises(ForbiddenError, match="the partner's card names no audit log"):
        _cosign(witnessed, log_key)
    assert not WitnessedLog.objects.exists()
    assert _reasons() == ["refused: the partner's card names no audit log"]


def test_m3_a_remote_partners_card_names_its_log_and_old_cards_still_import(adam, partnership, log_key):
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from casebridge.lib.canonical_json import canonical_json
    from exchange.keys import AuditLogId, CardError, card_sign, card_verify
    from exchange.services import partner_add_from_card, partner_verify
    from tests.security.conftest import make_card

    origin = "bka.example/audit"
    old = make_card(code="DE-BKA", node_url="https://bka.example", valid_from=datetime.now(UTC) - timedelta(hours=1))
    assert "audit_log" not in old.card["card"]
    partner = partner_add_from_card(acting_user=adam, card_document=old.card)  # a pre-M3 card still imports
    partner = partner_verify(acting_user=adam, partner=partner, signing_fingerprint=old.signing_fingerprint)
    with pytest.raises(ForbiddenError, match="the partner's card names no audit log"):
        _cosign(partner, log_key, origin=origin)

    # Its next card (new keys) names the log; uploaded as text, as the admin does.
    new = make_card(code="DE-BKA", node_url="https://bka.example")
    vkey = note.vkey_from_public_key(origin, log_key.public_key())
    signed = card_sign(dataclasses.replace(card_verify(new.card), audit_log=AuditLogId(origin, vkey)), new.signing)
    assert card_verify(signed).audit_log == AuditLogId(origin, vkey)
    tampered = json.loads(json.dumps(signed))
    tampered["card"]["audit_log"]["origin"] = "rnp-node.example/audit"  # the member is under the signatures
    with pytest.raises(CardError, match="signature_invalid"):
        card_verify(tampered)
    partner = partner_add_from_card(acting_user=adam, card_document=canonical_json(signed).decode())
    with pytest.raises(ForbiddenError, match="only verified partners"):  # until its fingerprint is compared
        _cosign(partner, log_key, origin=origin)
    partner = partner_verify(acting_user=adam, partner=partner, signing_fingerprint=new.signing_fingerprint)
    _cosign(partner, log_key, origin=origin)
    assert WitnessedLog.objects.get(origin=origin).vkey == vkey


@pytest.mark.parametrize(
    "audit_log",
    [
        {"origin": "bka.example/audit"},  # no vkey
        {"origin": "bka.example/audit", "vkey": "x", "extra": 1},
        {"origin": "bka.example/audit", "vkey": "not a vkey"},
        {"origin": "two\nlines", "vkey": "x"},
        {"origin": "", "vkey": "x"},
        "bka.example/audit",
    ],
)
def test_m3_a_card_with_a_malformed_audit_log_is_refused_with_a_clear_error(adam, partnership, audit_log):
    from exchange.keys import CardError, card_verify
    from exchange.services import partner_add_from_card
    from tests.security.conftest import make_card

    remote = make_card(code="DE-BKA", node_url="https://bka.example")
    document = json.loads(json.dumps(remote.card))
    document["card"]["audit_log"] = audit_log
    with pytest.raises(CardError, match="malformed"):
        card_verify(document)
    from casebridge.errors import CasebridgeError

    with pytest.raises(CasebridgeError, match="malformed"):
        partner_add_from_card(acting_user=adam, card_document=document)
