"""API of cases, notes, tasks, evidence, deconfliction hits and leads.

Same need-to-know as the web UI (cases.access): outsiders get 404, auditors metadata only.
Every list is paginated (PaginatedView, which the OpenAPI schema documents as a page); errors are
problem details (CasebridgeError, rendered by casebridge.api).
Serializer class names are globally unique (they become OpenAPI component names).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from agencies.policy import role_permission
from casebridge.api import PaginatedView, paginated, problem_response
from casebridge.errors import CasebridgeError
from cases import selectors, services, sharing
from cases.access import Access, CaseContext
from cases.deconfliction import DeconflictionBudgetSpent
from cases.models import (
    TLP,
    CaseRole,
    CaseStatus,
    ClueType,
    IdentifierKind,
    LeadStatus,
    MatchState,
    Priority,
    TaskState,
)
from cases.purpose import PURPOSE_CODES, purpose_from
from cases.purpose_api import PURPOSE_PARAMETERS, PurposeFields
from hashsets.formats.records import Category


def _context(request, case_id: int, need: Access = Access.READ, what: str = "") -> CaseContext:
    return selectors.case_context(user=request.user, case_id=case_id, need=need, what=what)


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- cases ----------------------------------------------------------------------------------------


class CaseSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    title = serializers.CharField()
    status = serializers.CharField()
    priority = serializers.IntegerField()
    tlp = serializers.CharField()
    lead = serializers.CharField(source="lead.username")
    my_role = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CaseListView(PaginatedView):
    permission_classes = [role_permission("cases.read")]  # L7: the list page's policy too

    class CaseListQuerySerializer(PurposeFields):
        status = serializers.ChoiceField(choices=CaseStatus.choices, required=False)
        priority = serializers.ChoiceField(choices=Priority.choices, required=False)
        tlp = serializers.ChoiceField(choices=TLP.choices, required=False)
        member = serializers.CharField(required=False, max_length=150)
        created_from = serializers.DateField(required=False)
        created_to = serializers.DateField(required=False)
        q = serializers.CharField(required=False, max_length=200)
        mine = serializers.BooleanField(required=False, default=False)

    class CaseCreateRequestSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        priority = serializers.ChoiceField(choices=Priority.choices, default=Priority.NORMAL)
        tlp = serializers.ChoiceField(choices=TLP.choices, default=TLP.AMBER)
        template = serializers.IntegerField(required=False, allow_null=True)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=CaseStatus.values),
            OpenApiParameter("priority", int, enum=Priority.values),
            OpenApiParameter("tlp", str, enum=TLP.values),
            OpenApiParameter("member", str, description="Username of a case member"),
            OpenApiParameter("created_from", str, description="YYYY-MM-DD"),
            OpenApiParameter("created_to", str, description="YYYY-MM-DD"),
            OpenApiParameter("q", str, description="Text in the reference or title"),
            OpenApiParameter("mine", bool, description="Only cases I am a member of"),
            *PURPOSE_PARAMETERS,
        ],
        responses=CaseSummarySerializer(many=True),
        summary="Cases you may see, filtered and paginated (audited with its purpose)",
    )
    def get(self, request):
        query = _validated(self.CaseListQuerySerializer, request.query_params)
        purpose = purpose_from(user=request.user, values=query)
        filters = selectors.CaseFilters(
            status=query.get("status", ""),
            priority=int(query["priority"]) if query.get("priority") else None,
            tlp=query.get("tlp", ""),
            member=query.get("member", ""),
            created_from=query.get("created_from"),
            created_to=query.get("created_to"),
            text=query.get("q", "").strip(),
            mine=query.get("mine", False),
        )
        paginator, _page_items, response = paginated(
            request, self, selectors.case_list(user=request.user, filters=filters), CaseSummarySerializer
        )
        services.case_list_record(
            acting_user=request.user, purpose=purpose, filters=filters.active(), text=filters.text,
            results=paginator.page.paginator.count, page=paginator.page.number,
        )  # fmt: skip
        return response

    @extend_schema(request=CaseCreateRequestSerializer, responses={201: CaseSummarySerializer}, summary="Open a case")
    def post(self, request):
        data = _validated(self.CaseCreateRequestSerializer, request.data)
        template = None
        if data.get("template"):
            template = selectors.template_get(user=request.user, template_id=data["template"])
        case = services.case_create(
            acting_user=request.user, title=data["title"], description=data["description"],
            priority=int(data["priority"]), tlp=data["tlp"], template=template,
        )  # fmt: skip
        case.my_role = CaseRole.LEAD
        return Response(CaseSummarySerializer(case).data, status=status.HTTP_201_CREATED)


class CaseMemberOutSerializer(serializers.Serializer):
    username = serializers.CharField(source="user.username")
    role = serializers.CharField()
    added_at = serializers.DateTimeField()


class CaseDetailSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    agency = serializers.CharField(source="agency.code")
    title = serializers.CharField()
    description = serializers.SerializerMethodField()
    status = serializers.CharField()
    priority = serializers.IntegerField()
    tlp = serializers.CharField()
    lead = serializers.CharField(source="lead.username")
    access = serializers.SerializerMethodField()
    members = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_description(self, case) -> str | None:
        return case.description if self.context["access"] >= Access.READ else None

    def get_access(self, case) -> str:
        return self.context["access"].name.lower()

    @extend_schema_field(CaseMemberOutSerializer(many=True))
    def get_members(self, case) -> list[dict]:
        return CaseMemberOutSerializer(self.context["members"], many=True).data


class CaseDetailView(APIView):
    class CaseUpdateRequestSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        priority = serializers.ChoiceField(choices=Priority.choices, required=False)
        tlp = serializers.ChoiceField(choices=TLP.choices, required=False)

    def _render(self, request, context: CaseContext):
        members = list(selectors.case_members(case=context.case))
        data = CaseDetailSerializer(context.case, context={"access": context.access, "members": members}).data
        return Response(data)

    @extend_schema(responses=CaseDetailSerializer, summary="One case (auditors: metadata only)")
    def get(self, request, case_id: int):
        context = _context(request, case_id, Access.METADATA)
        services.case_view_record(acting_user=request.user, case=context.case, metadata_only=not context.can_read)
        return self._render(request, context)

    @extend_schema(request=CaseUpdateRequestSerializer, responses=CaseDetailSerializer, summary="Change a case")
    def patch(self, request, case_id: int):
        context = _context(request, case_id, Access.WRITE)
        data = _validated(self.CaseUpdateRequestSerializer, request.data)
        if "priority" in data:
            data["priority"] = int(data["priority"])
        case = services.case_update(acting_user=request.user, context=context, **data)
        return self._render(request, CaseContext(case=case, access=context.access, case_role=context.case_role))


class CaseStatusView(APIView):
    class CaseStatusRequestSerializer(serializers.Serializer):
        status = serializers.CharField(max_length=20)
        reason = serializers.CharField(required=False, allow_blank=True, max_length=500, default="")

    class CaseStatusResponseSerializer(serializers.Serializer):
        status = serializers.CharField()

    @extend_schema(
        request=CaseStatusRequestSerializer,
        responses=CaseStatusResponseSerializer,
        summary="Move a case along open → active → suspended/closed",
    )
    def post(self, request, case_id: int):
        context = _context(request, case_id, Access.MANAGE, "status")
        data = _validated(self.CaseStatusRequestSerializer, request.data)
        case = services.case_status_change(acting_user=request.user, context=context, **data)
        return Response({"status": case.status})


class CaseMembersView(PaginatedView):
    class CaseMemberRequestSerializer(serializers.Serializer):
        username = serializers.CharField(max_length=150)
        role = serializers.ChoiceField(choices=CaseRole.choices, default=CaseRole.MEMBER)

    @extend_schema(responses=CaseMemberOutSerializer(many=True), summary="Members of a case")
    def get(self, request, case_id: int):
        context = _context(request, case_id, Access.METADATA)
        return paginated(request, self, selectors.case_members(case=context.case), CaseMemberOutSerializer)[2]

    @extend_schema(
        request=CaseMemberRequestSerializer, responses={201: CaseMemberOutSerializer}, summary="Add or change a member"
    )
    def post(self, request, case_id: int):
        context = _context(request, case_id, Access.MANAGE, "members")
        data = _validated(self.CaseMemberRequestSerializer, request.data)
        member = services.case_member_set(acting_user=request.user, context=context, **data)
        return Response(CaseMemberOutSerializer(member).data, status=status.HTTP_201_CREATED)


# --- notes and tasks --------------------------------------------------------------------------------


class NoteOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    body = serializers.CharField()
    author = serializers.CharField(source="author.username")
    revision_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class NoteBodyRequestSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=100_000)


class CaseNotesView(PaginatedView):
    @extend_schema(responses=NoteOutSerializer(many=True), summary="Notes of a case, newest first")
    def get(self, request, case_id: int):
        context = _context(request, case_id, Access.READ, "notes")
        response = paginated(request, self, selectors.case_notes(case=context.case), NoteOutSerializer)[2]
        services.case_view_record(acting_user=request.user, case=context.case, section="notes")
        return response

    @extend_schema(request=NoteBodyRequestSerializer, responses={201: NoteOutSerializer}, summary="Add a note")
    def post(self, request, case_id: int):
        context = _context(request, case_id, Access.WRITE, "notes")
        data = _validated(NoteBodyRequestSerializer, request.data)
        note = services.note_create(acting_user=request.user, context=context, body=data["body"])
        return Response(NoteOutSerializer(note).data, status=status.HTTP_201_CREATED)


class CaseNoteView(APIView):
    @extend_schema(
        request=NoteBodyRequestSerializer, responses=NoteOutSerializer, summary="Edit a note (kept as a revision)"
    )
    def patch(self, request, case_id: int, note_id: int):
        context = _context(request, case_id, Access.WRITE, "notes")
        note = selectors.note_get(case=context.case, note_id=note_id)
        data = _validated(NoteBodyRequestSerializer, request.data)
        note = services.note_update(acting_user=request.user, context=context, note=note, body=data["body"])
        return Response(NoteOutSerializer(note).data)


class TaskOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    assignee = serializers.CharField(source="assignee.username", allow_null=True, default=None)
    due_date = serializers.DateField(allow_null=True)
    state = serializers.CharField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CaseTasksView(PaginatedView):
    class TaskCreateRequestSerializer(serializers.Serializer):
        title = serializers.CharField(max_length=200)
        description = serializers.CharField(required=False, allow_blank=True, default="")
        assignee = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
        due_date = serializers.DateField(required=False, allow_null=True, default=None)

    @extend_schema(
        parameters=[OpenApiParameter("state", str, enum=TaskState.values)],
        responses=TaskOutSerializer(many=True),
        summary="Tasks of a case",
    )
    def get(self, request, case_id: int):
        context = _context(request, case_id, Access.READ, "tasks")
        state = request.query_params.get("state", "")
        if state and state not in TaskState.values:
            raise CasebridgeError(f"Unknown task state {state!r}; use one of: {', '.join(TaskState.values)}.")
        return paginated(request, self, selectors.case_tasks(case=context.case, state=state), TaskOutSerializer)[2]

    @extend_schema(request=TaskCreateRequestSerializer, responses={201: TaskOutSerializer}, summary="Add a task")
    def post(self, request, case_id: int):
        context = _context(request, case_id, Access.WRITE, "tasks")
        data = _validated(self.TaskCreateRequestSerializer, request.data)
        task = services.task_create(acting_user=request.user, context=context, **data)
        return Response(TaskOutSerializer(task).data, status=status.HTTP_201_CREATED)


class CaseTaskView(APIView):
    class TaskUpdateRequestSerializer(serializers.Serializer):
        state = serializers.CharField(required=False, max_length=20)
        assignee = serializers.CharField(required=False, allow_blank=True, allow_null=True)
        due_date = serializers.DateField(required=False, allow_null=True)
        comment = serializers.CharField(required=False, allow_blank=True, default="")

    @extend_schema(request=TaskUpdateRequestSerializer, responses=TaskOutSerializer, summary="Change a task")
    def patch(self, request, case_id: int, task_id: int):
        context = _context(request, case_id, Access.WRITE, "tasks")
        task = selectors.task_get(case=context.case, task_id=task_id)
        data = _validated(self.TaskUpdateRequestSerializer, request.data)
        task = services.task_update(acting_user=request.user, context=context, task=task, **data)
        return Response(TaskOutSerializer(task).data)


# --- evidence ---------------------------------------------------------------------------------------


class EvidenceClassificationOutSerializer(serializers.Serializer):
    agency = serializers.CharField()
    hashset = serializers.CharField()
    category = serializers.CharField()
    victim_identified = serializers.BooleanField(allow_null=True)
    series = serializers.ListField(child=serializers.CharField())


def _hex(value) -> str | None:
    return bytes(value).hex() if value is not None else None


class EvidenceItemOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    md5 = serializers.SerializerMethodField()
    sha1 = serializers.SerializerMethodField()
    sha256 = serializers.SerializerMethodField()
    pdq = serializers.SerializerMethodField()
    pdq_quality = serializers.IntegerField(allow_null=True)
    size = serializers.IntegerField(allow_null=True)
    media_type = serializers.CharField()
    match_state = serializers.CharField()
    pdq_distance = serializers.IntegerField(allow_null=True)
    category = serializers.CharField()
    disagree = serializers.BooleanField()
    victim_identified = serializers.BooleanField(allow_null=True)
    classifications = serializers.SerializerMethodField()

    def get_md5(self, item) -> str | None:
        return _hex(item.md5)

    def get_sha1(self, item) -> str | None:
        return _hex(item.sha1)

    def get_sha256(self, item) -> str | None:
        return _hex(item.sha256)

    def get_pdq(self, item) -> str | None:
        return _hex(item.pdq)

    @extend_schema_field(EvidenceClassificationOutSerializer(many=True))
    def get_classifications(self, item) -> list[dict]:
        return EvidenceClassificationOutSerializer(
            self.context.get("classifications", {}).get(item.pk, []), many=True
        ).data


class CaseEvidenceView(PaginatedView):
    class EvidenceAddRequestSerializer(serializers.Serializer):
        hashes = serializers.CharField(
            help_text="One digest per line (32/40/64 hex: MD5/SHA-1/SHA-256; pdq:<hex>[:quality] for PDQ)."
        )

    class EvidenceAddResponseSerializer(serializers.Serializer):
        added = serializers.IntegerField()
        duplicates = serializers.IntegerField()
        known = serializers.IntegerField()
        near = serializers.IntegerField()
        unknown = serializers.IntegerField()
        hits = serializers.IntegerField()

    @extend_schema(
        parameters=[
            OpenApiParameter("state", str, enum=MatchState.values),
            OpenApiParameter("category", str, enum=[c.value for c in Category]),
            OpenApiParameter("disagree", bool),
        ],
        responses=EvidenceItemOutSerializer(many=True),
        summary="Evidence items of a case with their matches (triage)",
    )
    def get(self, request, case_id: int):
        context = _context(request, case_id, Access.READ, "evidence")
        state = request.query_params.get("state", "")
        category = request.query_params.get("category", "")
        if state and state not in MatchState.values:
            raise CasebridgeError(f"Unknown match state {state!r}; use one of: {', '.join(MatchState.values)}.")
        filters = selectors.EvidenceFilters(
            state=state, category=category, disagree=request.query_params.get("disagree") in ("1", "true")
        )
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            selectors.case_evidence(case=context.case, filters=filters), request, view=self
        )
        classifications = selectors.evidence_classifications(user=request.user, items=page)
        data = EvidenceItemOutSerializer(page, many=True, context={"classifications": classifications}).data
        services.evidence_view_record(
            acting_user=request.user, context=context,
            details={"page": paginator.page.number, "filters": {"state": state, "category": category}},
        )  # fmt: skip
        return paginator.get_paginated_response(data)

    @extend_schema(
        request=EvidenceAddRequestSerializer, responses={201: EvidenceAddResponseSerializer}, summary="Add digests"
    )
    def post(self, request, case_id: int):
        context = _context(request, case_id, Access.WRITE, "evidence")
        data = _validated(self.EvidenceAddRequestSerializer, request.data)
        parsed = services.evidence_parse_pasted(data["hashes"])
        result = services.evidence_add(acting_user=request.user, context=context, parsed=parsed)
        return Response(self.EvidenceAddResponseSerializer(result).data, status=status.HTTP_201_CREATED)


class CaseEvidenceClassifyView(APIView):
    class EvidenceClassifyRequestSerializer(serializers.Serializer):
        items = serializers.ListField(child=serializers.IntegerField(), allow_empty=False, max_length=10_000)
        category = serializers.ChoiceField(choices=[c.value for c in Category])
        victim_identified = serializers.BooleanField(required=False, allow_null=True, default=None)
        series = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)

    class EvidenceClassifyResponseSerializer(serializers.Serializer):
        classified = serializers.IntegerField()

    @extend_schema(
        request=EvidenceClassifyRequestSerializer,
        responses=EvidenceClassifyResponseSerializer,
        summary="Classify items into your agency's case-classification hash set",
    )
    def post(self, request, case_id: int):
        context = _context(request, case_id, Access.WRITE, "evidence")
        data = _validated(self.EvidenceClassifyRequestSerializer, request.data)
        count = services.evidence_classify(
            acting_user=request.user, context=context, item_ids=data["items"], category=data["category"],
            victim_identified=data["victim_identified"], series=data["series"],
        )  # fmt: skip
        return Response({"classified": count})


# --- deconfliction and identifiers -----------------------------------------------------------------


class DeconflictionHitOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    count = serializers.IntegerField()
    other_agency = serializers.CharField(source="other_case.agency.code")
    other_agency_name = serializers.CharField(source="other_case.agency.name")
    contact = serializers.CharField(source="other_case.lead.username", help_text="The other case's lead.")
    first_seen_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField()


class CaseDeconflictionView(PaginatedView):
    @extend_schema(
        responses=DeconflictionHitOutSerializer(many=True),
        summary="Other cases holding the same evidence, series or identifiers (agency and contact only)",
    )
    def get(self, request, case_id: int):
        context = _context(request, case_id, Access.READ, "deconfliction")
        response = paginated(
            request, self, selectors.case_deconfliction_hits(case=context.case), DeconflictionHitOutSerializer
        )[2]
        services.case_view_record(acting_user=request.user, case=context.case, section="deconfliction")
        return response


class CaseIdentifiersView(APIView):
    class IdentifierAddRequestSerializer(serializers.Serializer):
        kind = serializers.ChoiceField(choices=IdentifierKind.choices)
        value = serializers.CharField(max_length=300)

    class IdentifierAddResponseSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        kind = serializers.CharField()
        other_cases = serializers.IntegerField()

    @extend_schema(
        request=IdentifierAddRequestSerializer,
        responses={201: IdentifierAddResponseSerializer},
        summary="Add a target identifier (kept as a keyed hash) and deconflict it (a per-user budget: 429 beyond)",
    )
    def post(self, request, case_id: int):
        context = _context(request, case_id, Access.WRITE, "identifiers")
        data = _validated(self.IdentifierAddRequestSerializer, request.data)
        try:
            identifier, hits = services.identifier_add(acting_user=request.user, context=context, **data)
        except DeconflictionBudgetSpent as exc:
            wait = max(1, int((exc.renews_at - timezone.now()).total_seconds()) + 1)
            return problem_response(
                status_code=exc.status_code, title=exc.title, detail=exc.message, headers={"Retry-After": str(wait)}
            )
        return Response({"id": identifier.pk, "kind": identifier.kind, "other_cases": hits}, status=201)


# --- leads ------------------------------------------------------------------------------------------


class LeadClueOutSerializer(serializers.Serializer):
    uid = serializers.UUIDField()
    type = serializers.CharField()
    text = serializers.CharField()
    origin_agency = serializers.CharField(source="origin_agency_code")
    created_at = serializers.DateTimeField()


class LeadEventOutSerializer(serializers.Serializer):
    kind = serializers.CharField()
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)
    agency = serializers.CharField(source="agency_code")
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    created_at = serializers.DateTimeField()


class LeadSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    share_uid = serializers.UUIDField()
    title = serializers.CharField()
    status = serializers.CharField()
    tlp = serializers.CharField()
    case = serializers.CharField(source="case.reference", allow_null=True, default=None)
    origin_agency = serializers.CharField(source="origin_agency_code")
    received = serializers.BooleanField()
    clue_count = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class LeadDetailSerializer(LeadSummarySerializer):
    description = serializers.CharField()
    assigned_agency = serializers.CharField(source="assigned_agency_code")
    clue_count = None
    series = serializers.SerializerMethodField()
    clues = LeadClueOutSerializer(many=True, source="clue_list")
    events = LeadEventOutSerializer(many=True, source="event_list")

    def get_series(self, lead) -> list[str]:
        return sorted(s.name for s in lead.series.all())


class LeadCreateRequestSerializer(serializers.Serializer):
    class LeadClueInSerializer(serializers.Serializer):
        type = serializers.ChoiceField(choices=ClueType.choices)
        text = serializers.CharField(max_length=5000)

    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    tlp = serializers.ChoiceField(choices=TLP.choices, required=False)
    tlp_reason = serializers.CharField(
        required=False, allow_blank=True, default="", max_length=1000,
        help_text="Why a supervisor marks the lead below its case's TLP (audited); refused for others.",
    )  # fmt: skip
    series = serializers.ListField(child=serializers.CharField(max_length=200), required=False, default=list)
    evidence = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    clues = LeadClueInSerializer(many=True, required=False, default=list)


class CaseLeadsView(PaginatedView):
    @extend_schema(responses=LeadSummarySerializer(many=True), summary="Leads of a case")
    def get(self, request, case_id: int):
        context = _context(request, case_id, Access.READ, "leads")
        leads = selectors.lead_list(user=request.user, filters=selectors.LeadFilters(case_id=context.case.pk))
        response = paginated(request, self, leads, LeadSummarySerializer)[2]
        services.case_view_record(acting_user=request.user, case=context.case, section="leads")
        return response

    @extend_schema(request=LeadCreateRequestSerializer, responses={201: LeadSummarySerializer}, summary="Open a lead")
    def post(self, request, case_id: int):
        context = _context(request, case_id, Access.WRITE, "leads")
        data = _validated(LeadCreateRequestSerializer, request.data)
        lead = services.lead_create(
            acting_user=request.user, context=context, title=data["title"], description=data["description"],
            tlp=data.get("tlp"), series=data["series"], evidence_ids=data["evidence"],
            clues=[(c["type"], c["text"]) for c in data["clues"]], tlp_reason=data["tlp_reason"],
        )  # fmt: skip
        lead.clue_count = len(data["clues"])
        return Response(LeadSummarySerializer(lead).data, status=status.HTTP_201_CREATED)


class LeadListView(PaginatedView):
    permission_classes = [role_permission("cases.work")]  # L7: the list page's policy too

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, enum=LeadStatus.values),
            OpenApiParameter("received", bool),
            *PURPOSE_PARAMETERS,
        ],
        responses=LeadSummarySerializer(many=True),
        summary="Leads you may see (audited with its purpose)",
    )
    def get(self, request):
        params = request.query_params
        purpose = purpose_from(user=request.user, values=params, default="victim_identification")
        status_filter = params.get("status", "")
        if status_filter and status_filter not in LeadStatus.values:
            raise CasebridgeError(f"Unknown lead status {status_filter!r}; use one of: {', '.join(LeadStatus.values)}.")
        received = {"1": True, "true": True, "0": False, "false": False}.get(params.get("received", ""))
        filters = selectors.LeadFilters(status=status_filter, received=received)
        paginator, _page_items, response = paginated(
            request, self, selectors.lead_list(user=request.user, filters=filters), LeadSummarySerializer
        )
        services.lead_list_record(
            acting_user=request.user, purpose=purpose, filters={"status": status_filter, "received": received},
            results=paginator.page.paginator.count,
        )  # fmt: skip
        return response


def _lead_detail(lead):
    lead.clue_list = list(selectors.lead_clues(lead=lead))
    lead.event_list = list(selectors.lead_events(lead=lead))
    lead.clue_count = len(lead.clue_list)
    return LeadDetailSerializer(lead).data


class LeadDetailView(APIView):
    class LeadUpdateRequestSerializer(serializers.Serializer):
        status = serializers.CharField(required=False, max_length=20)
        title = serializers.CharField(required=False, max_length=200)
        description = serializers.CharField(required=False, allow_blank=True)
        assigned_agency = serializers.CharField(required=False, allow_blank=True, max_length=16)
        tlp = serializers.ChoiceField(choices=TLP.choices, required=False)
        tlp_reason = serializers.CharField(
            required=False, allow_blank=True, max_length=1000,
            help_text="Why a supervisor lowers the lead below its case's TLP (audited); refused for others.",
        )  # fmt: skip

    @extend_schema(responses=LeadDetailSerializer, summary="One lead with its clues and history")
    def get(self, request, lead_id: int):
        context = selectors.lead_context(user=request.user, lead_id=lead_id)
        services.lead_view_record(acting_user=request.user, lead=context.lead)
        return Response(_lead_detail(context.lead))

    @extend_schema(request=LeadUpdateRequestSerializer, responses=LeadDetailSerializer, summary="Change a lead")
    def patch(self, request, lead_id: int):
        context = selectors.lead_context(user=request.user, lead_id=lead_id, write=True)
        data = _validated(self.LeadUpdateRequestSerializer, request.data)
        if "assigned_agency" in data:
            data["assigned_agency_code"] = data.pop("assigned_agency")
        lead = services.lead_update(acting_user=request.user, lead=context.lead, **data)
        return Response(_lead_detail(lead))


class LeadCluesView(APIView):
    @extend_schema(
        request=LeadCreateRequestSerializer.LeadClueInSerializer,
        responses={201: LeadClueOutSerializer},
        summary="Add a clue to a lead",
    )
    def post(self, request, lead_id: int):
        context = selectors.lead_context(user=request.user, lead_id=lead_id, write=True)
        data = _validated(LeadCreateRequestSerializer.LeadClueInSerializer, request.data)
        clue = services.lead_clue_add(acting_user=request.user, lead=context.lead, kind=data["type"], text=data["text"])
        return Response(LeadClueOutSerializer(clue).data, status=status.HTTP_201_CREATED)


class LeadShareView(APIView):
    class LeadShareRequestSerializer(serializers.Serializer):
        partners = serializers.ListField(child=serializers.CharField(max_length=16), allow_empty=False, max_length=50)
        purpose = serializers.ChoiceField(choices=list(PURPOSE_CODES), default="victim_identification")

    class LeadShareResponseSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        state = serializers.CharField()
        partners = serializers.ListField(child=serializers.CharField(), source="partner_codes")
        needs_approval = serializers.BooleanField()
        approval_reasons = serializers.ListField(child=serializers.CharField())

    @extend_schema(
        request=LeadShareRequestSerializer,
        responses={201: LeadShareResponseSerializer},
        summary="Ask to share a lead with partner agencies (supervisor approval: RED/AMBER, or the agreement)",
    )
    def post(self, request, lead_id: int):
        context = selectors.lead_context(user=request.user, lead_id=lead_id, write=True)
        data = _validated(self.LeadShareRequestSerializer, request.data)
        with transaction.atomic():
            share = sharing.lead_share_request(
                acting_user=request.user, lead=context.lead, partner_codes=data["partners"], purpose=data["purpose"]
            )
        return Response(self.LeadShareResponseSerializer(share).data, status=status.HTTP_201_CREATED)
