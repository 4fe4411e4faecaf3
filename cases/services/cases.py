"""Writes on cases themselves: create (optionally from a template), change, status, members,
templates, series links; and the audit records of reading cases. Each one audited transaction."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agencies.models import Role
from agencies.selectors import membership_of
from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError
from cases.access import Access, CaseContext
from cases.models import (
    CASE_TRANSITIONS,
    TLP,
    Case,
    CaseMember,
    CaseReferenceCounter,
    CaseRole,
    CaseSeries,
    CaseStatus,
    CaseStatusChange,
    CaseTemplate,
    CaseTemplateTask,
    Priority,
    Task,
    TaskLogEntry,
)
from cases.purpose import Purpose
from cases.services._common import case_audit, case_touch
from hashsets.models import Series

User = get_user_model()

CASE_CREATOR_ROLES = (Role.INVESTIGATOR, Role.SUPERVISOR)


def _check_choice(value, choices, what: str) -> None:
    if value not in choices:
        raise CasebridgeError(f"Unknown {what} {value!r}; use one of: {', '.join(str(c) for c in choices)}.")


def _require_write(context: CaseContext, need: Access = Access.WRITE) -> None:
    # The selector already turned outsiders away with 404 and audited refusals; this is the
    # service's own guard for callers that skip the selector.
    if context.access < need:
        raise ForbiddenError("You may not change this case.")


def _next_reference(agency) -> str:
    year = timezone.now().year
    counter, _ = CaseReferenceCounter.objects.select_for_update().get_or_create(agency=agency, year=year)
    counter.last += 1
    counter.save(update_fields=["last"])
    return f"{agency.code}-{year}-{counter.last:04d}"


@transaction.atomic
def case_create(
    *,
    acting_user,
    title: str,
    description: str = "",
    priority: int = Priority.NORMAL,
    tlp: str = TLP.AMBER,
    template: CaseTemplate | None = None,
) -> Case:
    """A case of the acting user's agency, led by them; a template adds its default tasks."""
    membership = membership_of(acting_user)
    if membership is None or membership.role not in CASE_CREATOR_ROLES:
        raise ForbiddenError("Only investigators and supervisors open cases.")
    title = (title or "").strip()
    if not title:
        raise CasebridgeError("A case needs a title.")
    if len(title) > 200:
        raise CasebridgeError("The title is too long: at most 200 characters.")
    if template is not None:
        if template.agency_id != membership.agency_id:
            raise CasebridgeError("That template belongs to another agency.")
        description = description or template.description
    _check_choice(int(priority), Priority.values, "priority")
    _check_choice(tlp, TLP.values, "TLP")
    agency = membership.agency
    now = timezone.now()
    case = Case.objects.create(
        agency=agency,
        reference=_next_reference(agency),
        title=title,
        description=description or "",
        priority=int(priority),
        tlp=tlp,
        lead=acting_user,
        created_by=acting_user,
        template=template,
        created_at=now,
        updated_at=now,
    )
    CaseMember.objects.create(case=case, user=acting_user, role=CaseRole.LEAD, added_by=acting_user)
    CaseStatusChange.objects.create(case=case, from_status="", to_status=CaseStatus.OPEN, changed_by=acting_user)
    task_count = 0
    if template is not None:
        today = timezone.localdate()
        for default in template.tasks.all():
            task = Task.objects.create(
                case=case,
                title=default.title,
                due_date=today + timedelta(days=default.due_in_days) if default.due_in_days is not None else None,
                created_by=acting_user,
            )
            TaskLogEntry.objects.create(task=task, actor=acting_user, change={"created": [None, "from template"]})
            task_count += 1
    case_audit(
        action=Action.CASE_CREATE,
        user=acting_user,
        case=case,
        details={
            "tlp": tlp,
            "priority": int(priority),
            "template": template.pk if template else None,
            "tasks": task_count,
        },
        sensitive={"title": title, "description": description or ""},
    )
    return case


@transaction.atomic
def case_update(
    *, acting_user, context: CaseContext, title: str | None = None, description: str | None = None,
    priority: int | None = None, tlp: str | None = None,
) -> Case:  # fmt: skip
    _require_write(context)
    case = Case.objects.select_for_update().select_related("agency").get(pk=context.case.pk)
    changed: list[str] = []
    sensitive: dict[str, str] = {}
    if title is not None and title.strip() != case.title:
        if not title.strip():
            raise CasebridgeError("A case needs a title.")
        case.title = title.strip()[:200]
        changed.append("title")
        sensitive["title"] = case.title
    if description is not None and description != case.description:
        case.description = description
        changed.append("description")
        sensitive["description"] = description
    details: dict = {}
    if priority is not None and int(priority) != case.priority:
        _check_choice(int(priority), Priority.values, "priority")
        details["priority"] = [case.priority, int(priority)]
        case.priority = int(priority)
        changed.append("priority")
    if tlp is not None and tlp != case.tlp:
        _check_choice(tlp, TLP.values, "TLP")
        details["tlp"] = [case.tlp, tlp]
        case.tlp = tlp
        changed.append("tlp")
    if not changed:
        return case
    case.updated_at = timezone.now()
    case.save(update_fields=[*changed, "updated_at"])
    case_audit(
        action=Action.CASE_UPDATE,
        user=acting_user,
        case=case,
        details={"changed": changed, **details},
        sensitive=sensitive,
    )
    return case


@transaction.atomic
def case_status_change(*, acting_user, context: CaseContext, status: str, reason: str = "") -> Case:
    """Move the case along its workflow; an unknown or disallowed step is refused, naming the allowed ones."""
    _require_write(context, Access.MANAGE)
    case = Case.objects.select_for_update().select_related("agency").get(pk=context.case.pk)
    if status not in CaseStatus.values:
        raise CasebridgeError(f"Unknown status {status!r}; a case is one of: {', '.join(CaseStatus.values)}.")
    allowed = CASE_TRANSITIONS[case.status]
    if status not in allowed:
        raise CasebridgeError(
            f"A case cannot go from {case.status} to {status}; from {case.status} it can go to: {', '.join(allowed)}."
        )
    previous = case.status
    case.status = status
    case.updated_at = timezone.now()
    case.save(update_fields=["status", "updated_at"])
    CaseStatusChange.objects.create(
        case=case, from_status=previous, to_status=status, changed_by=acting_user, reason=reason[:500]
    )
    case_audit(
        action=Action.CASE_UPDATE,
        user=acting_user,
        case=case,
        details={"status": [previous, status]},
        sensitive={"reason": reason},
    )
    return case


@transaction.atomic
def case_member_set(*, acting_user, context: CaseContext, username: str, role: str) -> CaseMember:
    """Add a member of the case's agency, or change their role; naming a new lead demotes the old one."""
    _require_write(context, Access.MANAGE)
    _check_choice(role, CaseRole.values, "case role")
    case = Case.objects.select_for_update().select_related("agency").get(pk=context.case.pk)
    user = (
        User.objects.filter(username__iexact=(username or "").strip(), is_active=True)
        .select_related("membership")
        .first()
    )
    membership = membership_of(user) if user else None
    if user is None or membership is None or membership.agency_id != case.agency_id:
        raise CasebridgeError(f"{username!r} is not an active user of {case.agency.code}.")
    if membership.role not in (Role.INVESTIGATOR, Role.SUPERVISOR):
        raise CasebridgeError(
            f"{user.username} is {membership.get_role_display()}: only investigators and supervisors join cases."
        )
    member = CaseMember.objects.filter(case=case, user=user).first()
    previous = member.role if member else None
    if previous == CaseRole.LEAD and role != CaseRole.LEAD:
        raise CasebridgeError("The case lead stays lead until another member is named lead.")
    if role == CaseRole.LEAD and case.lead_id != user.pk:
        CaseMember.objects.filter(case=case, user_id=case.lead_id).update(role=CaseRole.MEMBER)
        case.lead = user
        case.save(update_fields=["lead"])
    if member is None:
        member = CaseMember.objects.create(case=case, user=user, role=role, added_by=acting_user)
    elif previous != role:
        member.role = role
        member.save(update_fields=["role"])
    else:
        return member
    case_touch(case)
    case_audit(
        action=Action.CASE_MEMBER_CHANGE,
        user=acting_user,
        case=case,
        details={"user": user.username, "from": previous, "to": role},
    )
    return member


@transaction.atomic
def case_member_remove(*, acting_user, context: CaseContext, username: str) -> None:
    _require_write(context, Access.MANAGE)
    case = context.case
    member = CaseMember.objects.select_related("user").filter(case=case, user__username__iexact=username).first()
    if member is None:
        raise CasebridgeError(f"{username!r} is not a member of this case.")
    if member.role == CaseRole.LEAD:
        raise CasebridgeError("Name another lead before removing the case lead.")
    member.delete()
    case_touch(case)
    case_audit(
        action=Action.CASE_MEMBER_CHANGE,
        user=acting_user,
        case=case,
        details={"user": member.user.username, "from": member.role, "to": None},
    )


@transaction.atomic
def case_series_link(*, acting_user, context: CaseContext, name: str) -> CaseSeries:
    """Link a series to the case (created on demand); other cases holding it are told (deconfliction)."""
    from cases.deconfliction import deconflict_series

    _require_write(context)
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise CasebridgeError("Give the series name (1-200 characters).")
    series, _ = Series.objects.get_or_create(name=name)
    link, created = CaseSeries.objects.get_or_create(
        case=context.case, series=series, defaults={"added_by": acting_user}
    )
    if created:
        case_touch(context.case)
        case_audit(action=Action.CASE_UPDATE, user=acting_user, case=context.case, details={"series_linked": series.pk})
        deconflict_series(case=context.case, series_ids=[series.pk])
    return link


@transaction.atomic
def case_template_create(*, acting_user, name: str, description: str = "", priority: int = Priority.NORMAL,
                         tlp: str = TLP.AMBER, tasks: list[tuple[str, int | None]] = ()) -> CaseTemplate:  # fmt: skip
    """A template of the acting supervisor's agency with its default tasks (title, due in days)."""
    membership = membership_of(acting_user)
    if membership is None or membership.role != Role.SUPERVISOR:
        raise ForbiddenError("Only supervisors define case templates.")
    name = (name or "").strip()
    if not name:
        raise CasebridgeError("A template needs a name.")
    if CaseTemplate.objects.filter(agency_id=membership.agency_id, name=name).exists():
        raise CasebridgeError(f"Your agency already has a template named {name!r}.")
    _check_choice(int(priority), Priority.values, "priority")
    _check_choice(tlp, TLP.values, "TLP")
    template = CaseTemplate.objects.create(
        agency_id=membership.agency_id, name=name, description=description, priority=int(priority), tlp=tlp
    )
    CaseTemplateTask.objects.bulk_create(
        [
            CaseTemplateTask(template=template, title=title.strip()[:200], due_in_days=days, position=n)
            for n, (title, days) in enumerate(tasks)
            if title.strip()
        ]
    )
    audit_record(
        action=Action.CASE_UPDATE,
        actor=actor_for_user(acting_user),
        object_type="case_template",
        object_id=template.pk,
        details={"created": True, "tasks": len(tasks)},
    )
    return template


# --- audit records of reads -------------------------------------------------------------------


def case_view_record(*, acting_user, case: Case, section: str = "overview", metadata_only: bool = False) -> None:
    """A CASE_VIEW entry for opening a case (or one of its sections)."""
    with transaction.atomic():
        case_audit(
            action=Action.CASE_VIEW,
            user=acting_user,
            case=case,
            details={"section": section, "metadata_only": metadata_only},
        )


def case_list_record(*, acting_user, purpose: Purpose, filters: dict, text: str = "", results: int, page: int) -> None:
    """CASE_SEARCH when a text was searched (the text as a commitment only), else CASE_LIST."""
    with transaction.atomic():
        audit_record(
            action=Action.CASE_SEARCH if text else Action.CASE_LIST,
            actor=actor_for_user(acting_user),
            object_type="case_list",
            details={"filters": filters, "results": results, "page": page},
            sensitive={"search": text, **purpose.sensitive},
            purpose=purpose.audit,
        )


def access_denied_record(*, acting_user, object_type: str, object_id, reason: str) -> None:
    with transaction.atomic():
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor_for_user(acting_user),
            outcome=Outcome.DENIED,
            object_type=object_type,
            object_id=object_id,
            reason=reason,
        )
