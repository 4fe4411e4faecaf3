"""Project-level pages: the dashboard per role, and health probes for load balancers."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from agencies.decorators import member_required
from agencies.selectors import membership_of
from casebridge.dashboard import dashboard_context

logger = logging.getLogger(__name__)


@member_required("dashboard")
def dashboard_view(request: HttpRequest) -> HttpResponse:
    if membership_of(request.user) is None:  # the node auditor: its one job is the node's log
        return redirect("audit-log")
    return render(request, "dashboard.html", dashboard_context(user=request.user))


@never_cache
def healthz_view(request: HttpRequest) -> HttpResponse:
    """The process is alive and serving. No dependencies checked, so a DB outage doesn't restart web."""
    return JsonResponse({"status": "ok"})


def _database_ready() -> str | None:
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; the reason is reported
        logger.warning("readiness: database unreachable: %s", exc.__class__.__name__)
        connection.close_if_unusable_or_obsolete()
        return "database unreachable"
    return None


def _broker_ready() -> str | None:
    if not settings.CELERY_BROKER_URL:
        return None  # in-process tasks: nothing to reach
    from casebridge.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # noqa: BLE001
        logger.warning("readiness: broker unreachable: %s", exc.__class__.__name__)
        return "broker unreachable"
    return None


@never_cache
def readyz_view(request: HttpRequest) -> HttpResponse:
    """Database and broker reachable: ready to take traffic."""
    problems = [problem for problem in (_database_ready(), _broker_ready()) if problem]
    status = 503 if problems else 200
    return JsonResponse({"status": "unavailable" if problems else "ok", "problems": problems}, status=status)
