"""Auditors' actions on the log itself: each is audited like any other access."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django.db import transaction

from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from audit.export import audit_export_write
from audit.integrator import audit_checkpoint_now
from audit.keys import audit_vkeys_to_pin


def audit_view_record(*, acting_user, what: str, object_id: str | int = "", details: dict | None = None) -> None:
    audit_record(
        action=Action.AUDIT_VIEW,
        actor=actor_for_user(acting_user),
        object_type=what,
        object_id=object_id,
        details=details or {},
        purpose={"code": "audit"},
    )


def audit_export_record(*, acting_user, count: int, filters: dict) -> None:
    audit_record(
        action=Action.AUDIT_EXPORT,
        actor=actor_for_user(acting_user),
        object_type="audit_log",
        details={"entries": count, "filters": filters},
        purpose={"code": "audit"},
    )


def audit_verify_run(*, acting_user=None):
    """Export the whole log to a scratch directory and run the offline verifier over it.

    The verifier's rules are the offline ones; the trusted keys are this node's configured key and its
    predecessors (pinned), never the export's own `public-key.vkey`.
    """
    from audit import verify

    audit_checkpoint_now()
    with tempfile.TemporaryDirectory(prefix="casebridge-verify-") as scratch:
        audit_export_write(Path(scratch))
        result = verify.verify_export(Path(scratch), key=audit_vkeys_to_pin())
    with transaction.atomic():
        audit_record(
            action=Action.AUDIT_VERIFY,
            actor=actor_for_user(acting_user, auth="") if acting_user else actor_for_user(None, auth="command"),
            outcome=Outcome.SUCCESS if result.ok else Outcome.FAILURE,
            object_type="audit_log",
            reason="" if result.ok else (result.failure or {}).get("message", "")[:500],
            details={"entries": result.entries, "checkpoints": result.checkpoints},
        )
    return result
