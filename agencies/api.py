"""API: who am I."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView


class MeView(APIView):
    class MeSerializer(serializers.Serializer):
        username = serializers.CharField()
        full_name = serializers.CharField()
        agency = serializers.CharField()
        agency_name = serializers.CharField()
        role = serializers.CharField()
        authentication = serializers.CharField()

    @extend_schema(responses=MeSerializer, summary="The calling user, their agency and role")
    def get(self, request):
        membership = request.user.membership
        data = {
            "username": request.user.get_username(),
            "full_name": request.user.get_full_name(),
            "agency": membership.agency.code,
            "agency_name": membership.agency.name,
            "role": membership.role,
            "authentication": getattr(request.user, "_casebridge_auth", "session"),
        }
        return Response(self.MeSerializer(data).data)
