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
    assert response.context["password"]  # shown once


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
