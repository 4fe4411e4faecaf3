"""Witnessing: partner nodes cosign each other's audit checkpoints (C2SP tlog-cosignature).

The log's node sends its latest signed checkpoint with a consistency proof from the size this
witness last cosigned. The witness checks the signature (with the pinned log key) and the proof,
and only then cosigns. A history that does not extend what it cosigned before raises an alarm,
is refused, and is audited on both sides: a rewritten log then contradicts what partners hold.
"""

from __future__ import annotations

import base64
import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit import merkle, note
from audit.actions import Action, Outcome
from audit.capture import SYSTEM_ACTOR, Actor, audit_record
from audit.keys import audit_key_history, audit_key_name, audit_public_key_bytes
from audit.models import AuditCosignature
from audit.selectors import checkpoint_latest, consistency_proof
from casebridge.errors import CasebridgeError, ConflictError, ForbiddenError
from exchange import keystore, outbound
from exchange.keys import wrap_private_key
from exchange.models import Partner, WitnessedLog, WitnessKey
from exchange.selectors import partner_audit_log

WITNESS_REPLY_LIMIT = 1 << 20  # a cosignature and a few numbers: a partner answering more is refused


WITNESS_KEY_ID = "node-witness-1"


def _witness_key_row() -> WitnessKey:
    """This node's witness key, made on first use (Ed25519, wrapped under the KEK)."""
    row = WitnessKey.objects.filter(key_id=WITNESS_KEY_ID).first()
    if row is not None:
        return row
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        with transaction.atomic():
            return WitnessKey.objects.create(
                key_id=WITNESS_KEY_ID, name=f"{audit_key_name()}/witness", public=public,
                private_wrapped=wrap_private_key(raw, kek=keystore.node_kek(), key_id=WITNESS_KEY_ID),
            )  # fmt: skip
    except IntegrityError:  # another process made it first: use theirs
        return WitnessKey.objects.get(key_id=WITNESS_KEY_ID)


def _witness_signing_key() -> tuple[str, Ed25519PrivateKey]:
    row = _witness_key_row()
    raw = keystore.unwrap(bytes(row.private_wrapped), key_id=row.key_id)
    return row.name, Ed25519PrivateKey.from_private_bytes(raw)


def witness_vkey() -> str:
    """This node's cosigner key (type 0x04): its own witness key, never the audit signing key (M3)."""
    row = _witness_key_row()
    return note.cosigner_vkey(row.name, bytes(row.public))


def _refusal(partner: Partner, origin: str) -> str:
    """Why this partner may not have `origin` witnessed here, or ''."""
    if partner.state != Partner.State.VERIFIED:
        return "only verified partners are witnessed"
    if origin == settings.AUDIT_ORIGIN:
        return "that origin is this node's own log"
    card_log = partner_audit_log(partner=partner)
    if card_log is None:
        return "the partner's card names no audit log"
    if origin != card_log.origin:
        # Not first come, first served: only the log the admin's comparison of the card covers (M3).
        return f"that origin is not the audit log named in the partner's verified card ({card_log.origin})"
    holder = WitnessedLog.objects.filter(origin=origin).exclude(partner=partner).exists()
    if holder:
        return "that origin is witnessed for another partner"
    return ""


def _key_refusal(partner: Partner, origin: str, *, log_vkey: str, handovers: list[Handover]) -> str:
    """Why a log not witnessed yet may not start under `log_vkey`, or ''.

    Its first pin is the key in the partner's verified card, never the key the submission brings;
    a log already rotated reaches `log_vkey` from it through hand-overs signed by both keys."""
    if WitnessedLog.objects.filter(origin=origin).exists():
        return ""  # pinned already: the pin (moved only by hand-overs) decides, in checkpoint_cosign
    card_log = partner_audit_log(partner=partner)
    if card_log is None:  # _refusal refuses first; kept so this check stands on its own
        return "the partner's card names no audit log"
    try:
        _key_followed(WitnessedLog(partner=partner, origin=origin, vkey=card_log.vkey), handovers, to_vkey=log_vkey)
    except CasebridgeError:
        return "the checkpoint is not signed by the audit log key in the partner's verified card"
    return ""


@dataclass(frozen=True)
class Cosigned:
    line: str
    vkey: str


@dataclass(frozen=True)
class Handover:
    """A checkpoint signed by a log's old key and its new one: how a witness follows a key rotation."""

    note: str
    new_vkey: str
    proof: list[bytes]  # consistency from the size the witness last cosigned to this checkpoint's


def _key_followed(log: WitnessedLog, handovers: list[Handover], *, to_vkey: str) -> tuple[str, str]:
    """Walk the hand-overs from the pinned key to `to_vkey`; (the key reached, a problem for the alarm).

    Each hand-over must verify under the key pinned so far **and** under its new key, and be
    consistent with what this node last cosigned; anything else leaves the pin where it was."""
    current = log.vkey
    for handover in handovers:
        if current == to_vkey:
            break
        try:
            checkpoint = note.checkpoint_verify(handover.note, vkey=current)
            if note.checkpoint_verify(handover.note, vkey=handover.new_vkey) != checkpoint:
                raise ValueError("the two signatures cover different checkpoints")
        except (note.NoteError, ValueError) as exc:
            raise CasebridgeError(f"A key hand-over does not verify under both keys: {exc}") from None
        if checkpoint.origin != log.origin or checkpoint.size < log.last_size:
            return current, f"the key hand-over at size {checkpoint.size} is behind the cosigned size {log.last_size}"
        if log.last_size and not merkle.verify_consistency(
            log.last_size, checkpoint.size, bytes(log.last_root), checkpoint.root_hash, handover.proof
        ):
            return current, f"the key hand-over at size {checkpoint.size} is not consistent with size {log.last_size}"
        current = handover.new_vkey
    if current != to_vkey:
        raise CasebridgeError(
            "This log is witnessed under another key, and no hand-over signed by that key leads to this one."
        )
    return current, ""


def _history_problem(log: WitnessedLog, checkpoint, *, old_size: int, proof: list[bytes]) -> str:
    """Why `checkpoint` does not extend what this node last cosigned of the log, or ''."""
    if checkpoint.size < log.last_size:
        return f"the tree shrank from {log.last_size} to {checkpoint.size}"
    if log.last_size and old_size != log.last_size:
        return f"the proof starts at size {old_size}, but the last cosigned size is {log.last_size}"
    if log.last_size and not merkle.verify_consistency(
        log.last_size, checkpoint.size, bytes(log.last_root), checkpoint.root_hash, proof
    ):
        return f"size {checkpoint.size} is not consistent with the cosigned size {log.last_size}"
    return ""


def checkpoint_cosign(
    *,
    partner: Partner,
    note_text: str,
    old_size: int,
    proof: list[bytes],
    log_vkey: str,
    handovers: list[Handover] | None = None,
) -> Cosigned:
    """Witness side: verify and cosign a partner log's checkpoint, or refuse (ConflictError on rewrite).

    Only the log named in the partner's verified card is witnessed, and its first pin is the card's
    key (M3); the pin changes only through `handovers` signed by the pinned key and the next one
    (audit_key_rotate on the partner's node makes them)."""
    actor = Actor(type="partner", id=partner.partner.code, name=partner.partner.code, auth="partner-token")
    with transaction.atomic():
        try:
            checkpoint = note.checkpoint_verify(note_text, vkey=log_vkey)
        except (note.NoteError, ValueError) as exc:
            raise CasebridgeError(f"The checkpoint does not verify: {exc}") from None
        refused = _refusal(partner, checkpoint.origin) or _key_refusal(
            partner, checkpoint.origin, log_vkey=log_vkey, handovers=handovers or []
        )
        if refused:
            # Audited in this transaction, which commits: the refusal's entry survives the refusal.
            audit_record(
                action=Action.CHECKPOINT_COSIGN, actor=actor, outcome=Outcome.DENIED,
                object_type="witnessed_log", object_id=checkpoint.origin[:64],
                reason=f"refused: {refused}", details={"origin": checkpoint.origin, "size": checkpoint.size},
            )  # fmt: skip
    if refused:
        raise ForbiddenError(f"Refused to cosign: {refused}.")
    with transaction.atomic():
        log = WitnessedLog.objects.select_for_update().filter(origin=checkpoint.origin).first()
        if log is None:  # the card's key is the starting pin (M3); hand-overs move it below
            card_log = partner_audit_log(partner=partner)
            if card_log is None or card_log.origin != checkpoint.origin:  # the card changed meanwhile
                raise ForbiddenError("Refused to cosign: the partner's verified card names another audit log.")
            log = WitnessedLog.objects.create(partner=partner, origin=checkpoint.origin, vkey=card_log.vkey)
        if log.partner_id != partner.pk:  # taken between the two transactions
            raise ForbiddenError("Refused to cosign: that origin is witnessed for another partner.")
        previous_vkey = log.vkey
        reached, problem = _key_followed(log, handovers or [], to_vkey=log_vkey)
        if not problem:
            log.vkey = reached
            problem = _history_problem(log, checkpoint, old_size=old_size, proof=proof)
        if problem:
            log.alarm = f"{timezone.now():%Y-%m-%d %H:%M:%S} UTC: {problem}"
            log.save(update_fields=["alarm"])
            audit_record(
                action=Action.CHECKPOINT_COSIGN,
                actor=actor,
                outcome=Outcome.FAILURE,
                object_type="witnessed_log",
                object_id=log.pk,
                reason=f"ALARM: {problem}",
                details={"origin": checkpoint.origin, "size": checkpoint.size},
            )
    if problem:
        raise ConflictError(f"Refused to cosign: {problem}. The log may have been rewritten.")
    with transaction.atomic():
        name, private_key = _witness_signing_key()
        line = note.cosignature_sign(checkpoint, name=name, private_key=private_key, timestamp=int(time.time()))
        WitnessedLog.objects.filter(pk=log.pk).update(
            vkey=log.vkey, last_size=checkpoint.size, last_root=checkpoint.root_hash, last_note=note_text,
            updated_at=timezone.now(),
        )  # fmt: skip
        details = {"origin": checkpoint.origin, "size": checkpoint.size}
        if previous_vkey != log.vkey:
            details["key_handover"] = {"from": previous_vkey, "to": log.vkey}
        audit_record(
            action=Action.CHECKPOINT_COSIGN,
            actor=actor,
            object_type="witnessed_log",
            object_id=log.pk,
            details=details,
        )
    return Cosigned(line=line, vkey=witness_vkey())


def _post_json(url: str, token: str, body: dict) -> dict:
    request = urllib.request.Request(  # noqa: S310 - the partner's configured node URL
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Partner {token}"},
    )
    return json.loads(outbound.call(request, timeout=settings.EXCHANGE_HTTP_TIMEOUT, limit=WITNESS_REPLY_LIMIT))


def _get_json(url: str, token: str) -> dict:
    request = urllib.request.Request(url, headers={"Authorization": f"Partner {token}"})  # noqa: S310 - checked in call
    return json.loads(outbound.call(request, timeout=settings.EXCHANGE_HTTP_TIMEOUT, limit=WITNESS_REPLY_LIMIT))


def witness_request(*, partner: Partner) -> AuditCosignature | None:
    """Log side: ask a remote partner's node to cosign our latest checkpoint; store its cosignature."""
    latest = checkpoint_latest()
    if latest is None or partner.partner.hosted_here or partner.outbound_token_wrapped is None:
        return None
    token = keystore.unwrap(bytes(partner.outbound_token_wrapped), key_id=f"partner-token-{partner.pk}").decode()
    # The URL of the card this agency verified, not the agency row all local agencies share (C1).
    base = partner.node_url.rstrip("/") + "/api/v1/exchange/witness"
    state = _get_json(f"{base}?origin={urllib.request.quote(settings.AUDIT_ORIGIN)}", token)
    old_size = int(state.get("last_size", 0))
    if old_size > latest.size:
        raise ConflictError(f"{partner.partner.code} has cosigned size {old_size}, beyond our tree: investigate.")
    proof = consistency_proof(first=old_size, second=latest.size)["consistency_path"] if 0 < old_size else []
    body = {
        "note": latest.note,
        "old_size": old_size,
        "proof": [base64.b64encode(h).decode() for h in proof],
        "log_vkey": note.vkey_from_public_key(audit_key_name(), audit_public_key_bytes()),
        "handovers": handovers_since(old_size),
    }
    try:
        answer = _post_json(base, token, body)
    except urllib.error.HTTPError as exc:
        with transaction.atomic():
            audit_record(
                action=Action.CHECKPOINT_COSIGN,
                actor=SYSTEM_ACTOR,
                outcome=Outcome.FAILURE,
                object_type="audit_checkpoint",
                object_id=latest.size,
                reason=f"{partner.partner.code} refused: HTTP {exc.code}",
            )
        raise
    note.cosignature_verify(note.note_open(latest.note)[0], answer["line"], vkey=answer["vkey"])
    with transaction.atomic():
        cosignature = AuditCosignature.objects.create(
            checkpoint_size=latest.size,
            witness=note.parse_vkey(answer["vkey"]).name,
            vkey=answer["vkey"],
            line=answer["line"],
            created_at=timezone.now(),
        )
        audit_record(
            action=Action.CHECKPOINT_COSIGN,
            actor=SYSTEM_ACTOR,
            object_type="audit_checkpoint",
            object_id=latest.size,
            details={"witness": partner.partner.code},
        )
    return cosignature


def handovers_since(old_size: int) -> list[dict]:
    """Our key hand-overs a witness that last cosigned `old_size` has not followed yet (JSON-ready)."""
    from audit.models import AuditCheckpoint

    result = []
    for period in audit_key_history()[1:]:  # each key after the first starts at a hand-over checkpoint
        size = period.first_size
        if size < old_size:
            continue
        checkpoint = AuditCheckpoint.objects.get(size=size)
        path = consistency_proof(first=old_size, second=size)["consistency_path"] if 0 < old_size < size else []
        result.append(
            {"note": checkpoint.note, "new_vkey": period.vkey, "proof": [base64.b64encode(h).decode() for h in path]}
        )
    return result


def witness_all() -> int:
    done = 0
    for partner in Partner.objects.filter(state=Partner.State.VERIFIED, partner__hosted_here=False).select_related(
        "partner"
    ):
        try:
            if witness_request(partner=partner) is not None:
                done += 1
        except (OSError, CasebridgeError, ValueError, KeyError):
            continue  # retried at the next run; failures are audited where they were decided
    return done
