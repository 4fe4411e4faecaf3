"""Hash lookups (exact and PDQ near-match) and hash set listings. Every lookup is audited."""

from __future__ import annotations

import binascii

import numpy as np
from django.conf import settings
from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.policy import role_permission
from audit.actions import Action
from audit.capture import actor_for_user, audit_record
from casebridge.errors import CasebridgeError
from cases.purpose import Purpose, purpose_from
from cases.purpose_api import PURPOSE_PARAMETERS, PurposeFields
from hashsets import selectors
from hashsets.pdq_service import pdq_index_current
from hashsets.throttles import lookup_budget_charge

ALGORITHMS = selectors.LOOKUP_ALGORITHMS


def _digest(algorithm: str, text: str, where: str) -> bytes:
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        raise CasebridgeError(f"{where}: unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}.")
    expected = ALGORITHMS[algorithm] * 2
    text = text.strip()
    if len(text) != expected:
        raise CasebridgeError(f"{where}: a {algorithm} digest has {expected} hexadecimal characters, got {len(text)}.")
    try:
        return binascii.unhexlify(text)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise CasebridgeError(f"{where}: {algorithm} digest is not hexadecimal.") from None


class ClassificationSerializer(serializers.Serializer):
    agency = serializers.CharField()
    hashset = serializers.CharField()
    hashset_id = serializers.IntegerField()
    scheme = serializers.CharField()
    category_code = serializers.CharField()
    category = serializers.CharField()
    victim_identified = serializers.BooleanField(allow_null=True)
    offender_identified = serializers.BooleanField(allow_null=True)
    distributed = serializers.BooleanField(allow_null=True)
    series = serializers.ListField(child=serializers.CharField())


class HitSerializer(serializers.Serializer):
    algorithm = serializers.CharField()
    hex = serializers.SerializerMethodField()
    known = serializers.BooleanField()
    agencies_disagree = serializers.BooleanField()
    classifications = ClassificationSerializer(many=True)

    def get_hex(self, hit) -> str:
        return hit.digest.hex()


# Every lookup records its declared purpose (cases.purpose): a code, default "investigation", or a
# case the caller works on; free text only as a salted commitment.


def _audited_lookup(request, items: list[tuple[str, bytes]], *, via: str, purpose: Purpose):
    lookup_budget_charge(user=request.user, digests=len(items))
    with transaction.atomic():
        hits = selectors.hash_lookup(user=request.user, items=items)
        audit_record(
            action=Action.HASH_LOOKUP,
            actor=actor_for_user(request.user),
            object_type="hash_batch",
            details={"digests": len(items), "known": sum(1 for h in hits if h.known), "via": via},
            purpose=purpose.audit,
            sensitive=purpose.sensitive or None,
        )
    return hits


class HashLookupOneView(APIView):
    permission_classes = [role_permission("hashsets.view")]  # the pages' policy too

    @extend_schema(
        parameters=PURPOSE_PARAMETERS,
        responses=HitSerializer,
        summary="Classifications your agency may see for one digest",
    )
    def get(self, request, algorithm: str, hex_digest: str):
        digest = _digest(algorithm, hex_digest, "digest")
        purpose = purpose_from(user=request.user, values=request.query_params)
        hits = _audited_lookup(request, [(algorithm.lower(), digest)], via="single", purpose=purpose)
        return Response(HitSerializer(hits[0]).data)


class HashLookupBatchView(APIView):
    permission_classes = [role_permission("hashsets.view")]  # the pages' policy too

    class HashLookupRequestSerializer(PurposeFields):
        class DigestItemSerializer(serializers.Serializer):
            algorithm = serializers.ChoiceField(choices=list(ALGORITHMS))
            hex = serializers.CharField(max_length=288)

        hashes = DigestItemSerializer(many=True, allow_empty=False)

    class HashLookupResultSerializer(serializers.Serializer):
        results = HitSerializer(many=True)
        known = serializers.IntegerField()
        unknown = serializers.IntegerField()

    @extend_schema(
        request=HashLookupRequestSerializer,
        responses=HashLookupResultSerializer,
        summary="Batch lookup of up to 10,000 digests of mixed algorithms",
    )
    def post(self, request):
        raw = request.data.get("hashes") if isinstance(request.data, dict) else None
        if isinstance(raw, list) and len(raw) > settings.HASH_LOOKUP_MAX_BATCH:
            raise CasebridgeError(
                f"At most {settings.HASH_LOOKUP_MAX_BATCH:,} digests per request; split the batch ({len(raw):,} given)."
            )
        data = self.HashLookupRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        items = [
            (item["algorithm"], _digest(item["algorithm"], item["hex"], f"hashes[{n}]"))
            for n, item in enumerate(data.validated_data["hashes"])
        ]
        purpose = purpose_from(user=request.user, values=data.validated_data)
        hits = _audited_lookup(request, items, via="batch", purpose=purpose)
        known = sum(1 for hit in hits if hit.known)
        return Response(
            self.HashLookupResultSerializer({"results": hits, "known": known, "unknown": len(hits) - known}).data
        )


class PdqMatchView(APIView):
    permission_classes = [role_permission("hashsets.view")]  # the pages' policy too

    class PdqMatchRequestSerializer(PurposeFields):
        class PdqItemSerializer(serializers.Serializer):
            hex = serializers.CharField(min_length=64, max_length=64)
            quality = serializers.IntegerField(min_value=0, max_value=100)

        hashes = PdqItemSerializer(many=True, allow_empty=False, max_length=1000)
        radius = serializers.IntegerField(min_value=0, max_value=64, default=31)

    class PdqMatchSerializer(serializers.Serializer):
        hex = serializers.CharField()
        distance = serializers.IntegerField()
        classifications = ClassificationSerializer(many=True)

    class PdqResultSerializer(serializers.Serializer):
        hex = serializers.CharField()
        matches = serializers.ListField(child=serializers.DictField())

    class PdqResponseSerializer(serializers.Serializer):
        radius = serializers.IntegerField()
        results = serializers.ListField(child=serializers.DictField())

    @extend_schema(
        request=PdqMatchRequestSerializer,
        responses=PdqResponseSerializer,
        summary="PDQ near-matches within a Hamming radius (default 31)",
    )
    def post(self, request):
        data = self.PdqMatchRequestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        queries = data.validated_data["hashes"]
        radius = data.validated_data["radius"]
        for n, item in enumerate(queries):
            if item["quality"] < settings.PDQ_MIN_QUALITY:
                raise CasebridgeError(
                    f"hashes[{n}]: PDQ quality {item['quality']} is below {settings.PDQ_MIN_QUALITY}; "
                    "such hashes (flat or tiny pictures) match too much to be useful.",
                )
        codes = [_digest("pdq", item["hex"], f"hashes[{n}]") for n, item in enumerate(queries)]
        purpose = purpose_from(user=request.user, values=data.validated_data)
        lookup_budget_charge(user=request.user, digests=len(codes))
        index = pdq_index_current()
        found = index.search(np.frombuffer(b"".join(codes), dtype=np.uint8).reshape(-1, 32), radius=radius)
        media_ids = {media_id for matches in found for media_id, _ in matches}
        with transaction.atomic():
            visible = selectors.classifications_visible(user=request.user, media_ids=media_ids)
            from hashsets.models import Media

            codes_by_id = dict(Media.objects.filter(pk__in=media_ids).values_list("pk", "pdq"))
            audit_record(
                action=Action.HASH_MATCH_PDQ,
                actor=actor_for_user(request.user),
                object_type="hash_batch",
                details={"queries": len(codes), "radius": radius, "matched": sum(1 for m in found if m)},
                purpose=purpose.audit,
                sensitive=purpose.sensitive or None,
            )
        results = []
        for code, matches in zip(codes, found, strict=True):
            shown = [
                {"hex": bytes(codes_by_id[media_id]).hex(), "distance": distance, "classifications": visible[media_id]}
                for media_id, distance in matches
                if visible.get(media_id)  # a match only counts where the caller may see an opinion of it
            ]
            results.append({"hex": code.hex(), "matches": shown})
        return Response({"radius": radius, "results": results})


class HashSetSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    owner = serializers.CharField(source="owner.code")
    name = serializers.CharField()
    version = serializers.IntegerField()
    description = serializers.CharField()
    tlp = serializers.CharField()
    scheme = serializers.CharField()
    updated_at = serializers.DateTimeField()


class HashSetListView(ListAPIView):
    permission_classes = [role_permission("hashsets.view")]  # the pages' policy too

    serializer_class = HashSetSerializer

    @extend_schema(parameters=[OpenApiParameter("q", str, description="Name contains")])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        sets = selectors.hashsets_visible(user=self.request.user).order_by("owner__code", "name")
        search = self.request.query_params.get("q")
        return sets.filter(name__icontains=search) if search else sets
