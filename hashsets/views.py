"""Web UI for hash sets: list, create, import with progress, conflicts, export."""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agencies.decorators import member_required
from audit.actions import Action
from audit.capture import actor_for_user, audit_record
from casebridge.errors import CasebridgeError
from casebridge.lib.queue import enqueue_on_commit
from hashsets import selectors, services
from hashsets.formats import FORMATS
from hashsets.forms import ExportForm, HashSetForm, ImportForm
from hashsets.models import Classification
from hashsets.tasks import hashset_import_task


def _visible_or_404(request, hashset_id: int):
    try:
        return selectors.hashset_get(user=request.user, hashset_id=hashset_id)
    except CasebridgeError:
        raise Http404("No such hash set") from None


def _publishable_partners(user) -> list[str]:
    from exchange.models import Partner

    partners = Partner.objects.filter(agency=user.membership.agency, state=Partner.State.VERIFIED).select_related(
        "partner", "agreement"
    )
    return [p.partner.code for p in partners if "hashset" in getattr(p, "agreement", None).data_types]


@member_required("hashsets.view")
def hashset_list_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    sets = selectors.hashsets_visible(user=request.user).order_by("owner__code", "name")
    if search:
        sets = sets.filter(name__icontains=search)
    page = Paginator(sets, 25).get_page(request.GET.get("page"))
    return render(request, "hashsets/list.html", {"page": page, "search": search})


@member_required("hashsets.curate")
@require_http_methods(["GET", "POST"])
def hashset_create_view(request: HttpRequest) -> HttpResponse:
    form = HashSetForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            hashset = services.hashset_create(acting_user=request.user, **form.cleaned_data)
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Hash set “{hashset.name}” created. Import a file to fill it.")
            return redirect("hashset-detail", hashset_id=hashset.pk)
    return render(request, "hashsets/form.html", {"form": form})


@member_required("hashsets.view")
def hashset_detail_view(request: HttpRequest, hashset_id: int) -> HttpResponse:
    hashset = _visible_or_404(request, hashset_id)
    with transaction.atomic():
        audit_record(
            action=Action.HASHSET_VIEW, actor=actor_for_user(request.user), object_type="hashset", object_id=hashset.pk,
            purpose={"code": "investigation"},
        )  # fmt: skip
    live = Classification.objects.filter(hashset=hashset, retracted_at__isnull=True)
    by_category = {row["category"]: row["n"] for row in live.values("category").annotate(n=Count("id"))}
    own = hashset.owner_id == request.user.membership.agency_id
    return render(
        request,
        "hashsets/detail.html",
        {
            "hashset": hashset,
            "own": own,
            "total": sum(by_category.values()),
            "by_category": sorted(by_category.items()),
            "imports": selectors.imports_of(hashset=hashset)[:10],
            "conflicts": selectors.conflicts_in(user=request.user, hashset=hashset, limit=20),
            "import_form": ImportForm(),
            "partners": _publishable_partners(request.user) if own else [],
            "export_form": ExportForm(),
        },
    )


@member_required("hashsets.curate")
@require_POST
def hashset_import_view(request: HttpRequest, hashset_id: int) -> HttpResponse:
    hashset = _visible_or_404(request, hashset_id)
    form = ImportForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a file to import.")
        return redirect("hashset-detail", hashset_id=hashset.pk)
    upload = form.cleaned_data["file"]
    if upload.size > settings.HASHSET_UPLOAD_MAX_BYTES:
        messages.error(request, f"The file is larger than the {settings.HASHSET_UPLOAD_MAX_BYTES:,}-byte limit.")
        return redirect("hashset-detail", hashset_id=hashset.pk)
    try:
        job = services.import_job_create(
            acting_user=request.user, hashset=hashset, file_name=upload.name, total_bytes=upload.size,
            scheme=form.cleaned_data["scheme"] or None, dry_run=form.cleaned_data["dry_run"],
        )  # fmt: skip
    except CasebridgeError as exc:
        messages.error(request, exc.message)
        return redirect("hashset-detail", hashset_id=hashset.pk)
    upload_dir = Path(settings.MEDIA_ROOT) / "imports"
    upload_dir.mkdir(parents=True, exist_ok=True)
    actor = actor_for_user(request.user)
    try:
        stored = _store_upload(upload, upload_dir)
    except OSError as exc:  # e.g. the disk is full: the user is told, nothing is half-stored
        reason = exc.strerror or str(exc)
        services.import_job_fail(job, actor, f"the server could not store the upload ({reason}); tell the operator")
        return redirect("hashset-import", import_id=job.pk)

    def queue_unavailable() -> None:
        stored.unlink(missing_ok=True)
        message = "nothing was imported: the task queue is unavailable; upload the file again in a few minutes"
        services.import_job_fail(job, actor, message)

    skip = form.cleaned_data["skip_invalid"]
    enqueue_on_commit(hashset_import_task, job.pk, str(stored), skip, on_unavailable=queue_unavailable)
    return redirect("hashset-import", import_id=job.pk)


def _store_upload(upload, directory: Path) -> Path:
    """The upload in a file of its own; nothing left behind when writing fails (e.g. a full disk)."""
    fd, name = tempfile.mkstemp(dir=directory, suffix=".upload")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in upload.chunks():
                handle.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@member_required("hashsets.view")
def hashset_import_status_view(request: HttpRequest, import_id: int) -> HttpResponse:
    try:
        job = selectors.import_get(user=request.user, import_id=import_id)
    except CasebridgeError:
        raise Http404("No such import") from None
    percent = services.import_progress(job)
    if request.GET.get("format") == "json":
        return JsonResponse({"status": job.status, "percent": percent, "records": job.records, "error": job.error})
    return render(request, "hashsets/import.html", {"job": job, "percent": percent})


@member_required("hashsets.curate")
def hashset_export_view(request: HttpRequest, hashset_id: int) -> HttpResponse:
    hashset = _visible_or_404(request, hashset_id)
    form = ExportForm(request.GET)
    if not form.is_valid():
        messages.error(request, "Choose an export format.")
        return redirect("hashset-detail", hashset_id=hashset.pk)
    fmt = form.cleaned_data["format"]
    spec = FORMATS[fmt]
    buffer = io.StringIO()
    services.hashset_export(
        actor=actor_for_user(request.user), hashset=hashset, fmt=fmt, out=buffer,
        categories=form.cleaned_data["category"] or None, series=form.cleaned_data["series"] or None,
        purpose={"code": "investigation"},
    )  # fmt: skip
    response = StreamingHttpResponse(iter([buffer.getvalue()]), content_type=f"{spec.content_type}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{hashset.owner.code}-{hashset.pk}-{fmt}{spec.extension}"'
    return response


@member_required("hashsets.curate")
@require_POST
def hashset_publish_view(request: HttpRequest, hashset_id: int) -> HttpResponse:
    """Publish to the chosen partners: a snapshot the first time, then deltas."""
    from exchange.services import ShareRefused
    from hashsets.exchange_kinds import hashset_publish

    hashset = _visible_or_404(request, hashset_id)
    codes = request.POST.getlist("recipients")
    if not codes:
        messages.error(request, "Choose at least one partner to publish to.")
        return redirect("hashset-detail", hashset_id=hashset.pk)
    try:
        services.require_curator(request.user, hashset)
        bundles = hashset_publish(acting_user=request.user, hashset=hashset, recipient_codes=codes)
    except (ShareRefused, CasebridgeError) as exc:
        messages.error(request, exc.message)
    else:
        sent_to = {bundle.recipient_code for bundle in bundles}  # the others wait for a supervisor
        now = [code for code in codes if code in sent_to]
        awaiting = [code for code in codes if code not in sent_to]
        if now:
            messages.success(
                request, f"Version {hashset.version + 1} queued for {', '.join(now)} ({len(bundles)} bundle(s))."
            )
        if awaiting:
            messages.info(
                request,
                f"{', '.join(awaiting)}: the sharing agreement asks a supervisor to approve each share; "
                "the request waits in Exchange, Approvals (another supervisor than you decides).",
            )
    return redirect("hashset-detail", hashset_id=hashset.pk)
