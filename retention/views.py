"""Retention pages: the review queue (case leads and supervisors), rules (agency admins edit),
legal holds (supervisors), tombstones, and the auditors' purpose and retention report."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from agencies.decorators import member_required
from agencies.models import Role
from agencies.policy import role_allows, role_check, roles_for
from casebridge.errors import CasebridgeError, NotFoundError
from retention import reports, selectors, services
from retention.forms import EraseForm, HoldForm, ReportForm, ReviewForm, RuleForm
from retention.kinds import KINDS

PAGE_SIZE = 50


@member_required("retention.review")
@require_GET
def queue_view(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    queue = selectors.review_queue(user=request.user, now=now)
    page = Paginator(queue.items, PAGE_SIZE).get_page(request.GET.get("page"))
    services.queue_view_record(acting_user=request.user, what="review_queue", count=queue.total)
    default_review = (now + timedelta(days=365)).date()
    return render(
        request,
        "retention/queue.html",
        {
            "queue": queue,
            "page": page,
            "now": now,
            "default_review": default_review,
            "kind_labels": {kind: source.label for kind, source in KINDS.items()},
            "is_supervisor": request.user.membership.role == Role.SUPERVISOR,
        },
    )


@member_required("retention.review")
@require_POST
def review_view(request: HttpRequest) -> HttpResponse:
    form = ReviewForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That review could not be read; reload the queue and try again.")
        return redirect("retention-queue")
    data = form.cleaned_data
    try:
        if data["decision"] == "extend":
            state = services.review_extend(
                acting_user=request.user, kind=data["kind"], object_id=data["object_id"], reason=data["reason"],
                review_on=data["review_on"],
            )  # fmt: skip
            messages.success(request, f"Extended: next review on {state.review_at:%Y-%m-%d}.")
        else:
            services.review_release(
                acting_user=request.user, kind=data["kind"], object_id=data["object_id"], reason=data["reason"]
            )
            messages.success(request, "Let go: the record will be erased at its deadline.")
    except CasebridgeError as exc:
        messages.error(request, exc.message)
    return redirect("retention-queue")


@member_required("retention.erase")
@require_POST
def erase_view(request: HttpRequest) -> HttpResponse:
    form = EraseForm(request.POST)
    if not form.is_valid():
        messages.error(request, "That erasure could not be read; reload the page and try again.")
        return redirect("retention-queue")
    try:
        tombstone = services.record_erase(
            acting_user=request.user, kind=form.cleaned_data["kind"], object_id=form.cleaned_data["object_id"]
        )
    except CasebridgeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{tombstone.label} erased; its tombstone is kept.")
    return redirect("retention-queue")


@member_required("retention.rules.view")
@require_http_methods(["GET", "POST"])
def rules_view(request: HttpRequest) -> HttpResponse:
    can_edit = role_allows(request.user, "retention.rules.change")
    form = RuleForm(request.POST or None)
    if request.method == "POST":
        if role_check(request.user, "retention.rules.change", object_id=request.path) is not None:
            return render(request, "403.html", {"roles": roles_for("retention.rules.change")}, status=403)
        if form.is_valid():
            try:
                rule = services.retention_rule_set(acting_user=request.user, **form.cleaned_data)
            except CasebridgeError as exc:
                form.add_error(None, exc.message)
            else:
                messages.success(request, f"Rule saved: {rule.get_kind_display()} {rule.status}".strip() + ".")
                return redirect("retention-rules")
    rules = list(selectors.rules_for_user(user=request.user))
    covered = {rule.kind for rule in rules}
    return render(
        request,
        "retention/rules.html",
        {
            "rules": rules,
            "form": form,
            "can_edit": can_edit,
            "uncovered": [source.label for kind, source in KINDS.items() if kind not in covered],
            "audit_days": settings.AUDIT_RETENTION_DAYS,
        },
        status=400 if request.method == "POST" else 200,
    )


@member_required("retention.rules.change")
@require_POST
def rule_delete_view(request: HttpRequest, rule_id: int) -> HttpResponse:
    try:
        services.retention_rule_delete(acting_user=request.user, rule_id=rule_id)
    except NotFoundError:
        raise Http404("No such rule") from None
    messages.success(request, "Rule removed: records of that kind are kept until a rule covers them again.")
    return redirect("retention-rules")


@member_required("retention.holds.view")
@require_GET
def holds_view(request: HttpRequest) -> HttpResponse:
    holds = selectors.legal_holds_of(user=request.user, active_only=request.GET.get("all") != "1")
    page = Paginator(holds, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "retention/holds.html", {"page": page, "all": request.GET.get("all") == "1"})


def _hold_action(request: HttpRequest, case_id: int, place: bool) -> HttpResponse:
    form = HoldForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the reason for the legal hold.")
        return redirect("case-detail", case_id=case_id)
    try:
        if place:
            services.legal_hold_place(acting_user=request.user, case_id=case_id, reason=form.cleaned_data["reason"])
            messages.success(request, "Legal hold placed: review and erasure of this case are suspended.")
        else:
            services.legal_hold_lift(acting_user=request.user, case_id=case_id, reason=form.cleaned_data["reason"])
            messages.success(request, "Legal hold lifted: the case's retention rule applies again.")
    except NotFoundError:
        raise Http404("No such case") from None
    except CasebridgeError as exc:
        messages.error(request, exc.message)
    return redirect("case-detail", case_id=case_id)


@member_required("retention.holds.change")
@require_POST
def hold_place_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _hold_action(request, case_id, place=True)


@member_required("retention.holds.change")
@require_POST
def hold_lift_view(request: HttpRequest, case_id: int) -> HttpResponse:
    return _hold_action(request, case_id, place=False)


@member_required("retention.tombstones.view")
@require_GET
def tombstones_view(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.tombstones_of(user=request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    services.queue_view_record(acting_user=request.user, what="tombstones", count=page.paginator.count)
    return render(request, "retention/tombstones.html", {"page": page})


def report_period(form: ReportForm) -> tuple[datetime, datetime]:
    data = form.cleaned_data
    start = datetime.combine(data["date_from"], time.min, tzinfo=UTC)
    end = datetime.combine(data["date_to"] + timedelta(days=1), time.min, tzinfo=UTC)
    return start, end


@member_required("retention.report")
@require_GET
def report_view(request: HttpRequest) -> HttpResponse:
    """The report on screen; `?format=csv` downloads it, `?format=print` is the printable page."""
    form = ReportForm(request.GET or ReportForm.initial_period())
    fmt = request.GET.get("format", "html")
    if fmt not in ("html", "csv", "print"):
        fmt = "html"
    if not form.is_valid():
        return render(request, "retention/report.html", {"form": form, "report": None}, status=400)
    start, end = report_period(form)
    report = reports.report_build(agency=request.user.membership.agency, time_from=start, time_to=end)
    services.report_record(acting_user=request.user, fmt=fmt, time_from=start, time_to=end, entries=report.entries)
    stamp = f"{report.agency}-{start:%Y%m%d}-{end - timedelta(days=1):%Y%m%d}"
    if fmt == "csv":
        response = HttpResponse(reports.report_csv(report), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="purpose-retention-{stamp}.csv"'
        return response
    context = {"form": form, "report": report, "query": _query(form), "stamp": stamp}
    template = "retention/report_print.html" if fmt == "print" else "retention/report.html"
    return render(request, template, context)


def _query(form: ReportForm) -> str:
    from urllib.parse import urlencode

    return urlencode({key: form.cleaned_data[key].isoformat() for key in ("date_from", "date_to")})
