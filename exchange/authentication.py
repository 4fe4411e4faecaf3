"""Node-to-node authentication: a partner's node presents the token we issued to it.

The caller becomes a `PartnerPrincipal`, not a user: it can reach only the exchange endpoints
that check for one, and everything it does is audited as that partner.
"""

from __future__ import annotations

from django.db import transaction
from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from agencies.services import token_hash
from audit.actions import Action, Outcome
from audit.capture import Actor, audit_record
from casebridge.middleware import client_address
from exchange.models import Partner


class PartnerPrincipal:
    is_authenticated = True
    is_active = True
    is_anonymous = False
    pk = None

    def __init__(self, partner: Partner) -> None:
        self.partner = partner

    def get_username(self) -> str:
        return f"partner:{self.partner.partner.code}"

    def is_verified(self) -> bool:
        return False


class PartnerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Partner"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword:
            return None
        token = token.strip()
        if not token.startswith("cbp_"):
            raise exceptions.AuthenticationFailed("Malformed partner token.")
        # Tokens carry 256 random bits, so looking a partner up by the token's hash is safe: one
        # indexed query instead of comparing against every partner's hash on each request.
        partner = (
            Partner.objects.select_related("agency", "partner").filter(inbound_token_hash=token_hash(token)).first()
        )
        if partner is None:
            raise exceptions.AuthenticationFailed("Unknown partner token.")
        if partner.state != Partner.State.VERIFIED:
            # A token is only as trusted as the partnership it was issued on: one an admin issued on an
            # unverified (possibly self-made) partner, or a suspended one, opens nothing (C1).
            _refusal_audit(request, partner)
            if partner.state == Partner.State.SUSPENDED:
                raise exceptions.PermissionDenied("This partnership is suspended.")
            raise exceptions.PermissionDenied(
                "This partnership is not verified: its fingerprints must be compared before its node is let in."
            )
        return PartnerPrincipal(partner), partner

    def authenticate_header(self, request) -> str:
        return self.keyword


def _refusal_audit(request, partner: Partner) -> None:
    """The refusal is recorded in its own transaction, so the error that follows cannot undo it."""
    with transaction.atomic():
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=Actor(type="partner", id=partner.partner.code, name=partner.partner.code, auth="partner-token"),
            outcome=Outcome.DENIED,
            agency=partner.agency.code,
            object_type="partner",
            object_id=partner.pk,
            reason=f"node token of a {partner.state} partnership refused on {request.method} {request.path}"[:500],
        )


class IsPartner(BasePermission):
    message = "Only a partner node with its token may call this."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, PartnerPrincipal)


class PartnerRateThrottle(SimpleRateThrottle):
    """One request budget per calling partner (PARTNER_RATE, 600/min by default), so a partner node
    that floods us slows down only itself; checked before the body is read. Without a partner the
    caller is refused by authentication anyway; it is counted by address until then."""

    scope = "partner"

    def get_rate(self) -> str:
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]  # read now: settings may change in tests

    def get_cache_key(self, request, view) -> str:
        partner = getattr(request.user, "partner", None)
        # Not DRF's get_ident: it believes any X-Forwarded-For; client_address only a trusted proxy's.
        ident = f"partner-{partner.pk}" if partner is not None else client_address(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
