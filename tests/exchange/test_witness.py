"""Witnessing: consistent checkpoints are cosigned; a shrunk or rewritten history raises the alarm."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle, note
from casebridge.errors import ConflictError
from exchange.models import Partner, WitnessedLog
from exchange.witness import checkpoint_cosign

pytestmark = pytest.mark.django_db

ORIGIN = "partner.example/audit"


@pytest.fixture
def log_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def partner(partnership):
    return Partner.objects.get(agency__code="RNP", partner__code="NSP")


def _leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + str(i).encode()) for i in range(n)]


def _note(key, leaves) -> str:
    checkpoint = note.Checkpoint(origin=ORIGIN, size=len(leaves), root_hash=merkle.root_from_leaf_hashes(leaves))
    return note.checkpoint_sign(checkpoint, name=ORIGIN, private_key=key)


def _proof(leaves, old, new):
    """Every perfect subtree of `leaves`, as the log stores them, then the RFC 9162 proof from them."""
    nodes = {(0, i): h for i, h in enumerate(leaves)}
    level = 0
    while any(key[0] == level for key in nodes):
        width = 1 << (level + 1)
        for index in range(len(leaves) // width):
            nodes[(level + 1, index)] = merkle.node_hash(nodes[(level, 2 * index)], nodes[(level, 2 * index + 1)])
        level += 1
    return merkle.consistency_proof_from_nodes(old, new, nodes)


def test_consistent_checkpoints_are_cosigned(partner, log_key):
    vkey = note.vkey_from_public_key(ORIGIN, log_key.public_key())
    leaves = _leaves(20)
    first = checkpoint_cosign(
        partner=partner, note_text=_note(log_key, leaves[:7]), old_size=0, proof=[], log_vkey=vkey
    )
    note.cosignature_verify(note.note_open(_note(log_key, leaves[:7]))[0], first.line, vkey=first.vkey)
    second = checkpoint_cosign(
        partner=partner, note_text=_note(log_key, leaves), old_size=7, proof=_proof(leaves, 7, 20), log_vkey=vkey
    )
    assert note.cosignature_verify(note.note_open(_note(log_key, leaves))[0], second.line, vkey=second.vkey) > 0
    assert WitnessedLog.objects.get(origin=ORIGIN).last_size == 20


def test_rewritten_history_raises_the_alarm(partner, log_key):
    vkey = note.vkey_from_public_key(ORIGIN, log_key.public_key())
    leaves = _leaves(10)
    checkpoint_cosign(partner=partner, note_text=_note(log_key, leaves), old_size=0, proof=[], log_vkey=vkey)
    rewritten = _leaves(12, salt=b"forged")
    with pytest.raises(ConflictError, match="not consistent"):
        checkpoint_cosign(
            partner=partner, note_text=_note(log_key, rewritten), old_size=10, proof=_proof(rewritten, 10, 12),
            log_vkey=vkey,
        )  # fmt: skip
    assert "not consistent" in WitnessedLog.objects.get(origin=ORIGIN).alarm
    with pytest.raises(ConflictError, match="shrank"):
        checkpoint_cosign(partner=partner, note_text=_note(log_key, leaves[:4]), old_size=10, proof=[], log_vkey=vkey)


def test_an_alarm_is_shown_to_the_witnessing_agency_only(partner, log_key, client, as_user, carl, charlie, adam):
    vkey = note.vkey_from_public_key(ORIGIN, log_key.public_key())
    leaves = _leaves(10)
    checkpoint_cosign(partner=partner, note_text=_note(log_key, leaves), old_size=0, proof=[], log_vkey=vkey)
    as_user(carl)  # RNP's admin: RNP's node witnesses NSP's log
    assert "Witness alarm" not in client.get("/exchange/").content.decode()
    assert "consistent" in client.get(f"/exchange/partners/{partner.pk}/").content.decode()

    rewritten = _leaves(12, salt=b"forged")
    with pytest.raises(ConflictError):
        checkpoint_cosign(
            partner=partner, note_text=_note(log_key, rewritten), old_size=10, proof=_proof(rewritten, 10, 12),
            log_vkey=vkey,
        )  # fmt: skip
    for user in (carl, charlie):  # RNP's admin and RNP's investigator
        as_user(user)
        overview = client.get("/exchange/").content.decode()
        assert "Witness alarm" in overview and "not consistent" in overview and ORIGIN in overview
        assert "ALARM" in client.get(f"/exchange/partners/{partner.pk}/").content.decode()
    as_user(adam)  # NSP: the node whose log was flagged does not see the other side's alarm here
    assert "Witness alarm" not in client.get("/exchange/").content.decode()


def test_checkpoint_signed_by_another_key_is_refused(partner, log_key):
    from casebridge.errors import CasebridgeError

    vkey = note.vkey_from_public_key(ORIGIN, log_key.public_key())
    checkpoint_cosign(partner=partner, note_text=_note(log_key, _leaves(3)), old_size=0, proof=[], log_vkey=vkey)
    other = Ed25519PrivateKey.generate()
    other_vkey = note.vkey_from_public_key(ORIGIN, other.public_key())
    with pytest.raises(CasebridgeError, match="another key"):
        checkpoint_cosign(
            partner=partner, note_text=_note(other, _leaves(5)), old_size=3, proof=[], log_vkey=other_vkey
        )
    with pytest.raises(CasebridgeError, match="does not verify"):
        checkpoint_cosign(partner=partner, note_text=_note(other, _leaves(5)), old_size=3, proof=[], log_vkey=vkey)


def test_witness_api_needs_partner_token(api_client, partnership, carl, agency_a, agency_b, log_key):
    from exchange.services import partner_token_issue

    assert api_client.get("/api/v1/exchange/witness", {"origin": ORIGIN}).status_code in (401, 403)
    token = partner_token_issue(acting_user=carl, partner=Partner.objects.get(agency=agency_b, partner=agency_a))
    auth = {"HTTP_AUTHORIZATION": f"Partner {token}"}
    assert api_client.get("/api/v1/exchange/witness", {"origin": ORIGIN}, **auth).json() == {"last_size": 0}
    vkey = note.vkey_from_public_key(ORIGIN, log_key.public_key())
    body = {"note": _note(log_key, _leaves(5)), "old_size": 0, "proof": [], "log_vkey": vkey}
    response = api_client.post("/api/v1/exchange/witness", body, format="json", **auth)
    assert response.status_code == 200 and response.json()["line"].startswith("— ")
    assert api_client.get("/api/v1/exchange/witness", {"origin": ORIGIN}, **auth).json() == {"last_size": 5}
