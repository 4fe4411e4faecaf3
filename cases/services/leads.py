"""Writes on victim-identification leads and target identifiers. Lead and clue text are sensitive:
they reach the audit log only as salted commitments (`sensitive=`). Each one audited transaction."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from agencies.models import Role
from agencies.selectors import membership_of
from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError
from cases.access import Access, CaseContext
from cases.models import (
    TLP,
    CaseIdentifier,
    ClueType,
    IdentifierKind,
    Lead,
    LeadClue,
    LeadEvent,
    LeadStatus,
)
from cases.purpose import Purpose, purpose_of_case
from cases.services._common import case_audit, case_touch
from exchange.models import TLP_ORDER
from hashsets.models import Series

CLUE_MAX_CHARS = 5000
TLP_REASON_MAX_CHARS = 1000


def _require(context: CaseContext) -> None:
    if context.access < Access.WRITE:
        raise ForbiddenError("You may not change this case.")


def lead_audit(*, action: Action, user, lead: Lead, details: dict | None = None, sensitive: dict | None = None,
               recipients=(), purpose: dict | None = None) -> None:  # fmt: skip
    if purpose is None:
        purpose = purpose_of_case(lead.case).audit if lead.case_id else {"code": "victim_identification"}
    audit_record(
        action=action,
        actor=actor_for_user(user),
        agency=lead.agency.code,
        object_type="lead",
        object_id=lead.pk,
        details={"share_uid": str(lead.share_uid), **(details or {})},
        sensitive=sensitive,
        purpose=purpose,
        recipients=list(recipients),
    )


# --- a lead's TLP against its case's -------------------------------------------------------------


def tlp_strictest(*tlps: str) -> str:
    """The most restrictive of these TLP markings (the exchange's TLP order)."""
    return min((TLP(t) for t in tlps), key=TLP_ORDER.index)


def tlp_is_below(tlp: str, floor: str) -> bool:
    """True when `tlp` is less restrictive than `floor` (CLEAR is below RED)."""
    return TLP_ORDER.index(TLP(tlp)) > TLP_ORDER.index(TLP(floor))


def _tlp_floor_check(*, acting_user, case, tlp: str, reason: str, lead: Lead | None = None) -> str:
    """Whether `acting_user` may give a lead of `case` this TLP; returns the reason to audit ("" when
    the TLP is not below the case's). A lead below its case's TLP could otherwise leave without the
    approval the case's TLP demands, so only a supervisor sets one, and says why. A refusal is
    audited in its own transaction (run this before the change's transaction), so it survives."""
    if case is None or not tlp_is_below(tlp, case.tlp):
        return ""
    membership = membership_of(acting_user)
    reason = (reason or "").strip()
    if membership is not None and membership.role == Role.SUPERVISOR and membership.agency_id == case.agency_id:
        if not reason:
            raise CasebridgeError(
                f"TLP:{tlp} is below the case's TLP:{case.tlp}: give the reason for lowering it (it is audited)."
            )
        if len(reason) > TLP_REASON_MAX_CHARS:
            raise CasebridgeError(f"The reason has at most {TLP_REASON_MAX_CHARS:,} characters.")
        return reason
    with transaction.atomic():
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor_for_user(acting_user),
            outcome=Outcome.DENIED,
            agency=case.agency.code,
            object_type="lead" if lead is not None else "case",
            object_id=lead.pk if lead is not None else case.pk,
            reason=f"lead TLP:{tlp} below its case's TLP:{case.tlp} needs a supervisor",
            details={"case": case.reference, "tlp": tlp, "case_tlp": case.tlp},
        )
    raise CasebridgeError(
        f"A lead may not be marked TLP:{tlp}, less restrictive than its case's TLP:{case.tlp}. "
        "Only a supervisor may lower a lead below its case's TLP, giving a reason."
    )


def _series(names: list[str]) -> list[Series]:
    found = []
    for name in names:
        name = (name or "").strip()
        if name:
            if len(name) > 200:
                raise CasebridgeError("A series name has at most 200 characters.")
            found.append(Series.objects.get_or_create(name=name)[0])
    return found


def lead_create(
    *, acting_user, context: CaseContext, title: str, description: str = "", tlp: str | None = None,
    series: list[str] = (), evidence_ids: list[int] = (), clues: list[tuple[str, str]] = (), tlp_reason: str = "",
) -> Lead:  # fmt: skip
    """A lead in the case (its TLP defaults to the case's; below it only by a supervisor, with a
    reason); its series are linked to the case too."""
    _require(context)
    tlp = tlp or context.case.tlp
    if tlp not in TLP.values:
        raise CasebridgeError(f"Unknown TLP {tlp!r}; use one of: {', '.join(TLP.values)}.")
    lowered_because = _tlp_floor_check(acting_user=acting_user, case=context.case, tlp=tlp, reason=tlp_reason)
    return _lead_create(
        acting_user=acting_user, context=context, title=title, description=description, tlp=tlp, series=series,
        evidence_ids=evidence_ids, clues=clues, lowered_because=lowered_because,
    )  # fmt: skip


@transaction.atomic
def _lead_create(
    *, acting_user, context: CaseContext, title: str, description: str, tlp: str, series: list[str],
    evidence_ids: list[int], clues: list[tuple[str, str]], lowered_because: str,
) -> Lead:  # fmt: skip
    from cases.deconfliction import deconflict_series
    from cases.models import CaseSeries

    case = context.case
    title = (title or "").strip()
    if not title:
        raise CasebridgeError("A lead needs a short title.")
    lead = Lead.objects.create(
        agency=case.agency, case=case, origin_agency_code=case.agency.code, title=title[:200],
        description=description or "", tlp=tlp, created_by=acting_user,
    )  # fmt: skip
    series_objs = _series(list(series))
    lead.series.set(series_objs)
    new_links = []
    for s in series_objs:
        _, created = CaseSeries.objects.get_or_create(case=case, series=s, defaults={"added_by": acting_user})
        if created:
            new_links.append(s.pk)
    if evidence_ids:
        items = list(case.evidence.filter(pk__in=evidence_ids).values_list("pk", flat=True))
        if len(items) != len(set(evidence_ids)):
            raise CasebridgeError("Some evidence items are not in this case.")
        lead.evidence.set(items)
    for kind, text in clues:
        _clue_create(lead=lead, kind=kind, text=text, user=acting_user)
    LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.CREATED, actor=acting_user, agency_code=case.agency.code, to_status=lead.status,
        details={"clues": len(clues), "series": len(series_objs), "evidence": len(evidence_ids)},
    )  # fmt: skip
    case_touch(case)
    below = {"tlp_below_case": case.tlp} if lowered_because else {}
    lead_audit(
        action=Action.LEAD_CREATE, user=acting_user, lead=lead,
        details={"tlp": tlp, "clues": len(clues), "series": [s.pk for s in series_objs], "evidence": len(evidence_ids),
                 **below},
        sensitive={"title": title, "description": description, "tlp_reason": lowered_because,
                   **{f"clue_{n}": t for n, (_, t) in enumerate(clues)}},
    )  # fmt: skip
    if new_links:
        deconflict_series(case=case, series_ids=new_links, user=acting_user)
    return lead


def _clue_create(*, lead: Lead, kind: str, text: str, user=None, origin: str | None = None, uid=None) -> LeadClue:
    if kind not in ClueType.values:
        raise CasebridgeError(f"Unknown clue type {kind!r}; use one of: {', '.join(ClueType.values)}.")
    text = (text or "").strip()
    if not text:
        raise CasebridgeError("A clue needs some text.")
    if len(text) > CLUE_MAX_CHARS:
        raise CasebridgeError(f"A clue has at most {CLUE_MAX_CHARS:,} characters.")
    extra = {"uid": uid} if uid else {}
    return LeadClue.objects.create(
        lead=lead, type=kind, text=text, created_by=user, origin_agency_code=origin or lead.agency.code, **extra
    )


@transaction.atomic
def lead_clue_add(*, acting_user, lead: Lead, kind: str, text: str) -> LeadClue:
    clue = _clue_create(lead=lead, kind=kind, text=text, user=acting_user)
    LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.CLUE, actor=acting_user, agency_code=lead.agency.code, details={"type": kind}
    )
    Lead.objects.filter(pk=lead.pk).update(updated_at=timezone.now())
    lead_audit(
        action=Action.LEAD_UPDATE,
        user=acting_user,
        lead=lead,
        details={"clue_added": kind},
        sensitive={"clue": clue.text},
    )
    lead_changed_notify(lead=lead, acting_user=acting_user)
    return clue


def lead_update(
    *, acting_user, lead: Lead, status: str | None = None, title: str | None = None, description: str | None = None,
    assigned_agency_code: str | None = None, tlp: str | None = None, tlp_reason: str = "",
) -> Lead:  # fmt: skip
    """Change a lead. A TLP below its case's is set only by a supervisor, with a reason."""
    lowered_because = ""
    if tlp is not None and tlp != lead.tlp:
        if tlp not in TLP.values:
            raise CasebridgeError(f"Unknown TLP {tlp!r}; use one of: {', '.join(TLP.values)}.")
        if lead.received:
            raise CasebridgeError("A received lead keeps the TLP its origin agency gave it.")
        lowered_because = _tlp_floor_check(
            acting_user=acting_user, case=lead.case, tlp=tlp, reason=tlp_reason, lead=lead
        )
    return _lead_update(
        acting_user=acting_user, lead=lead, status=status, title=title, description=description,
        assigned_agency_code=assigned_agency_code, tlp=tlp, lowered_because=lowered_because,
    )  # fmt: skip


@transaction.atomic
def _lead_update(
    *, acting_user, lead: Lead, status: str | None, title: str | None, description: str | None,
    assigned_agency_code: str | None, tlp: str | None, lowered_because: str,
) -> Lead:  # fmt: skip
    lead = Lead.objects.select_for_update(of=("self",)).select_related("agency", "case").get(pk=lead.pk)
    details: dict = {}
    sensitive: dict = {}
    fields = []
    previous = lead.status
    if tlp is not None and tlp != lead.tlp:
        details["tlp"] = [lead.tlp, tlp]
        if lowered_because:
            details["tlp_below_case"] = lead.case.tlp
            sensitive["tlp_reason"] = lowered_because
        lead.tlp = tlp
        fields.append("tlp")
    if status is not None and status != lead.status:
        if status not in LeadStatus.values:
            raise CasebridgeError(f"Unknown lead status {status!r}; use one of: {', '.join(LeadStatus.values)}.")
        details["status"] = [lead.status, status]
        lead.status = status
        fields.append("status")
    if title is not None and title.strip() and title.strip() != lead.title:
        lead.title = title.strip()[:200]
        sensitive["title"] = lead.title
        fields.append("title")
    if description is not None and description != lead.description:
        lead.description = description
        sensitive["description"] = description
        fields.append("description")
    if assigned_agency_code is not None and assigned_agency_code.strip().upper() != lead.assigned_agency_code:
        code = assigned_agency_code.strip().upper()
        if len(code) > 16:
            raise CasebridgeError("An agency code has at most 16 characters.")
        details["assigned_agency"] = [lead.assigned_agency_code, code]
        lead.assigned_agency_code = code
        fields.append("assigned_agency_code")
    if not fields:
        return lead
    lead.updated_at = timezone.now()
    lead.save(update_fields=[*fields, "updated_at"])
    LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.STATUS if "status" in fields else LeadEvent.Kind.UPDATED, actor=acting_user,
        agency_code=lead.agency.code, from_status=previous if "status" in fields else "",
        to_status=lead.status if "status" in fields else "", details={"changed": fields},
    )  # fmt: skip
    lead_audit(
        action=Action.LEAD_UPDATE,
        user=acting_user,
        lead=lead,
        details={"changed": fields, **details},
        sensitive=sensitive,
    )
    lead_changed_notify(lead=lead, acting_user=acting_user)
    return lead


def lead_changed_notify(*, lead: Lead, acting_user) -> None:
    """Record a `lead.update` for every partner the lead went to (or back to its origin for a
    received lead), in this transaction: sent at once, or waiting for a supervisor when the
    sharing rule asks for one (cases.sharing.lead_share_policy)."""
    from cases import sharing

    sharing.lead_update_enqueue(lead=lead, acting_user=acting_user)


def share_queue_view_record(*, acting_user, shares) -> None:
    """The approval queue shows each request's snapshot (lead text): one LEAD_VIEW per request."""
    with transaction.atomic():
        for share in shares:
            lead_audit(
                action=Action.LEAD_VIEW, user=acting_user, lead=share.lead,
                details={"share_request": share.pk, "via": "share_queue", "kind": share.kind},
            )  # fmt: skip


def lead_view_record(*, acting_user, lead: Lead) -> None:
    with transaction.atomic():
        lead_audit(action=Action.LEAD_VIEW, user=acting_user, lead=lead)


def lead_list_record(*, acting_user, purpose: Purpose, filters: dict, results: int) -> None:
    with transaction.atomic():
        audit_record(
            action=Action.LEAD_LIST,
            actor=actor_for_user(acting_user),
            object_type="lead_list",
            details={"filters": filters, "results": results},
            sensitive=purpose.sensitive,
            purpose=purpose.audit,
        )


def deconfliction_usage_record(*, acting_user, users: int) -> None:
    """A supervisor read who used identifier deconfliction how often (counts, no identifiers)."""
    with transaction.atomic():
        audit_record(
            action=Action.DECONFLICTION_USAGE_VIEW,
            actor=actor_for_user(acting_user),
            object_type="deconfliction_usage",
            details={"users": users},
            purpose={"code": "supervision"},
        )


# --- target identifiers -------------------------------------------------------------------------


def identifier_add(*, acting_user, context: CaseContext, kind: str, value: str) -> tuple[CaseIdentifier, int]:
    """Keep a target identifier as a keyed hash and check it against every other case on the node.
    Returns the row and how many other cases hold it (each told through a deconfliction hit).
    Each user has a budget of such checks (cases.deconfliction); a refusal beyond it is audited."""
    from cases.deconfliction import DeconflictionBudgetSpent

    try:
        return _identifier_add(acting_user=acting_user, context=context, kind=kind, value=value)
    except DeconflictionBudgetSpent as exc:
        with transaction.atomic():  # the check rolled back; its refusal stays on record
            audit_record(
                action=Action.ACCESS_DENIED,
                actor=actor_for_user(acting_user),
                outcome=Outcome.DENIED,
                agency=context.case.agency.code,
                object_type="case",
                object_id=context.case.pk,
                reason=f"deconfliction budget used up ({exc.limit} identifiers per 24 hours)",
                details={"case": context.case.reference, "kind": kind, "used": exc.used, "limit": exc.limit},
                purpose={"code": "deconfliction"},
            )
        raise


@transaction.atomic
def _identifier_add(*, acting_user, context: CaseContext, kind: str, value: str) -> tuple[CaseIdentifier, int]:
    from cases.deconfliction import deconflict_identifiers, deconfliction_budget_charge, identifier_hash

    _require(context)
    if kind not in IdentifierKind.values:
        raise CasebridgeError(f"Unknown identifier kind {kind!r}; use one of: {', '.join(IdentifierKind.values)}.")
    keyed = identifier_hash(kind, value)
    if CaseIdentifier.objects.filter(case=context.case, kind=kind, keyed_hash=keyed).exists():
        raise CasebridgeError("This case already holds that identifier.")
    used = deconfliction_budget_charge(user=acting_user)
    identifier, created = CaseIdentifier.objects.get_or_create(
        case=context.case, kind=kind, keyed_hash=keyed, defaults={"added_by": acting_user}
    )
    if not created:
        raise CasebridgeError("This case already holds that identifier.")
    case_touch(context.case)
    case_audit(
        action=Action.IDENTIFIER_ADD, user=acting_user, case=context.case, object_type="identifier",
        object_id=identifier.pk, details={"kind": kind, "budget_used": used + 1},
        sensitive={"identifier": value.strip()},
    )  # fmt: skip
    hits = deconflict_identifiers(case=context.case, identifiers=[identifier], user=acting_user)
    return identifier, len(hits)
