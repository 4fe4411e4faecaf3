from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_schema_generates_without_warnings(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "spectacular",
            "--validate",
            "--fail-on-warn",
            "--file",
            str(tmp_path / "s.yaml"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    schema = (tmp_path / "s.yaml").read_text()
    assert "/api/v1/me" in schema and "/api/v1/audit/proof/inclusion" in schema


def test_schema_and_docs_are_served(client, as_user, alice):
    as_user(alice)
    assert client.get("/api/v1/schema/").status_code == 200
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_me_for_session_and_refusal_shape(api_client, client, as_user, alice):
    anonymous = api_client.get("/api/v1/me")
    assert anonymous.status_code in (401, 403)
    assert anonymous["Content-Type"] == "application/problem+json"
    assert set(anonymous.json()) >= {"type", "title", "status", "detail"}
    as_user(alice)
    me = client.get("/api/v1/me")
    assert me.status_code == 200 and me.json()["username"] == "alice" and me.json()["role"] == "investigator"


def test_unknown_api_path_is_problem_json(client, db):
    response = client.get("/api/v1/does-not-exist")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"


def test_bad_query_parameter_is_a_clear_problem(client, as_user, alice):
    as_user(alice)
    response = client.get("/api/v1/audit/proof/inclusion?index=abc")
    assert response.status_code == 400
    assert "must be an integer" in response.json()["detail"]


def test_healthz_and_readyz(client, db):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.content


def test_readyz_fails_when_database_unreachable(client, tx_db):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has no server to be unreachable")
    original = connection.settings_dict.copy()
    try:
        connection.close()
        connection.settings_dict["PORT"] = "1"  # nothing listens there: a real failed connection
        connection.settings_dict["NAME"] = str(original["NAME"])
        response = client.get("/readyz")
    finally:
        connection.settings_dict.clear()
        connection.settings_dict.update(original)
        connection.close()
    assert response.status_code == 503
    assert response.json()["problems"] == ["database unreachable"]
