"""Shared API plumbing: RFC 9457 problem details for every error, and pagination.

The API's one JSON parser is `casebridge.parsers.JSONParser` (its own module: DRF imports parsers
while defining APIView, which this module imports)."""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"

# The database went away (restart, failover, network): the request did not complete, and the
# client should simply try again shortly. Django's connection health checks reconnect by themselves.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE_DETAIL = (
    "The database is not reachable at the moment, so the request was not completed. Try again in a few seconds."
)
RETRY_AFTER_SECONDS = "5"


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


# A view whose GET answers one page: {count, next, previous, results}. `pagination_class` is what
# pages the list (see `paginated`) and also what drf-spectacular reads: with a `many=True` response
# it documents the 200 answer as that page and adds the `page` and `page_size` parameters. (No
# docstring: drf-spectacular would show it as the description of every operation of every subclass.)
class PaginatedView(APIView):
    pagination_class = Pagination


def paginated(request, view: PaginatedView, items, serializer_class, context: dict | None = None):
    """(paginator, the page's items, the response) for `items` serialized with `serializer_class`."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(items, request, view=view)
    data = serializer_class(page, many=True, context=context or {}).data
    return paginator, page, paginator.get_paginated_response(data)


def problem_response(
    *, status_code: int, title: str, detail: str, extra: dict[str, Any] | None = None, headers=None
) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status_code,
        "detail": detail,
    }
    if extra:
        body["errors"] = extra
    response = Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
    return response


def _detail_text(detail: Any) -> str:
    if isinstance(detail, list):
        return " ".join(_detail_text(item) for item in detail)
    if isinstance(detail, dict):
        return "; ".join(f"{key}: {_detail_text(value)}" for key, value in detail.items())
    return str(detail)


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Every API error, expected or not, leaves as application/problem+json without internals."""
    from casebridge.errors import CasebridgeError

    if isinstance(exc, CasebridgeError):
        return problem_response(
            status_code=exc.status_code, title=exc.title, detail=exc.message, extra=exc.extra or None
        )
    from casebridge.parsers import too_large

    if isinstance(exc, RequestDataTooBig):  # Django's own limit, met where a body is read whole
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
        return problem_exception_handler(too_large(limit), context)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, DATABASE_UNAVAILABLE):
        logger.warning("database unavailable: %s", exc)
        return problem_response(
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            title="Service unavailable",
            detail=DATABASE_UNAVAILABLE_DETAIL,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    response = exception_handler(exc, context)
    if response is None:
        logger.exception("unhandled API error", exc_info=exc)
        return problem_response(
            status_code=status.HTTP_500_INTERNAL_SERVER_ERROR,
            title="Internal error",
            detail="The node could not complete the request. It has been logged; quote the X-Request-ID.",
        )
    data = response.data
    extra = None
    if isinstance(exc, exceptions.ValidationError):
        detail = "The request has invalid fields."
        extra = data if isinstance(data, dict) else {"non_field_errors": data}
    else:
        detail = _detail_text(data.get("detail", data) if isinstance(data, dict) else data)
    title = getattr(exc, "default_detail", "Error")
    return problem_response(
        status_code=response.status_code,
        title=str(title).rstrip("."),
        detail=detail,
        extra=extra,
        headers={k: v for k, v in response.items() if k in {"Retry-After", "WWW-Authenticate", "Allow"}},
    )
