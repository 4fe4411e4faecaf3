"""Settings come from the environment and refuse unsafe or malformed values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from casebridge.lib.env import ImproperlyConfiguredEnv, env_bool, env_int, env_secret

ROOT = Path(__file__).resolve().parent.parent
GOOD_KEY = "k" * 20 + "abcdefghijklmnopqrstuvwxyz0123456789"


def _django(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # Only the variables a test names: the suite's own production-like environment must not leak in.
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}
    clean = {k: v for k, v in os.environ.items() if k in keep}
    clean.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_refuses_to_start_without_secret_key_when_debug_off():
    result = _django({"DEBUG": "0", "ALLOWED_HOSTS": "casebridge.example"}, "check")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "50 characters" in result.stderr


def test_refuses_to_start_without_allowed_hosts_when_debug_off():
    result = _django({"DEBUG": "0", "SECRET_KEY": GOOD_KEY}, "check")
    assert result.returncode != 0 and "ALLOWED_HOSTS" in result.stderr


def test_check_deploy_is_clean_with_production_settings(tmp_path):
    env = {
        "DEBUG": "0",
        "SECRET_KEY": GOOD_KEY,
        "ALLOWED_HOSTS": "casebridge.example",
        "CASEBRIDGE_VAR_DIR": str(tmp_path),
        "CACHE_URL": "redis://127.0.0.1:6379/12",  # shared rate limits, as check --deploy asks
    }
    result = _django(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stderr + result.stdout
    assert "no issues" in result.stdout


def test_bad_boolean_is_refused_with_the_variable_name(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "perhaps")
    with pytest.raises(ImproperlyConfiguredEnv, match="SOME_FLAG"):
        env_bool("SOME_FLAG")


def test_bad_integer_and_range_are_refused(monkeypatch):
    monkeypatch.setenv("SOME_INT", "ten")
    with pytest.raises(ImproperlyConfiguredEnv, match="SOME_INT must be an integer"):
        env_int("SOME_INT", 1)
    monkeypatch.setenv("SOME_INT", "0")
    with pytest.raises(ImproperlyConfiguredEnv, match="at least 1"):
        env_int("SOME_INT", 1, minimum=1)


def test_secret_from_file_and_not_both(monkeypatch, tmp_path):
    secret_file = tmp_path / "secret"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("MY_SECRET_FILE", str(secret_file))
    assert env_secret("MY_SECRET") == "from-a-file"
    monkeypatch.setenv("MY_SECRET", "direct")
    with pytest.raises(ImproperlyConfiguredEnv, match="not both"):
        env_secret("MY_SECRET")
    monkeypatch.delenv("MY_SECRET")
    monkeypatch.setenv("MY_SECRET_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfiguredEnv, match="cannot be read"):
        env_secret("MY_SECRET")


def test_bad_database_url_scheme_is_refused():
    result = _django({"DEBUG": "1", "DATABASE_URL": "mysql://x@y/z"}, "check")
    assert result.returncode != 0 and "postgres://" in result.stderr
