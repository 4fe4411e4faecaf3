"""Shared helpers of the case services: the audit call with the case as purpose, and timestamps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.utils import timezone

from audit.actions import Action
from audit.capture import actor_for_user, audit_record
from cases.models import Case
from cases.purpose import purpose_of_case


def case_audit(
    *,
    action: Action,
    user,
    case: Case,
    object_type: str = "case",
    object_id: str | int | None = None,
    details: Mapping[str, Any] | None = None,
    sensitive: Mapping[str, str] | None = None,
    recipients: Sequence[str] = (),
) -> None:
    """An audit entry for work inside `case`: the case itself is the declared purpose."""
    audit_record(
        action=action,
        actor=actor_for_user(user),
        agency=case.agency.code,
        object_type=object_type,
        object_id=case.pk if object_id is None else object_id,
        details={"case": case.reference, **(details or {})},
        sensitive=sensitive,
        purpose=purpose_of_case(case).audit,
        recipients=recipients,
    )


def case_touch(case: Case) -> None:
    """Move the case up the list (its `updated_at`) without a read-modify-write race."""
    now = timezone.now()
    Case.objects.filter(pk=case.pk).update(updated_at=now)
    case.updated_at = now
