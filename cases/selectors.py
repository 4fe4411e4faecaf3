"""Reads of cases and their content, always through the user's need-to-know (see cases.access).

Lists are built for 100,000 cases: one agency's rows through composite indexes, membership as an
EXISTS on (user, case), text search through trigram indexes, and every related value a page shows
fetched with the page (select_related / prefetch / annotations), never per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Upper

from agencies.models import Role
from agencies.selectors import membership_of
from casebridge.errors import NotFoundError
from cases.access import Access, CaseContext, access_for, require
from cases.models import (
    Attachment,
    Case,
    CaseMember,
    CaseTemplate,
    ClassificationBatch,
    DeconflictionHit,
    EvidenceItem,
    Lead,
    LeadShareRequest,
    MatchState,
    Note,
    ShareState,
    Task,
    TaskState,
)


@dataclass(frozen=True)
class CaseFilters:
    status: str = ""
    priority: int | None = None
    tlp: str = ""
    member: str = ""  # a username
    created_from: date | None = None
    created_to: date | None = None
    text: str = ""
    mine: bool = False

    def active(self) -> dict:
        """The filters in use, without the search text (that is sensitive: audited as a commitment)."""
        shown = {
            "status": self.status,
            "priority": self.priority,
            "tlp": self.tlp,
            "member": self.member,
            "created_from": self.created_from.isoformat() if self.created_from else "",
            "created_to": self.created_to.isoformat() if self.created_to else "",
            "mine": self.mine,
        }
        return {key: value for key, value in shown.items() if value not in ("", None, False)}


def _my_role(user):
    return Subquery(CaseMember.objects.filter(case=OuterRef("pk"), user=user).values("role")[:1])


def cases_visible(*, user) -> QuerySet[Case]:
    """Every case `user` may know exists (metadata), annotated with `my_role`."""
    membership = membership_of(user)
    if membership is None or not user.is_active:
        return Case.objects.none()
    cases = Case.objects.filter(agency_id=membership.agency_id).annotate(my_role=_my_role(user))
    if membership.role in (Role.SUPERVISOR, Role.AUDITOR):
        return cases
    if membership.role == Role.INVESTIGATOR:
        return cases.filter(Exists(CaseMember.objects.filter(case=OuterRef("pk"), user=user)))
    return Case.objects.none()


def case_list(*, user, filters: CaseFilters) -> QuerySet[Case]:
    cases = cases_visible(user=user)
    if filters.status:
        cases = cases.filter(status=filters.status)
    if filters.priority:
        cases = cases.filter(priority=filters.priority)
    if filters.tlp:
        cases = cases.filter(tlp=filters.tlp)
    if filters.member:
        cases = cases.filter(
            Exists(CaseMember.objects.filter(case=OuterRef("pk"), user__username__iexact=filters.member))
        )
    if filters.mine:
        cases = cases.filter(Exists(CaseMember.objects.filter(case=OuterRef("pk"), user=user)))
    if filters.created_from:
        cases = cases.filter(created_at__date__gte=filters.created_from)
    if filters.created_to:
        cases = cases.filter(created_at__date__lte=filters.created_to)
    if filters.text:
        # Both sides upper-cased: the trigram indexes are on UPPER(column) (migration 0002).
        needle = filters.text.upper()
        cases = cases.alias(ref_u=Upper("reference"), title_u=Upper("title")).filter(
            Q(ref_u__contains=needle) | Q(title_u__contains=needle)
        )
    return cases.select_related("lead").order_by("-updated_at", "-id")


def _context(user, case: Case) -> CaseContext:
    role = getattr(case, "my_role", None)
    return CaseContext(case=case, access=access_for(user, case, role), case_role=role or "")


def case_context(*, user, case_id: int, need: Access = Access.READ, what: str = "") -> CaseContext:
    """The case with `user`'s access to it, or NotFoundError (outsiders) / ForbiddenError (too little)."""
    case = cases_visible(user=user).select_related("agency", "lead").filter(pk=case_id).first()
    if case is None:
        raise NotFoundError("No such case, or you are not one of its members.")
    return require(_context(user, case), need, user=user, what=what)


def case_context_by_reference(*, user, reference: str) -> CaseContext | None:
    case = cases_visible(user=user).select_related("agency", "lead").filter(reference__iexact=reference).first()
    return _context(user, case) if case is not None else None


def case_members(*, case: Case) -> QuerySet[CaseMember]:
    return case.members.select_related("user", "user__membership").order_by("role", "user__username")


def case_status_history(*, case: Case):
    return case.status_history.select_related("changed_by").order_by("changed_at", "id")


def case_notes(*, case: Case) -> QuerySet[Note]:
    return case.notes.select_related("author").order_by("-created_at", "-id")


def note_get(*, case: Case, note_id: int) -> Note:
    note = case.notes.select_related("author").filter(pk=note_id).first()
    if note is None:
        raise NotFoundError("No such note in this case.")
    return note


def note_revisions(*, note: Note):
    return note.revisions.select_related("edited_by").order_by("-number")


def case_tasks(*, case: Case, state: str = "") -> QuerySet[Task]:
    tasks = case.tasks.select_related("assignee", "created_by")
    if state:
        tasks = tasks.filter(state=state)
    return tasks.order_by("state", "due_date", "id")


def task_get(*, case: Case, task_id: int) -> Task:
    task = case.tasks.select_related("assignee").filter(pk=task_id).first()
    if task is None:
        raise NotFoundError("No such task in this case.")
    return task


def task_log(*, task: Task):
    return task.log.select_related("actor").order_by("created_at", "id")


def case_attachments(*, case: Case) -> QuerySet[Attachment]:
    return case.attachments.select_related("uploaded_by").order_by("-created_at")


def attachment_get(*, case: Case, attachment_id: int) -> Attachment:
    attachment = case.attachments.filter(pk=attachment_id).first()
    if attachment is None:
        raise NotFoundError("No such attachment in this case.")
    return attachment


@dataclass(frozen=True)
class EvidenceFilters:
    state: str = ""  # known, unknown, near
    category: str = ""
    disagree: bool = False


def case_evidence(*, case: Case, filters: EvidenceFilters | None = None) -> QuerySet[EvidenceItem]:
    items = case.evidence.all()
    if filters:
        if filters.state:
            items = items.filter(match_state=filters.state)
        if filters.category:
            items = items.filter(category=filters.category)
        if filters.disagree:
            items = items.filter(disagree=True)
    return items.select_related("added_by").order_by("id")


def evidence_summary(*, case: Case) -> dict:
    """Counts by match state and by category, in two grouped queries."""
    by_state = {row["match_state"]: row["n"] for row in case.evidence.values("match_state").annotate(n=Count("id"))}
    by_category = {
        row["category"]: row["n"]
        for row in case.evidence.exclude(category="").values("category").annotate(n=Count("id")).order_by("category")
    }
    total = sum(by_state.values())
    known = by_state.get(MatchState.KNOWN, 0)
    near = by_state.get(MatchState.NEAR, 0)
    return {
        "total": total,
        "known": known,
        "near": near,
        "unknown": by_state.get(MatchState.UNKNOWN, 0),
        "by_category": by_category,
        "percent_known": round(100 * (known + near) / total) if total else 0,
    }


def evidence_classifications(*, user, items: list[EvidenceItem]) -> dict[int, list[dict]]:
    """What the user's agency may see of each item's media (exact or near match), per item id."""
    from hashsets.selectors import classifications_visible

    media_ids = {item.media_id for item in items if item.media_id}
    if not media_ids:
        return {}
    visible = classifications_visible(user=user, media_ids=media_ids)
    return {item.pk: visible.get(item.media_id, []) for item in items if item.media_id}


def classification_batch_get(*, context: CaseContext, batch_id: int) -> ClassificationBatch:
    """A bulk classification of this case, or NotFoundError. Who may undo it (the author and the
    agency's supervisors only: the undo service checks it, auditing a refusal)."""
    batch = context.case.classification_batches.select_related("created_by").filter(pk=batch_id).first()
    if batch is None:
        raise NotFoundError("No such classification change in this case.")
    return batch


def classification_batch_last(*, user, context: CaseContext) -> ClassificationBatch | None:
    """The case's latest bulk classification, if not undone and the user may undo it: the page offers it."""
    from cases.access import batch_undo_allowed

    batch = (
        context.case.classification_batches.select_related("created_by", "series")
        .order_by("-created_at", "-pk")
        .first()
    )
    if batch is None or batch.undone_at is not None or not batch_undo_allowed(user=user, context=context, batch=batch):
        return None
    return batch


def case_deconfliction_hits(*, case: Case) -> QuerySet[DeconflictionHit]:
    """Hits of this case: the other side shows only its agency and its case lead, never content."""
    return (
        case.deconfliction_hits.select_related("other_case__agency", "other_case__lead")
        .only(
            "id",
            "kind",
            "count",
            "first_seen_at",
            "last_seen_at",
            "acknowledged_at",
            "case_id",
            "other_case__agency__code",
            "other_case__agency__name",
            "other_case__lead__username",
        )
        .order_by("-last_seen_at")
    )


# --- leads ----------------------------------------------------------------------------------


def leads_visible(*, user) -> QuerySet[Lead]:
    """Leads of the cases whose content the user may read; received leads (no case yet) to supervisors."""
    membership = membership_of(user)
    if membership is None or not user.is_active:
        return Lead.objects.none()
    leads = Lead.objects.filter(agency_id=membership.agency_id)
    if membership.role == Role.SUPERVISOR:
        return leads
    if membership.role == Role.INVESTIGATOR:
        return leads.filter(case__isnull=False, case__in=CaseMember.objects.filter(user=user).values("case_id"))
    return Lead.objects.none()


@dataclass(frozen=True)
class LeadFilters:
    status: str = ""
    case_id: int | None = None
    received: bool | None = None


def lead_list(*, user, filters: LeadFilters | None = None) -> QuerySet[Lead]:
    leads = leads_visible(user=user)
    if filters:
        if filters.status:
            leads = leads.filter(status=filters.status)
        if filters.case_id:
            leads = leads.filter(case_id=filters.case_id)
        if filters.received is not None:
            leads = leads.filter(received=filters.received)
    return (
        leads.select_related("case").annotate(clue_count=Count("clues", distinct=True)).order_by("-updated_at", "-id")
    )


@dataclass(frozen=True)
class LeadContext:
    lead: Lead
    can_write: bool
    can_manage: bool


def lead_context(*, user, lead_id: int, write: bool = False) -> LeadContext:
    """The lead if the user may see it (404 otherwise); `write` also needs write access to its case."""
    lead = leads_visible(user=user).select_related("case", "case__agency", "agency").filter(pk=lead_id).first()
    if lead is None:
        raise NotFoundError("No such lead, or you are not a member of its case.")
    if lead.case is not None:
        role = CaseMember.objects.filter(case=lead.case, user=user).values_list("role", flat=True).first()
        context = CaseContext(case=lead.case, access=access_for(user, lead.case, role), case_role=role or "")
        if write:
            require(context, Access.WRITE, user=user, what="lead")
        return LeadContext(lead=lead, can_write=context.can_write, can_manage=context.can_manage)
    # a received lead not yet attached to a case: its agency's supervisors hold it
    return LeadContext(lead=lead, can_write=True, can_manage=True)


def lead_clues(*, lead: Lead):
    return lead.clues.select_related("created_by").order_by("created_at", "id")


def lead_events(*, lead: Lead):
    return lead.events.select_related("actor").order_by("created_at", "id")


def lead_status_counts(*, user) -> dict[str, int]:
    rows = leads_visible(user=user).values("status").annotate(n=Count("id"))
    return {row["status"]: row["n"] for row in rows}


def share_requests_pending(*, user) -> QuerySet[LeadShareRequest]:
    """The supervisor's approval queue: requests of the agency's leads awaiting a second pair of eyes."""
    membership = membership_of(user)
    if membership is None or membership.role != Role.SUPERVISOR:
        return LeadShareRequest.objects.none()
    return (
        LeadShareRequest.objects.filter(lead__agency_id=membership.agency_id, state=ShareState.REQUESTED)
        .select_related("lead", "lead__case", "requested_by")
        .order_by("created_at")
    )


def share_request_get(*, user, request_id: int) -> LeadShareRequest:
    membership = membership_of(user)
    share = (
        LeadShareRequest.objects.select_related("lead", "lead__case", "lead__agency", "requested_by")
        .filter(pk=request_id, lead__agency_id=membership.agency_id if membership else None)
        .first()
    )
    if share is None or not leads_visible(user=user).filter(pk=share.lead_id).exists():
        raise NotFoundError("No such share request.")
    return share


def lead_update_waiting(*, lead: Lead) -> LeadShareRequest | None:
    """The change of `lead` that waits for a supervisor before it goes to partners, if any."""
    return lead.share_requests.filter(kind="lead.update", state=ShareState.REQUESTED).order_by("-created_at").first()


def lead_share_requests(*, lead: Lead):
    return lead.share_requests.select_related("requested_by", "approved_by").order_by("-created_at")


# --- templates and dashboard ----------------------------------------------------------------


def case_templates(*, user) -> QuerySet[CaseTemplate]:
    membership = membership_of(user)
    if membership is None:
        return CaseTemplate.objects.none()
    return (
        CaseTemplate.objects.filter(agency_id=membership.agency_id).prefetch_related(Prefetch("tasks")).order_by("name")
    )


def template_get(*, user, template_id: int) -> CaseTemplate:
    template = case_templates(user=user).filter(pk=template_id).first()
    if template is None:
        raise NotFoundError("No such case template in your agency.")
    return template


def my_cases(*, user, limit: int = 8):
    return list(case_list(user=user, filters=CaseFilters(mine=True)).exclude(status="closed")[:limit])


def my_tasks(*, user, limit: int = 10):
    return list(
        Task.objects.filter(assignee=user, case__agency_id=user.membership.agency_id)
        .exclude(state=TaskState.DONE)
        .filter(Exists(CaseMember.objects.filter(case=OuterRef("case_id"), user=user)))
        .select_related("case")
        .order_by("due_date", "id")[:limit]
    )


def triage_progress(*, user, limit: int = 8) -> list[dict]:
    """Per open case of the user: evidence items and how many are known or near-matched."""
    cases = my_cases(user=user, limit=limit)
    if not cases:
        return []
    rows = (
        EvidenceItem.objects.filter(case__in=[c.pk for c in cases])
        .values("case_id")
        .annotate(total=Count("id"), matched=Count("id", filter=~Q(match_state=MatchState.UNKNOWN)))
    )
    counts = {row["case_id"]: row for row in rows}
    progress = []
    for case in cases:
        row = counts.get(case.pk, {"total": 0, "matched": 0})
        if row["total"]:
            progress.append(
                {
                    "case": case,
                    "total": row["total"],
                    "matched": row["matched"],
                    "percent": round(100 * row["matched"] / row["total"]),
                }
            )
    return progress
