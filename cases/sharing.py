"""Sharing victim-identification leads with partner agencies, through the exchange app.

What the exchange calls
-----------------------
``lead_share_payload(lead) -> dict``
    Everything a partner needs of a lead, JSON-serialisable (no floats): its `share_uid`, origin
    agency code, title, description, status, TLP, assigned agency, series names, clues (each with a
    stable uid) and the digests (hex) of its evidence.

``lead_apply(*, recipient_agency, sender_agency_code, payload, kind) -> Lead``
    Applies a received bundle's payload at `recipient_agency`, atomically and idempotently by
    `share_uid`: ``"lead.share"`` creates or updates the received lead; ``"lead.update"`` updates
    status and clues of a lead the recipient already holds (its own lead, when a partner reports
    the victim identified; or one it received) and records a LeadEvent. Raises CasebridgeError for
    a payload it refuses (the exchange quarantines the bundle with that message).

What the exchange wires
-----------------------
``exchange_share_enqueue`` (module attribute, None until the exchange sets it)
    ``exchange_share_enqueue(*, kind, sender_agency_code, partner_codes, payload, tlp,
    share_request_id)`` is called INSIDE the transaction that approves a share (``kind="lead.share"``)
    or changes a shared lead (``kind="lead.update"``), so the exchange writes its outbox row in the
    same transaction (transactional outbox). It must not do network I/O itself. While it is None,
    approved requests stay "approved" and are sent when ``lead_share_send_pending()`` runs after
    the hook is wired.

Services here
-------------
``lead_share_request(*, acting_user, lead, partner_codes, purpose)`` records a LeadShareRequest
(audited SHARE_REQUEST with the partner codes as recipients). Leads at TLP:RED, TLP:AMBER+STRICT or
TLP:AMBER need a supervisor's approval (``lead_share_approve``; four eyes: never the requester's
own); others are approved at once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

from agencies.models import Role
from agencies.selectors import membership_of
from audit.actions import Action
from audit.capture import Actor, actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError, NotFoundError
from cases.models import (
    TLP,
    ClueType,
    Lead,
    LeadClue,
    LeadEvent,
    LeadShareRequest,
    LeadStatus,
    ShareState,
)
from cases.purpose import PURPOSE_CODES
from cases.selectors import lead_context, leads_visible
from cases.services.leads import lead_audit
from hashsets.models import Series

# Set by the exchange app (see the module docstring). Called inside the sharing transaction.
exchange_share_enqueue: Callable[..., None] | None = None

PAYLOAD_FORMAT = "casebridge.lead/1"
SHARE_KINDS = ("lead.share", "lead.update")
APPROVAL_TLPS = (TLP.RED, TLP.AMBER_STRICT, TLP.AMBER)
_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{1,15}$")
_HEX = re.compile(r"^[0-9a-f]*$")
_DIGEST_HEX = {"md5": 32, "sha1": 40, "sha256": 64, "pdq": 64}


# --- the payload --------------------------------------------------------------------------------


def _evidence_digests(lead: Lead) -> list[dict[str, Any]]:
    if lead.received:
        return list(lead.shared_digests or [])
    rows = []
    for item in lead.evidence.order_by("pk"):
        rows.append(
            {
                "md5": bytes(item.md5).hex() if item.md5 is not None else None,
                "sha1": bytes(item.sha1).hex() if item.sha1 is not None else None,
                "sha256": bytes(item.sha256).hex() if item.sha256 is not None else None,
                "pdq": bytes(item.pdq).hex() if item.pdq is not None else None,
                "pdq_quality": item.pdq_quality,
                "size": item.size,
                "media_type": item.media_type or None,
            }
        )
    return rows


def lead_share_payload(lead: Lead) -> dict[str, Any]:
    """The lead as a partner receives it (JSON-serialisable, integers and strings only)."""
    return {
        "format": PAYLOAD_FORMAT,
        "share_uid": str(lead.share_uid),
        "origin_agency": lead.origin_agency_code,
        "title": lead.title,
        "description": lead.description,
        "status": lead.status,
        "tlp": lead.tlp,
        "assigned_agency": lead.assigned_agency_code,
        "series": sorted(lead.series.values_list("name", flat=True)),
        "clues": [
            {
                "uid": str(clue.uid),
                "type": clue.type,
                "text": clue.text,
                "origin_agency": clue.origin_agency_code,
                "created_at": clue.created_at.isoformat(),
            }
            for clue in lead.clues.order_by("created_at", "id")
        ],
        "evidence": _evidence_digests(lead),
        "updated_at": lead.updated_at.isoformat(),
    }


# --- applying what a partner sent ---------------------------------------------------------------


def _text(payload: dict, key: str, limit: int, *, required: bool = False) -> str:
    value = payload.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise CasebridgeError(f"payload.{key} must be text.")
    if required and not value.strip():
        raise CasebridgeError(f"payload.{key} is missing.")
    if len(value) > limit:
        raise CasebridgeError(f"payload.{key} is longer than {limit:,} characters.")
    return value


def _validated(payload: dict, kind: str) -> dict:
    if not isinstance(payload, dict):
        raise CasebridgeError("The lead payload is not an object.")
    if payload.get("format") != PAYLOAD_FORMAT:
        raise CasebridgeError(f"Unknown lead payload format {payload.get('format')!r}; expected {PAYLOAD_FORMAT}.")
    try:
        share_uid = uuid.UUID(str(payload.get("share_uid")))
    except ValueError:
        raise CasebridgeError("payload.share_uid is not a UUID.") from None
    origin = _text(payload, "origin_agency", 16, required=True).upper()
    if not _CODE.match(origin):
        raise CasebridgeError("payload.origin_agency is not an agency code.")
    status = payload.get("status")
    if status not in LeadStatus.values:
        raise CasebridgeError(f"payload.status {status!r} is not one of: {', '.join(LeadStatus.values)}.")
    tlp = payload.get("tlp", TLP.AMBER)
    if tlp not in TLP.values:
        raise CasebridgeError(f"payload.tlp {tlp!r} is not one of: {', '.join(TLP.values)}.")
    clues = payload.get("clues", [])
    if not isinstance(clues, list):
        raise CasebridgeError("payload.clues must be a list.")
    clean_clues = []
    for n, clue in enumerate(clues):
        if not isinstance(clue, dict) or clue.get("type") not in ClueType.values:
            raise CasebridgeError(f"payload.clues[{n}] needs a type among: {', '.join(ClueType.values)}.")
        try:
            clue_uid = uuid.UUID(str(clue.get("uid")))
        except ValueError:
            raise CasebridgeError(f"payload.clues[{n}].uid is not a UUID.") from None
        text = _text(clue, "text", 5000, required=True)
        clue_origin = str(clue.get("origin_agency") or origin).upper()[:16]
        clean_clues.append({"uid": clue_uid, "type": clue["type"], "text": text, "origin": clue_origin})
    series = payload.get("series", [])
    if not isinstance(series, list) or not all(isinstance(s, str) and 0 < len(s) <= 200 for s in series):
        raise CasebridgeError("payload.series must be a list of names (1-200 characters).")
    evidence = payload.get("evidence", [])
    if not isinstance(evidence, list) or len(evidence) > 100_000:
        raise CasebridgeError("payload.evidence must be a list of at most 100,000 digests.")
    clean_evidence = []
    for n, row in enumerate(evidence):
        if not isinstance(row, dict):
            raise CasebridgeError(f"payload.evidence[{n}] is not an object.")
        clean = {}
        for name, length in _DIGEST_HEX.items():
            value = row.get(name)
            if value is not None and (not isinstance(value, str) or len(value) != length or not _HEX.match(value)):
                raise CasebridgeError(
                    f"payload.evidence[{n}].{name} is not a {length}-character lower-case hex digest."
                )
            clean[name] = value
        for name in ("pdq_quality", "size"):
            value = row.get(name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
                raise CasebridgeError(f"payload.evidence[{n}].{name} must be a whole number.")
            clean[name] = value
        media_type = row.get("media_type")
        clean["media_type"] = media_type if isinstance(media_type, str) and len(media_type) <= 16 else None
        if not any(clean[name] for name in _DIGEST_HEX):
            raise CasebridgeError(f"payload.evidence[{n}] has no digest.")
        clean_evidence.append(clean)
    return {
        "share_uid": share_uid,
        "origin": origin,
        "title": _text(payload, "title", 200, required=kind == "lead.share"),
        "description": _text(payload, "description", 100_000),
        "status": status,
        "tlp": tlp,
        "assigned": _text(payload, "assigned_agency", 16).upper(),
        "series": sorted(set(series)),
        "clues": clean_clues,
        "evidence": clean_evidence,
    }


def _clues_merge(lead: Lead, clues: list[dict]) -> int:
    """Add the clues this lead does not hold yet (by uid); never removes one. Returns how many."""
    held = set(lead.clues.values_list("uid", flat=True))
    new = [
        LeadClue(lead=lead, uid=c["uid"], type=c["type"], text=c["text"], origin_agency_code=c["origin"])
        for c in clues
        if c["uid"] not in held
    ]
    LeadClue.objects.bulk_create(new)
    return len(new)


def _partner_actor(sender_code: str, recipient_code: str) -> Actor:
    return Actor(type="partner", name=sender_code, auth="bundle", agency=recipient_code)


@transaction.atomic
def lead_apply(*, recipient_agency, sender_agency_code: str, payload: dict, kind: str) -> Lead:
    """Apply a partner's lead payload at `recipient_agency` (idempotent by share_uid; see module doc)."""
    if kind not in SHARE_KINDS:
        raise CasebridgeError(f"Unknown lead bundle kind {kind!r}; expected one of: {', '.join(SHARE_KINDS)}.")
    sender = (sender_agency_code or "").upper()
    data = _validated(payload, kind)
    if sender == recipient_agency.code:
        raise CasebridgeError("An agency does not send leads to itself.")
    lead = Lead.objects.select_for_update().filter(agency=recipient_agency, share_uid=data["share_uid"]).first()
    actor = _partner_actor(sender, recipient_agency.code)
    if kind == "lead.share":
        if data["origin"] != sender:
            raise CasebridgeError("A lead is shared only by its origin agency; send a lead.update instead.")
        if lead is not None and not lead.received:
            raise CasebridgeError("This agency created that lead; a partner cannot share it back as new.")
        return _apply_share(lead=lead, recipient_agency=recipient_agency, sender=sender, data=data, actor=actor)
    if lead is None:
        raise NotFoundError("No lead with that share_uid is held by the recipient.")
    allowed = {lead.origin_agency_code}
    if not lead.received:
        for request in lead.share_requests.filter(state=ShareState.SENT):
            allowed.update(request.partner_codes)
    if sender not in allowed:
        raise CasebridgeError(f"{sender} neither created this lead nor received it from {recipient_agency.code}.")
    return _apply_update(lead=lead, sender=sender, data=data, actor=actor)


def _apply_share(*, lead: Lead | None, recipient_agency, sender: str, data: dict, actor: Actor) -> Lead:
    created = lead is None
    if created:
        lead = Lead.objects.create(
            share_uid=data["share_uid"], agency=recipient_agency, case=None, origin_agency_code=sender, received=True,
            title=data["title"], description=data["description"], status=data["status"], tlp=data["tlp"],
            assigned_agency_code=data["assigned"], shared_digests=data["evidence"],
        )  # fmt: skip
        changed = ["created"]
    else:
        changed = []
        for attr, key in (("title", "title"), ("description", "description"), ("status", "status"), ("tlp", "tlp"),
                          ("assigned_agency_code", "assigned"), ("shared_digests", "evidence")):  # fmt: skip
            if getattr(lead, attr) != data[key]:
                setattr(lead, attr, data[key])
                changed.append(attr)
    previous_status = "" if created else Lead.objects.filter(pk=lead.pk).values_list("status", flat=True).first()
    series = [Series.objects.get_or_create(name=name)[0] for name in data["series"]]
    if sorted(s.pk for s in series) != sorted(lead.series.values_list("pk", flat=True)):
        lead.series.set(series)
        if not created:
            changed.append("series")
    clues_added = _clues_merge(lead, data["clues"])
    if clues_added and not created:
        changed.append("clues")
    if not changed:
        return lead  # the same bundle applied again: nothing to record
    lead.updated_at = timezone.now()
    lead.save()
    LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.RECEIVED if created else LeadEvent.Kind.PARTNER_UPDATE, agency_code=sender,
        from_status="" if created or previous_status == lead.status else previous_status,
        to_status=lead.status if created or previous_status != lead.status else "",
        details={"changed": changed, "clues_added": clues_added, "evidence": len(data["evidence"])},
    )  # fmt: skip
    audit_record(
        action=Action.LEAD_CREATE if created else Action.LEAD_UPDATE,
        actor=actor,
        agency=recipient_agency.code,
        object_type="lead",
        object_id=lead.pk,
        details={"share_uid": str(lead.share_uid), "from": sender, "changed": changed, "clues_added": clues_added},
        sensitive={"title": lead.title, "description": lead.description},
        purpose={"code": "victim_identification"},
    )
    return lead


def _apply_update(*, lead: Lead, sender: str, data: dict, actor: Actor) -> Lead:
    previous = lead.status
    changed = []
    if data["status"] != lead.status:
        lead.status = data["status"]
        changed.append("status")
    clues_added = _clues_merge(lead, data["clues"])
    if clues_added:
        changed.append("clues")
    if not changed:
        return lead
    lead.updated_at = timezone.now()
    lead.save(update_fields=["status", "updated_at"])
    LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.PARTNER_UPDATE, agency_code=sender,
        from_status=previous if "status" in changed else "", to_status=lead.status if "status" in changed else "",
        details={"changed": changed, "clues_added": clues_added},
    )  # fmt: skip
    audit_record(
        action=Action.LEAD_UPDATE,
        actor=actor,
        agency=lead.agency.code,
        object_type="lead",
        object_id=lead.pk,
        details={
            "share_uid": str(lead.share_uid),
            "from": sender,
            "changed": changed,
            "status": [previous, lead.status],
        },
        purpose={"code": "victim_identification"},
    )
    return lead


# --- requests, approvals, sending -----------------------------------------------------------------


def _partner_codes(codes: list[str], own_code: str) -> list[str]:
    clean = []
    for code in codes or []:
        code = (code or "").strip().upper()
        if not code:
            continue
        if not _CODE.match(code):
            raise CasebridgeError(f"{code!r} is not an agency code (2-16 letters, digits, - or _).")
        if code == own_code:
            raise CasebridgeError("A lead is shared with partner agencies, not with your own.")
        if code not in clean:
            clean.append(code)
    if not clean:
        raise CasebridgeError("Name at least one partner agency (its code, e.g. RNP).")
    return clean


def _send(share: LeadShareRequest) -> None:
    """Hand an approved share to the exchange's outbox, in the current transaction, if wired."""
    if exchange_share_enqueue is None or share.state != ShareState.APPROVED:
        return
    lead = share.lead
    exchange_share_enqueue(
        kind="lead.share",
        sender_agency_code=lead.agency.code,
        partner_codes=list(share.partner_codes),
        payload=lead_share_payload(lead),
        tlp=lead.tlp,
        share_request_id=share.pk,
    )
    share.state = ShareState.SENT
    share.sent_at = timezone.now()
    share.save(update_fields=["state", "sent_at"])


def _share_purpose(lead: Lead, code: str) -> dict:
    purpose = {"code": code}
    if lead.case_id:
        purpose["case"] = lead.case.reference
    return purpose


@transaction.atomic
def lead_share_request(*, acting_user, lead: Lead, partner_codes: list[str], purpose: str) -> LeadShareRequest:
    """Ask to share `lead` with partner agencies for `purpose` (a code of cases.purpose.PURPOSE_CODES)."""
    context = lead_context(user=acting_user, lead_id=lead.pk, write=True)
    lead = context.lead
    if lead.received:
        raise CasebridgeError("A received lead is shared onward only by its origin agency.")
    purpose = (purpose or "victim_identification").strip()
    if purpose not in PURPOSE_CODES:
        raise CasebridgeError(f"Unknown purpose {purpose!r}; choose one of: {', '.join(PURPOSE_CODES)}.")
    codes = _partner_codes(partner_codes, lead.agency.code)
    needs_approval = lead.tlp in APPROVAL_TLPS
    share = LeadShareRequest.objects.create(
        lead=lead, partner_codes=codes, purpose=purpose, requested_by=acting_user, needs_approval=needs_approval,
        state=ShareState.REQUESTED if needs_approval else ShareState.APPROVED,
        decided_at=None if needs_approval else timezone.now(),
    )  # fmt: skip
    LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.SHARE_REQUESTED, actor=acting_user, agency_code=lead.agency.code,
        details={"partners": codes, "request": share.pk, "needs_approval": needs_approval},
    )  # fmt: skip
    lead_audit(
        action=Action.SHARE_REQUEST, user=acting_user, lead=lead,
        details={"request": share.pk, "tlp": lead.tlp, "needs_approval": needs_approval},
        recipients=codes, purpose=_share_purpose(lead, purpose),
    )  # fmt: skip
    _send(share)
    return share


def _decide(acting_user, share: LeadShareRequest) -> LeadShareRequest:
    membership = membership_of(acting_user)
    share = (
        LeadShareRequest.objects.select_for_update(of=("self",))
        .select_related("lead__agency", "lead__case")
        .get(pk=share.pk)
    )
    if membership is None or membership.role != Role.SUPERVISOR or membership.agency_id != share.lead.agency_id:
        raise ForbiddenError("Only a supervisor of the lead's agency decides on a share.")
    if share.requested_by_id == acting_user.pk:
        raise ForbiddenError("Four eyes: another supervisor must decide on your own request.")
    if share.state != ShareState.REQUESTED:
        raise CasebridgeError(f"This request is already {share.get_state_display().lower()}.")
    return share


@transaction.atomic
def lead_share_approve(*, acting_user, share: LeadShareRequest) -> LeadShareRequest:
    share = _decide(acting_user, share)
    share.state = ShareState.APPROVED
    share.approved_by = acting_user
    share.decided_at = timezone.now()
    share.save(update_fields=["state", "approved_by", "decided_at"])
    LeadEvent.objects.create(
        lead=share.lead, kind=LeadEvent.Kind.SHARE_APPROVED, actor=acting_user, agency_code=share.lead.agency.code,
        details={"request": share.pk, "partners": share.partner_codes},
    )  # fmt: skip
    lead_audit(
        action=Action.SHARE_APPROVE, user=acting_user, lead=share.lead, details={"request": share.pk},
        recipients=share.partner_codes, purpose=_share_purpose(share.lead, share.purpose),
    )  # fmt: skip
    _send(share)
    return share


@transaction.atomic
def lead_share_reject(*, acting_user, share: LeadShareRequest, reason: str = "") -> LeadShareRequest:
    share = _decide(acting_user, share)
    share.state = ShareState.REJECTED
    share.approved_by = acting_user
    share.decided_at = timezone.now()
    share.save(update_fields=["state", "approved_by", "decided_at"])
    LeadEvent.objects.create(
        lead=share.lead, kind=LeadEvent.Kind.SHARE_REJECTED, actor=acting_user, agency_code=share.lead.agency.code,
        details={"request": share.pk},
    )  # fmt: skip
    audit_record(
        action=Action.SHARE_REJECT,
        actor=actor_for_user(acting_user),
        agency=share.lead.agency.code,
        object_type="lead",
        object_id=share.lead_id,
        details={"request": share.pk},
        sensitive={"reason": reason},
        recipients=share.partner_codes,
        purpose=_share_purpose(share.lead, share.purpose),
    )
    return share


@transaction.atomic
def lead_share_send_pending() -> int:
    """Send approved requests that waited for the exchange hook to be wired. Returns how many."""
    if exchange_share_enqueue is None:
        return 0
    sent = 0
    for share in (
        LeadShareRequest.objects.select_for_update(of=("self",))
        .select_related("lead__agency")
        .filter(state=ShareState.APPROVED)
    ):
        _send(share)
        sent += 1
    return sent


def lead_update_enqueue(*, lead: Lead) -> None:
    """A `lead.update` for everyone who holds the lead: partners it was sent to, or its origin."""
    if exchange_share_enqueue is None:
        return
    if lead.received:
        partners = [lead.origin_agency_code]
    else:
        partners = sorted(
            {code for share in lead.share_requests.filter(state=ShareState.SENT) for code in share.partner_codes}
        )
    if not partners:
        return
    exchange_share_enqueue(
        kind="lead.update",
        sender_agency_code=lead.agency.code,
        partner_codes=partners,
        payload=lead_share_payload(lead),
        tlp=lead.tlp,
        share_request_id=None,
    )


def lead_attach_case(*, acting_user, lead: Lead, case) -> Lead:
    """A supervisor puts a received lead into one of the agency's cases (its members then see it)."""
    with transaction.atomic():
        if not leads_visible(user=acting_user).filter(pk=lead.pk).exists():
            raise NotFoundError("No such lead.")
        if case.agency_id != lead.agency_id:
            raise CasebridgeError("The case belongs to another agency.")
        Lead.objects.filter(pk=lead.pk).update(case=case, updated_at=timezone.now())
        lead.case = case
        LeadEvent.objects.create(
            lead=lead, kind=LeadEvent.Kind.UPDATED, actor=acting_user, agency_code=lead.agency.code,
            details={"attached_to_case": case.pk},
        )  # fmt: skip
        lead_audit(action=Action.LEAD_UPDATE, user=acting_user, lead=lead, details={"attached_to_case": case.reference})
    return lead
