"""API authentication: personal tokens (scripts, partner systems) and MFA-verified sessions."""

from __future__ import annotations

import hmac

from django.utils import timezone
from rest_framework import authentication, exceptions

from agencies.models import ApiToken
from agencies.services import TOKEN_PREFIX, token_hash


class ApiTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer cb_<prefix>_<secret>`; only the SHA-256 of the secret is stored."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, secret = header.partition(" ")
        if scheme != self.keyword:
            return None
        parts = secret.strip().split("_", 2)
        if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
            raise exceptions.AuthenticationFailed("Malformed API token.")
        token = ApiToken.objects.select_related("user__membership__agency").filter(prefix=parts[1]).first()
        if token is None or not hmac.compare_digest(bytes(token.key_hash), token_hash(secret.strip())):
            raise exceptions.AuthenticationFailed("Invalid API token.")
        now = timezone.now()
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed("This API token was revoked.")
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed("This API token has expired; create a new one.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("The token's user is deactivated.")
        # Compare-and-set keeps the write off the hot path: at most one update a minute per token.
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.user._casebridge_auth = "token"
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class VerifiedSessionAuthentication(authentication.SessionAuthentication):
    """A browser session counts only after the one-time code was given (django-otp verified)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, auth = result
        underlying = request._request.user
        if not getattr(underlying, "is_verified", lambda: False)():
            return None
        user._casebridge_auth = "password+totp"
        return user, auth
