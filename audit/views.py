"""Auditor UI: browse and filter the log, open entries with proofs, export, verify, see activity."""

from __future__ import annotations

import base64
import json

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from agencies.decorators import member_required
from agencies.selectors import audit_scope_of
from audit import selectors, services
from audit.charts import activity_chart
from audit.export import audit_range_document
from audit.forms import AuditFilterForm
from audit.keys import audit_key_name, audit_public_key_bytes
from audit.note import vkey_from_public_key
from casebridge.errors import CasebridgeError

EXPORT_LIMIT = 50_000


def _scope(request: HttpRequest) -> str:
    """The viewer's scope (its agency's code, or the node auditor's); the guard let only auditors in."""
    scope = audit_scope_of(request.user)
    if scope is None:  # unreachable behind auditor_required; never fall back to a wider scope
        raise Http404("No such page")
    return scope


# Agencies' auditors and the node auditor; `audit_scope` decides which entries each one reads.
auditor_required = member_required("audit.review")


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@auditor_required
def audit_log_view(request: HttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    scope = _scope(request)
    entries = selectors.audit_entries(filters=form.filters(), scope=scope)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    services.audit_view_record(
        acting_user=request.user, what="audit_log", details={"filters": form.active(), "page": page.number}
    )
    return render(
        request,
        "audit/log.html",
        {
            "form": form,
            "page": page,
            "overview": selectors.audit_overview(),
            "chart": activity_chart(selectors.activity_by_family(scope=scope, hours=48)),
            "query": request.GET.urlencode(),
        },
    )


@auditor_required
def audit_entry_view(request: HttpRequest, index: int) -> HttpResponse:
    try:
        entry = selectors.audit_entry_get(index=index, scope=_scope(request))
    except CasebridgeError:
        raise Http404("No such entry") from None
    proof = None
    proof_error = ""
    try:
        proof = selectors.inclusion_proof(index=index)
    except CasebridgeError as exc:
        proof_error = exc.message  # entry newer than the latest checkpoint: explained on the page
    services.audit_view_record(acting_user=request.user, what="audit_entry", object_id=index)
    body = json.loads(entry.canonical)
    return render(
        request,
        "audit/entry.html",
        {
            "entry": entry,
            "body_pretty": json.dumps(body, indent=2, ensure_ascii=False),
            "leaf_hash": bytes(entry.leaf_hash).hex(),
            "proof": proof,
            "proof_path": [p.hex() for p in proof["inclusion_path"]] if proof else [],
            "proof_error": proof_error,
            "checkpoint": selectors.checkpoint_latest(),
        },
    )


@auditor_required
def audit_checkpoint_view(request: HttpRequest) -> HttpResponse:
    latest = selectors.checkpoint_latest()
    services.audit_view_record(
        acting_user=request.user, what="audit_checkpoint", object_id=latest.size if latest else ""
    )
    return render(
        request,
        "audit/checkpoint.html",
        {
            "checkpoint": latest,
            "cosignatures": selectors.cosignatures_for(size=latest.size) if latest else [],
            "vkey": vkey_from_public_key(audit_key_name(), audit_public_key_bytes()),
        },
    )


@auditor_required
def audit_export_view(request: HttpRequest) -> HttpResponse:
    """A filtered range as a range export: each entry with its inclusion proof to the latest checkpoint.

    `python -m audit.verify audit-range-*.json --key <node vkey>` checks it offline (docs/audit-log.md).
    """
    form = AuditFilterForm(request.GET or None)
    latest = selectors.checkpoint_latest()
    if latest is None:
        return render(request, "audit/empty_export.html", status=409)
    entries = selectors.audit_entries(filters=form.filters(), scope=_scope(request))
    entries = list(entries.filter(index__lt=latest.size).defer(None).order_by("index")[:EXPORT_LIMIT])
    document = audit_range_document(
        entries,
        latest=latest,
        contiguous=False,
        filters=form.active(),
        truncated_at=EXPORT_LIMIT if len(entries) == EXPORT_LIMIT else None,
    )
    services.audit_export_record(acting_user=request.user, count=len(entries), filters=form.active())
    response = HttpResponse(json.dumps(document, indent=1, ensure_ascii=False), content_type="application/json")
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="audit-range-{stamp}.json"'
    return response


@auditor_required
@require_http_methods(["GET", "POST"])
def audit_verify_view(request: HttpRequest) -> HttpResponse:
    result = None
    if request.method == "POST":
        result = services.audit_verify_run(acting_user=request.user)
    else:
        services.audit_view_record(acting_user=request.user, what="audit_verification")
    return render(request, "audit/verify.html", {"result": result, "overview": selectors.audit_overview()})
