"""Node-to-node authentication: a partner's node presents the token we issued to it.

The caller becomes a `PartnerPrincipal`, not a user: it can reach only the exchange endpoints
that check for one, and everything it does is audited as that partner.
"""

from __future__ import annotations

import hmac

from rest_framework import authentication, exceptions
from rest_framework.permissions import BasePermission

from exchange.models import Partner
from exchange.services import token_hash


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
        digest = token_hash(token)
        for partner in Partner.objects.select_related("agency", "partner").filter(inbound_token_hash__isnull=False):
            if hmac.compare_digest(bytes(partner.inbound_token_hash), digest):
                if partner.state == Partner.State.SUSPENDED:
                    raise exceptions.AuthenticationFailed("This partnership is suspended.")
                return PartnerPrincipal(partner), partner
        raise exceptions.AuthenticationFailed("Unknown partner token.")

    def authenticate_header(self, request) -> str:
        return self.keyword


class IsPartner(BasePermission):
    message = "Only a partner node with its token may call this."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, PartnerPrincipal)
