from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from agencies.models import Authenticator as TOTPDevice  # seeds stored wrapped (L4)
from agencies.models import LoginThrottle
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from tests.conftest import PASSWORD, current_code

pytestmark = pytest.mark.django_db


def _password_step(client, username, password=PASSWORD):
    return client.post(reverse("login"), {"username": username, "password": password})


def _actions() -> list[str]:
    audit_integrate()
    return list(AuditEntry.objects.order_by("index").values_list("action", flat=True))


def test_password_alone_does_not_log_in(client, alice):
    response = _password_step(client, "alice")
    assert response.status_code == 302 and response.url == reverse("login-verify")
    dashboard = client.get(reverse("dashboard"))
    assert dashboard.status_code == 302 and dashboard.url.startswith(reverse("login"))
    assert client.get("/api/v1/me").status_code in (401, 403)


def test_password_then_code_logs_in_and_is_audited(client, alice):
    _password_step(client, "alice")
    response = client.post(reverse("login-verify"), {"code": current_code(alice)})
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert client.get(reverse("dashboard")).status_code == 200
    assert "auth.login" in _actions()


def test_wrong_code_is_refused_and_audited(client, alice):
    _password_step(client, "alice")
    good = current_code(alice)
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    response = client.post(reverse("login-verify"), {"code": wrong})
    assert response.status_code == 200
    assert "not right" in response.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302
    assert "auth.mfa_failed" in _actions()


def test_a_code_sent_during_the_wait_after_a_wrong_one_is_refused_and_audited(client, alice):
    """Issue 14: a rate-limited one-time code is a refusal like any other, and lands in alice's agency."""
    _password_step(client, "alice")
    good = current_code(alice)
    client.post(reverse("login-verify"), {"code": f"{(int(good) + 1) % 1_000_000:06d}"})
    response = client.post(reverse("login-verify"), {"code": good})  # at once: django-otp is still waiting
    assert "try again in" in response.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302
    audit_integrate()
    (throttled,) = AuditEntry.objects.filter(action="auth.mfa_failed", outcome="denied")
    body = json.loads(throttled.canonical)
    assert throttled.agency_code == "NSP" and "rate limited" in body["reason"]


def test_lockout_after_repeated_failures_refuses_even_the_right_password(client, alice, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _password_step(client, "alice", "wrong-password")
    response = _password_step(client, "alice")
    assert response.status_code == 200
    assert "locked until" in response.content.decode()
    actions = _actions()
    # The wrong ones, and the right one refused unchecked while the lock runs (a refusal is audited).
    assert actions.count("auth.login_failed") == settings.LOGIN_FAILURE_LIMIT + 1
    assert AuditEntry.objects.filter(action="auth.login_failed", outcome="denied").count() == 1
    assert "auth.lockout" in actions


def test_lock_expires(client, alice, settings):
    LoginThrottle.objects.create(
        username="alice", address="127.0.0.1", failures=9, locked_until=timezone.now() - timedelta(seconds=1)
    )
    response = _password_step(client, "alice")
    assert response.status_code == 302


def test_failures_from_one_address_do_not_lock_the_owner_out_elsewhere(settings, alice):
    """A stranger who knows a username locks out only the address they guess from."""
    stranger, owner = Client(REMOTE_ADDR="203.0.113.7"), Client(REMOTE_ADDR="198.51.100.20")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _password_step(stranger, "alice", "wrong-password")
    assert "locked until" in _password_step(stranger, "alice").content.decode()  # even the right password
    assert _password_step(owner, "alice").status_code == 302  # the owner, from their own address, goes on
    assert "auth.lockout" in _actions()


def test_guessing_spread_over_many_addresses_locks_the_account(settings, alice):
    settings.LOGIN_ACCOUNT_FAILURE_LIMIT = 12
    for n in range(settings.LOGIN_ACCOUNT_FAILURE_LIMIT):
        _password_step(Client(REMOTE_ADDR=f"203.0.113.{n}"), "alice", "wrong-password")  # below each address's limit
    response = _password_step(Client(REMOTE_ADDR="198.51.100.20"), "alice")
    assert "locked until" in response.content.decode()


def test_unknown_user_is_throttled_like_a_real_one(client, db, settings):
    """The lockout says nothing about whether an account exists."""
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        response = _password_step(client, "nobody-here", "x")
    assert "locked until" in response.content.decode()


def test_enrolment_after_an_approved_reset_shows_a_qr_code(client, alice, adam, agency_a):
    """Re-enrolment at login opens only after an MFA reset was cleared (here by a second admin)."""
    from agencies.models import Role
    from agencies.services import user_mfa_reenrol_approve, user_mfa_reset
    from tests.conftest import make_member

    user_mfa_reset(acting_user=adam, user=alice)
    user_mfa_reenrol_approve(acting_user=make_member(agency_a, Role.AGENCY_ADMIN, "adele"), user=alice)
    response = _password_step(client, "alice")
    assert response.url == reverse("login-enrol")
    page = client.get(reverse("login-enrol"))
    assert b"data:image/svg+xml" in page.content
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    from django_otp.oath import totp

    code = f"{totp(device.bin_key):06d}"
    response = client.post(reverse("login-enrol"), {"code": code})
    assert response.status_code == 200 and len(response.context["codes"]) == 10  # new recovery codes, once
    assert TOTPDevice.objects.get(user=alice).confirmed
    assert "auth.mfa_enrolled" in _actions()


def test_idle_session_is_ended(client, alice, settings):
    from tests.conftest import login_verified

    login_verified(client, alice)
    assert client.get(reverse("dashboard")).status_code == 200
    session = client.session
    session["casebridge_last_seen"] = (
        session["casebridge_last_seen"] - settings.SESSION_IDLE_TIMEOUT.total_seconds() - 5
    )
    session.save()
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert "auth.session_expired" in _actions()


def test_open_redirect_after_login_is_refused(client, alice):
    client.post(reverse("login") + "?next=https://evil.example/", {"username": "alice", "password": PASSWORD})
    response = client.post(reverse("login-verify"), {"code": current_code(alice)})
    assert response.url == reverse("dashboard")


def test_security_headers_and_strict_csp(client, db):
    response = client.get(reverse("login"))
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Request-ID"]
