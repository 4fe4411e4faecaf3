"""Evidence pages: add digests (paste or upload), triage with filters and bulk classification,
re-match, and the evidence export (digests and match results as CSV)."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agencies.decorators import member_required
from casebridge.errors import CasebridgeError, NotFoundError
from cases import forms, selectors, services
from cases.access import Access
from cases.charts import triage_bars
from cases.views._common import case_or_404, refusable
from hashsets.formats.csvformats import guard

TRIAGE_PAGE_SIZES = (50, 100, 250, 500)


@member_required("cases.work")
@refusable
@require_http_methods(["GET", "POST"])
def evidence_add_view(request: HttpRequest, case_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.WRITE, "evidence")
    paste_form = forms.EvidencePasteForm(request.POST if request.POST.get("mode") == "paste" else None)
    upload_form = forms.EvidenceUploadForm(
        request.POST if request.POST.get("mode") == "upload" else None,
        request.FILES if request.POST.get("mode") == "upload" else None,
    )
    error = ""
    if request.method == "POST":
        try:
            if request.POST.get("mode") == "upload" and upload_form.is_valid():
                upload = upload_form.cleaned_data["file"]
                if upload.size > settings.HASHSET_UPLOAD_MAX_BYTES:
                    raise CasebridgeError(
                        f"The file is larger than the {settings.HASHSET_UPLOAD_MAX_BYTES:,}-byte limit."
                    )
                parsed = _parse_upload(upload)
            elif request.POST.get("mode") == "paste" and paste_form.is_valid():
                parsed = services.evidence_parse_pasted(paste_form.cleaned_data["hashes"])
            else:
                raise CasebridgeError("Paste digests or choose a file.")
            result = services.evidence_add(acting_user=request.user, context=context, parsed=parsed)
        except CasebridgeError as exc:
            error = exc.message
        else:
            text = (
                f"{result.added} item{'s' if result.added != 1 else ''} added: {result.known} known, "
                f"{result.near} near match{'es' if result.near != 1 else ''}, {result.unknown} unknown."
            )
            if result.duplicates:
                text += f" {result.duplicates} already in the case."
            if result.skipped:
                text += f" {result.skipped} manifest rows skipped (files that could not be hashed)."
            if result.hits:
                text += f" {result.hits} other case{'s' if result.hits != 1 else ''} hold this new material: see Deconfliction."  # noqa: E501
            messages.success(request, text)
            return redirect("case-triage", case_id=context.case.pk)
    return render(
        request,
        "cases/evidence_add.html",
        {"ctx": context, "case": context.case, "paste_form": paste_form, "upload_form": upload_form, "error": error},
        status=400 if error else 200,
    )


def _parse_upload(upload):
    upload_dir = Path(settings.MEDIA_ROOT) / "evidence-uploads"
    upload_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=upload_dir, suffix=".upload") as handle:
        for chunk in upload.chunks():
            handle.write(chunk)
        handle.flush()
        return services.evidence_parse_file(Path(handle.name))


@member_required("cases.work")
@refusable
@require_http_methods(["GET", "POST"])
def triage_view(request: HttpRequest, case_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.READ, "evidence")
    case = context.case
    if request.method == "POST":
        return _classify(request, case_id)
    filter_form = forms.TriageFilterForm(request.GET or None)
    data = filter_form.cleaned_data if filter_form.is_valid() else {}
    filters = selectors.EvidenceFilters(
        state=data.get("state") or "", category=data.get("category") or "", disagree=bool(data.get("disagree"))
    )
    try:
        size = int(request.GET.get("size", 100))
    except ValueError:
        size = 100
    size = size if size in TRIAGE_PAGE_SIZES else 100
    page = Paginator(selectors.case_evidence(case=case, filters=filters), size).get_page(request.GET.get("page"))
    items = list(page.object_list)
    classifications = selectors.evidence_classifications(user=request.user, items=items)
    rows = [{"item": item, "classifications": classifications.get(item.pk, [])} for item in items]
    for row in rows:
        row["agencies"] = sorted({c["agency"] for c in row["classifications"]})
        row["series"] = sorted({s for c in row["classifications"] for s in c["series"]})
    summary = selectors.evidence_summary(case=case)
    last_batch = selectors.classification_batch_last(user=request.user, context=context) if context.can_write else None
    services.evidence_view_record(
        acting_user=request.user, context=context,
        details={"page": page.number, "filters": {"state": filters.state, "category": filters.category}},
    )  # fmt: skip
    return render(
        request,
        "cases/triage.html",
        {
            "ctx": context, "case": case, "page": page, "rows": rows, "filter_form": filter_form,
            "classify_form": forms.ClassifyForm(auto_id="id_classify_%s"), "summary": summary,
            "chart": triage_bars(summary), "sizes": TRIAGE_PAGE_SIZES, "size": size, "last_batch": last_batch,
        },
    )  # fmt: skip


# More items than this in one "classify selected" need a second, explicit step: a mistaken
# category over a whole page is easy to click and slow to put right.
CLASSIFY_CONFIRM_ABOVE = 5


def _classify(request, case_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.WRITE, "classify")
    form = forms.ClassifyForm(request.POST)
    ids = sorted({int(i) for i in request.POST.getlist("items") if i.isdigit()})
    back = request.POST.get("back") or ""
    target = f"/cases/{case_id}/evidence/" + (f"?{back}" if back and "\n" not in back else "")
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, error)
        return redirect(target)
    category = form.cleaned_data["category"]
    if len(ids) > CLASSIFY_CONFIRM_ABOVE and request.POST.get("confirm") != "yes":
        # nothing is written until the user posts this page's form again, with confirm=yes
        return render(
            request,
            "cases/classify_confirm.html",
            {
                "ctx": context, "case": context.case, "ids": ids, "count": len(ids), "back": back,
                "category": category, "category_label": dict(forms.CATEGORY_CHOICES).get(category, category),
                "form_data": form.cleaned_data, "victim": request.POST.get("victim_identified", ""),
                "set_name": f"{context.case.agency.code} case classifications", "target": target,
            },
        )  # fmt: skip
    try:
        count = services.evidence_classify(
            acting_user=request.user, context=context, item_ids=ids,
            category=category, victim_identified=form.cleaned_data["victim_identified"],
            series=form.cleaned_data["series"],
        )  # fmt: skip
    except CasebridgeError as exc:
        messages.error(request, exc.message)
    else:
        set_name = services.case_classification_set(agency=context.case.agency).name
        messages.success(
            request,
            f"{count} item{'s' if count != 1 else ''} classified into “{set_name}”. "
            "To put back what they were, use Undo under “Last bulk change”.",
        )
    return redirect(target)


@member_required("cases.work")
@refusable
@require_POST
def classification_undo_view(request: HttpRequest, case_id: int, batch_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.WRITE, "classify")
    try:
        batch = selectors.classification_batch_get(context=context, batch_id=batch_id)
        result = services.classification_bulk_undo(acting_user=request.user, batch=batch)
    except NotFoundError:
        raise Http404("No such classification change in this case.") from None
    except CasebridgeError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, result.message)
    return redirect("case-triage", case_id=case_id)


@member_required("cases.work")
@refusable
@require_POST
def rematch_view(request: HttpRequest, case_id: int) -> HttpResponse:
    context = case_or_404(request, case_id, Access.WRITE, "evidence")
    count = services.evidence_rematch(acting_user=request.user, context=context)
    messages.success(request, f"{count} items matched again against your agency's current hash sets.")
    return redirect("case-triage", case_id=case_id)


@member_required("cases.work")
@refusable
def evidence_export_view(request: HttpRequest, case_id: int) -> HttpResponse:
    """The case's evidence as CSV in the hashsets column names (re-importable), with match results."""
    context = case_or_404(request, case_id, Access.READ, "export")
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["md5", "sha1", "sha256", "pdq", "pdq_quality", "size", "media_type", "match", "category"])
    rows = 0
    for item in context.case.evidence.order_by("pk").iterator(chunk_size=5000):
        writer.writerow(
            [
                bytes(item.md5).hex() if item.md5 is not None else "",
                bytes(item.sha1).hex() if item.sha1 is not None else "",
                bytes(item.sha256).hex() if item.sha256 is not None else "",
                bytes(item.pdq).hex() if item.pdq is not None else "",
                item.pdq_quality if item.pdq_quality is not None else "",
                item.size if item.size is not None else "",
                guard(item.media_type),  # free text from an uploaded manifest: inert in a spreadsheet
                item.match_state,
                item.category,
            ]
        )
        rows += 1
    services.evidence_export_record(acting_user=request.user, context=context, rows=rows)
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{context.case.reference}-evidence.csv"'
    return response
