"""Browser-facing defences: CSRF on every form, a strict CSP that the pages really keep (no inline
script or style), framing refused, cookies out of reach of scripts, HSTS and `check --deploy` with
production settings, and a login that does not tell which accounts exist.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from tests.conftest import PASSWORD, current_code
from tests.hardening.conftest import PERSONAS, fast_client
from tests.hardening.test_url_matrix import MATRIX, _url

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
UI_NAMES = [name for name in MATRIX if not name.startswith("api-") and name not in {"healthz", "readyz"}]


# --- CSRF ---------------------------------------------------------------------------------------


def _poster(row) -> str:
    """The persona who may legitimately POST here (first with a non-login, non-refused answer)."""
    for persona, expected in zip(PERSONAS, row.expect, strict=True):
        if expected in (200, 302, 405, 400):
            return persona
    return "anon"


def test_every_ui_url_refuses_a_post_without_csrf_token(world):
    wrong = []
    for name in UI_NAMES:
        row = MATRIX[name]
        persona = _poster(row)
        client = world.client(persona, enforce_csrf_checks=True)
        url = _url(name, world)
        with transaction.atomic():
            response = client.post(url, {"title": "forged", "action": "deactivate", "decision": "approve"})
            transaction.set_rollback(True)
        if response.status_code != 403 or b"CSRF" not in response.content:
            wrong.append(f"  POST {url} ({name}) as {persona}: {response.status_code}")
    assert not wrong, "POSTs without a CSRF token were not refused:\n" + "\n".join(wrong)


def test_a_post_with_the_token_goes_through(world):
    """The control for the test above: the same client with the form's token is served."""
    client = world.client("alice", enforce_csrf_checks=True)
    client.get("/account/tokens/")
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    response = client.post("/account/tokens/", {"name": "ci", "days": 30, "csrfmiddlewaretoken": token})
    assert response.status_code == 200 and b"cb_" in response.content


def test_api_session_writes_need_csrf_and_tokens_do_not(world):
    session = world.client("alice", enforce_csrf_checks=True)
    response = session.post("/api/v1/cases/", {"title": "forged"}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    bearer = world.api_client("alice")  # a token is not sent by browsers on their own: no CSRF risk
    assert bearer.post("/api/v1/cases/", {"title": "scripted"}, content_type="application/json").status_code == 201


# --- CSP, inline code, framing ----------------------------------------------------------------------


class _InlineFinder(HTMLParser):
    """Inline script bodies, <style> blocks, style= and on*= attributes: what a strict CSP blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self._script: dict | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        for name in attributes:
            if name == "style" or name.startswith("on"):
                self.problems.append(f"<{tag} {name}=...>")
        if tag == "style":
            self.problems.append("<style> block")
        if tag == "script":
            self._script = attributes
        if tag in {"a", "form", "iframe"} and any(
            (attributes.get(k) or "").strip().lower().startswith("javascript:") for k in ("href", "action", "src")
        ):
            self.problems.append(f"<{tag}> with a javascript: URL")

    def handle_data(self, data):
        if self._script is not None and "src" not in self._script and data.strip():
            if self._script.get("type") not in {"application/json", "application/ld+json"}:
                self.problems.append(f"inline <script>: {data.strip()[:60]!r}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None


def _html_pages(world):
    """(name, persona, response) for every HTML page any persona gets, error pages included."""
    for name, row in MATRIX.items():
        if row.method != "GET":
            continue
        url = _url(name, world) + (f"?{row.query}" if row.query else "")
        for persona, expected in zip(PERSONAS, row.expect, strict=True):
            if expected not in (200, 403, 404):
                continue
            with transaction.atomic():
                response = world.client(persona).get(url)
                transaction.set_rollback(True)
            if response.get("Content-Type", "").startswith("text/html"):
                yield name, persona, response


def test_every_html_page_has_strict_csp_no_inline_code_and_no_framing(world):
    wrong = []
    pages = 0
    for name, persona, response in _html_pages(world):
        pages += 1
        where = f"{name} as {persona}"
        csp = response.get("Content-Security-Policy", "")
        if not csp or "unsafe-inline" in csp or "unsafe-eval" in csp or "script-src 'self'" not in csp:
            wrong.append(f"  {where}: CSP {csp!r}")
        if "frame-ancestors 'none'" not in csp or response.get("X-Frame-Options") != "DENY":
            wrong.append(f"  {where}: framing allowed (X-Frame-Options {response.get('X-Frame-Options')!r})")
        if response.get("X-Content-Type-Options") != "nosniff":
            wrong.append(f"  {where}: no X-Content-Type-Options: nosniff")
        finder = _InlineFinder()
        finder.feed(response.content.decode("utf-8"))
        wrong.extend(f"  {where}: {problem}" for problem in finder.problems)
    assert pages > 100, f"only {pages} HTML pages rendered: the sweep lost its pages"
    assert not wrong, "HTML pages break the strict CSP:\n" + "\n".join(wrong)


def test_json_and_file_responses_are_not_sniffable(world):
    api = world.client("alice").get("/api/v1/me")
    export = world.client("alice").get(f"/hashsets/{world.kwargs['hashset_id']}/export/?format=csv")
    attachment = world.client("alice").get(
        f"/cases/{world.kwargs['case_id']}/attachments/{world.kwargs['attachment_id']}/"
    )
    for response in (api, export, attachment):
        assert response.get("X-Content-Type-Options") == "nosniff"
        assert response.get("X-Frame-Options") == "DENY"
    assert attachment["Content-Disposition"].startswith("attachment;")


# --- cookies and login ---------------------------------------------------------------------------------


def test_login_cookies_are_httponly_and_samesite(alice):
    client = fast_client(enforce_csrf_checks=True)
    client.get("/login/")
    csrf = client.cookies[settings.CSRF_COOKIE_NAME]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    response = client.post("/login/", {"username": "alice", "password": PASSWORD, "csrfmiddlewaretoken": csrf.value})
    assert response.status_code == 302 and response["Location"] == "/login/verify/"
    session = response.cookies[settings.SESSION_COOKIE_NAME]
    assert session["httponly"] and session["samesite"] == "Lax"
    token = client.cookies[settings.CSRF_COOKIE_NAME].value
    done = client.post("/login/verify/", {"code": current_code(alice), "csrfmiddlewaretoken": token})
    assert done.status_code == 302 and done["Location"] == "/"
    assert done.cookies[settings.SESSION_COOKIE_NAME]["httponly"]
    assert client.get("/").status_code == 200


def _login_error(client, username: str, password: str) -> str:
    response = client.post("/login/", {"username": username, "password": password})
    assert response.status_code == 200
    text = response.content.decode()
    start = text.index('role="alert">') + len('role="alert">')
    return text[start : text.index("</div>", start)]


def test_login_does_not_tell_whether_an_account_exists(alice):
    """There is no password reset (accounts are made by agency admins), so the login form is the
    only place that could reveal an account: unknown user and wrong password read the same, and so
    does the lockout that follows repeated failures."""
    client = fast_client()
    unknown = _login_error(client, "nobody-here", "wrong-password-123")
    wrong = _login_error(client, "alice", "wrong-password-123")
    assert unknown == wrong == "Wrong username or password."
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        unknown = _login_error(client, "nobody-here", "wrong-password-123")
        wrong = _login_error(client, "alice", "wrong-password-123")
    assert unknown.startswith("Too many failed attempts.") and unknown == wrong
    # Once locked, even the right password is refused with the same words.
    assert _login_error(client, "alice", PASSWORD) == wrong


def test_no_password_reset_endpoint_exists():
    from django.urls import NoReverseMatch, reverse

    for name in ("password_reset", "password-reset", "password_reset_confirm"):
        with pytest.raises(NoReverseMatch):
            reverse(name)
    assert fast_client().get("/password_reset/").status_code == 404


# --- production settings ------------------------------------------------------------------------------

PRODUCTION_PROBE = r"""
import json
from django.test import Client
c = Client()
https = c.get("/login/", secure=True, HTTP_HOST="casebridge.example")
http = c.get("/login/", HTTP_HOST="casebridge.example")
health = c.get("/healthz", HTTP_HOST="casebridge.example")
print(json.dumps({
    "status": https.status_code,
    "hsts": https.get("Strict-Transport-Security", ""),
    "http_status": http.status_code,
    "http_location": http.get("Location", ""),
    "health_status": health.status_code,
    "cookies": {name: {"secure": bool(m["secure"]), "httponly": bool(m["httponly"]), "samesite": m["samesite"]}
                for name, m in https.cookies.items()},
}))
"""


def _production(tmp_path, *args: str, **overrides: str) -> subprocess.CompletedProcess:
    # A minimal environment: the suite's relaxed SECURE_* overrides must not leak in.
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(
        DEBUG="0",
        SECRET_KEY="p" * 20 + "roductionKEYabcdefghijklmnopqrstuvwxyz0123456789",
        ALLOWED_HOSTS="casebridge.example",
        CASEBRIDGE_VAR_DIR=str(tmp_path),
        CACHE_URL="redis://127.0.0.1:6379/12",  # as on a production node (the check does not connect)
    )
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )


def test_production_settings_send_hsts_and_secure_cookies(tmp_path):
    result = _production(tmp_path, "shell", "-c", PRODUCTION_PROBE)
    assert result.returncode == 0, result.stderr
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["status"] == 200
    assert probe["hsts"] == "max-age=31536000; includeSubDomains; preload"
    assert probe["http_status"] == 301 and probe["http_location"] == "https://casebridge.example/login/"
    assert probe["health_status"] == 200  # load balancers probe over plain HTTP
    assert probe["cookies"], "the login page sets the CSRF cookie"
    for name, flags in probe["cookies"].items():
        assert name.startswith("__Host-"), name
        assert flags == {"secure": True, "httponly": True, "samesite": "Lax"}, (name, flags)


def test_check_deploy_is_clean(tmp_path):
    result = _production(tmp_path, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_check_deploy_warns_when_rate_limits_are_per_process(tmp_path):
    result = _production(tmp_path, "check", "--deploy", "--fail-level", "WARNING", CACHE_URL="")
    assert result.returncode != 0
    assert "casebridge.W001" in result.stderr + result.stdout and "CACHE_URL" in result.stderr + result.stdout
