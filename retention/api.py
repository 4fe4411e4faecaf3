"""Retention API: rules, the review queue and reviews, erasure, legal holds, tombstones, report.

Same rules as the web pages; errors are problem details. Serializer class names are globally
unique (they become OpenAPI component names), hence the `Retention` prefix.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.policy import role_permission
from casebridge.api import PaginatedView, paginated
from retention import reports, selectors, services
from retention.models import RecordKind

KIND_HELP = "Kind of record: " + ", ".join(RecordKind.values)


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class RetentionRuleSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    review_after_days = serializers.IntegerField()
    erase_after_days = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class RetentionRulesView(PaginatedView):
    permission_classes = [
        role_permission("retention.rules.view", writes="retention.rules.change")
    ]  # agencies.policy: the pages' guard too

    class RetentionRuleInputSerializer(serializers.Serializer):
        kind = serializers.CharField(max_length=20, help_text=KIND_HELP)
        status = serializers.CharField(required=False, allow_blank=True, default="", max_length=12)
        review_after_days = serializers.IntegerField(min_value=1)
        erase_after_days = serializers.IntegerField(min_value=1)

    @extend_schema(responses=RetentionRuleSerializer(many=True), summary="Your agency's retention rules")
    def get(self, request):
        return paginated(request, self, selectors.rules_for_user(user=request.user), RetentionRuleSerializer)[2]

    @extend_schema(
        request=RetentionRuleInputSerializer,
        responses={200: RetentionRuleSerializer},
        summary="Create or change a rule (agency admins)",
    )
    def post(self, request):
        data = _validated(self.RetentionRuleInputSerializer, request.data)
        rule = services.retention_rule_set(acting_user=request.user, **data)
        return Response(RetentionRuleSerializer(rule).data)


class RetentionRuleView(APIView):
    permission_classes = [role_permission("retention.rules.change")]  # agencies.policy: the pages' guard too

    @extend_schema(responses={204: None}, summary="Remove a rule (agency admins)")
    def delete(self, request, rule_id: int):
        services.retention_rule_delete(acting_user=request.user, rule_id=rule_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RetentionDueRecordSerializer(serializers.Serializer):
    kind = serializers.CharField()
    object_id = serializers.IntegerField()
    label = serializers.CharField()
    case_id = serializers.IntegerField(allow_null=True)
    case_reference = serializers.CharField()
    status = serializers.CharField()
    last_change = serializers.DateTimeField(source="anchor_at")
    review_at = serializers.DateTimeField()
    erase_at = serializers.DateTimeField()
    decision = serializers.CharField()
    rule_id = serializers.IntegerField()


class RetentionQueueView(PaginatedView):
    permission_classes = [role_permission("retention.review")]  # agencies.policy: the pages' guard too

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=RetentionDueRecordSerializer(many=True),
        summary="Records due for review that you review (case leads: their cases; supervisors: the agency)",
    )
    def get(self, request):
        queue = selectors.review_queue(user=request.user)
        services.queue_view_record(acting_user=request.user, what="review_queue", count=queue.total)
        return paginated(request, self, queue.items, RetentionDueRecordSerializer)[2]


class RetentionReviewStateSerializer(serializers.Serializer):
    kind = serializers.CharField()
    object_id = serializers.IntegerField()
    decision = serializers.CharField()
    review_at = serializers.DateTimeField(allow_null=True)
    erase_at = serializers.DateTimeField(allow_null=True)
    decided_at = serializers.DateTimeField()


class RetentionReviewView(APIView):
    permission_classes = [role_permission("retention.review")]  # agencies.policy: the pages' guard too

    class RetentionReviewInputSerializer(serializers.Serializer):
        kind = serializers.CharField(max_length=20, help_text=KIND_HELP)
        object_id = serializers.IntegerField(min_value=1)
        decision = serializers.ChoiceField(choices=["extend", "release"])
        review_on = serializers.DateField(required=False, allow_null=True)
        reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    @extend_schema(
        request=RetentionReviewInputSerializer,
        responses=RetentionReviewStateSerializer,
        summary="Extend a record (reason and next review date required) or let it go",
    )
    def post(self, request):
        data = _validated(self.RetentionReviewInputSerializer, request.data)
        if data["decision"] == "extend":
            state = services.review_extend(
                acting_user=request.user, kind=data["kind"], object_id=data["object_id"], reason=data["reason"],
                review_on=data.get("review_on"),
            )  # fmt: skip
        else:
            state = services.review_release(
                acting_user=request.user, kind=data["kind"], object_id=data["object_id"], reason=data["reason"]
            )
        return Response(RetentionReviewStateSerializer(state).data)


class RetentionTombstoneSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    object_id = serializers.IntegerField()
    label = serializers.CharField()
    case_reference = serializers.CharField()
    erased_at = serializers.DateTimeField()
    erased_via = serializers.CharField()
    erased_by = serializers.CharField(source="erased_by.username", allow_null=True, default=None)
    rule = serializers.JSONField(source="rule_snapshot")
    details = serializers.JSONField()


class RetentionErasureView(APIView):
    permission_classes = [role_permission("retention.erase")]  # agencies.policy: the pages' guard too

    class RetentionErasureInputSerializer(serializers.Serializer):
        kind = serializers.CharField(max_length=20, help_text=KIND_HELP)
        object_id = serializers.IntegerField(min_value=1)

    @extend_schema(
        request=RetentionErasureInputSerializer,
        responses={201: RetentionTombstoneSerializer},
        summary="Erase a record now (supervisors; past its deadline or let go; never under legal hold)",
    )
    def post(self, request):
        data = _validated(self.RetentionErasureInputSerializer, request.data)
        tombstone = services.record_erase(acting_user=request.user, kind=data["kind"], object_id=data["object_id"])
        return Response(RetentionTombstoneSerializer(tombstone).data, status=status.HTTP_201_CREATED)


class RetentionTombstonesView(PaginatedView):
    permission_classes = [role_permission("retention.tombstones.view")]  # agencies.policy: the pages' guard too

    @extend_schema(
        parameters=[OpenApiParameter("page", int), OpenApiParameter("page_size", int)],
        responses=RetentionTombstoneSerializer(many=True),
        summary="Tombstones of your agency's erased records",
    )
    def get(self, request):
        tombstones = selectors.tombstones_of(user=request.user)
        return paginated(request, self, tombstones, RetentionTombstoneSerializer)[2]


class RetentionLegalHoldSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    case_id = serializers.IntegerField()
    case_reference = serializers.CharField(source="case.reference")
    placed_by = serializers.CharField(source="placed_by.username")
    placed_at = serializers.DateTimeField()
    lifted_by = serializers.CharField(source="lifted_by.username", allow_null=True, default=None)
    lifted_at = serializers.DateTimeField(allow_null=True)


class RetentionLegalHoldsView(PaginatedView):
    permission_classes = [role_permission("retention.holds.view")]  # agencies.policy: the pages' guard too

    @extend_schema(
        parameters=[OpenApiParameter("all", bool, description="Include lifted holds")],
        responses=RetentionLegalHoldSerializer(many=True),
        summary="Legal holds of your agency (supervisors, auditors)",
    )
    def get(self, request):
        active_only = request.query_params.get("all") not in ("1", "true")
        holds = selectors.legal_holds_of(user=request.user, active_only=active_only)
        return paginated(request, self, holds, RetentionLegalHoldSerializer)[2]


class RetentionHoldReasonSerializer(serializers.Serializer):
    # Not required here: the service checks the case and the role first (404/403), then the reason.
    reason = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class RetentionLegalHoldPlaceView(APIView):
    @extend_schema(
        request=RetentionHoldReasonSerializer,
        responses={201: RetentionLegalHoldSerializer},
        summary="Place a case on legal hold (supervisors; a reason is required)",
    )
    def post(self, request, case_id: int):
        data = _validated(RetentionHoldReasonSerializer, request.data)
        hold = services.legal_hold_place(acting_user=request.user, case_id=case_id, reason=data["reason"])
        return Response(RetentionLegalHoldSerializer(hold).data, status=status.HTTP_201_CREATED)


class RetentionLegalHoldLiftView(APIView):
    @extend_schema(
        request=RetentionHoldReasonSerializer,
        responses=RetentionLegalHoldSerializer,
        summary="Lift a case's legal hold (supervisors; a reason is required)",
    )
    def post(self, request, case_id: int):
        data = _validated(RetentionHoldReasonSerializer, request.data)
        hold = services.legal_hold_lift(acting_user=request.user, case_id=case_id, reason=data["reason"])
        return Response(RetentionLegalHoldSerializer(hold).data)


class RetentionReportView(APIView):
    permission_classes = [role_permission("retention.report")]  # agencies.policy: the pages' guard too

    class RetentionReportQuerySerializer(serializers.Serializer):
        date_from = serializers.DateField()
        date_to = serializers.DateField()

        def validate(self, attrs):
            if attrs["date_from"] > attrs["date_to"]:
                raise serializers.ValidationError("The period ends before it starts.")
            return attrs

    class RetentionReportSerializer(serializers.Serializer):
        agency = serializers.CharField()
        time_from = serializers.DateTimeField()
        time_to = serializers.DateTimeField()
        generated_at = serializers.DateTimeField()
        entries = serializers.IntegerField()
        without_purpose = serializers.IntegerField()
        rows = serializers.ListField(child=serializers.DictField())
        by_purpose = serializers.ListField(child=serializers.ListField())
        by_user = serializers.ListField(child=serializers.ListField())
        by_agency = serializers.ListField(child=serializers.ListField())
        by_recipient = serializers.ListField(child=serializers.ListField())
        reviews = serializers.ListField(child=serializers.ListField())
        erasures = serializers.ListField(child=serializers.ListField())
        erasures_refused = serializers.IntegerField()
        holds_placed = serializers.IntegerField()
        holds_lifted = serializers.IntegerField()
        overdue = serializers.DictField(child=serializers.DictField(child=serializers.IntegerField()))

    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", str, required=True, description="YYYY-MM-DD (UTC)"),
            OpenApiParameter("date_to", str, required=True, description="YYYY-MM-DD (UTC), inclusive"),
        ],
        responses=RetentionReportSerializer,
        summary="Consultations and disclosures by purpose, user, agency, recipient; reviews and erasures (auditors)",
    )
    def get(self, request):
        query = _validated(self.RetentionReportQuerySerializer, request.query_params)
        start = datetime.combine(query["date_from"], time.min, tzinfo=UTC)
        end = datetime.combine(query["date_to"] + timedelta(days=1), time.min, tzinfo=UTC)
        report = reports.report_build(agency=request.user.membership.agency, time_from=start, time_to=end)
        services.report_record(acting_user=request.user, fmt="json", time_from=start, time_to=end,
                               entries=report.entries)  # fmt: skip
        body = {**report.__dict__, "rows": [row.__dict__ for row in report.rows]}
        return Response(self.RetentionReportSerializer(body).data)
