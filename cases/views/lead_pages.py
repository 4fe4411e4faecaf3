"""Lead pages: list (with purpose), create in a case, detail with clues and history, status,
share requests and the supervisors' approval queue."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agencies.decorators import member_required
from casebridge.errors import CasebridgeError
from cases import forms, selectors, services, sharing
from cases.access import Access
from cases.models import LeadStatus
from cases.purpose import purpose_from
from cases.views._common import case_or_404, lead_or_404, refusable


@member_required("cases.work")
def lead_list_view(request: HttpRequest) -> HttpResponse:
    purpose_form = forms.PurposeFields(request.GET or None, initial={"purpose": "victim_identification"})
    status = request.GET.get("status", "")
    if status not in LeadStatus.values:
        status = ""
    page, error = None, ""
    data = purpose_form.cleaned_data if purpose_form.is_valid() else {}
    try:
        purpose = purpose_from(user=request.user, values=data, default="victim_identification")
    except CasebridgeError as exc:
        error = exc.message
    else:
        leads = selectors.lead_list(user=request.user, filters=selectors.LeadFilters(status=status))
        page = Paginator(leads, 25).get_page(request.GET.get("page"))
        services.lead_list_record(
            acting_user=request.user, purpose=purpose, filters={"status": status}, results=page.paginator.count
        )
    return render(
        request,
        "cases/lead_list.html",
        {
            "page": page,
            "form": purpose_form,
            "status": status,
            "statuses": LeadStatus.choices,
            "error": error,
            "counts": selectors.lead_status_counts(user=request.user),
        },
        status=400 if error else 200,
    )


@member_required("cases.work")
@refusable
@require_http_methods(["GET", "POST"])
def lead_create_view(request: HttpRequest, case_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.WRITE, "leads")
    form = forms.LeadForm(request.POST or None)
    selected = [int(i) for i in request.POST.getlist("evidence") + request.GET.getlist("items") if i.isdigit()]
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            lead = services.lead_create(
                acting_user=request.user, context=context, title=data["title"], description=data["description"],
                tlp=data["tlp"] or None, series=[data["series"]] if data["series"] else [], evidence_ids=selected,
                tlp_reason=data["tlp_reason"],
            )  # fmt: skip
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, "Lead opened. Add what is known as clues.")
            return redirect("lead-detail", lead_id=lead.pk)
    return render(
        request, "cases/lead_form.html", {"ctx": context, "case": context.case, "form": form, "selected": selected}
    )


@member_required("cases.work")
@refusable
def lead_detail_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    context = lead_or_404(request, lead_id)
    lead = context.lead
    services.lead_view_record(acting_user=request.user, lead=lead)
    return render(
        request,
        "cases/lead_detail.html",
        {
            "lctx": context,
            "lead": lead,
            "clues": selectors.lead_clues(lead=lead),
            "events": selectors.lead_events(lead=lead),
            "series": lead.series.order_by("name"),
            "evidence": lead.evidence.order_by("pk")[:50],
            "shares": selectors.lead_share_requests(lead=lead),
            "clue_form": forms.ClueForm(),
            "status_form": forms.LeadStatusForm(
                initial={"status": lead.status, "assigned_agency_code": lead.assigned_agency_code, "tlp": lead.tlp}
            ),
            "share_form": forms.ShareRequestForm(),
            "cases": selectors.cases_visible(user=request.user).order_by("-updated_at")[:50]
            if lead.case_id is None
            else [],
        },
    )


def _lead_post(request, lead_id: int, form_class, action, success: str) -> HttpResponse:
    context = lead_or_404(request, lead_id, write=True)
    form = form_class(request.POST)
    if form.is_valid():
        try:
            action(context.lead, form.cleaned_data)
        except CasebridgeError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, success)
    else:
        messages.error(request, " ".join(f"{name}: {' '.join(errors)}" for name, errors in form.errors.items()))
    return redirect("lead-detail", lead_id=lead_id)


@member_required("cases.work")
@refusable
@require_POST
def lead_clue_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    return _lead_post(
        request, lead_id, forms.ClueForm,
        lambda lead, d: (
            services.lead_clue_add(acting_user=request.user, lead=lead, kind=d["type"], text=d["text"]),
            _update_waits_message(request, lead),
        ),
        "Clue added.",
    )  # fmt: skip


def _lead_change(request: HttpRequest, lead, data: dict) -> None:
    lead = services.lead_update(acting_user=request.user, lead=lead, **{**data, "tlp": data["tlp"] or None})
    _update_waits_message(request, lead)


def _update_waits_message(request: HttpRequest, lead) -> None:
    waiting = selectors.lead_update_waiting(lead=lead)
    if waiting is not None:
        messages.info(
            request,
            "The change waits for a supervisor before it goes to "
            f"{', '.join(waiting.partner_codes)}: {' '.join(waiting.approval_reasons)}",
        )


@member_required("cases.work")
@refusable
@require_POST
def lead_status_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    return _lead_post(
        request, lead_id, forms.LeadStatusForm,
        lambda lead, d: _lead_change(request, lead, d),
        "Lead updated.",
    )  # fmt: skip


@member_required("cases.work")
@refusable
@require_POST
def lead_share_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    def request_share(lead, data):
        codes = [c for c in data["partners"].replace(";", ",").split(",")]
        share = sharing.lead_share_request(
            acting_user=request.user, lead=lead, partner_codes=codes, purpose=data["purpose"]
        )
        if share.needs_approval:
            messages.info(
                request,
                "A supervisor other than you must approve this share before it leaves: "
                + " ".join(share.approval_reasons),
            )

    return _lead_post(request, lead_id, forms.ShareRequestForm, request_share, "Share requested.")


@member_required("cases.supervise")
@refusable
@require_POST
def lead_attach_view(request: HttpRequest, lead_id: int) -> HttpResponse:
    context = lead_or_404(request, lead_id, write=True)
    raw = request.POST.get("case") or ""
    case_id = int(raw) if raw.isdecimal() else 0  # junk names no case: 404, not a 500
    case_context = case_or_404(request, case_id, Access.MANAGE, "attach lead")
    try:
        sharing.lead_attach_case(acting_user=request.user, lead=context.lead, case=case_context.case)
    except CasebridgeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Lead attached to {case_context.case.reference}.")
    return redirect("lead-detail", lead_id=lead_id)


@member_required("cases.supervise")
def share_queue_view(request: HttpRequest) -> HttpResponse:
    pending = list(selectors.share_requests_pending(user=request.user))
    services.share_queue_view_record(acting_user=request.user, shares=pending)
    for share in pending:
        share.review = sharing.payload_readable(share.payload)
    return render(request, "cases/share_queue.html", {"pending": pending})


@member_required("cases.supervise")
@require_POST
def share_decide_view(request: HttpRequest, request_id: int) -> HttpResponse:
    try:
        share = selectors.share_request_get(user=request.user, request_id=request_id)
    except CasebridgeError:
        raise Http404("No such share request") from None
    try:
        if request.POST.get("decision") == "approve":
            sharing.lead_share_approve(acting_user=request.user, share=share)
            messages.success(request, f"Share to {', '.join(share.partner_codes)} approved.")
        elif request.POST.get("decision") == "reject":
            sharing.lead_share_reject(acting_user=request.user, share=share, reason=request.POST.get("reason", ""))
            messages.success(request, "Share rejected; the requester sees it on the lead.")
        else:
            messages.error(request, "Approve or reject.")
    except CasebridgeError as exc:
        messages.error(request, exc.message)
    return redirect("share-queue")


@member_required("cases.supervise")
def deconfliction_usage_view(request: HttpRequest) -> HttpResponse:
    """Who in the agency used identifier deconfliction how often, against the per-user budget."""
    from cases.deconfliction import deconfliction_usage

    usage = deconfliction_usage(user=request.user)
    services.deconfliction_usage_record(acting_user=request.user, users=len(usage))
    return render(
        request,
        "cases/deconfliction_usage.html",
        {"usage": usage, "limit": settings.DECONFLICTION_IDENTIFIERS_PER_DAY},
    )
