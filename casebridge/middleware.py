"""Request context: a request id for every request, carried into audit entries and responses."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from urllib.parse import unquote_plus

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    source_address: str


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled. Behind a proxy, the deployment guide
    # has the proxy speak the PROXY protocol to gunicorn (--proxy-protocol), which sets REMOTE_ADDR.
    return request.META.get("REMOTE_ADDR", "") or ""


class RequestIdMiddleware:
    """Tags each request with an id (a caller's valid X-Request-ID is kept) for tracing and audit."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID_RE.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = current_request.set(RequestContext(request_id=request_id, source_address=client_address(request)))
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response["X-Request-ID"] = request_id
        return response


class NulCharacterRejectMiddleware:
    """Refuses (400) a URL whose path or query holds a NUL character.

    No legitimate request has one, and PostgreSQL text cannot hold one: left through, it ends as a
    500 deep inside whichever query first compares it (a search box, an agency code, a filter).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or "\x00" in unquote_plus(request.META.get("QUERY_STRING", "")):
            detail = "A NUL character is not allowed in a URL."
            if request.path.startswith("/api/"):
                body = {"type": "about:blank", "title": "Bad request", "status": 400, "detail": detail}
                return JsonResponse(body, status=400, content_type="application/problem+json")
            return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
