"""Reads for the exchange UI, scoped to the caller's agency."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from agencies.selectors import membership_of
from casebridge.errors import NotFoundError
from exchange.keys import AuditLogId, CardError
from exchange.models import AgencyKeySet, Bundle, Partner, ShareRequest, WitnessedLog


def _agency(user):
    membership = membership_of(user)
    if membership is None:
        raise NotFoundError("Not found.")
    return membership.agency


def partners_of(*, user) -> QuerySet[Partner]:
    return Partner.objects.filter(agency=_agency(user)).select_related("partner", "agreement").order_by("partner__code")


def witnessed_logs(*, user, partner: Partner | None = None) -> QuerySet[WitnessedLog]:
    """The partners' audit logs this agency's node witnesses (alarms first)."""
    logs = WitnessedLog.objects.filter(partner__agency=_agency(user)).select_related("partner__partner")
    if partner is not None:
        logs = logs.filter(partner=partner)
    return logs.order_by("-alarm", "partner__partner__code", "origin")


def partner_get(*, user, partner_id: int) -> Partner:
    partner = partners_of(user=user).filter(pk=partner_id).first()
    if partner is None:
        raise NotFoundError("No such partner.")
    return partner


def key_sets_of(*, user) -> QuerySet[AgencyKeySet]:
    return AgencyKeySet.objects.filter(agency=_agency(user), owner__isnull=True).order_by("-valid_from")


def key_set_get(*, user, key_set_id: int) -> AgencyKeySet:
    key_set = key_sets_of(user=user).filter(pk=key_set_id).first()
    if key_set is None:
        raise NotFoundError("No such key set.")
    return key_set


# --- trust anchors: the one place that says which keys of a partner an agency may use -----------


def partner_key_sets_on_record(*, partner: Partner) -> QuerySet[AgencyKeySet]:
    """Every key set `partner.agency` knows of its partner, verified or not (to show and to compare).

    An agency hosted here is known by its own keys; a remote one only by the cards this local agency
    imported itself: never by a card another local agency imported (C1).
    """
    if partner.partner.hosted_here:
        return AgencyKeySet.objects.filter(agency=partner.partner_id, owner__isnull=True)
    return AgencyKeySet.objects.filter(agency=partner.partner_id, owner=partner.agency_id)


def partner_key_sets_trusted(*, partner: Partner) -> QuerySet[AgencyKeySet]:
    """The key sets `partner.agency` may seal to and verify signatures with: none unless verified.

    For a remote partner, only the exact set whose fingerprint the admin compared; a newer card's
    keys wait for their own comparison. For an agency on this node, its genuine keys.
    """
    if partner.state != Partner.State.VERIFIED:
        return AgencyKeySet.objects.none()
    on_record = partner_key_sets_on_record(partner=partner)
    if partner.partner.hosted_here:
        return on_record
    if not partner.verified_signing_key_id or not partner.verified_encryption_key_id:
        return AgencyKeySet.objects.none()
    return on_record.filter(
        signing_key_id=partner.verified_signing_key_id, encryption_key_id=partner.verified_encryption_key_id
    )


def _current(key_sets: QuerySet[AgencyKeySet]) -> AgencyKeySet | None:
    now = timezone.now()
    return (
        key_sets.filter(revoked_at__isnull=True, valid_from__lte=now, valid_until__gt=now)
        .order_by("-valid_from")
        .first()
    )


def partner_keys_current(*, partner: Partner) -> AgencyKeySet | None:
    """The trusted key set to seal to now, or None (not verified, or its verified keys lapsed)."""
    return _current(partner_key_sets_trusted(partner=partner))


def partner_audit_log(*, partner: Partner) -> AuditLogId | None:
    """The audit log (origin, starting verifier key) named in the partner's verified card, or None.

    Only the trusted current key set's card counts: the one whose fingerprint this agency compared
    out of band, so the comparison vouches for which log this node witnesses for the partner (M3).
    None for an unverified partner, and for a card made before cards named their node's log."""
    key_set = partner_keys_current(partner=partner)
    if key_set is None:
        return None
    try:
        member = key_set.card["card"]["audit_log"]
        audit_log = AuditLogId(origin=member["origin"], vkey=member["vkey"])
        audit_log.validate()  # verified at import; a stored card is still not trusted to be well formed
    except (KeyError, TypeError, CardError):
        return None
    return audit_log


def partner_keys_latest(*, partner: Partner) -> AgencyKeySet | None:
    """The newest valid key set on record: what the admin compares when verifying."""
    return _current(partner_key_sets_on_record(partner=partner))


def bundles_of(*, user, direction: str, state: str = "") -> QuerySet[Bundle]:
    code = _agency(user).code
    field = "sender_code" if direction == Bundle.Direction.OUT else "recipient_code"
    bundles = Bundle.objects.filter(direction=direction, **{field: code}).defer("header")
    if state:
        bundles = bundles.filter(state=state)
    return bundles.order_by("-created_at")


def bundle_get(*, user, bundle_pk: int) -> Bundle:
    code = _agency(user).code
    bundle = (
        Bundle.objects.filter(pk=bundle_pk)
        .filter(Q(sender_code=code, direction="out") | Q(recipient_code=code, direction="in"))
        .first()
    )
    if bundle is None:
        raise NotFoundError("No such bundle.")
    return bundle


def sync_health(*, user) -> dict[str, dict[str, int]]:
    """Per partner: outgoing bundles by state, and incoming quarantined or held."""
    code = _agency(user).code
    health: dict[str, dict[str, int]] = {}
    outgoing = (
        Bundle.objects.filter(direction="out", sender_code=code)
        .values("recipient_code", "state")
        .annotate(n=Count("id"))
    )
    for row in outgoing:
        health.setdefault(row["recipient_code"], {})[f"out_{row['state']}"] = row["n"]
    incoming = (
        Bundle.objects.filter(direction="in", recipient_code=code)
        .values("sender_code", "state")
        .annotate(n=Count("id"))
    )
    for row in incoming:
        health.setdefault(row["sender_code"], {})[f"in_{row['state']}"] = row["n"]
    return health


def share_requests_pending(*, user) -> QuerySet[ShareRequest]:
    return ShareRequest.objects.filter(agency=_agency(user), state=ShareRequest.State.PENDING).select_related(
        "requested_by"
    )


def share_request_get(*, user, request_id: int) -> ShareRequest:
    request = ShareRequest.objects.filter(agency=_agency(user), pk=request_id).first()
    if request is None:
        raise NotFoundError("No such share request.")
    return request
