"""L3: failed logins naming an existing user are audit entries of that user's agency, so its
auditors see attacks on its accounts and other agencies' auditors do not; unknown usernames stay
node-level entries."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from tests.conftest import PASSWORD, current_code

pytestmark = pytest.mark.django_db


def _login(client, username, password):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_l3_failed_password_of_a_user_is_an_entry_of_their_agency(alice, charlie):
    _login(Client(), "alice", "wrong")
    _login(Client(), "ALICE", "wrong")  # the throttle ignores case; so does the attribution
    _login(Client(), "charlie", "wrong")
    audit_integrate()
    entries = AuditEntry.objects.filter(action="auth.login_failed").order_by("index")
    assert [(e.agency_code, e.object_id) for e in entries] == [
        ("NSP", str(alice.pk)),
        ("NSP", str(alice.pk)),
        ("RNP", str(charlie.pk)),
    ]
    assert all(e.actor_type == "anonymous" for e in entries)  # who typed it is not known


def test_l3_wrong_code_after_right_password_is_an_entry_of_their_agency(alice):
    client = Client()
    _login(client, "alice", PASSWORD)
    wrong = f"{(int(current_code(alice)) + 1) % 1_000_000:06d}"
    client.post(reverse("login-verify"), {"code": wrong})
    audit_integrate()
    entry = AuditEntry.objects.get(action="auth.mfa_failed")
    assert entry.agency_code == "NSP" and entry.actor_name == "alice"


def test_l3_lockout_of_a_user_is_an_entry_of_their_agency(alice, settings):
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(Client(), "alice", "wrong")
    audit_integrate()
    assert AuditEntry.objects.get(action="auth.lockout").agency_code == "NSP"


def test_l3_unknown_username_stays_node_level(alice):
    _login(Client(), "mallory", "wrong")
    audit_integrate()
    entry = AuditEntry.objects.get(action="auth.login_failed")
    assert entry.agency_code == "" and entry.object_id == "" and entry.actor_name == "mallory"
