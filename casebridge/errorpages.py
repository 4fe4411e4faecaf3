"""Error pages: plain words for people, problem details for API clients, never a stack trace."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


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
    if _wants_json(request):
        return _problem(500, "Internal error", "The node could not complete the request; quote the X-Request-ID.")
    return render(request, "500.html", status=500)
