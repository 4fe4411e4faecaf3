"""Rotating the audit signing key: the log records its own hand-over from the old key to the new.

Under the sequencer lock, in one transaction: every pending entry is integrated, an
`audit.key_rotated` entry naming both vkeys is appended, and the checkpoint that ends with it
(size = its index + 1, the hand-over size) is signed by the old key AND the new key. So the old
key vouches for its successor inside the log it signed, the new key shows it was present, and the
RFC 9162 consistency proofs run across the hand-over like anywhere else. Only public keys are
recorded; the new private key comes from a file and goes to the node's environment afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.conf import settings
from django.db import transaction

from audit import merkle, note
from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, Actor, audit_record
from audit.integrator import _integrate_batch, _lock_sequencer, stored_nodes
from audit.keys import (
    audit_key_history,
    audit_key_name,
    audit_signing_key,
    audit_signing_key_problem,
    audit_vkey,
)
from audit.models import AuditCheckpoint, AuditEntry

CAUSES = ("scheduled", "custody", "compromise")
_BATCH = 5000


class RotationError(Exception):
    """The rotation was refused; nothing was written."""


def audit_key_rotate(new_key: Ed25519PrivateKey, *, cause: str, actor: Actor = SYSTEM_ACTOR) -> AuditCheckpoint:
    """Hand the audit log over to ``new_key``; return the cross-signed hand-over checkpoint.

    Run by a process holding the current key. Afterwards that process's checkpoints are refused
    (`audit.keys.audit_signing_key_problem`) until every process runs with the new key.
    """
    if cause not in CAUSES:
        raise RotationError(f"cause must be one of {', '.join(CAUSES)}")
    name = audit_key_name()
    old_key = audit_signing_key()
    old_vkey, new_vkey = audit_vkey(), note.vkey_from_public_key(name, new_key.public_key())
    with transaction.atomic():
        _lock_sequencer()
        problem = audit_signing_key_problem()
        if problem:
            raise RotationError(problem)
        if new_vkey in {period.vkey for period in audit_key_history()}:
            # A retired key may be the compromised one: it never signs for this log again.
            raise RotationError(f"{new_vkey} already signed for this log; generate a new key")
        audit_record(
            action=Action.AUDIT_KEY_ROTATED,
            actor=actor,
            object_type="audit_signing_key",
            object_id=new_vkey.split("+")[1],
            details={"old_key": old_vkey, "new_key": new_vkey, "cause": cause},
            purpose={"code": "audit"},
        )
        while _integrate_batch(_BATCH)[0] == _BATCH:
            pass  # ours and everything committed before it; the lock keeps other rotations out
        index = AuditEntry.objects.filter(action=Action.AUDIT_KEY_ROTATED.value).order_by("-index").first().index
        size = index + 1
        nodes = stored_nodes(merkle.CompactRange.node_ids(size))
        root = merkle.root_from_nodes(size, lambda level, i: nodes[(level, i)])
        checkpoint = note.Checkpoint(origin=settings.AUDIT_ORIGIN, size=size, root_hash=root)
        text = note.checkpoint_sign(checkpoint, name=name, private_key=old_key)
        text = note.note_cosign(text, name=name, private_key=new_key)
        return AuditCheckpoint.objects.create(size=size, root_hash=root, note=text, created_at=datetime.now(UTC))
