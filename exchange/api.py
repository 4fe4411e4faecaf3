"""Inter-agency API: the inbox partners push to, the feed they pull from, and agency cards."""

from __future__ import annotations

import tempfile

from django.conf import settings
from django.db import transaction
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.models import Agency
from audit.actions import Action, Outcome
from audit.capture import Actor, audit_record
from casebridge.api import problem_response
from casebridge.errors import CasebridgeError, NotFoundError, TooLargeError, UploadTooSlowError
from casebridge.lib.slow_upload import SlowUploadGuard
from exchange import keystore
from exchange.authentication import IsPartner, PartnerRateThrottle, PartnerTokenAuthentication
from exchange.inbox import inbox_receive
from exchange.models import Bundle


class RawBundleParser(BaseParser):
    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


class PartnerAPIView(APIView):
    """An endpoint for partner nodes only: their node token, their own request budget."""

    authentication_classes = [PartnerTokenAuthentication]
    permission_classes = [IsPartner]
    throttle_classes = [PartnerRateThrottle]


class InboxView(PartnerAPIView):
    """A partner node pushes one bundle (the raw file) addressed to an agency on this node."""

    parser_classes = [RawBundleParser]

    class InboxResultSerializer(serializers.Serializer):
        state = serializers.CharField()
        code = serializers.CharField()
        bundle_id = serializers.CharField()

    @extend_schema(
        request={"application/octet-stream": OpenApiTypes.BINARY},
        responses={202: InboxResultSerializer},
        summary="Receive a bundle (partner nodes only)",
    )
    def post(self, request):
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.EXCHANGE_MAX_BUNDLE_BYTES:  # refused before a byte of it is read
            _refuse_too_large(request, declared=length)
        # DRF gives no stream at all for an empty body: that is a rejected (truncated) bundle, not a 500.
        stream = request.stream
        guard = SlowUploadGuard(
            request.META, min_rate=settings.EXCHANGE_UPLOAD_MIN_BYTES_PER_SECOND, window=settings.EXCHANGE_UPLOAD_WINDOW
        )
        with tempfile.SpooledTemporaryFile(max_size=8 << 20) as body:
            copied = 0
            with guard:
                # Small reads, so the guard sees progress as it happens (each read waits for its size).
                while stream is not None and (chunk := stream.read(1 << 14)):
                    copied += len(chunk)
                    guard.received(len(chunk))
                    if copied > settings.EXCHANGE_MAX_BUNDLE_BYTES:  # a Content-Length that lied
                        _refuse_too_large(request, declared=length)
                    body.write(chunk)
            if guard.cut:
                _refuse_too_slow(request, received=copied, declared=length)
            body.seek(0)
            result = inbox_receive(src=body, via="push", pushed_by=request.auth)
        if not result.accepted:
            response = problem_response(status_code=422, title="Bundle rejected", detail=result.message, extra=None)
            response.data["code"] = result.code
            response.data["bundle_id"] = result.bundle_id
            return response
        return Response({"state": result.state, "code": result.code, "bundle_id": result.bundle_id}, status=202)


def _refusal_audit(request, reason: str) -> None:
    """A push refused before it became a bundle: audited (nothing of it is kept, so nothing to quarantine)."""
    code = request.auth.partner.code
    with transaction.atomic():
        audit_record(
            action=Action.BUNDLE_REJECT,
            actor=Actor(type="partner", id=code, name=code, auth="partner-token"),
            outcome=Outcome.FAILURE,
            agency=request.auth.agency.code,
            object_type="bundle",
            object_id="",
            reason=reason,
        )


def _refuse_too_large(request, *, declared: int) -> None:
    """413: keeping the bytes is what the limit prevents."""
    limit = settings.EXCHANGE_MAX_BUNDLE_BYTES
    _refusal_audit(request, f"too_large: more than {limit:,} bytes (declared {declared:,})")
    raise TooLargeError(f"Bundles are limited to {limit:,} bytes.")


def _refuse_too_slow(request, *, received: int, declared: int) -> None:
    """408: the body arrived slower than the node accepts; the connection was cut."""
    rate, window = settings.EXCHANGE_UPLOAD_MIN_BYTES_PER_SECOND, settings.EXCHANGE_UPLOAD_WINDOW
    _refusal_audit(
        request,
        f"too_slow: under {rate:,} bytes/s over {window:g} s ({received:,} of {declared:,} bytes received)",
    )
    raise UploadTooSlowError(f"The bundle arrived slower than {rate:,} bytes per second; send it again.")


class FeedView(PartnerAPIView):
    """Bundles addressed to the calling partner after a sequence number, for pulling."""

    class FeedItemSerializer(serializers.Serializer):
        bundle_id = serializers.UUIDField()
        kind = serializers.CharField()
        sequence = serializers.IntegerField()
        size = serializers.IntegerField()
        created_at = serializers.DateTimeField()

    @extend_schema(
        parameters=[OpenApiParameter("after", int, description="Last sequence number already received.")],
        responses=FeedItemSerializer(many=True),
        summary="Bundles for the calling partner (pull)",
    )
    def get(self, request):
        partner = request.auth
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            raise CasebridgeError("'after' must be an integer sequence number.") from None
        bundles = Bundle.objects.filter(
            direction=Bundle.Direction.OUT,
            sender_code=partner.agency.code,
            recipient_code=partner.partner.code,
            sequence__gt=after,
        ).order_by("sequence")[:500]
        return Response(self.FeedItemSerializer(bundles, many=True).data)


class BundleDownloadView(PartnerAPIView):
    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY}, summary="Download a bundle")
    def get(self, request, bundle_id):
        partner = request.auth
        bundle = Bundle.objects.filter(
            direction=Bundle.Direction.OUT,
            bundle_id=bundle_id,
            sender_code=partner.agency.code,
            recipient_code=partner.partner.code,
        ).first()
        if bundle is None:
            raise NotFoundError("No such bundle for you.")
        handle = open(bundle.path, "rb")  # FileResponse closes it
        # A partner node pulling a bundle is a disclosure under the sharing agreement: audited as such.
        with transaction.atomic():
            audit_record(
                action=Action.BUNDLE_PULL,
                actor=Actor(type="partner", id=partner.partner.code, name=partner.partner.code, auth="partner-token"),
                agency=partner.agency.code,
                object_type="bundle",
                object_id=str(bundle.bundle_id),
                purpose={"code": "sharing_agreement", "partner": partner.partner.code},
                recipients=[partner.partner.code],
                details={"kind": bundle.kind, "sequence": bundle.sequence},
            )
        return FileResponse(handle, content_type="application/octet-stream")


class AgencyCardView(APIView):
    """The current signed card of an agency hosted here: public, so partners can fetch it by URL."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(responses={200: OpenApiTypes.OBJECT}, summary="Signed agency card (public)")
    def get(self, request, code: str):
        agency = Agency.objects.filter(code=code, hosted_here=True).first()
        keys = keystore.key_set_current(agency) if agency else None
        if keys is None:
            raise NotFoundError("No agency card here under that code.")
        return Response(keys.card)


class WitnessView(PartnerAPIView):
    """Partner nodes ask this node to cosign their audit checkpoints (and what it last cosigned)."""

    class WitnessRequestSerializer(serializers.Serializer):
        note = serializers.CharField(max_length=10_000, trim_whitespace=False)
        old_size = serializers.IntegerField(min_value=0)
        proof = serializers.ListField(child=serializers.CharField(max_length=64), max_length=128)
        log_vkey = serializers.CharField(max_length=300)
        handovers = serializers.ListField(
            child=serializers.DictField(), required=False, max_length=16,
            help_text="Checkpoints signed by the log's old and new key (note, new_vkey, proof), oldest first, "
            "when the log's key changed since this node last cosigned it.",
        )  # fmt: skip

    class WitnessStateSerializer(serializers.Serializer):
        last_size = serializers.IntegerField()
        witness_vkey = serializers.CharField(help_text="This node's own cosigner key (not its audit key).")

    class CosignatureSerializer(serializers.Serializer):
        line = serializers.CharField()
        vkey = serializers.CharField()

    @extend_schema(
        parameters=[OpenApiParameter("origin", str, required=True)],
        responses=WitnessStateSerializer,
        summary="Last size of your log this node cosigned",
    )
    def get(self, request):
        from exchange.models import WitnessedLog
        from exchange.witness import witness_vkey

        log = WitnessedLog.objects.filter(origin=request.query_params.get("origin", ""), partner=request.auth).first()
        return Response({"last_size": log.last_size if log else 0, "witness_vkey": witness_vkey()})

    @extend_schema(request=WitnessRequestSerializer, responses=CosignatureSerializer, summary="Cosign a checkpoint")
    def post(self, request):
        import base64

        from exchange.witness import Handover, checkpoint_cosign

        data = self.WitnessRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            proof = [base64.b64decode(h, validate=True) for h in data.validated_data["proof"]]
            handovers = [
                Handover(
                    note=str(h["note"])[:10_000],
                    new_vkey=str(h["new_vkey"])[:300],
                    proof=[base64.b64decode(p, validate=True) for p in h.get("proof", [])[:128]],
                )
                for h in data.validated_data.get("handovers", [])
            ]
        except (ValueError, TypeError, KeyError):  # binascii.Error, a character outside ASCII, a missing field
            raise CasebridgeError("proof hashes must be base64, and each hand-over needs note and new_vkey.") from None
        cosigned = checkpoint_cosign(
            partner=request.auth,
            note_text=data.validated_data["note"],
            old_size=data.validated_data["old_size"],
            proof=proof,
            log_vkey=data.validated_data["log_vkey"],
            handovers=handovers,
        )
        return Response({"line": cosigned.line, "vkey": cosigned.vkey})
