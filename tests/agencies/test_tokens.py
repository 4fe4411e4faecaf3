from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from agencies.models import ApiToken
from agencies.services import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db


def _me(api_client, secret):
    return api_client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_token_works_and_is_stored_hashed(api_client, alice):
    issued = api_token_create(acting_user=alice, name="script")
    response = _me(api_client, issued.secret)
    assert response.status_code == 200
    assert response.json()["agency"] == "NSP" and response.json()["authentication"] == "token"
    stored = ApiToken.objects.get(pk=issued.token.pk)
    assert issued.secret.encode() not in bytes(stored.key_hash)
    assert issued.secret.split("_", 2)[2] not in str(ApiToken.objects.values().get(pk=stored.pk))


def test_revoked_token_is_refused(api_client, alice):
    issued = api_token_create(acting_user=alice, name="script")
    api_token_revoke(acting_user=alice, token=issued.token)
    response = _me(api_client, issued.secret)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert "revoked" in response.json()["detail"]


def test_expired_token_is_refused(api_client, alice):
    issued = api_token_create(acting_user=alice, name="script", days=1)
    ApiToken.objects.filter(pk=issued.token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _me(api_client, issued.secret).status_code == 401


def test_forged_token_with_right_prefix_is_refused(api_client, alice):
    issued = api_token_create(acting_user=alice, name="script")
    forged = issued.secret[:-4] + ("AAAA" if not issued.secret.endswith("AAAA") else "BBBB")
    assert _me(api_client, forged).status_code == 401


def test_token_of_deactivated_user_is_refused(api_client, alice):
    issued = api_token_create(acting_user=alice, name="script")
    alice.is_active = False
    alice.save()
    assert _me(api_client, issued.secret).status_code == 401


def test_ui_creates_token_shown_once_and_revokes(client, as_user, alice, bob):
    as_user(alice)
    response = client.post(reverse("tokens"), {"name": "griffeye", "days": 30})
    secret = response.context["issued"].secret
    assert secret in response.content.decode()
    listing = client.get(reverse("tokens")).content.decode()
    assert secret not in listing and "griffeye" in listing
    token = ApiToken.objects.get(name="griffeye")
    # bob cannot revoke alice's token: it does not exist for him
    from tests.conftest import login_verified

    login_verified(client, bob)
    assert client.post(reverse("token-revoke", args=[token.pk])).status_code == 404
    login_verified(client, alice)
    client.post(reverse("token-revoke", args=[token.pk]))
    token.refresh_from_db()
    assert token.revoked_at is not None
