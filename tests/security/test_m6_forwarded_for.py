"""M6: behind nginx every client had the proxy's address, so five guesses locked any account.

The node now believes X-Forwarded-For only from a peer in TRUSTED_PROXIES, reading it from the
right (the hops the proxies appended) and stopping at the first untrusted hop. One helper
(`casebridge.middleware.client_address`) serves the login throttle, the partner rate limit and the
audit entry's source address; `check --deploy` warns behind a proxy without TRUSTED_PROXIES.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from django.test import RequestFactory
from django.urls import reverse

from agencies.models import LoginThrottle
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from casebridge.lib.env import ImproperlyConfiguredEnv, env_networks
from casebridge.middleware import client_address
from tests.conftest import PASSWORD, current_code
from tests.test_settings import GOOD_KEY, ROOT

pytestmark = pytest.mark.django_db

PROXY = "10.0.0.5"
CLIENT = "198.51.100.7"


def _request(peer: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": peer}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_m6_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    assert client_address(_request(CLIENT, "203.0.113.99")) == CLIENT
    settings.TRUSTED_PROXIES = []  # the default: nobody's header is believed
    assert client_address(_request(PROXY, "203.0.113.99")) == PROXY


def test_m6_forwarded_for_from_a_trusted_proxy_is_honoured_rightmost_untrusted_hop(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24", "2001:db8::/32"]
    assert client_address(_request(PROXY, CLIENT)) == CLIENT
    # The client wrote the left part itself; nginx appended the address it saw on the right.
    assert client_address(_request(PROXY, f"203.0.113.99, 192.0.2.1, {CLIENT}")) == CLIENT
    # A chain of trusted proxies is walked through to the first address that is not one of them.
    assert client_address(_request(PROXY, f"203.0.113.99, {CLIENT}, 10.0.0.9")) == CLIENT
    assert client_address(_request("2001:db8::1", "2001:db8:0:0::2, [2001:db8:ffff::7]")) == "2001:db8::2"
    # Junk where the proxy's hop should be: stop at the last address known, never at the junk.
    assert client_address(_request(PROXY, f"{CLIENT}, <script>")) == PROXY
    assert client_address(_request(PROXY, "")) == PROXY
    assert client_address(_request(f"::ffff:{PROXY}", CLIENT)) == CLIENT


def test_m6_login_lockout_behind_a_trusted_proxy_is_per_client(client, alice, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    url = reverse("login")
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(url, {"username": "alice", "password": "wrong"}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=CLIENT)
    assert LoginThrottle.objects.get(username="alice", address=CLIENT).locked_until is not None
    # Alice, from her own address through the same proxy, is not locked out by the stranger.
    response = client.post(
        url, {"username": "alice", "password": PASSWORD}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.44"
    )
    assert response.status_code == 302 and response.url == reverse("login-verify")
    response = client.post(
        reverse("login-verify"), {"code": current_code(alice)}, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="192.0.2.44"
    )
    assert response.status_code == 302 and response.url == reverse("dashboard")
    audit_integrate()
    failed = AuditEntry.objects.filter(action="auth.login_failed")
    assert {json.loads(entry.canonical)["source"] for entry in failed} == {CLIENT}
    assert json.loads(AuditEntry.objects.get(action="auth.login").canonical)["source"] == "192.0.2.44"


def test_m6_spoofed_header_does_not_dodge_the_lockout(client, alice, settings):
    settings.TRUSTED_PROXIES = []
    url = reverse("login")
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        client.post(url, {"username": "alice", "password": "wrong"}, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")
    response = client.post(url, {"username": "alice", "password": PASSWORD}, HTTP_X_FORWARDED_FOR="203.0.113.200")
    assert response.status_code == 200 and "locked until" in response.content.decode()


def test_m6_trusted_proxies_setting_is_validated(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8, 172.18.0.1")
    assert env_networks("TRUSTED_PROXIES") == ["10.0.0.0/8", "172.18.0.1/32"]
    monkeypatch.setenv("TRUSTED_PROXIES", "nginx")
    with pytest.raises(ImproperlyConfiguredEnv, match="TRUSTED_PROXIES must list CIDR"):
        env_networks("TRUSTED_PROXIES")
    monkeypatch.setenv("TRUSTED_PROXIES", "0.0.0.0/0")
    with pytest.raises(ImproperlyConfiguredEnv, match="trusting every address"):
        env_networks("TRUSTED_PROXIES")


def _check_deploy(tmp_path, **extra: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": "/usr/bin:/bin",
        "DEBUG": "0",
        "SECRET_KEY": GOOD_KEY,
        "ALLOWED_HOSTS": "casebridge.example",
        "CASEBRIDGE_VAR_DIR": str(tmp_path),
        "CACHE_URL": "redis://127.0.0.1:6379/12",
        **extra,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_m6_check_deploy_warns_behind_a_proxy_without_trusted_proxies(tmp_path):
    behind = _check_deploy(tmp_path, TRUST_X_FORWARDED_PROTO="1")
    assert behind.returncode != 0
    assert "casebridge.W002" in behind.stderr and "TRUSTED_PROXIES is empty" in behind.stderr
    assert "lock an account for everyone" in behind.stderr
    configured = _check_deploy(tmp_path, TRUST_X_FORWARDED_PROTO="1", TRUSTED_PROXIES="172.18.0.1")
    assert configured.returncode == 0, configured.stderr
    proxy_protocol = _check_deploy(
        tmp_path, TRUST_X_FORWARDED_PROTO="1", GUNICORN_CMD_ARGS="--proxy-protocol v2 --proxy-allow-from 172.18.0.1"
    )
    assert proxy_protocol.returncode == 0, proxy_protocol.stderr
