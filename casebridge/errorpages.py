"""Error pages: plain words for people, problem details for API clients, never a stack trace."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from casebridge.api import DATABASE_UNAVAILABLE, DATABASE_UNAVAILABLE_DETAIL, RETRY_AFTER_SECONDS


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _problem(status: int, title: str, detail: str) -> JsonResponse:
    return JsonResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status=status,
        content_type="application/problem+json",
    )


def not_found(request: HttpRequest, exception=None) -> HttpResponse:
    if _wants_json(request):
        return _problem(404, "Not found", "No such resource, or you may not see it.")
    return render(request, "404.html", status=404)


def forbidden(request: HttpRequest, exception=None) -> HttpResponse:
    if _wants_json(request):
        return _problem(403, "Forbidden", "You may not do this.")
    return render(request, "403.html", status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its `except`, so the error being handled is still at hand.
    if isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        return _database_unavailable(request)
    if _wants_json(request):
        return _problem(500, "Internal error", "The node could not complete the request; quote the X-Request-ID.")
    return render(request, "500.html", status=500)


def _database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After, and no template: rendering one may itself need the database."""
    if _wants_json(request):
        response = _problem(503, "Service unavailable", DATABASE_UNAVAILABLE_DETAIL)
    else:
        response = HttpResponse(
            "<!doctype html><title>Casebridge: try again shortly</title>"
            f"<h1>Casebridge is briefly unavailable</h1><p>{DATABASE_UNAVAILABLE_DETAIL}</p>",
            status=503,
        )
    response["Retry-After"] = RETRY_AFTER_SECONDS
    return response
