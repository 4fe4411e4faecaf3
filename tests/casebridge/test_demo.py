"""`manage.py seed_demo` (what `make run` does): a usable node, and running it twice changes nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from agencies.models import Membership
from cases.models import Case
from exchange.models import Partner
from hashsets.models import Classification, HashSet
from retention.models import RetentionRule

pytestmark = pytest.mark.django_db


def _state() -> dict:
    return {
        "members": Membership.objects.count(),
        "verified partners": Partner.objects.filter(state="verified").count(),
        "hash sets": HashSet.objects.count(),
        "classifications": Classification.objects.count(),
        "cases": Case.objects.count(),
        "retention rules": RetentionRule.objects.count(),
    }


def test_seed_demo_gives_a_usable_node_and_is_idempotent(settings, capsys):
    settings.DEBUG = True  # the command refuses to run otherwise (demo users have published passwords)
    call_command("seed_demo")
    first = _state()
    assert first["members"] >= 8 and first["verified partners"] == 2 and first["hash sets"] == 2
    assert first["classifications"] == 200 + 110 and first["cases"] == 1
    assert RetentionRule.objects.filter(agency__code="NSP", kind="case", status="closed").exists()
    assert first["retention rules"] == 2 * 6
    call_command("seed_demo")
    assert _state() == first


# --- Issue 19: the first start (`make run` serves with DEMO=1, DEBUG off) ----------------------

ROOT = Path(__file__).resolve().parents[2]
_KEEP = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}


def _clean_env(**extra: str) -> dict[str, str]:
    # Only what a fresh shell has: the suite's production-like variables (keys, DEBUG, hosts) must not leak in.
    env = {k: v for k, v in os.environ.items() if k in _KEEP}
    env.update(extra)
    return env


def _demo(tmp_path: Path, *args: str, **extra: str) -> subprocess.CompletedProcess:
    env = _clean_env(DEMO="1", CASEBRIDGE_VAR_DIR=str(tmp_path), **extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


_WRONG_URL = """
from django.conf import settings
from django.test import Client
response = Client().get("/no/such/page/", HTTP_HOST="127.0.0.1")
print("DEBUG", settings.DEBUG, "STATUS", response.status_code)
print(response.content.decode())
"""


def test_issue19_demo_answers_a_wrong_url_with_the_friendly_404(tmp_path):
    result = _demo(tmp_path, "shell", "-c", _WRONG_URL)
    assert result.returncode == 0, result.stderr
    assert "DEBUG False STATUS 404" in result.stdout
    assert "There is nothing here, or it is not shared with you" in result.stdout  # casebridge/templates/404.html
    assert "DEBUG = True" not in result.stdout and "URLconf" not in result.stdout  # Django's technical 404
    # The demo's keys and secret were generated under var/ (owner-only), loudly.
    for name in ("demo-secret.key", "audit-signing.key", "key-encryption.key"):
        assert (tmp_path / name).stat().st_mode & 0o077 == 0
    assert "DEMO: generated" in result.stderr


def test_issue19_printed_code_hint_works_as_printed(tmp_path):
    assert _demo(tmp_path, "migrate", "--no-input").returncode == 0
    seeded = _demo(tmp_path, "seed_demo")
    assert seeded.returncode == 0, seeded.stderr
    hints = [line for line in seeded.stdout.splitlines() if "totp_code" in line]
    assert len(hints) == 1
    command = hints[0].split(": ", 1)[1]
    # Pasted in a fresh shell in the repository: no DEMO, no venv activated, nothing but what is printed.
    result = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=_clean_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, (command, result.stderr)
    assert re.fullmatch(r"\d{6}", result.stdout.strip()), result.stdout


@pytest.mark.parametrize(
    "production",
    [
        {"ALLOWED_HOSTS": "casebridge.example"},
        {"ALLOWED_HOSTS": "127.0.0.1,*"},
        {"SECRET_KEY": "k" * 20 + "abcdefghijklmnopqrstuvwxyz0123456789"},
        {"KEY_ENCRYPTION_KEY": "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU="},
        {"AUDIT_SIGNING_KEY_FILE": "/run/secrets/audit"},
        {"TRUST_X_FORWARDED_PROTO": "1"},
        {"SECURE_COOKIES": "1"},
    ],
)
def test_issue19_demo_is_refused_next_to_a_real_deployment(tmp_path, production):
    result = _demo(tmp_path, "check", **production)
    assert result.returncode != 0
    assert "DEMO=1 is refused" in result.stderr
    assert not (tmp_path / "demo-secret.key").exists()  # refused before generating anything


def test_issue19_check_deploy_fails_with_demo_on(tmp_path):
    result = _demo(tmp_path, "check", "--deploy", CACHE_URL="redis://127.0.0.1:6379/12")
    assert result.returncode != 0  # an error, not only a warning: fails without --fail-level
    assert "casebridge.E001" in result.stderr


def test_issue19_demo_commands_refuse_outside_demo_or_debug(settings, alice):
    settings.DEBUG = False
    settings.DEMO = False
    with pytest.raises(CommandError, match="DEMO=1 or DEBUG=1"):
        call_command("seed_demo")
    with pytest.raises(CommandError, match="DEMO=1 or DEBUG=1"):
        call_command("totp_code", alice.username)
    assert not Membership.objects.filter(user__username="nsp.investigator").exists()


def test_issue19_demo_commands_run_with_demo(settings, capsys):
    settings.DEBUG = False
    settings.DEMO = True
    call_command("seed_demo")
    assert "DEMO=1 " in capsys.readouterr().out
    call_command("totp_code", "nsp.investigator")
    assert re.fullmatch(r"\d{6}", capsys.readouterr().out.strip())


def test_issue19_oversized_paste_gets_the_friendly_400(client):
    # DEBUG is off here as in the demo: Django's limit (DATA_UPLOAD_MAX_MEMORY_SIZE) answers with our page.
    body = "evidence=" + "A" * (3 * 1024 * 1024)
    response = client.post("/login/", data=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert b"Request not accepted" in response.content and b"Nothing was changed" in response.content
