"""Audit API: the latest checkpoint and RFC 9162 proofs (hashes only), entries for auditors."""

from __future__ import annotations

import base64

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.permissions import role_permission
from agencies.selectors import audit_scope_of
from audit import selectors, services
from casebridge.errors import CasebridgeError, NotFoundError


@extend_schema_field(OpenApiTypes.BYTE)
class Base64Field(serializers.Field):
    def to_representation(self, value: bytes) -> str:
        return base64.b64encode(bytes(value)).decode()


class CheckpointView(APIView):
    permission_classes = [role_permission("audit.proofs")]

    class CheckpointSerializer(serializers.Serializer):
        size = serializers.IntegerField()
        root_hash = Base64Field(help_text="base64 SHA-256 root (RFC 9162)")
        note = serializers.CharField(help_text="C2SP signed note (tlog-checkpoint)")
        created_at = serializers.DateTimeField()

    @extend_schema(responses=CheckpointSerializer, summary="Latest signed checkpoint of the audit log")
    def get(self, request):
        latest = selectors.checkpoint_latest()
        if latest is None:
            raise NotFoundError("No checkpoint has been signed yet.")
        return Response(self.CheckpointSerializer(latest).data)


class InclusionProofView(APIView):
    permission_classes = [role_permission("audit.proofs")]

    class InclusionProofSerializer(serializers.Serializer):
        index = serializers.IntegerField()
        tree_size = serializers.IntegerField()
        leaf_hash = Base64Field()
        inclusion_path = serializers.ListField(child=Base64Field())

    @extend_schema(
        parameters=[
            OpenApiParameter("index", int, required=True),
            OpenApiParameter("tree_size", int, required=False, description="Defaults to the latest checkpoint."),
        ],
        responses=InclusionProofSerializer,
        summary="RFC 9162 inclusion proof of an entry at a tree size",
    )
    def get(self, request):
        index = _int_param(request, "index")
        size = _int_param(request, "tree_size", required=False)
        proof = selectors.inclusion_proof(index=index, size=size)
        return Response(self.InclusionProofSerializer(proof).data)


class ConsistencyProofView(APIView):
    permission_classes = [role_permission("audit.proofs")]

    class ConsistencyProofSerializer(serializers.Serializer):
        first = serializers.IntegerField()
        second = serializers.IntegerField()
        consistency_path = serializers.ListField(child=Base64Field())

    @extend_schema(
        parameters=[OpenApiParameter("first", int, required=True), OpenApiParameter("second", int, required=True)],
        responses=ConsistencyProofSerializer,
        summary="RFC 9162 consistency proof between two tree sizes",
    )
    def get(self, request):
        proof = selectors.consistency_proof(first=_int_param(request, "first"), second=_int_param(request, "second"))
        return Response(self.ConsistencyProofSerializer(proof).data)


class EntryView(APIView):
    permission_classes = [role_permission("audit.review")]

    class AuditEntrySerializer(serializers.Serializer):
        index = serializers.IntegerField()
        entry = serializers.JSONField()
        canonical = serializers.CharField()
        leaf_hash = Base64Field()

    @extend_schema(responses=AuditEntrySerializer, summary="One audit entry (auditors only)")
    def get(self, request, index: int):
        import json

        entry = selectors.audit_entry_get(index=index, scope=audit_scope_of(request.user))
        services.audit_view_record(acting_user=request.user, what="audit_entry", object_id=index)
        data = {
            "index": entry.index,
            "entry": json.loads(entry.canonical),
            "canonical": entry.canonical,
            "leaf_hash": entry.leaf_hash,
        }
        return Response(self.AuditEntrySerializer(data).data)


def _int_param(request, name: str, *, required: bool = True) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise CasebridgeError(f"The query parameter {name!r} is required.")
        return None
    try:
        return int(raw)
    except ValueError:
        raise CasebridgeError(f"The query parameter {name!r} must be an integer, got {raw[:20]!r}.") from None
