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

pytestmark = pytest.mark.django_db

ORIGIN = "rnp-node.example/audit"


@pytest.fixture
def log_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def witnessed(partnership):
    """NSP's node (this one) witnesses RNP's log: the partner row is RNP's view of NSP on RNP's
    side in tests/exchange/test_witness.py; here we take NSP's partner row of RNP, verified."""
    return Partner.objects.get(agency__code="NSP", partner__code="RNP")


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
