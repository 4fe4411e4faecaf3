"""Reads of retention: rules, the review queue, what is due for erasure, holds and tombstones.

Whether a record is due is decided in the database, one query per rule: a record is due for review
when its anchor (last change) is at least `review_after_days` before `now`, so each rule is a
plain `anchor <= now - days` filter on the kind's indexed rows, never a scan in Python. `now` is
always a parameter: the queue at any date can be asked for (and tested) without waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from agencies.models import Agency, Role
from agencies.selectors import membership_of
from casebridge.errors import ForbiddenError, NotFoundError
from retention.kinds import KINDS, SWEEP_ORDER, KindSource
from retention.models import LegalHold, RecordKind, RetentionRule, ReviewDecision, ReviewState, Tombstone

REVIEWER_ROLES = (Role.INVESTIGATOR, Role.SUPERVISOR)


@dataclass(frozen=True)
class DueRecord:
    """One record with its retention dates as of some `now` (content never included)."""

    kind: str
    object_id: int
    anchor_at: datetime
    review_at: datetime
    erase_at: datetime
    rule_id: int
    case_id: int | None = None
    case_reference: str = ""
    status: str = ""
    context: str = ""
    decision: str = ""

    @property
    def kind_label(self) -> str:
        return RecordKind(self.kind).label

    @property
    def label(self) -> str:
        where = f" of case {self.case_reference}" if self.case_reference else ""
        if self.kind == RecordKind.CASE:
            return f"Case {self.case_reference}"
        if self.kind == RecordKind.CLASSIFICATION:
            return f"Classification #{self.object_id} in hash set “{self.context}”"
        if self.kind in (RecordKind.BUNDLE_RECEIVED, RecordKind.BUNDLE_QUARANTINED):
            return f"{self.kind_label} #{self.object_id} from {self.context}"
        return f"{self.kind_label} #{self.object_id}{where}"


def rules_of(*, agency: Agency) -> QuerySet[RetentionRule]:
    return RetentionRule.objects.filter(agency=agency).select_related("updated_by").order_by("kind", "status")


def rules_for_user(*, user) -> QuerySet[RetentionRule]:
    membership = membership_of(user)
    if membership is None:
        return RetentionRule.objects.none()
    return rules_of(agency=membership.agency)


def rule_for(*, agency: Agency, kind: str, status: str = "") -> RetentionRule | None:
    """The rule that governs a record of `kind` in `status`: its status's own rule, else the kind's."""
    rules = {rule.status: rule for rule in RetentionRule.objects.filter(agency=agency, kind=kind)}
    return rules.get(status) if status and status in rules else rules.get("")


def _rule_records(rule: RetentionRule, source: KindSource, sibling_statuses: set[str]) -> QuerySet:
    records = source.records(rule.agency)
    if source.status_field:
        if rule.status:
            records = records.filter(**{source.status_field: rule.status})
        elif sibling_statuses:
            # The kind-wide rule covers only the statuses that have no rule of their own.
            records = records.exclude(**{f"{source.status_field}__in": sibling_statuses})
    state = ReviewState.objects.filter(kind=rule.kind, object_id=OuterRef("pk"))
    records = records.annotate(
        decision=Subquery(state.values("decision")[:1]),
        state_review_at=Subquery(state.values("review_at")[:1]),
        state_erase_at=Subquery(state.values("erase_at")[:1]),
    )
    if source.case_field:
        held = LegalHold.objects.filter(case_id=OuterRef(source.case_field), lifted_at__isnull=True)
        records = records.exclude(Exists(held))
    return records


def _rule_querysets(*, agency: Agency, kinds=None):
    """(rule, source, records) for every rule of the agency, in sweep order."""
    rules = list(RetentionRule.objects.filter(agency=agency).select_related("agency"))
    statuses_with_rule: dict[str, set[str]] = {}
    for rule in rules:
        if rule.status:
            statuses_with_rule.setdefault(rule.kind, set()).add(rule.status)
    rules.sort(key=lambda r: (SWEEP_ORDER.index(r.kind), r.status == "", r.status))
    for rule in rules:
        if kinds is not None and rule.kind not in kinds:
            continue
        source = KINDS[rule.kind]
        yield rule, source, _rule_records(rule, source, statuses_with_rule.get(rule.kind, set()))


def _due_records(rule: RetentionRule, source: KindSource, rows) -> list[DueRecord]:
    review = timedelta(days=rule.review_after_days)
    erase = timedelta(days=rule.erase_after_days)
    result = []
    for row in rows:
        anchor = row["anchor"]
        review_at, erase_at = anchor + review, anchor + erase
        if row["decision"] == ReviewDecision.EXTENDED:
            review_at = max(review_at, row["state_review_at"] or review_at)
            erase_at = max(erase_at, row["state_erase_at"] or erase_at)
        result.append(
            DueRecord(
                kind=rule.kind,
                object_id=row["pk"],
                anchor_at=anchor,
                review_at=review_at,
                erase_at=erase_at,
                rule_id=rule.pk,
                decision=row["decision"] or "",
                **{name: row[path] or ("" if name != "case_id" else None) for name, path in source.values.items()},
            )
        )
    return result


def _values(source: KindSource) -> list[str]:
    fields = ["pk", "anchor", "decision", "state_review_at", "state_erase_at", *source.values.values()]
    return list(dict.fromkeys(fields))


def _for_review(records: QuerySet, rule: RetentionRule, now: datetime) -> QuerySet:
    records = records.filter(anchor__lte=now - timedelta(days=rule.review_after_days))
    return records.filter(Q(decision__isnull=True) | Q(decision=ReviewDecision.EXTENDED, state_review_at__lte=now))


def _for_erasure(records: QuerySet, rule: RetentionRule, now: datetime) -> QuerySet:
    records = records.filter(anchor__lte=now - timedelta(days=rule.erase_after_days))
    return records.filter(Q(state_erase_at__isnull=True) | Q(state_erase_at__lte=now))


@dataclass
class ReviewQueue:
    items: list[DueRecord] = field(default_factory=list)
    total: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def _reviewer_scope(user) -> tuple[Agency, int | None]:
    """The agency whose records the user reviews, and the case lead to narrow to (investigators)."""
    membership = membership_of(user)
    if membership is None or membership.role not in REVIEWER_ROLES or not user.is_active:
        raise ForbiddenError("Only case leads and supervisors review records for retention.")
    return membership.agency, (user.pk if membership.role == Role.INVESTIGATOR else None)


def review_queue(*, user, now: datetime | None = None, limit: int = 500) -> ReviewQueue:
    """Records due for review that `user` reviews: a supervisor every record of the agency, an
    investigator the records of the cases they lead. Held records are not in it (review suspended)."""
    now = now or timezone.now()
    agency, case_lead = _reviewer_scope(user)
    queue = ReviewQueue()
    for rule, source, records in _rule_querysets(agency=agency):
        if case_lead is not None:
            if not source.case_lead_field:
                continue
            records = records.filter(**{source.case_lead_field: case_lead})
        due = _for_review(records, rule, now)
        count = due.count()
        if not count:
            continue
        queue.total += count
        queue.by_kind[rule.kind] = queue.by_kind.get(rule.kind, 0) + count
        queue.items += _due_records(rule, source, due.order_by("anchor", "pk").values(*_values(source))[:limit])
    queue.items.sort(key=lambda item: (item.review_at, item.kind, item.object_id))
    queue.items = queue.items[:limit]
    return queue


def erasure_due(
    *, agency: Agency, now: datetime | None = None, kind: str | None = None, limit: int = 1000, exclude=()
) -> list[DueRecord]:
    """Records of `agency` past their erasure deadline and not on hold, oldest first (per rule),
    leaving out the ids in `exclude` (records the sweep already found it cannot erase now)."""
    now = now or timezone.now()
    kinds = {kind} if kind else None
    due: list[DueRecord] = []
    for rule, source, records in _rule_querysets(agency=agency, kinds=kinds):
        if exclude:
            records = records.exclude(pk__in=list(exclude))
        rows = _for_erasure(records, rule, now).order_by("anchor", "pk").values(*_values(source))[:limit]
        due += _due_records(rule, source, rows)
    return due


def overdue_counts(*, agency: Agency, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """Per kind: records awaiting review (review date passed, no decision) and records past their
    erasure deadline that are still here (the sweep has not erased them yet, or cannot)."""
    now = now or timezone.now()
    counts: dict[str, dict[str, int]] = {"review": {}, "erasure": {}, "held": {}}
    for rule, _source, records in _rule_querysets(agency=agency):
        review = _for_review(records, rule, now).count()
        erasure = _for_erasure(records, rule, now).count()
        if review:
            counts["review"][rule.kind] = counts["review"].get(rule.kind, 0) + review
        if erasure:
            counts["erasure"][rule.kind] = counts["erasure"].get(rule.kind, 0) + erasure
    counts["held"]["case"] = LegalHold.objects.filter(agency=agency, lifted_at__isnull=True).count()
    return counts


def record_retention(*, agency: Agency, kind: str, object_id: int, now: datetime | None = None) -> DueRecord | None:
    """One record's retention dates under its rule (None when no rule covers it). Ignores holds."""
    now = now or timezone.now()
    source = KINDS[kind]
    row = source.records(agency).filter(pk=object_id).values("pk", *filter(None, [source.status_field])).first()
    if row is None:
        raise NotFoundError(f"No such {source.label.lower()} of your agency.")
    rule = rule_for(agency=agency, kind=kind, status=row.get(source.status_field, "") if source.status_field else "")
    if rule is None:
        return None
    state = ReviewState.objects.filter(kind=rule.kind, object_id=OuterRef("pk"))
    rows = (
        source.records(agency)
        .filter(pk=object_id)
        .annotate(
            decision=Subquery(state.values("decision")[:1]),
            state_review_at=Subquery(state.values("review_at")[:1]),
            state_erase_at=Subquery(state.values("erase_at")[:1]),
        )
        .values(*_values(source))
    )
    return _due_records(rule, source, rows)[0]


def legal_hold_active(*, case_id: int | None) -> LegalHold | None:
    if case_id is None:
        return None
    return LegalHold.objects.select_related("placed_by").filter(case_id=case_id, lifted_at__isnull=True).first()


def legal_holds_of(*, user, active_only: bool = True) -> QuerySet[LegalHold]:
    membership = membership_of(user)
    if membership is None or membership.role not in (Role.SUPERVISOR, Role.AUDITOR):
        return LegalHold.objects.none()
    holds = LegalHold.objects.filter(agency_id=membership.agency_id).select_related("case", "placed_by", "lifted_by")
    return holds.filter(lifted_at__isnull=True) if active_only else holds


def case_holds(*, case_id: int) -> QuerySet[LegalHold]:
    return LegalHold.objects.filter(case_id=case_id).select_related("placed_by", "lifted_by").order_by("-placed_at")


def tombstones_of(*, user) -> QuerySet[Tombstone]:
    membership = membership_of(user)
    if membership is None or membership.role not in (Role.SUPERVISOR, Role.AUDITOR, Role.AGENCY_ADMIN):
        return Tombstone.objects.none()
    return Tombstone.objects.filter(agency_id=membership.agency_id).select_related("erased_by", "rule")
