"""Every answered request of a declared route leaves its audit entry (audit/routes.py).

The view runs first. If it wrote an entry of its own that is still alive after its transactions
(see `audit.capture.RequestTrail`), that specific entry stands and nothing more is written. A
refusal entry that the refusal's own transaction rolled back is written again here, after the
view and outside its transactions. Otherwise one generic entry is written from the route's row:
one INSERT into the pending queue, like any other entry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url

from audit.actions import Action, Outcome
from audit.capture import (
    Actor,
    RequestTrail,
    actor_for_user,
    audit_record,
    request_trail,
    request_trail_replay_lost_refusals,
)
from audit.routes import CASE, SAFE_METHODS, Kind, Route, route_for

logger = logging.getLogger(__name__)

# Query parameters that name no person, no case content and no search term: kept in the clear
# in `details.query`. Any other parameter puts the whole query string behind a commitment.
PLAIN_QUERY_KEYS = frozenset(
    {
        "page", "page_size", "format", "status", "state", "direction", "index", "first", "second",
        "tree_size", "tlp", "ordering", "kind", "date_from", "date_to", "origin", "after", "limit",
        "purpose", "action", "outcome", "next",
    }
)  # fmt: skip
QUERY_MAX = 500
REFUSED_STATUSES = frozenset({401, 403, 404, 429})
_REASONS = {
    401: "not authenticated",
    403: "refused: the role or the object's access does not allow it",
    404: "not found, or not visible to this user",
    429: "rate limited",
}
LOGIN_REDIRECT_REASON = "not signed in (or no one-time code yet): sent to the login page"
UNDECLARED = Route(Kind.READ, Action.PAGE_VIEW, "page", purpose="undeclared")


def request_actor(request: HttpRequest) -> Actor:
    """The actor of a request: a user (DRF sets the token's user on the request too), a partner's
    node presenting its token (`exchange.authentication.PartnerPrincipal`), or anonymous."""
    user = getattr(request, "user", None)
    partnership = getattr(user, "partner", None)
    if partnership is not None:
        code = partnership.partner.code
        return Actor(type="partner", id=code, name=code, auth="partner-token", agency=partnership.agency.code)
    return actor_for_user(user)


def _login_paths() -> tuple[str, ...]:
    return (resolve_url(settings.LOGIN_URL), "/operator/login/")


def _sent_to_login(response: HttpResponse) -> bool:
    if response.status_code not in (301, 302, 303):
        return False
    return urlsplit(response.get("Location", "")).path in _login_paths()


def _query(request: HttpRequest) -> tuple[dict[str, str], dict[str, str]]:
    """(details, sensitive) for the query string: plain keys in the clear, anything else committed."""
    raw = request.META.get("QUERY_STRING", "")
    if not raw:
        return {}, {}
    keys = {key for key, _value in parse_qsl(raw, keep_blank_values=True)}
    if keys <= PLAIN_QUERY_KEYS:
        return {"query": raw[:QUERY_MAX]}, {}
    return {"query_keys": ",".join(sorted(keys))[:QUERY_MAX]}, {"query": raw[:QUERY_MAX]}


def route_entry_write(request: HttpRequest, response: HttpResponse, route: Route, url_name: str) -> None:
    """The one generic entry for a request whose view wrote none (see the module docstring)."""
    match = request.resolver_match
    kwargs = match.kwargs if match is not None else {}
    object_id = str(kwargs.get(route.object_kwarg, ""))[:64] if route.object_kwarg else ""
    status = response.status_code
    method = request.method or ""
    details: dict[str, object] = {"route": url_name, "method": method, "status": status}
    actor = request_actor(request)
    if status in REFUSED_STATUSES or _sent_to_login(response):
        reason = LOGIN_REDIRECT_REASON if status < 400 else _REASONS[status]
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor,
            outcome=Outcome.DENIED,
            object_type=route.object_type or "page",
            object_id=object_id or request.path[:64],
            reason=reason,
            details=details,
        )
        return
    query, sensitive = _query(request)
    details.update(query)
    if route.purpose == CASE and "case_id" in kwargs:
        purpose = {"code": CASE, "case_id": str(kwargs["case_id"])}
    else:
        purpose = {"code": route.purpose} if route.purpose else {}
    action = route.action_for(method) if route.action else Action.PAGE_VIEW
    if status >= 400:
        outcome, reason = Outcome.FAILURE, f"answered {status}"
        purpose = {}  # nothing was consulted: the purpose is what a read declares
    elif method in SAFE_METHODS or route.kind == Kind.READ:
        outcome, reason = Outcome.SUCCESS, ""
    else:
        outcome, reason = Outcome.FAILURE, f"no change audited (answered {status})"
    audit_record(
        action=action,
        actor=actor,
        outcome=outcome,
        object_type=route.object_type,
        object_id=object_id,
        reason=reason,
        details=details,
        sensitive=sensitive,
        purpose=purpose,
    )


class RouteAuditMiddleware:
    """Writes the entry a declared route owes when its view wrote none (audit/routes.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        trail = RequestTrail()
        token = request_trail.set(trail)
        try:
            response = self.get_response(request)
        finally:
            request_trail.reset(token)
        self.complete(request, response, trail)
        return response

    def complete(self, request: HttpRequest, response: HttpResponse, trail: RequestTrail) -> None:
        match = getattr(request, "resolver_match", None)
        if match is None:
            return  # no route answered (an unknown path, a NUL refused before resolving)
        route = route_for(match.url_name, match.namespaces)
        if route is None:
            # tests/hardening/test_audit_completeness.py fails for this; in production the
            # request is still logged rather than lost.
            logger.error("URL %s has no row in audit/routes.py", match.view_name)
            route = UNDECLARED
        if route.kind == Kind.PUBLIC:
            return
        request_trail_replay_lost_refusals(trail)
        if trail.surviving() or any(mark.committed for mark in trail.marks):
            return
        if route.budgeted:
            # The sign-in view audited the attempt, or counted it into its source's budget (L5); the
            # form itself shows no one's data, and logging each GET would let anyone grow the log.
            return
        route_entry_write(request, response, route, match.view_name)
