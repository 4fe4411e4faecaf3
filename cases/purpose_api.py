"""The declared purpose in the API: the same three fields on every endpoint that takes one
(query parameters on GET, body fields on POST); cases.purpose resolves and audits them."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from cases.purpose import PURPOSE_CODES, PURPOSE_TEXT_MAX

PURPOSE_HELP = {
    "purpose": "Why (default investigation): " + ", ".join(PURPOSE_CODES) + ".",
    "purpose_case": "Reference of a case you work on, as the purpose (e.g. NSP-2026-0001).",
    "purpose_text": "Free-text justification (audited as a commitment only).",
}

PURPOSE_PARAMETERS = [
    OpenApiParameter("purpose", str, enum=list(PURPOSE_CODES), description=PURPOSE_HELP["purpose"]),
    OpenApiParameter("purpose_case", str, description=PURPOSE_HELP["purpose_case"]),
    OpenApiParameter("purpose_text", str, description=PURPOSE_HELP["purpose_text"]),
]


class PurposeFields(serializers.Serializer):
    purpose = serializers.CharField(required=False, max_length=32, help_text=PURPOSE_HELP["purpose"])
    purpose_case = serializers.CharField(required=False, max_length=64, help_text=PURPOSE_HELP["purpose_case"])
    purpose_text = serializers.CharField(
        required=False, max_length=PURPOSE_TEXT_MAX, help_text=PURPOSE_HELP["purpose_text"]
    )
