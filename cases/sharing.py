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
(audited SHARE_REQUEST with the partner codes as recipients) holding a snapshot of the payload.
``lead_share_policy`` is the one rule that says whether it is refused, goes at once, or waits for
a supervisor (``lead_share_approve``; four eyes: never the requester's own): TLP:RED, AMBER+STRICT
or AMBER (the lead's or its case's), an agreement that asks for approval, or an update of a lead
whose share needed approval. Every later change of a shared lead becomes a ``lead.update``
request under the same rule, showing what it changes. What is sent is always the snapshot.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from agencies.models import Role
from agencies.selectors import membership_of
from audit.actions import Action, Outcome
from audit.capture import Actor, actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError, NotFoundError
from casebridge.lib.canonical_json import canonical_json
from cases.models import (
    TLP,
    ClueType,
    Lead,
    LeadClue,
    LeadEvent,
    LeadShareKind,
    LeadShareRequest,
    LeadStatus,
    ShareState,
)
from cases.purpose import PURPOSE_CODES
from cases.selectors import lead_context, leads_visible
from cases.services.leads import lead_audit, tlp_strictest
from exchange.services import share_check
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


# --- the sharing rule: refused, allowed, or a supervisor first -------------------------------------


@dataclass(frozen=True)
class LeadSharePolicy:
    """What `lead_share_policy` decided for one disclosure (refusals raise instead)."""

    needs_approval: bool
    reasons: tuple[str, ...] = ()


def lead_share_policy(*, lead: Lead, partner_codes: list[str], kind: str) -> LeadSharePolicy:
    """The one rule for every disclosure of a lead (its first share and each later update).

    Refused (ShareRefused, from the exchange's `share_check`) when a recipient is no verified
    partner or its agreement does not cover leads at the lead's TLP. Otherwise a supervisor must
    approve first when any of these holds, whichever it is:
    - the stricter of the lead's TLP and its case's is RED, AMBER+STRICT or AMBER;
    - the sharing agreement with any recipient says a supervisor approves each share;
    - the lead was already sent under an approval: each later update, and a new share (which would
      carry everything added since), needs one too; an approved share is not a licence for
      whatever is added later, nor does lowering the TLP afterwards undo it.
    Kept in one function so that the later single sharing policy can take it over whole.
    """
    reasons = []
    strictest = tlp_strictest(lead.tlp, lead.case.tlp) if lead.case_id else lead.tlp
    if strictest in APPROVAL_TLPS:
        of_case = " (its case's)" if strictest != lead.tlp else ""
        reasons.append(f"TLP:{strictest}{of_case} needs a supervisor's approval.")
    for code in partner_codes:
        partner = share_check(sender=lead.agency, recipient_code=code, kind=kind, tlp=lead.tlp)
        if partner.agreement.requires_approval:
            reasons.append(f"The sharing agreement with {code} asks a supervisor to approve each share.")
    if lead.share_requests.filter(kind=LeadShareKind.SHARE, needs_approval=True, state=ShareState.SENT).exists():
        reasons.append("The lead's share needed approval, so each later share or change of it does too.")
    return LeadSharePolicy(needs_approval=bool(reasons), reasons=tuple(reasons))


# --- what an update changes ------------------------------------------------------------------------

_CHANGE_FIELDS = (
    ("title", "Title"),
    ("description", "Description"),
    ("status", "Status"),
    ("tlp", "TLP"),
    ("assigned_agency", "Assigned agency"),
)


def payload_changes(before: dict, after: dict) -> list[dict[str, str]]:
    """What `after` adds or changes against `before` (what the partners hold), in words: one row
    per changed field, added or removed series, and added or changed clue. Empty when equal."""
    rows = []
    for key, label in _CHANGE_FIELDS:
        if before.get(key) != after.get(key):
            rows.append({"what": label, "before": str(before.get(key) or ""), "after": str(after.get(key) or "")})
    old_series, new_series = set(before.get("series", [])), set(after.get("series", []))
    rows += [{"what": "Series added", "before": "", "after": name} for name in sorted(new_series - old_series)]
    rows += [{"what": "Series removed", "before": name, "after": ""} for name in sorted(old_series - new_series)]
    old_clues = {clue["uid"]: clue for clue in before.get("clues", [])}
    for clue in after.get("clues", []):
        held = old_clues.get(clue["uid"])
        if held is None:
            rows.append({"what": f"Clue added ({clue['type']})", "before": "", "after": clue["text"]})
        elif held["text"] != clue["text"] or held["type"] != clue["type"]:
            rows.append({"what": f"Clue changed ({clue['type']})", "before": held["text"], "after": clue["text"]})
    if len(before.get("evidence", [])) != len(after.get("evidence", [])):
        rows.append(
            {"what": "Evidence digests", "before": str(len(before.get("evidence", []))),
             "after": str(len(after.get("evidence", [])))}
        )  # fmt: skip
    return rows


def payload_readable(payload: dict) -> dict[str, Any]:
    """A snapshot as an approver reads it (labels and words, not JSON): exactly what will be sent."""
    status_labels = dict(LeadStatus.choices)
    clue_labels = dict(ClueType.choices)
    return {
        "fields": [
            ("Title", payload.get("title", "")),
            ("TLP", f"TLP:{payload.get('tlp', '')}"),
            ("Status", status_labels.get(payload.get("status", ""), payload.get("status", ""))),
            ("Assigned agency", payload.get("assigned_agency") or "—"),
            ("Series", ", ".join(payload.get("series", [])) or "—"),
            ("Evidence", f"{len(payload.get('evidence', []))} digest record(s), no imagery"),
        ],
        "description": payload.get("description", ""),
        "clues": [
            {
                "type": clue_labels.get(clue.get("type"), clue.get("type")),
                "text": clue.get("text", ""),
                "origin": clue.get("origin_agency", ""),
            }
            for clue in payload.get("clues", [])
        ],
    }


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
    """Hand an approved request to the exchange's outbox, in the current transaction, if wired.

    What leaves is the snapshot taken when the request was made (what the approver read), never
    the lead as it is now: a change after the request waits for its own request."""
    if exchange_share_enqueue is None or share.state != ShareState.APPROVED:
        return
    lead = share.lead
    payload = share.payload or lead_share_payload(lead)  # rows older than snapshots: as approved then
    exchange_share_enqueue(
        kind=share.kind,
        sender_agency_code=lead.agency.code,
        partner_codes=list(share.partner_codes),
        payload=payload,
        tlp=payload.get("tlp", lead.tlp),
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


def _request_record(*, acting_user, lead: Lead, share: LeadShareRequest, purpose: str) -> None:
    LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.SHARE_REQUESTED, actor=acting_user, agency_code=lead.agency.code,
        details={"partners": share.partner_codes, "request": share.pk, "needs_approval": share.needs_approval,
                 "kind": share.kind, "changes": len(share.changes)},
    )  # fmt: skip
    lead_audit(
        action=Action.SHARE_REQUEST, user=acting_user, lead=lead,
        details={"request": share.pk, "kind": share.kind, "tlp": lead.tlp, "needs_approval": share.needs_approval,
                 "changed": sorted({row["what"] for row in share.changes})},
        recipients=share.partner_codes, purpose=_share_purpose(lead, purpose),
    )  # fmt: skip


@transaction.atomic
def lead_share_request(*, acting_user, lead: Lead, partner_codes: list[str], purpose: str) -> LeadShareRequest:
    """Ask to share `lead` with partner agencies for `purpose` (a code of cases.purpose.PURPOSE_CODES).
    The payload is taken now: it is what a supervisor approves and what is sent."""
    context = lead_context(user=acting_user, lead_id=lead.pk, write=True)
    lead = context.lead
    if lead.received:
        raise CasebridgeError("A received lead is shared onward only by its origin agency.")
    purpose = (purpose or "victim_identification").strip()
    if purpose not in PURPOSE_CODES:
        raise CasebridgeError(f"Unknown purpose {purpose!r}; choose one of: {', '.join(PURPOSE_CODES)}.")
    codes = _partner_codes(partner_codes, lead.agency.code)
    policy = lead_share_policy(lead=lead, partner_codes=codes, kind=LeadShareKind.SHARE)
    share = LeadShareRequest.objects.create(
        lead=lead, kind=LeadShareKind.SHARE, partner_codes=codes, purpose=purpose, requested_by=acting_user,
        needs_approval=policy.needs_approval, approval_reasons=list(policy.reasons), payload=lead_share_payload(lead),
        state=ShareState.REQUESTED if policy.needs_approval else ShareState.APPROVED,
        decided_at=None if policy.needs_approval else timezone.now(),
    )  # fmt: skip
    _request_record(acting_user=acting_user, lead=lead, share=share, purpose=purpose)
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
    if not share.payload:
        raise CasebridgeError("This request predates payload snapshots: reject it and ask for the share again.")
    return share


def _decision_refused(*, acting_user, share: LeadShareRequest, exc: CasebridgeError) -> None:
    """A refused decision leaves its audit entry, committed on its own (the decision rolled back)."""
    with transaction.atomic():
        audit_record(
            action=Action.SHARE_APPROVE,
            actor=actor_for_user(acting_user),
            outcome=Outcome.DENIED,
            agency=share.lead.agency.code,
            object_type="lead",
            object_id=share.lead_id,
            reason=exc.message,
            details={"request": share.pk, "kind": share.kind},
            recipients=list(share.partner_codes),
            purpose=_share_purpose(share.lead, share.purpose),
        )


def lead_share_approve(*, acting_user, share: LeadShareRequest) -> LeadShareRequest:
    """A supervisor other than the requester approves; the request's snapshot is sent."""
    try:
        return _lead_share_approve(acting_user=acting_user, share=share)
    except CasebridgeError as exc:
        _decision_refused(acting_user=acting_user, share=share, exc=exc)
        raise


@transaction.atomic
def _lead_share_approve(*, acting_user, share: LeadShareRequest) -> LeadShareRequest:
    share = _decide(acting_user, share)
    share.state = ShareState.APPROVED
    share.approved_by = acting_user
    share.decided_at = timezone.now()
    share.save(update_fields=["state", "approved_by", "decided_at"])
    LeadEvent.objects.create(
        lead=share.lead, kind=LeadEvent.Kind.SHARE_APPROVED, actor=acting_user, agency_code=share.lead.agency.code,
        details={"request": share.pk, "partners": share.partner_codes, "kind": share.kind},
    )  # fmt: skip
    lead_audit(
        action=Action.SHARE_APPROVE, user=acting_user, lead=share.lead,
        details={"request": share.pk, "kind": share.kind, "payload_sha256": payload_digest(share.payload)},
        recipients=share.partner_codes, purpose=_share_purpose(share.lead, share.purpose),
    )  # fmt: skip
    _send(share)
    return share


def lead_share_reject(*, acting_user, share: LeadShareRequest, reason: str = "") -> LeadShareRequest:
    try:
        return _lead_share_reject(acting_user=acting_user, share=share, reason=reason)
    except CasebridgeError as exc:
        _decision_refused(acting_user=acting_user, share=share, exc=exc)
        raise


@transaction.atomic
def _lead_share_reject(*, acting_user, share: LeadShareRequest, reason: str = "") -> LeadShareRequest:
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


def payload_digest(payload: dict) -> str:
    """SHA-256 of the canonical JSON of a snapshot: the audit entry names what was approved."""
    return hashlib.sha256(canonical_json(payload)).hexdigest()


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
        .order_by("created_at", "pk")
    ):
        _send(share)
        sent += 1
    return sent


def _held_by_partners(lead: Lead) -> dict:
    """The last payload sent of this lead (what its partners hold), or {} when none is known."""
    last = lead.share_requests.filter(state=ShareState.SENT).exclude(payload={}).order_by("-sent_at", "-pk").first()
    return last.payload if last else {}


def lead_update_enqueue(*, lead: Lead, acting_user) -> LeadShareRequest | None:
    """A `lead.update` for everyone who holds the lead (partners it was sent to, or its origin),
    recorded as a request with its snapshot and what it changes. Under `lead_share_policy` it goes
    at once, or waits for a supervisor; a newer change supersedes a waiting one (its snapshot
    holds everything the older one had), so partners never get an older state after a newer."""
    if exchange_share_enqueue is None:
        return None
    lead = Lead.objects.select_related("agency", "case").get(pk=lead.pk)  # as committed so far, not a stale copy
    if lead.received:
        partners = [lead.origin_agency_code]
    else:
        partners = sorted(
            {code for share in lead.share_requests.filter(state=ShareState.SENT) for code in share.partner_codes}
        )
    if not partners:
        return None
    payload = lead_share_payload(lead)
    changes = payload_changes(_held_by_partners(lead), payload)
    policy = lead_share_policy(lead=lead, partner_codes=partners, kind=LeadShareKind.UPDATE)
    superseded = list(
        lead.share_requests.filter(kind=LeadShareKind.UPDATE, state=ShareState.REQUESTED).values_list("pk", flat=True)
    )
    if superseded:
        LeadShareRequest.objects.filter(pk__in=superseded).update(
            state=ShareState.SUPERSEDED, decided_at=timezone.now()
        )
    share = LeadShareRequest.objects.create(
        lead=lead, kind=LeadShareKind.UPDATE, partner_codes=partners, purpose="victim_identification",
        requested_by=acting_user, needs_approval=policy.needs_approval, approval_reasons=list(policy.reasons),
        payload=payload, changes=changes,
        state=ShareState.REQUESTED if policy.needs_approval else ShareState.APPROVED,
        decided_at=None if policy.needs_approval else timezone.now(),
    )  # fmt: skip
    _request_record(acting_user=acting_user, lead=lead, share=share, purpose="victim_identification")
    _send(share)
    return share


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
