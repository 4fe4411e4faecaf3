"""M2: the node console (/operator/, Django admin) had no lockout, told whether a password was
right, wrote nothing to the audit log, and let the operator make a user agency admin and un-revoke
a token with a 2030 expiry.

Now its login is the main login's throttle, lockout and audit with one message for every mistake;
only a superuser with a one-time code gets in; every page is audited; memberships, tokens, users
and throttles are view-only and one-time-code devices are not shown; creating an agency and
deactivating an account go through the services; no path gives a token more than the cap.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.test import Client
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from agencies.models import Agency, ApiToken, LoginThrottle, Membership, NodeAuditor, Role
from agencies.services import api_token_create, api_token_revoke, user_deactivate_by_operator
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from casebridge.errors import CasebridgeError, ForbiddenError
from casebridge.operator_site import OPERATOR_LOGIN_REFUSED
from tests.conftest import PASSWORD, current_code, login_verified

pytestmark = pytest.mark.django_db

User = get_user_model()
LOGIN = "/operator/login/"


@pytest.fixture
def operator(db):
    user = User.objects.create_superuser("nodeop", "op@example.org", PASSWORD)
    TOTPDevice.objects.create(user=user, name="op", confirmed=True)
    return user


@pytest.fixture
def console(operator) -> Client:
    return login_verified(Client(), operator)


def _entries(action: str | None = None) -> list[dict]:
    audit_integrate()
    rows = AuditEntry.objects.order_by("index")
    if action:
        rows = rows.filter(action=action)
    return [json.loads(row.canonical) for row in rows]


def _login(client: Client, username: str, password: str, code: str = ""):
    return client.post(LOGIN, {"username": username, "password": password, "otp_token": code, "next": "/operator/"})


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


# --- the login -------------------------------------------------------------------------------


def test_m2_login_gives_one_message_whatever_was_wrong(operator, alice):
    client = Client()
    wrong_password = _login(client, "nodeop", "not-the-password", current_code(operator))
    no_such_user = _login(client, "nobody", "not-the-password", "123456")
    wrong_code = _login(client, "nodeop", PASSWORD, _wrong(current_code(operator)))
    no_code = _login(client, "nodeop", PASSWORD, "")
    not_an_operator = _login(client, "alice", PASSWORD, current_code(alice))  # right password and code
    for response in (wrong_password, no_such_user, wrong_code, no_code, not_an_operator):
        assert response.status_code == 200
        body = response.content.decode()
        assert OPERATOR_LOGIN_REFUSED in body
        assert 'name="otp_token"' in body and 'name="otp_device"' not in body  # the same form each time
    assert not client.session.get("_auth_user_id")
    actions = [e["action"] for e in _entries()]
    assert actions.count("auth.login_failed") == 3 and actions.count("auth.mfa_failed") == 2
    denied = _entries("access.denied")
    assert [e["actor"]["name"] for e in denied] == ["alice"]


def test_m2_login_locks_out_after_the_limit_and_refuses_even_the_right_code(operator, settings):
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(client, "nodeop", "not-the-password", "000000")
    assert LoginThrottle.objects.get(username="nodeop", address="127.0.0.1").locked_until
    response = _login(client, "nodeop", PASSWORD, current_code(operator))
    assert response.status_code == 200 and "locked until" in response.content.decode()
    assert client.get("/operator/").status_code == 302
    assert _entries("auth.lockout")


def test_m2_wrong_codes_count_towards_the_same_lockout(operator, settings):
    client = Client()
    for _ in range(settings.LOGIN_FAILURE_LIMIT):
        _login(client, "nodeop", PASSWORD, _wrong(current_code(operator)))
    response = _login(client, "nodeop", PASSWORD, current_code(operator))
    assert "locked until" in response.content.decode()
    assert not client.session.get("_auth_user_id")


def test_m2_login_with_password_and_code_is_audited_and_pages_are_audited(operator):
    client = Client()
    response = _login(client, "nodeop", PASSWORD, current_code(operator))
    assert response.status_code == 302 and response["Location"] == "/operator/"
    assert client.get("/operator/").status_code == 200
    assert client.get("/operator/agencies/membership/?q=alice").status_code == 200
    (login,) = _entries("auth.login")
    assert login["actor"]["name"] == "nodeop" and login["actor"]["role"] == "operator"
    views = _entries("operator.view")
    assert [v["object"]["id"] for v in views] == ["/operator/", "/operator/agencies/membership/"]
    assert views[1]["details"] == {"method": "GET", "status": 200, "page": "agencies_membership_changelist"}
    assert "query" in views[1]["commitments"] and "alice" not in json.dumps(views[1])


def test_m2_an_agency_admin_opening_the_console_is_refused_and_audited(client, as_user, adam):
    as_user(adam)
    response = client.get("/operator/agencies/membership/")
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    (denied,) = _entries("access.denied")
    assert denied["actor"]["name"] == "adam" and denied["object"]["id"] == "/operator/agencies/membership/"


def test_m2_a_superuser_without_a_one_time_code_is_refused_and_audited(operator):
    client = Client()
    client.force_login(operator)
    assert client.get("/operator/").status_code == 302
    (denied,) = _entries("access.denied")
    assert denied["actor"]["name"] == "nodeop" and denied["actor"]["auth"] == "password"


# --- the two reproduced abuses ------------------------------------------------------------------


def test_m2_operator_cannot_make_a_user_agency_admin(console, alice):
    membership = Membership.objects.get(user=alice)
    url = f"/operator/agencies/membership/{membership.pk}/change/"
    assert console.get(url).status_code == 200  # view only
    response = console.post(url, {"user": alice.pk, "agency": membership.agency_id, "role": Role.AGENCY_ADMIN})
    assert response.status_code == 403
    assert Membership.objects.get(pk=membership.pk).role == Role.INVESTIGATOR
    assert console.post("/operator/agencies/membership/add/", {"role": Role.AGENCY_ADMIN}).status_code == 403
    assert console.post(f"/operator/agencies/membership/{membership.pk}/delete/", {"post": "yes"}).status_code == 403
    # Nor through the account itself: no password, superuser flag or one-time-code device to set.
    assert console.post(f"/operator/auth/user/{alice.pk}/change/", {"is_superuser": "on"}).status_code == 403
    # Django's set-password page is not there: the catch-all ends on a page without a password form.
    no_password_page = console.post(f"/operator/auth/user/{alice.pk}/password/", {"password1": "x"}, follow=True)
    assert 'name="password1"' not in no_password_page.content.decode()
    assert console.get("/operator/otp_totp/totpdevice/").status_code == 404
    assert console.get("/operator/otp_static/staticdevice/").status_code == 404
    assert console.get("/operator/auth/group/").status_code == 404
    alice.refresh_from_db()
    assert not alice.is_superuser and alice.check_password(PASSWORD)
    audit_integrate()
    posts = [e for e in _entries("operator.view") if e["details"]["method"] == "POST"]
    refused = [e for e in posts if e["details"]["status"] == 403]
    assert len(refused) == 4 and all(e["outcome"] == "failure" for e in refused)  # each attempt is on record


def test_m2_operator_cannot_unrevoke_a_token_or_extend_it(console, alice):
    issued = api_token_create(acting_user=alice, name="script", days=30)
    api_token_revoke(acting_user=alice, token=issued.token)
    url = f"/operator/agencies/apitoken/{issued.token.pk}/change/"
    response = console.post(
        url, {"name": "script", "expires_at_0": "2030-01-01", "expires_at_1": "00:00:00", "revoked_at_0": ""}
    )
    assert response.status_code == 403
    token = ApiToken.objects.get(pk=issued.token.pk)
    assert token.revoked_at is not None and token.expires_at < timezone.now() + timedelta(days=31)


def test_m2_token_expiry_is_capped_in_the_service_and_the_database(alice, settings):
    with pytest.raises(CasebridgeError, match="between 1 and 365 days"):
        api_token_create(acting_user=alice, name="forever", days=10_000)
    settings.API_TOKEN_MAX_DAYS = 30
    with pytest.raises(CasebridgeError, match="between 1 and 30 days"):
        api_token_create(acting_user=alice, name="long", days=31)
    issued = api_token_create(acting_user=alice, name="month", days=30)
    # Any other path (a shell, a future admin, a bug) meets the database's constraint.
    with pytest.raises(IntegrityError), transaction.atomic():
        ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now().replace(year=2030))


def test_m2_no_model_in_the_console_can_be_changed_or_deleted(operator):
    """Any model registered later is covered too: only adding an agency or a node auditor is allowed."""

    class Request:
        user = operator
        method = "GET"

    for model, model_admin in admin.site._registry.items():
        assert not model_admin.has_change_permission(Request()), model
        assert not model_admin.has_delete_permission(Request()), model
        assert model_admin.has_add_permission(Request()) == (model in (Agency, NodeAuditor)), model
    names = {model._meta.label for model in admin.site._registry}
    assert not names & {"otp_totp.TOTPDevice", "otp_static.StaticDevice", "auth.Group"}
    assert not any(label.startswith(("exchange.", "audit.")) for label in names)  # trust anchors, the log


# --- what the operator may do, through the services ---------------------------------------------


def test_m2_operator_creates_an_agency_through_the_service_audited(console):
    data = {"name": "Lakeside Police", "code": "LSP", "country": "ie", "node_url": "", "hosted_here": "on"}
    response = console.post("/operator/agencies/agency/add/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    agency = Agency.objects.get(code="LSP")
    assert agency.country == "IE"
    (created,) = _entries("agency.create")
    assert created["actor"]["name"] == "nodeop" and created["agency"] == "LSP"
    assert created["object"] == {"type": "agency", "id": str(agency.pk)}
    # Once created, an agency is not changed from the console (its code and node URL are trusted).
    change = console.post(
        f"/operator/agencies/agency/{agency.pk}/change/", {**data, "node_url": "https://evil.example"}
    )
    assert change.status_code == 403 and Agency.objects.get(pk=agency.pk).node_url == ""
    bad = console.post("/operator/agencies/agency/add/", {**data, "code": "lower case!"})
    assert bad.status_code == 200 and Agency.objects.filter(name="Lakeside Police").count() == 1


def test_m2_operator_deactivates_an_account_through_the_service_audited(console, operator, alice):
    issued = api_token_create(acting_user=alice, name="script", days=30)
    response = console.post(
        "/operator/auth/user/", {"action": "deactivate_selected", "_selected_action": [alice.pk], "index": 0}
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active
    assert ApiToken.objects.get(pk=issued.token.pk).revoked_at is not None
    (entry,) = _entries("user.deactivate")
    assert entry["actor"]["name"] == "nodeop" and entry["agency"] == "NSP" and entry["object"]["id"] == str(alice.pk)
    assert entry["details"]["by"] == "node operator" and entry["details"]["tokens_revoked"] == 1


def test_m2_only_an_operator_may_use_the_operator_services(adam, alice):
    with pytest.raises(ForbiddenError):
        user_deactivate_by_operator(acting_user=adam, user=alice)
    alice.refresh_from_db()
    assert alice.is_active
    (denied,) = _entries("access.denied")
    assert denied["actor"]["name"] == "adam" and denied["reason"] == "node operator required"
