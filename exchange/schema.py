"""OpenAPI description of the partner-node authentication (drf-spectacular)."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class PartnerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "exchange.authentication.PartnerTokenAuthentication"
    name = "partnerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "'Partner cbp_<token>': the token this node issued to the calling partner node.",
        }
