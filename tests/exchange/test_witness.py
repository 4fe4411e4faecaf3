"""Witnessing: consistent checkpoints are cosigned; a shrunk or rewritten history raises the alarm."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle, note
from casebridge.errors import ConflictError
from exchange.models import Partner, WitnessedLog
from exchange.witness import Handover, checkpoint_cosign
from tests.conftest import card_names_audit_log

pytestmark = pytest.mark.django_db

ORIGIN = "partner.example/audit"


@pytest.fixture
def log_key():
    return Ed25519PrivateKey.generate()


@pytest.fixture
def partner(partnership, log_key):
    """RNP witnesses NSP's log, which NSP's verified card names (origin and first key, M3)."""
    partner = Partner.objects.get(agency__code="RNP", partner__code="NSP")
    card_names_audit_log(partner, origin=ORIGIN, private_key=log_key)
    return partner


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


def test_witness_api_needs_partner_token(api_client, partner, carl, agency_a, agency_b, log_key):
    from exchange.services import partner_token_issue

    assert api_client.get("/api/v1/exchange/witness", {"origin": ORIGIN}).status_code in (401, 403)
    token = partner_token_issue(acting_user=carl, partner=Partner.objects.get(agency=agency_b, partner=agency_a))
    auth = {"HTTP_AUTHORIZATION": f"Partner {token}"}
    assert api_client.get("/api/v1/exchange/witness", {"origin": ORIGIN}, **auth).json()["last_size"] == 0
    vkey = note.vkey_from_public_key(ORIGIN, log_key.public_key())
    body = {"note": _note(log_key, _leaves(5)), "old_size": 0, "proof": [], "log_vkey": vkey}
    response = api_client.post("/api/v1/exchange/witness", body, format="json", **auth)
    assert response.status_code == 200 and response.json()["line"].startswith("— ")
    assert api_client.get("/api/v1/exchange/witness", {"origin": ORIGIN}, **auth).json()["last_size"] == 5


# --- following a key rotation of the partner's log -------------------------------------------------


@pytest.fixture
def rotated(partner, log_key):
    """A log cosigned at 10 under its first key, handed over to a new key at 12, now at 15."""
    new_key = Ed25519PrivateKey.generate()
    leaves = _leaves(15)
    old_vkey = note.vkey_from_public_key(ORIGIN, log_key.public_key())
    new_vkey = note.vkey_from_public_key(ORIGIN, new_key.public_key())
    checkpoint_cosign(partner=partner, note_text=_note(log_key, leaves[:10]), old_size=0, proof=[], log_vkey=old_vkey)
    handover_note = note.note_cosign(_note(log_key, leaves[:12]), name=ORIGIN, private_key=new_key)
    return {
        "leaves": leaves, "new_key": new_key, "old_vkey": old_vkey, "new_vkey": new_vkey,
        "handover": Handover(note=handover_note, new_vkey=new_vkey, proof=_proof(leaves, 10, 12)),
    }  # fmt: skip


def _cosign_latest(partner, rotated, handovers, leaves=None):
    leaves = leaves or rotated["leaves"]
    return checkpoint_cosign(
        partner=partner, note_text=_note(rotated["new_key"], leaves), old_size=10,
        proof=_proof(leaves, 10, len(leaves)), log_vkey=rotated["new_vkey"], handovers=handovers,
    )  # fmt: skip


def test_a_witness_follows_a_hand_over_signed_by_both_keys(partner, rotated):
    cosigned = _cosign_latest(partner, rotated, [rotated["handover"]])
    log = WitnessedLog.objects.get(origin=ORIGIN)
    assert (log.vkey, log.last_size, log.alarm) == (rotated["new_vkey"], 15, "")
    assert note.cosignature_verify(
        note.note_open(_note(rotated["new_key"], rotated["leaves"]))[0], cosigned.line, vkey=cosigned.vkey
    )


def test_a_new_key_without_a_hand_over_is_refused_and_the_pin_stays(partner, rotated):
    from casebridge.errors import CasebridgeError

    with pytest.raises(CasebridgeError, match="no hand-over signed by that key"):
        _cosign_latest(partner, rotated, [])
    assert WitnessedLog.objects.get(origin=ORIGIN).vkey == rotated["old_vkey"]


def test_a_hand_over_signed_by_the_new_key_alone_is_refused(partner, rotated):
    from casebridge.errors import CasebridgeError

    alone = Handover(
        note=_note(rotated["new_key"], rotated["leaves"][:12]), new_vkey=rotated["new_vkey"],
        proof=rotated["handover"].proof,
    )  # fmt: skip
    with pytest.raises(CasebridgeError, match="does not verify under both keys"):
        _cosign_latest(partner, rotated, [alone])
    assert WitnessedLog.objects.get(origin=ORIGIN).vkey == rotated["old_vkey"]


def test_a_hand_over_to_a_rewritten_history_raises_the_alarm(partner, log_key, rotated):
    forged = _leaves(15, salt=b"forged")  # both keys sign a history that does not extend the cosigned one
    handover = Handover(
        note=note.note_cosign(_note(log_key, forged[:12]), name=ORIGIN, private_key=rotated["new_key"]),
        new_vkey=rotated["new_vkey"], proof=_proof(forged, 10, 12),
    )  # fmt: skip
    with pytest.raises(ConflictError, match="hand-over at size 12 is not consistent"):
        _cosign_latest(partner, rotated, [handover], leaves=forged)
    log = WitnessedLog.objects.get(origin=ORIGIN)
    assert log.vkey == rotated["old_vkey"] and "not consistent" in log.alarm


def test_the_log_side_sends_the_hand_overs_a_witness_has_not_followed(db):
    """Our own node after audit_key_rotate: what witness_request sends a witness, checked as a witness would."""
    from audit.capture import SYSTEM_ACTOR, audit_record
    from audit.integrator import audit_checkpoint_now
    from audit.keys import audit_key_name, audit_vkey
    from audit.rotation import audit_key_rotate
    from exchange.witness import handovers_since

    for n in range(5):
        audit_record(action="case.view", actor=SYSTEM_ACTOR, object_type="case", object_id=n)
    audit_checkpoint_now()
    assert handovers_since(0) == []  # never rotated: nothing to follow
    old_vkey, new_key = audit_vkey(), Ed25519PrivateKey.generate()
    handover_checkpoint = audit_key_rotate(new_key, cause="scheduled")
    new_vkey = note.vkey_from_public_key(audit_key_name(), new_key.public_key())

    [sent] = handovers_since(3)
    assert sent["new_vkey"] == new_vkey and sent["note"] == handover_checkpoint.note
    assert note.checkpoint_verify(sent["note"], vkey=old_vkey) == note.checkpoint_verify(sent["note"], vkey=new_vkey)
    assert sent["proof"]  # from the witness's size 3 to the hand-over
    assert handovers_since(handover_checkpoint.size) != []  # cosigned exactly at the hand-over: still to follow
    assert handovers_since(handover_checkpoint.size + 1) == []
