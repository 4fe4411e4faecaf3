"""L5: failed logins of unknown usernames are audited one by one up to a budget per source
address and window; the rest of the window becomes one summary entry, so a flood cannot grow
the append-only log without bound. Failures on existing users are always audited one by one."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agencies.models import LoginFailureBudget
from agencies.services import login_failure_summaries_write
from agencies.tasks import login_failure_summaries_task
from audit.integrator import audit_integrate
from audit.models import AuditEntry, AuditPending

pytestmark = pytest.mark.django_db

BUDGET = 3


@pytest.fixture(autouse=True)
def _small_budget(settings):
    settings.LOGIN_ANONYMOUS_AUDIT_PER_WINDOW = BUDGET
    settings.LOGIN_FAILURE_LIMIT = 1000  # the lockout is not what this module tests
    # Windows are aligned to the clock: a day-long one keeps a flood from straddling two windows
    # (two budgets and a summary) when a test happens to run across a boundary.
    settings.LOGIN_ANONYMOUS_AUDIT_WINDOW_SECONDS = 86_400


def _flood(address: str, count: int, *, username: str = "") -> None:
    client = Client(REMOTE_ADDR=address)
    for n in range(count):
        client.post(reverse("login"), {"username": username or f"made-up-{n}", "password": "x"})


def _close_windows(settings) -> None:
    later = timezone.now() + timedelta(seconds=settings.LOGIN_ANONYMOUS_AUDIT_WINDOW_SECONDS + 1)
    login_failure_summaries_write(now=later)


def test_l5_flood_of_unknown_usernames_adds_a_bounded_number_of_entries(settings):
    _flood("203.0.113.50", 40)
    assert AuditPending.objects.count() == BUDGET  # not 40 (and not one per lockout either)
    _close_windows(settings)
    audit_integrate()
    entries = AuditEntry.objects.filter(action="auth.login_failed").order_by("index")
    assert entries.count() == BUDGET + 1
    summary = json.loads(entries.last().canonical)
    assert summary["details"]["summary"] is True
    assert summary["details"]["count"] == 40 - BUDGET and summary["details"]["address"] == "203.0.113.50"
    assert summary["agency"] == ""  # node-level, like the entries it sums up
    assert not LoginFailureBudget.objects.exists()  # the bookkeeping does not grow either


def test_l5_budget_is_per_address(settings):
    _flood("203.0.113.50", 10)
    _flood("198.51.100.7", 2)
    audit_integrate()
    sources = list(AuditEntry.objects.filter(action="auth.login_failed").values_list("canonical", flat=True))
    addresses = [json.loads(c)["details"]["address"] for c in sources]
    assert addresses.count("203.0.113.50") == BUDGET and addresses.count("198.51.100.7") == 2


def test_l5_failures_on_an_existing_user_are_all_audited(alice):
    _flood("203.0.113.50", BUDGET + 5)  # exhaust the anonymous budget of this address
    _flood("203.0.113.50", 10, username="alice")
    audit_integrate()
    assert AuditEntry.objects.filter(action="auth.login_failed", agency_code="NSP").count() == 10


def test_l5_summary_of_a_closed_window_is_written_by_the_periodic_task(settings):
    _flood("203.0.113.50", BUDGET + 2)
    assert login_failure_summaries_task() == 0  # the window is still open
    budget = LoginFailureBudget.objects.get()
    budget.window_start -= timedelta(seconds=settings.LOGIN_ANONYMOUS_AUDIT_WINDOW_SECONDS)
    budget.save(update_fields=["window_start"])
    assert login_failure_summaries_task() == 1
    assert login_failure_summaries_task() == 0  # once


def test_l5_the_node_console_login_keeps_the_same_budget():
    """/operator/login/ shares the budget: the route layer adds no entry of its own per failure."""
    client = Client(REMOTE_ADDR="203.0.113.51")
    for n in range(30):
        client.post("/operator/login/", {"username": f"made-up-{n}", "password": "x", "otp_token": "123456"})
    bodies = [json.loads(p.body) for p in AuditPending.objects.order_by("id")]
    assert len(bodies) == BUDGET, [(b["action"], b.get("object"), b.get("reason")) for b in bodies]


def test_l5_showing_the_sign_in_form_adds_no_entry():
    """Anyone may load the login page: a flood of GETs must not grow the append-only log."""
    client = Client(REMOTE_ADDR="203.0.113.52")
    for _ in range(20):
        assert client.get(reverse("login")).status_code == 200
        assert client.get("/operator/login/").status_code == 200
    assert AuditPending.objects.count() == 0
