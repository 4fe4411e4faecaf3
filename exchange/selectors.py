"""Reads for the exchange UI, scoped to the caller's agency."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from agencies.selectors import membership_of
from casebridge.errors import NotFoundError
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
    return AgencyKeySet.objects.filter(agency=_agency(user)).order_by("-valid_from")


def key_set_get(*, user, key_set_id: int) -> AgencyKeySet:
    key_set = key_sets_of(user=user).filter(pk=key_set_id).first()
    if key_set is None:
        raise NotFoundError("No such key set.")
    return key_set


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
