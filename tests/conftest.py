"""Standing personas and helpers shared by the whole suite.

Two agencies on this node, A (NSP) and B (RNP). In A: alice and bob (investigators), sam
(supervisor), adam (agency admin), audrey (auditor). In B: charlie (investigator) and carl
(agency admin). Every endpoint test includes someone who must be refused.
"""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import totp

from agencies.models import Agency, Authenticator, Membership, Role
from audit.db import append_only_install, append_only_remove
from exchange.services import agreement_set, keys_ensure, partner_add_from_card, partner_verify

User = get_user_model()
PASSWORD = "a-long-and-unguessable-test-passphrase"


@pytest.fixture
def agency_a(db) -> Agency:
    return Agency.objects.create(name="Northshire Police", code="NSP", country="GB")


@pytest.fixture
def agency_b(db) -> Agency:
    return Agency.objects.create(name="Rivermark Police", code="RNP", country="NL")


def make_member(agency: Agency, role: str, username: str):
    user = User.objects.create_user(username=username, password=PASSWORD, email=f"{username}@example.org")
    Membership.objects.create(user=user, agency=agency, role=role)
    Authenticator.objects.create(user=user, name="test", confirmed=True)
    return user


@pytest.fixture
def alice(agency_a):
    return make_member(agency_a, Role.INVESTIGATOR, "alice")


@pytest.fixture
def bob(agency_a):
    return make_member(agency_a, Role.INVESTIGATOR, "bob")


@pytest.fixture
def sam(agency_a):
    return make_member(agency_a, Role.SUPERVISOR, "sam")


@pytest.fixture
def adam(agency_a):
    return make_member(agency_a, Role.AGENCY_ADMIN, "adam")


@pytest.fixture
def audrey(agency_a):
    return make_member(agency_a, Role.AUDITOR, "audrey")


@pytest.fixture
def charlie(agency_b):
    return make_member(agency_b, Role.INVESTIGATOR, "charlie")


@pytest.fixture
def carl(agency_b):
    return make_member(agency_b, Role.AGENCY_ADMIN, "carl")


def current_code(user) -> str:
    device = Authenticator.objects.get(user=user, confirmed=True)
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def login_verified(client, user):
    """Log `user` in as after password and one-time code (the session django-otp expects)."""
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = Authenticator.objects.get(user=user, confirmed=True).persistent_id
    # As after a real login: the idle-timeout clock is running, so the first request is read-only.
    session["casebridge_last_seen"] = time.time()
    session.save()
    return client


@pytest.fixture
def as_user(client):
    def _as(user):
        return login_verified(client, user)

    return _as


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


# --- partner agencies ----------------------------------------------------------------------


@pytest.fixture
def partnership(adam, carl, agency_a, agency_b):
    """NSP (admin adam) and RNP (admin carl): verified both ways, hash sets and leads up to AMBER."""
    keys_a = keys_ensure(agency=agency_a)
    keys_b = keys_ensure(agency=agency_b)
    a_to_b = partner_add_from_card(acting_user=adam, card_document=keys_b.card)
    partner_verify(acting_user=adam, partner=a_to_b, signing_fingerprint=keys_b.signing_fingerprint)
    agreement_set(
        acting_user=adam, partner=a_to_b, data_types=["hashset", "lead"], max_tlp="AMBER", requires_approval=False
    )
    b_to_a = partner_add_from_card(acting_user=carl, card_document=keys_a.card)
    partner_verify(acting_user=carl, partner=b_to_a, signing_fingerprint=keys_a.signing_fingerprint)
    agreement_set(
        acting_user=carl, partner=b_to_a, data_types=["hashset", "lead"], max_tlp="AMBER", requires_approval=False
    )
    return a_to_b, b_to_a


def card_names_audit_log(partner, *, origin: str | None, private_key=None) -> None:
    """Make the partner's verified card name `origin` (signed by `private_key`) as its node's audit
    log, or no log (origin None), as that agency's node would publish it (M3).

    The agencies in these tests are hosted here, so the card is re-signed with the agency's own
    keys: same keys and fingerprint, so the verification stands, as for a genuine card."""
    import dataclasses

    from audit import note
    from exchange import keystore
    from exchange.keys import AuditLogId, card_sign, card_verify
    from exchange.selectors import partner_keys_current

    key_set = partner_keys_current(partner=partner)
    audit_log = None
    if origin is not None:
        audit_log = AuditLogId(origin=origin, vkey=note.vkey_from_public_key(origin, private_key.public_key()))
    card = dataclasses.replace(card_verify(key_set.card), audit_log=audit_log)
    key_set.card = card_sign(card, keystore.signing_private(key_set))
    key_set.save(update_fields=["card"])


# --- transactional tests and the append-only audit tables -------------------------------------
# pytest-django empties every table after a transactional test; the audit triggers (rightly)
# refuse that. `tx_db` drops the triggers just before the flush, and the next test puts them back
# before it starts, so every other test runs against the enforced append-only tables.

_triggers_dropped = {"value": False}


@pytest.fixture(autouse=True)
def _request_budgets_reset():
    """Rate limits and lookup budgets live in the cache: each test starts with full budgets, so a
    test that spends one (the API fuzzer, say) cannot make a later test see 429s."""
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _audit_triggers_restored(django_db_blocker):
    if _triggers_dropped["value"]:
        with django_db_blocker.unblock():
            append_only_install(connection)
        _triggers_dropped["value"] = False
    yield


@pytest.fixture
def tx_db(transactional_db):
    yield
    append_only_remove(connection)
    _triggers_dropped["value"] = True


@pytest.fixture
def live_server_tx(transactional_db, live_server):
    yield live_server
    append_only_remove(connection)
    _triggers_dropped["value"] = True
