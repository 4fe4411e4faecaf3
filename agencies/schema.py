"""OpenAPI descriptions of Casebridge's authentication schemes (drf-spectacular)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "agencies.authentication.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Personal API token (cb_<prefix>_<secret>), created under Account > API tokens.",
        }


class VerifiedSessionScheme(OpenApiAuthenticationExtension):
    target_class = "agencies.authentication.VerifiedSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid", "description": "Browser session after MFA."}
