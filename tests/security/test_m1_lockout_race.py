"""M1: the login lockout is atomic. Parallel wrong passwords are each reserved under a row lock
before the password is checked, so at most the limit are evaluated and the lock then holds."""

from __future__ import annotations

import threading
from unittest import mock

from django.contrib.auth.backends import ModelBackend
from django.db import connection
from django.test import Client
from django.urls import reverse

from agencies.models import LoginThrottle
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from tests.conftest import PASSWORD

PARALLEL = 24


def _parallel_posts(username: str, password: str, count: int, *, url: str = "", extra: dict | None = None) -> list[int]:
    """`count` logins at once, each on its own thread and database connection."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            client = Client(REMOTE_ADDR="203.0.113.9")
            barrier.wait(timeout=30)
            body = {"username": username, "password": password, **(extra or {})}
            statuses.append(client.post(url or reverse("login"), body).status_code)
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    return statuses


def test_m1_parallel_wrong_passwords_evaluate_at_most_the_limit(tx_db, alice, settings):
    checked = []
    real_authenticate = ModelBackend.authenticate

    def counting_authenticate(self, request, username=None, password=None, **kwargs):
        checked.append(username)
        return real_authenticate(self, request, username=username, password=password, **kwargs)

    with mock.patch.object(ModelBackend, "authenticate", counting_authenticate):
        statuses = _parallel_posts("alice", "wrong-password", PARALLEL)
        assert statuses == [200] * PARALLEL  # refused with a message, never a 5xx
        assert len(checked) <= settings.LOGIN_FAILURE_LIMIT, f"{len(checked)} passwords evaluated in parallel"
        throttle = LoginThrottle.objects.get(username="alice", address="203.0.113.9")
        assert throttle.failures == settings.LOGIN_FAILURE_LIMIT and throttle.locked_until is not None

        # The right password is not even checked now: the lock holds.
        before = len(checked)
        response = Client(REMOTE_ADDR="203.0.113.9").post(reverse("login"), {"username": "alice", "password": PASSWORD})
        assert "locked until" in response.content.decode()
        assert len(checked) == before

    audit_integrate()
    failures = AuditEntry.objects.filter(action="auth.login_failed")
    # Each evaluated guess and each refused one is audited, in alice's agency.
    assert failures.filter(outcome="failure").count() == len(checked)
    assert failures.filter(outcome="denied").count() == PARALLEL + 1 - len(checked)
    assert set(failures.values_list("agency_code", flat=True)) == {"NSP"}
    assert AuditEntry.objects.filter(action="auth.lockout").count() == 1


def test_m1_parallel_attempts_on_a_fresh_username_do_not_fail_on_the_new_row(tx_db, settings):
    """The first attempts race to create the throttle row: none gets a 500, none escapes the count."""
    statuses = _parallel_posts("nobody-yet", "x", 8)
    assert statuses == [200] * 8
    assert LoginThrottle.objects.get(username="nobody-yet", address="203.0.113.9").failures == min(
        8, settings.LOGIN_FAILURE_LIMIT
    )


def test_m1_the_node_console_login_reserves_the_attempt_too(tx_db, settings):
    """/operator/ shares the throttle: parallel guesses there are evaluated at most up to the limit."""
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    operator = get_user_model().objects.create_superuser("nodeop", "op@example.org", PASSWORD)
    TOTPDevice.objects.create(user=operator, name="op", confirmed=True)
    checked = []
    real_authenticate = ModelBackend.authenticate

    def counting_authenticate(self, request, username=None, password=None, **kwargs):
        checked.append(username)
        return real_authenticate(self, request, username=username, password=password, **kwargs)

    with mock.patch.object(ModelBackend, "authenticate", counting_authenticate):
        statuses = _parallel_posts(
            "nodeop", "wrong-password", PARALLEL, url="/operator/login/", extra={"otp_token": "000000"}
        )
    assert statuses == [200] * PARALLEL
    assert len(checked) <= settings.LOGIN_FAILURE_LIMIT, f"{len(checked)} passwords evaluated in parallel"
    throttle = LoginThrottle.objects.get(username="nodeop", address="203.0.113.9")
    assert throttle.locked_until is not None
