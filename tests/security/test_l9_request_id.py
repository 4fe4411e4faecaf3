"""L9: a client's X-Request-ID was written into audit entries as their request id.

The entry's `request_id` is now always the node's own; the caller's value is kept apart, bounded
and reduced to harmless characters, in `details.client_request_id`.
"""

from __future__ import annotations

import json
import re

import pytest

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from casebridge.middleware import CLIENT_REQUEST_ID_MAX_LENGTH

pytestmark = pytest.mark.django_db


def _denied_entries() -> list[dict]:
    audit_integrate()
    return [json.loads(e.canonical) for e in AuditEntry.objects.filter(action="access.denied").order_by("index")]


def test_l9_client_request_id_is_kept_apart_and_the_entry_id_is_the_nodes(client, as_user, alice):
    as_user(alice)
    first = client.get("/audit/", HTTP_X_REQUEST_ID="req-1234567890")
    second = client.get("/audit/", HTTP_X_REQUEST_ID="req-1234567890")  # a client reusing an id
    entries = _denied_entries()
    assert len(entries) == 2
    for entry, response in zip(entries, (first, second), strict=True):
        assert re.fullmatch(r"[0-9a-f]{32}", entry["request_id"])
        assert entry["request_id"] == response["X-Request-ID"]
        assert entry["details"]["client_request_id"] == "req-1234567890"
    assert entries[0]["request_id"] != entries[1]["request_id"]


def test_l9_hostile_client_request_id_is_sanitised_and_bounded(client, as_user, alice):
    as_user(alice)
    client.get("/audit/", HTTP_X_REQUEST_ID="a\u202eb<script>\r\n" + "x" * 500)
    (entry,) = _denied_entries()
    kept = entry["details"]["client_request_id"]
    assert len(kept) == CLIENT_REQUEST_ID_MAX_LENGTH and re.fullmatch(r"[A-Za-z0-9._:-]+", kept)
    assert kept.startswith("abscript")


def test_l9_no_client_request_id_no_detail(client, as_user, alice):
    as_user(alice)
    client.get("/audit/")
    (entry,) = _denied_entries()
    assert "client_request_id" not in entry["details"] and entry["request_id"]
