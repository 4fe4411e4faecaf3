"""L4: TOTP seeds are stored wrapped under the node's key-encryption key, like the exchange keys.
A database read (dump, backup, the operator's table view) gives no seed; login and
`manage.py totp_code` keep working; existing clear rows are migrated; a KEK rotation re-wraps them."""

from __future__ import annotations

import base64
import importlib
import io
import os

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from agencies.models import WRAPPED_SEED_PREFIX, Authenticator, totp_seed_wrap
from agencies.services import totp_seeds_rewrap
from casebridge.lib.kek import node_kek
from casebridge.lib.keywrap import KeyWrapError
from tests.conftest import PASSWORD, current_code

pytestmark = pytest.mark.django_db


def _stored_key(device_pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM otp_totp_totpdevice WHERE id = %s", [device_pk])
        return cursor.fetchone()[0]


def test_l4_seed_is_stored_wrapped_and_login_still_works(alice):
    device = Authenticator.objects.get(user=alice)
    stored = _stored_key(device.pk)
    assert stored.startswith(WRAPPED_SEED_PREFIX)
    assert device.bin_key.hex() not in stored and len(device.bin_key) == 20
    client = Client()
    client.post(reverse("login"), {"username": "alice", "password": PASSWORD})
    response = client.post(reverse("login-verify"), {"code": current_code(alice)})
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert _stored_key(device.pk).startswith(WRAPPED_SEED_PREFIX)  # still wrapped after the code check


def test_l4_wrapped_seed_is_bound_to_its_user(alice, bob):
    """A wrapped seed copied onto another user's row does not unwrap (the AAD names the user)."""
    seed_row = _stored_key(Authenticator.objects.get(user=alice).pk)
    Authenticator.objects.filter(user=bob).update(key=seed_row)
    with pytest.raises(KeyWrapError):
        Authenticator.objects.get(user=bob).bin_key


def test_l4_enrolment_creates_a_wrapped_seed(alice):
    device = Authenticator.objects.create(user=alice, name="new", confirmed=False)
    assert _stored_key(device.pk).startswith(WRAPPED_SEED_PREFIX)


def test_l4_existing_clear_rows_are_migrated(alice, bob):
    clear = os.urandom(20)
    plain = TOTPDevice.objects.create(user=bob, name="legacy", key=clear.hex(), confirmed=True)
    assert _stored_key(plain.pk) == clear.hex()
    migration = importlib.import_module("agencies.migrations.0007_authenticator_seed_wrapped")
    migration.wrap_seeds(apps, connection.schema_editor())
    assert _stored_key(plain.pk).startswith(WRAPPED_SEED_PREFIX)
    assert Authenticator.objects.get(pk=plain.pk).bin_key == clear
    migration.unwrap_seeds(apps, connection.schema_editor())  # and back
    assert _stored_key(plain.pk) == clear.hex()


def test_l4_a_clear_row_made_elsewhere_is_wrapped_at_its_next_code_check(bob):
    clear = os.urandom(20)
    plain = TOTPDevice.objects.create(user=bob, name="elsewhere", key=clear.hex(), confirmed=True)
    device = Authenticator.objects.get(pk=plain.pk)
    assert device.verify_token(f"{totp(clear):06d}")
    assert _stored_key(plain.pk).startswith(WRAPPED_SEED_PREFIX)


def test_l4_totp_code_command_reads_the_wrapped_seed(alice, settings):
    settings.DEBUG = True
    out = io.StringIO()
    call_command("totp_code", "alice", stdout=out)
    assert out.getvalue().strip() == current_code(alice)


def test_l4_kek_rotation_rewraps_the_seeds(alice):
    device = Authenticator.objects.get(user=alice)
    seed = device.bin_key
    new_kek = os.urandom(32)
    assert totp_seeds_rewrap(old_kek=node_kek(), new_kek=new_kek) == 1
    assert totp_seeds_rewrap(old_kek=node_kek(), new_kek=new_kek) == 0  # re-run after a crash: nothing left
    stored = _stored_key(device.pk)
    from casebridge.lib.keywrap import unwrap_private_key

    blob = base64.b64decode(stored[len(WRAPPED_SEED_PREFIX) :])
    assert unwrap_private_key(blob, kek=new_kek, key_id=f"totp-seed-{alice.pk}") == seed
    assert totp_seed_wrap(seed, user_id=alice.pk, kek=new_kek) != stored  # fresh nonce each time
