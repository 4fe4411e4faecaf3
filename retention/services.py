"""Writes of retention: rules, review decisions, legal holds, erasure and the periodic sweep.

Each service is one audited transaction and takes `now=` (default: the clock), so what is due at
any date can be decided and tested without waiting. Retention imports cases, hashsets, exchange
and audit; none of them imports retention (the sweep and the erasure service check holds).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agencies.models import Agency, Role
from agencies.selectors import membership_of
from audit.actions import Action, Outcome
from audit.capture import Actor, actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ConflictError, ForbiddenError, NotFoundError
from cases.access import Access
from cases.models import Lead, LeadStatus
from cases.selectors import case_context
from retention import selectors
from retention.erasure import ERASERS, sensitive_values_erase
from retention.kinds import KINDS, SWEEP_ORDER, KindSource, kind_get
from retention.models import LegalHold, RecordKind, RetentionRule, ReviewDecision, ReviewState, Tombstone
from retention.selectors import DueRecord

logger = logging.getLogger(__name__)

REASON_MAX = 2000
SWEEP_ACTOR = Actor(type="system", name="retention_sweep", auth="system")
RETENTION_PURPOSE = "retention_review"
# A lead still being worked on keeps its case: erasing the case would erase an unidentified victim's lead.
OPEN_LEAD_STATUSES = (LeadStatus.OPEN, LeadStatus.IN_PROGRESS)


# --- rules ------------------------------------------------------------------------------------


def _require_admin(user) -> Agency:
    membership = membership_of(user)
    if membership is None or membership.role != Role.AGENCY_ADMIN:
        raise ForbiddenError("Only an agency admin sets the agency's retention rules.")
    return membership.agency


def _rule_snapshot(rule: RetentionRule | None) -> dict:
    if rule is None:
        return {}
    return {
        "kind": rule.kind,
        "status": rule.status,
        "review_after_days": rule.review_after_days,
        "erase_after_days": rule.erase_after_days,
    }


@transaction.atomic
def retention_rule_set(
    *, acting_user, kind: str, status: str = "", review_after_days: int, erase_after_days: int
) -> RetentionRule:
    """Create or change the agency's rule for `kind` (and `status`, for cases and leads)."""
    agency = _require_admin(acting_user)
    source = kind_get(kind)
    status = (status or "").strip()
    if status and status not in source.statuses:
        allowed = ", ".join(source.statuses) if source.statuses else "none (leave the status empty)"
        raise CasebridgeError(f"A {source.label.lower()} rule cannot name status {status!r}; statuses: {allowed}.")
    try:
        review, erase = int(review_after_days), int(erase_after_days)
    except (TypeError, ValueError):
        raise CasebridgeError("The review period and the erasure deadline are whole numbers of days.") from None
    if review < 1:
        raise CasebridgeError("The review period is at least 1 day.")
    if erase < review:
        raise CasebridgeError(
            f"The erasure deadline ({erase} days) comes before the review ({review} days): "
            "a record is reviewed before it can be erased."
        )
    audit_days = settings.AUDIT_RETENTION_DAYS
    if erase > audit_days:
        raise CasebridgeError(
            f"An erasure deadline of {erase} days is longer than this node keeps its audit log "
            f"(AUDIT_RETENTION_DAYS = {audit_days} days): a record's audit trail must outlive the record. "
            f"Choose at most {audit_days} days, or ask the node operator to raise AUDIT_RETENTION_DAYS."
        )
    rule = RetentionRule.objects.select_for_update().filter(agency=agency, kind=kind, status=status).first()
    before = _rule_snapshot(rule)
    if rule is None:
        rule = RetentionRule(agency=agency, kind=kind, status=status)
    rule.review_after_days, rule.erase_after_days = review, erase
    rule.updated_by, rule.updated_at = acting_user, timezone.now()
    rule.save()
    audit_record(
        action=Action.RETENTION_RULE_CHANGE,
        actor=actor_for_user(acting_user),
        agency=agency.code,
        object_type="retention_rule",
        object_id=rule.pk,
        details={"before": before, "after": _rule_snapshot(rule)},
    )
    return rule


@transaction.atomic
def retention_rule_delete(*, acting_user, rule_id: int) -> None:
    agency = _require_admin(acting_user)
    rule = RetentionRule.objects.select_for_update().filter(agency=agency, pk=rule_id).first()
    if rule is None:
        raise NotFoundError("No such retention rule of your agency.")
    before = _rule_snapshot(rule)
    rule.delete()
    audit_record(
        action=Action.RETENTION_RULE_CHANGE,
        actor=actor_for_user(acting_user),
        agency=agency.code,
        object_type="retention_rule",
        object_id=rule_id,
        details={"before": before, "after": {}},
    )


# --- reviews ----------------------------------------------------------------------------------


def _audit_object(source: KindSource, record) -> tuple[str, str]:
    return source.audit_object_type, str(getattr(record, source.audit_object_id_field))


def _record_purpose(due: DueRecord) -> dict[str, str]:
    purpose = {"code": RETENTION_PURPOSE}
    if due.case_reference:
        purpose["case"] = due.case_reference
    return purpose


def _reviewable(*, user, kind: str, object_id: int, now: datetime) -> tuple[Agency, KindSource, DueRecord]:
    """The record as `user` may review it: a supervisor of its agency, or the lead of its case."""
    membership = membership_of(user)
    if membership is None or membership.role not in selectors.REVIEWER_ROLES:
        raise ForbiddenError("Only case leads and supervisors review records for retention.")
    source = kind_get(kind)
    agency = membership.agency
    due = selectors.record_retention(agency=agency, kind=kind, object_id=int(object_id), now=now)
    if membership.role == Role.INVESTIGATOR:
        lead_id = None
        if source.case_lead_field:
            lead_id = source.records(agency).filter(pk=object_id).values_list(source.case_lead_field, flat=True).first()
        if lead_id != user.pk:
            raise NotFoundError(f"No such {source.label.lower()} among the records you review.")
    if due is None:
        raise CasebridgeError(
            f"No retention rule of {agency.code} covers this {source.label.lower()}: it is kept until one does."
        )
    hold = selectors.legal_hold_active(case_id=due.case_id)
    if hold is not None:
        raise ConflictError(
            f"{due.label} is under legal hold (placed by {hold.placed_by.username} on "
            f"{hold.placed_at:%Y-%m-%d}): review is suspended until a supervisor lifts the hold."
        )
    return agency, source, due


def _as_datetime(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=UTC)
    return datetime.combine(value, time.min, tzinfo=UTC)


def _review_audit(*, user, agency: Agency, source: KindSource, due: DueRecord, record, decision: str,
                  details: dict, reason: str) -> None:  # fmt: skip
    object_type, object_id = _audit_object(source, record)
    audit_record(
        action=Action.RETENTION_REVIEW,
        actor=actor_for_user(user),
        agency=agency.code,
        object_type=object_type,
        object_id=object_id,
        purpose=_record_purpose(due),
        details={"kind": due.kind, "record": due.object_id, "decision": decision, "rule": due.rule_id, **details},
        sensitive={"reason": reason},
    )


@transaction.atomic
def review_extend(
    *, acting_user, kind: str, object_id: int, reason: str, review_on: date | datetime, now: datetime | None = None
) -> ReviewState:
    """Keep the record: a new review date, with the reason it is still needed. The erasure deadline
    moves with the review date (the rule's gap between the two is kept)."""
    now = now or timezone.now()
    agency, source, due = _reviewable(user=acting_user, kind=kind, object_id=object_id, now=now)
    reason = (reason or "").strip()
    if not reason:
        raise CasebridgeError("An extension needs a reason: say why the record is still needed.")
    if len(reason) > REASON_MAX:
        raise CasebridgeError(f"The reason is too long: at most {REASON_MAX} characters.")
    if review_on is None:
        raise CasebridgeError("Give the date of the next review.")
    review_at = _as_datetime(review_on)
    if review_at <= now:
        raise CasebridgeError(f"The next review must be after today ({now:%Y-%m-%d}).")
    rule = RetentionRule.objects.get(pk=due.rule_id)
    erase_at = max(due.erase_at, review_at + timedelta(days=rule.erase_after_days - rule.review_after_days))
    limit = now + timedelta(days=settings.AUDIT_RETENTION_DAYS)
    if erase_at > limit:
        raise CasebridgeError(
            f"That would keep the record until {erase_at:%Y-%m-%d}, past what this node keeps its audit log "
            f"(AUDIT_RETENTION_DAYS = {settings.AUDIT_RETENTION_DAYS} days, until {limit:%Y-%m-%d}). "
            "Choose an earlier review date."
        )
    record = source.records(agency).get(pk=due.object_id)
    state, _ = ReviewState.objects.update_or_create(
        kind=kind,
        object_id=due.object_id,
        defaults={
            "agency": agency,
            "case_id": due.case_id,
            "decision": ReviewDecision.EXTENDED,
            "review_at": review_at,
            "erase_at": erase_at,
            "reason": reason,
            "decided_by": acting_user,
            "decided_at": now,
        },
    )
    _review_audit(
        user=acting_user, agency=agency, source=source, due=due, record=record, decision=ReviewDecision.EXTENDED,
        details={"review_at": review_at.isoformat(), "erase_at": erase_at.isoformat()}, reason=reason,
    )  # fmt: skip
    return state


@transaction.atomic
def review_release(
    *, acting_user, kind: str, object_id: int, reason: str = "", now: datetime | None = None
) -> ReviewState:
    """Let the record go: it leaves the queue and is erased at its deadline."""
    now = now or timezone.now()
    reason = (reason or "").strip()[:REASON_MAX]
    agency, source, due = _reviewable(user=acting_user, kind=kind, object_id=object_id, now=now)
    record = source.records(agency).get(pk=due.object_id)
    natural = due.anchor_at + timedelta(
        days=RetentionRule.objects.values_list("erase_after_days", flat=True).get(pk=due.rule_id)
    )
    state, _ = ReviewState.objects.update_or_create(
        kind=kind,
        object_id=due.object_id,
        defaults={
            "agency": agency,
            "case_id": due.case_id,
            "decision": ReviewDecision.RELEASED,
            "review_at": None,
            "erase_at": None,
            "reason": reason,
            "decided_by": acting_user,
            "decided_at": now,
        },
    )
    _review_audit(
        user=acting_user, agency=agency, source=source, due=due, record=record, decision=ReviewDecision.RELEASED,
        details={"erase_at": natural.isoformat()}, reason=reason,
    )  # fmt: skip
    return state


# --- legal hold -------------------------------------------------------------------------------


def _held_case(*, acting_user, case_id: int):
    """The case as a supervisor of its agency may hold it (404 for outsiders, like every case read)."""
    context = case_context(user=acting_user, case_id=case_id, need=Access.METADATA)
    membership = membership_of(acting_user)
    if membership is None or membership.role != Role.SUPERVISOR:
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor_for_user(acting_user),
            outcome=Outcome.DENIED,
            object_type="case",
            object_id=context.case.pk,
            reason="only supervisors place or lift a legal hold",
        )
        raise ForbiddenError("Only a supervisor places or lifts a legal hold.")
    return context.case


def _hold_reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise CasebridgeError(f"{what} needs a reason (e.g. the court order or proceedings it is for).")
    if len(reason) > REASON_MAX:
        raise CasebridgeError(f"The reason is too long: at most {REASON_MAX} characters.")
    return reason


def legal_hold_place(*, acting_user, case_id: int, reason: str, now: datetime | None = None) -> LegalHold:
    """Suspend review and erasure of the case and of everything that hangs off it."""
    # Checked before the transaction: a refusal is audited and must not roll back with it.
    case = _held_case(acting_user=acting_user, case_id=case_id)
    reason = _hold_reason(reason, "A legal hold")
    with transaction.atomic():
        return _legal_hold_place(acting_user=acting_user, case=case, reason=reason, now=now)


def _legal_hold_place(*, acting_user, case, reason: str, now: datetime | None) -> LegalHold:
    current = selectors.legal_hold_active(case_id=case.pk)
    if current is not None:
        raise ConflictError(
            f"Case {case.reference} is already under legal hold (placed by {current.placed_by.username} "
            f"on {current.placed_at:%Y-%m-%d})."
        )
    try:
        with transaction.atomic():
            hold = LegalHold.objects.create(
                agency_id=case.agency_id,
                case=case,
                reason=reason,
                placed_by=acting_user,
                placed_at=now or timezone.now(),
            )
    except IntegrityError:  # placed by someone else a moment ago
        raise ConflictError(f"Case {case.reference} is already under legal hold.") from None
    audit_record(
        action=Action.LEGAL_HOLD_PLACE,
        actor=actor_for_user(acting_user),
        agency=case.agency.code,
        object_type="case",
        object_id=case.pk,
        purpose={"code": "case", "case": case.reference},
        details={"case": case.reference, "hold": hold.pk},
        sensitive={"reason": reason},
    )
    return hold


def legal_hold_lift(*, acting_user, case_id: int, reason: str, now: datetime | None = None) -> LegalHold:
    """End the hold: review and erasure resume under the case's rule (nothing overdue is lost)."""
    case = _held_case(acting_user=acting_user, case_id=case_id)
    reason = _hold_reason(reason, "Lifting a legal hold")
    with transaction.atomic():
        return _legal_hold_lift(acting_user=acting_user, case=case, reason=reason, now=now)


def _legal_hold_lift(*, acting_user, case, reason: str, now: datetime | None) -> LegalHold:
    hold = LegalHold.objects.select_for_update().filter(case=case, lifted_at__isnull=True).first()
    if hold is None:
        raise CasebridgeError(f"Case {case.reference} is not under legal hold.")
    hold.lifted_by, hold.lifted_at, hold.lift_reason = acting_user, now or timezone.now(), reason
    hold.save(update_fields=["lifted_by", "lifted_at", "lift_reason"])
    audit_record(
        action=Action.LEGAL_HOLD_LIFT,
        actor=actor_for_user(acting_user),
        agency=case.agency.code,
        object_type="case",
        object_id=case.pk,
        purpose={"code": "case", "case": case.reference},
        details={"case": case.reference, "hold": hold.pk, "days": (hold.lifted_at - hold.placed_at).days},
        sensitive={"reason": reason},
    )
    return hold


# --- erasure ----------------------------------------------------------------------------------


class ErasureRefused(ConflictError):
    """The record cannot be erased now; the message says why (legal hold, open leads, not due)."""


def _refusal(*, actor: Actor, agency: Agency, source: KindSource, due: DueRecord, record, message: str):
    object_type, object_id = _audit_object(source, record)
    with transaction.atomic():
        audit_record(
            action=Action.RETENTION_ERASE,
            actor=actor,
            outcome=Outcome.DENIED,
            agency=agency.code,
            object_type=object_type,
            object_id=object_id,
            reason=message[:500],
            purpose=_record_purpose(due),
            details={"kind": due.kind, "record": due.object_id},
        )
    return ErasureRefused(message)


def _erasure_blocker(source: KindSource, due: DueRecord, now: datetime, *, manual: bool) -> str:
    """Why the record cannot be erased now, or '' when it can."""
    hold = selectors.legal_hold_active(case_id=due.case_id) if source.case_field else None
    if hold is not None:
        what = "It is" if due.kind == RecordKind.CASE else f"Its case {due.case_reference} is"
        return (
            f"{due.label} cannot be erased: {what} under legal hold, placed by {hold.placed_by.username} on "
            f"{hold.placed_at:%Y-%m-%d}. A supervisor must lift the hold first."
        )
    if due.kind == RecordKind.CASE:
        open_leads = Lead.objects.filter(case_id=due.object_id, status__in=OPEN_LEAD_STATUSES).count()
        if open_leads:
            return (
                f"{due.label} cannot be erased: it still has {open_leads} open victim-identification lead(s). "
                "Close them, or extend the case."
            )
    if due.erase_at > now and not (manual and due.decision == ReviewDecision.RELEASED):
        return (
            f"{due.label} is not due for erasure until {due.erase_at:%Y-%m-%d}. "
            "To erase it earlier, let it go in the review queue first."
        )
    return ""


def record_erase(*, acting_user, kind: str, object_id: int, now: datetime | None = None) -> Tombstone:
    """A supervisor erases one record now: one past its deadline, or one a reviewer let go.
    Refused (and audited as refused) under a legal hold, with open leads, or before it is due."""
    membership = membership_of(acting_user)
    if membership is None or membership.role != Role.SUPERVISOR:
        raise ForbiddenError("Only a supervisor erases records by hand; the retention sweep does the rest.")
    source = kind_get(kind)
    tombstone = _record_erase(
        source=source, agency=membership.agency, object_id=int(object_id), acting_user=acting_user,
        now=now or timezone.now(),
    )  # fmt: skip
    if tombstone is None:
        raise NotFoundError(f"No such {source.label.lower()} of your agency (already erased?).")
    return tombstone


def _record_erase(*, source: KindSource, agency: Agency, object_id: int, acting_user, now: datetime):
    """Erase one record of `agency` if nothing stands in the way. None when it is already gone
    (a concurrent or earlier sweep got there first): erasing is idempotent."""
    manual = acting_user is not None
    actor = actor_for_user(acting_user) if manual else SWEEP_ACTOR
    with transaction.atomic():
        # Lock the row first: a concurrent erasure of the same record waits here, then finds nothing.
        record = source.records(agency).select_for_update(of=("self",)).filter(pk=object_id).first()
        if record is None:
            return None
        due = selectors.record_retention(agency=agency, kind=source.kind, object_id=object_id, now=now)
        if due is None:
            if manual:
                raise CasebridgeError(f"No retention rule of {agency.code} covers this {source.label.lower()}.")
            return None
        blocker = _erasure_blocker(source, due, now, manual=manual)
        if not blocker:
            return _erase(source=source, agency=agency, due=due, record=record, actor=actor, acting_user=acting_user,
                          now=now)  # fmt: skip
    if not manual:
        # The sweep meets the same blocked record every hour: counted in its result, not logged each time.
        raise ErasureRefused(blocker)
    raise _refusal(actor=actor, agency=agency, source=source, due=due, record=record, message=blocker)


def _erase(*, source: KindSource, agency: Agency, due: DueRecord, record, actor: Actor, acting_user,
           now: datetime) -> Tombstone:  # fmt: skip
    object_type, object_id = _audit_object(source, record)
    rule = RetentionRule.objects.filter(pk=due.rule_id).first()
    content = ERASERS[source.kind](record)
    ReviewState.objects.filter(kind=source.kind, object_id=due.object_id).delete()
    erased_values = sensitive_values_erase(content.audit_objects)
    tombstone = Tombstone.objects.create(
        kind=source.kind,
        object_id=due.object_id,
        agency=agency,
        label=due.label[:200],
        case_reference=due.case_reference,
        erased_at=now,
        rule=rule,
        rule_snapshot=_rule_snapshot(rule),
        erased_by=acting_user,
        erased_via="manual" if acting_user is not None else "retention_sweep",
        details={**content.details, "sensitive_values_erased": erased_values},
    )
    audit_record(
        action=Action.RETENTION_ERASE,
        actor=actor,
        agency=agency.code,
        object_type=object_type,
        object_id=object_id,
        purpose=_record_purpose(due),
        details={
            "kind": source.kind,
            "record": due.object_id,
            "tombstone": tombstone.pk,
            "rule": _rule_snapshot(rule),
            "deadline": due.erase_at.isoformat(),
            "removed": tombstone.details,
        },
    )
    return tombstone


# --- audit records of reads -------------------------------------------------------------------


def queue_view_record(*, acting_user, what: str, count: int) -> None:
    """The review queue (or tombstone list) was read: metadata of records, for retention review."""
    with transaction.atomic():
        audit_record(
            action=Action.RETENTION_QUEUE_VIEW,
            actor=actor_for_user(acting_user),
            object_type=what,
            purpose={"code": RETENTION_PURPOSE},
            details={"items": count},
        )


def report_record(*, acting_user, fmt: str, time_from: datetime, time_to: datetime, entries: int) -> None:
    """An auditor read or exported the purpose and retention report (a read of the audit log)."""
    with transaction.atomic():
        audit_record(
            action=Action.RETENTION_REPORT,
            actor=actor_for_user(acting_user),
            object_type="retention_report",
            purpose={"code": "audit"},
            details={"format": fmt, "from": time_from.isoformat(), "to": time_to.isoformat(), "entries": entries},
        )


# --- the periodic sweep -----------------------------------------------------------------------


@dataclass
class SweepResult:
    erased: dict[str, int] = field(default_factory=dict)
    refused: dict[str, int] = field(default_factory=dict)
    failed: int = 0

    @property
    def total(self) -> int:
        return sum(self.erased.values())


def retention_sweep(*, now: datetime | None = None, batch: int = 500) -> SweepResult:
    """Erase every record past its deadline, agency by agency, kind by kind (cases first, so what
    hangs off a case goes with it). One transaction per record: a failure costs that record only.
    Idempotent: run twice, or twice at once, and nothing is erased twice."""
    now = now or timezone.now()
    result = SweepResult()
    for agency in Agency.objects.filter(retention_rules__isnull=False).distinct().order_by("pk"):
        for kind in SWEEP_ORDER:
            skipped: set[int] = set()
            while True:
                due = selectors.erasure_due(agency=agency, now=now, kind=kind, limit=batch, exclude=skipped)
                if not due:
                    break
                for item in due:
                    try:
                        tombstone = _record_erase(
                            source=KINDS[kind], agency=agency, object_id=item.object_id, acting_user=None, now=now
                        )
                    except ErasureRefused:
                        skipped.add(item.object_id)
                        result.refused[item.kind] = result.refused.get(item.kind, 0) + 1
                        continue
                    except Exception:  # one bad record must not stop the sweep
                        logger.exception("retention sweep: erasing %s %s failed", item.kind, item.object_id)
                        skipped.add(item.object_id)
                        result.failed += 1
                        continue
                    if tombstone is None:
                        skipped.add(item.object_id)
                    else:
                        result.erased[item.kind] = result.erased.get(item.kind, 0) + 1
    return result


__all__ = [
    "KINDS",
    "ErasureRefused",
    "SweepResult",
    "legal_hold_lift",
    "legal_hold_place",
    "record_erase",
    "retention_rule_delete",
    "retention_rule_set",
    "retention_sweep",
    "review_extend",
    "review_release",
]
