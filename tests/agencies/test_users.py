from __future__ import annotations

import pytest
from django.urls import reverse

from agencies.models import Membership, Role

pytestmark = pytest.mark.django_db


def test_admin_lists_only_own_agency_users(as_user, adam, alice, charlie):
    response = as_user(adam).get(reverse("users"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "alice" in body and "charlie" not in body


def test_admin_cannot_open_or_change_another_agencys_user(client, as_user, adam, charlie):
    as_user(adam)
    assert client.get(reverse("user-detail", args=[charlie.pk])).status_code == 404
    response = client.post(reverse("user-detail", args=[charlie.pk]), {"action": "role", "role": Role.AUDITOR})
    assert response.status_code == 404
    assert Membership.objects.get(user=charlie).role == Role.INVESTIGATOR


def test_investigator_cannot_manage_users(client, as_user, alice, bob):
    as_user(alice)
    assert client.get(reverse("users")).status_code == 403
    assert client.get(reverse("user-detail", args=[bob.pk])).status_code == 403


def test_admin_creates_user_in_own_agency_with_role(client, as_user, adam):
    response = as_user(adam).post(
        reverse("user-create"), {"username": "newbie", "full_name": "New Bie", "email": "", "role": Role.SUPERVISOR}
    )
    assert response.status_code == 200
    membership = Membership.objects.get(user__username="newbie")
    assert membership.agency == adam.membership.agency and membership.role == Role.SUPERVISOR
    assert "/enrol/" in response.context["link"]  # the one-time enrolment link, shown once; no password
    assert not membership.user.has_usable_password()


def test_admin_changes_role_and_deactivates(client, as_user, adam, alice):
    as_user(adam)
    client.post(reverse("user-detail", args=[alice.pk]), {"action": "role", "role": Role.SUPERVISOR})
    assert Membership.objects.get(user=alice).role == Role.SUPERVISOR
    client.post(reverse("user-detail", args=[alice.pk]), {"action": "deactivate"})
    alice.refresh_from_db()
    assert not alice.is_active


def test_duplicate_username_is_refused_with_a_clear_message(client, as_user, adam, charlie):
    response = as_user(adam).post(reverse("user-create"), {"username": "CHARLIE", "role": Role.INVESTIGATOR})
    assert "is taken" in response.content.decode()


def test_operator_admin_needs_superuser(client, as_user, adam):
    as_user(adam)
    response = client.get("/operator/")
    assert response.status_code == 302 and "/operator/login" in response.url


def test_admin_resets_a_users_authenticator_and_their_old_session_ends(adam, alice, charlie):
    from django.test import Client
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from audit.integrator import audit_integrate
    from audit.models import AuditEntry
    from tests.conftest import login_verified

    alices_session = login_verified(Client(), alice)
    assert alices_session.get(reverse("dashboard")).status_code == 200
    admin = login_verified(Client(), adam)
    assert "Reset authenticator" in admin.get(reverse("user-detail", args=[alice.pk])).content.decode()
    admin.post(reverse("user-detail", args=[alice.pk]), {"action": "mfa-reset"})
    assert not TOTPDevice.objects.filter(user=alice).exists()
    assert alices_session.get(reverse("dashboard")).status_code == 302  # verified with the old one: ended
    audit_integrate()
    entry = AuditEntry.objects.get(action="auth.mfa_reset")
    assert entry.actor_name == "adam" and entry.object_id == str(alice.pk)

    # Not another agency's user (404, nothing removed), and not one's own (another admin must).
    assert admin.post(reverse("user-detail", args=[charlie.pk]), {"action": "mfa-reset"}).status_code == 404
    assert TOTPDevice.objects.filter(user=charlie).exists()
    response = admin.post(reverse("user-detail", args=[adam.pk]), {"action": "mfa-reset"}, follow=True)
    assert "ask another agency admin" in response.content.decode()
    assert TOTPDevice.objects.filter(user=adam).exists()
