"""H2: an agency admin cannot become a user of the agency.

The attacking admin is adam (NSP agency admin). Every way in is tried: the initial password (there
is none), a second enrolment link for an enrolled account, an MFA reset followed by a login with a
password the admin knows, approving their own reset, and an intercepted enrolment link used twice.
Each is closed; the user's own paths (enrolment link, own password change, recovery code after a
reset, a second admin's approval) work and are audited.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import totp

from agencies.models import Authenticator as TOTPDevice  # seeds stored wrapped (L4)
from agencies.models import EnrolmentLink, MfaReset, RecoveryCode, Role
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from tests.conftest import PASSWORD, current_code, login_verified, make_member

pytestmark = pytest.mark.django_db

User = get_user_model()
NEW_PASSWORD = "a-passphrase-only-the-user-knows-2026"


def _code_of(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def _actions() -> list[str]:
    audit_integrate()
    return list(AuditEntry.objects.order_by("index").values_list("action", flat=True))


def _create_user(admin_client, username: str = "newbie") -> str:
    """The admin creates a user; returns the enrolment link's path as the admin saw it."""
    response = admin_client.post(
        reverse("user-create"), {"username": username, "full_name": "New Bie", "email": "", "role": Role.SUPERVISOR}
    )
    assert response.status_code == 200
    link = response.context["link"]
    assert "password" not in response.context  # no password, anywhere
    return re.sub(r"^https?://[^/]+", "", link)


def _enrol_with_link(client, path: str, *, password: str = NEW_PASSWORD) -> list[str]:
    """What the new user does with their link: begin, scan, choose a password, give the code."""
    assert client.post(path, {"action": "start"}).status_code == 302
    page = client.get(path)
    assert b"data:image/svg+xml" in page.content
    user = page.context["link"].user
    device = TOTPDevice.objects.get(user=user, confirmed=False)
    response = client.post(
        path,
        {"action": "complete", "new_password": password, "new_password_again": password, "code": _code_of(device)},
    )
    assert response.status_code == 200, response.content.decode()[:500]
    return response.context["codes"]


def _password_step(client, username: str, password: str):
    return client.post(reverse("login"), {"username": username, "password": password})


def test_h2_admin_never_sees_a_password_and_the_link_is_single_use(adam):
    admin = login_verified(Client(), adam)
    path = _create_user(admin)
    newbie = User.objects.get(username="newbie")
    assert not newbie.has_usable_password()  # nothing the admin could type in
    token = path.rstrip("/").rsplit("/", 1)[-1]
    link = EnrolmentLink.objects.get(user=newbie)
    assert bytes(link.token_hash) == hashlib.sha256(token.encode()).digest()  # only the hash is stored
    assert token.encode() not in bytes(link.token_hash)
    hours = (link.expires_at - link.created_at).total_seconds() / 3600
    assert round(hours) == 72

    # Before enrolment no password works, so nobody can log in and enrol an authenticator first.
    assert "Wrong username or password" in _password_step(Client(), "newbie", "anything").content.decode()

    user_client = Client()
    codes = _enrol_with_link(user_client, path)
    assert len(codes) == 10 and len(set(codes)) == 10
    newbie.refresh_from_db()
    assert newbie.check_password(NEW_PASSWORD)
    assert TOTPDevice.objects.get(user=newbie).confirmed
    assert RecoveryCode.objects.filter(user=newbie, used_at__isnull=True).count() == 10
    stored = {bytes(c.code_hash) for c in RecoveryCode.objects.filter(user=newbie)}
    assert not any(code.encode() in h for code in codes for h in stored)

    # Whoever intercepted the link comes second: spent, refused, audited.
    interceptor = Client()
    assert interceptor.get(path).status_code == 410
    assert interceptor.post(path, {"action": "start"}).status_code == 410
    assert TOTPDevice.objects.filter(user=newbie).count() == 1
    actions = _actions()
    for action in ("auth.enrolment_link_issued", "auth.enrolment_link_used", "auth.recovery_codes_issued"):
        assert action in actions
    assert actions.count("auth.enrolment_link_expired") == 2
    refused = AuditEntry.objects.filter(action="auth.enrolment_link_expired").first()
    assert refused.agency_code == "NSP" and refused.outcome == "denied"

    # The user logs in with their own password and code (of a later 30-second step: a code is
    # accepted once only).
    TOTPDevice.objects.filter(user=newbie).update(last_t=-1)
    client = Client()
    assert _password_step(client, "newbie", NEW_PASSWORD).url == reverse("login-verify")
    assert client.post(reverse("login-verify"), {"code": current_code(newbie)}).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


def test_h2_admin_cannot_issue_a_second_link_for_an_enrolled_account(adam, alice):
    admin = login_verified(Client(), adam)
    response = admin.post(reverse("user-detail", args=[alice.pk]), {"action": "enrolment-link"}, follow=True)
    assert "already set their own password" in response.content.decode()
    assert not EnrolmentLink.objects.filter(user=alice).exists()


def test_h2_expired_link_is_refused_and_audited_and_a_new_one_replaces_it(adam):
    admin = login_verified(Client(), adam)
    path = _create_user(admin)
    newbie = User.objects.get(username="newbie")
    EnrolmentLink.objects.filter(user=newbie).update(expires_at=timezone.now())
    assert Client().get(path).status_code == 410
    assert "auth.enrolment_link_expired" in _actions()
    response = admin.post(reverse("user-detail", args=[newbie.pk]), {"action": "enrolment-link"})
    new_path = re.sub(r"^https?://[^/]+", "", response.context["link"])
    assert new_path != path
    _enrol_with_link(Client(), new_path)
    assert Client().get(new_path).status_code == 410


def test_h2_enrolment_link_refuses_a_weak_password_and_a_wrong_code(adam):
    path = _create_user(login_verified(Client(), adam))
    client = Client()
    client.post(path, {"action": "start"})
    device = TOTPDevice.objects.get(user__username="newbie", confirmed=False)
    weak = client.post(path, {"action": "complete", "new_password": "short", "new_password_again": "short",
                              "code": _code_of(device)})  # fmt: skip
    assert weak.status_code == 200 and "Choose another password" in weak.content.decode()
    wrong = f"{(int(_code_of(device)) + 1) % 1_000_000:06d}"
    bad = client.post(path, {"action": "complete", "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD,
                             "code": wrong})  # fmt: skip
    assert "not right" in bad.content.decode()
    assert not User.objects.get(username="newbie").has_usable_password()  # nothing half-done
    assert EnrolmentLink.objects.get(user__username="newbie").used_at is None
    assert Client().get("/enrol/not-a-token/").status_code == 404


def test_h2_mfa_reset_then_known_password_does_not_let_the_admin_enrol(
    adam, alice, carl, django_capture_on_commit_callbacks
):
    """Worst case: the admin knows alice's password (e.g. an initial one from before this fix)."""
    RecoveryCode.objects.create(user=alice, code_hash=hashlib.sha256(b"ABCDEFGHIJKLMNOP").digest())
    admin = login_verified(Client(), adam)
    with django_capture_on_commit_callbacks(execute=True):
        admin.post(reverse("user-detail", args=[alice.pk]), {"action": "mfa-reset"})
    assert not TOTPDevice.objects.filter(user=alice).exists()
    # alice is told, by e-mail and at her next login.
    assert len(mail.outbox) == 1 and "adam" in mail.outbox[0].body and mail.outbox[0].to == ["alice@example.org"]

    attacker = Client()
    response = _password_step(attacker, "alice", PASSWORD)
    assert response.url == reverse("login-recover")
    page = attacker.get(reverse("login-recover"))
    assert "adam removed the authenticator" in page.content.decode()
    # The enrolment page stays shut: no QR code, no device to scan.
    response = attacker.get(reverse("login-enrol"))
    assert response.status_code == 302 and response.url == reverse("login-recover")
    assert not TOTPDevice.objects.filter(user=alice).exists()
    # Guessing a recovery code is refused, audited and throttled like a password.
    guess = attacker.post(reverse("login-recover"), {"code": "aaaa-bbbb-cccc-dddd"})
    assert "not right" in guess.content.decode()
    assert attacker.get(reverse("login-enrol")).url == reverse("login-recover")
    # The admin cannot approve their own reset, nor any reset while alice still has codes.
    response = admin.post(reverse("user-detail", args=[alice.pk]), {"action": "approve-reenrol"}, follow=True)
    assert "Another agency admin" in response.content.decode()
    adele = make_member(adam.membership.agency, Role.AGENCY_ADMIN, "adele")
    second = login_verified(Client(), adele)
    response = second.post(reverse("user-detail", args=[alice.pk]), {"action": "approve-reenrol"}, follow=True)
    assert "still has recovery codes" in response.content.decode()
    assert MfaReset.objects.get(user=alice).approved_at is None
    # Nor can an admin of another agency touch it.
    outsider = login_verified(Client(), carl)
    assert outsider.post(reverse("user-detail", args=[alice.pk]), {"action": "approve-reenrol"}).status_code == 404
    assert attacker.get(reverse("login-enrol")).url == reverse("login-recover")
    actions = _actions()
    assert "auth.mfa_reset" in actions and "auth.mfa_failed" in actions
    assert AuditEntry.objects.get(action="auth.mfa_failed").agency_code == "NSP"


def test_h2_the_user_recovers_with_a_recovery_code(adam):
    admin = login_verified(Client(), adam)
    codes = _enrol_with_link(Client(), _create_user(admin))
    newbie = User.objects.get(username="newbie")
    admin.post(reverse("user-detail", args=[newbie.pk]), {"action": "mfa-reset"})

    client = Client()
    assert _password_step(client, "newbie", NEW_PASSWORD).url == reverse("login-recover")
    response = client.post(reverse("login-recover"), {"code": codes[3].upper().replace("-", " ")})
    assert response.status_code == 302 and response.url == reverse("login-enrol")
    assert client.get(reverse("login-enrol")).status_code == 200
    device = TOTPDevice.objects.get(user=newbie, confirmed=False)
    response = client.post(reverse("login-enrol"), {"code": _code_of(device)})
    assert response.status_code == 200 and len(response.context["codes"]) == 10  # new codes, shown once
    assert client.get(reverse("dashboard")).status_code == 200
    assert MfaReset.objects.get(user=newbie).completed_at is not None
    # The old codes (the spent one included) are gone.
    admin.post(reverse("user-detail", args=[newbie.pk]), {"action": "mfa-reset"})
    again = Client()
    _password_step(again, "newbie", NEW_PASSWORD)
    assert "not right" in again.post(reverse("login-recover"), {"code": codes[0]}).content.decode()
    actions = _actions()
    assert "auth.recovery_code_used" in actions and actions.count("auth.recovery_codes_issued") == 2


def test_h2_no_codes_left_needs_a_second_admins_approval(adam, alice):
    adele = make_member(adam.membership.agency, Role.AGENCY_ADMIN, "adele")
    admin = login_verified(Client(), adam)
    admin.post(reverse("user-detail", args=[alice.pk]), {"action": "mfa-reset"})
    client = Client()
    assert _password_step(client, "alice", PASSWORD).url == reverse("login-recover")
    assert "no recovery code left" in client.get(reverse("login-recover")).content.decode()
    assert client.get(reverse("login-enrol")).url == reverse("login-recover")

    response = admin.post(reverse("user-detail", args=[alice.pk]), {"action": "approve-reenrol"}, follow=True)
    assert "Another agency admin" in response.content.decode()  # not the admin who reset
    assert client.get(reverse("login-enrol")).url == reverse("login-recover")

    second = login_verified(Client(), adele)
    assert "Approve setting up" in second.get(reverse("user-detail", args=[alice.pk])).content.decode()
    second.post(reverse("user-detail", args=[alice.pk]), {"action": "approve-reenrol"})
    assert client.get(reverse("login-enrol")).status_code == 200
    device = TOTPDevice.objects.get(user=alice, confirmed=False)
    assert client.post(reverse("login-enrol"), {"code": _code_of(device)}).status_code == 200
    audit_integrate()
    approval = AuditEntry.objects.get(action="auth.mfa_reenrol_approved")
    assert approval.actor_name == "adele" and approval.object_id == str(alice.pk) and approval.agency_code == "NSP"


def test_h2_a_password_alone_never_enrols_an_account_without_authenticator(alice):
    """An account that never enrolled (made before enrolment links, initial password seen by an
    admin) cannot be enrolled with that password."""
    TOTPDevice.objects.filter(user=alice).delete()
    client = Client()
    response = _password_step(client, "alice", PASSWORD)
    assert response.status_code == 200 and "not set up yet" in response.content.decode()
    assert client.get(reverse("login-enrol")).url == reverse("login")
    assert not TOTPDevice.objects.filter(user=alice).exists()


def test_h2_user_changes_own_password_and_other_sessions_end(alice, django_capture_on_commit_callbacks):
    other_session = login_verified(Client(), alice)
    assert other_session.get(reverse("dashboard")).status_code == 200
    client = login_verified(Client(), alice)
    wrong = client.post(
        reverse("account"),
        {"action": "password", "current_password": "nope", "new_password": NEW_PASSWORD,
         "new_password_again": NEW_PASSWORD},
    )  # fmt: skip
    assert "current password is not right" in wrong.content.decode()
    weak = client.post(
        reverse("account"),
        {"action": "password", "current_password": PASSWORD, "new_password": "password",
         "new_password_again": "password"},
    )  # fmt: skip
    assert "Choose another password" in weak.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("account"),
            {"action": "password", "current_password": PASSWORD, "new_password": NEW_PASSWORD,
             "new_password_again": NEW_PASSWORD},
        )  # fmt: skip
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)
    assert client.get(reverse("dashboard")).status_code == 200  # this session goes on
    assert other_session.get(reverse("dashboard")).status_code == 302  # the others end
    assert len(mail.outbox) == 1 and "password" in mail.outbox[0].subject
    actions = _actions()
    assert actions.count("auth.password_changed") == 1
    assert AuditEntry.objects.get(action="auth.password_changed").agency_code == "NSP"
    assert "auth.login_failed" in actions  # the wrong current password counts like a failed login


def test_h2_user_regenerates_recovery_codes_with_their_password(alice):
    client = login_verified(Client(), alice)
    refused = client.post(reverse("account"), {"action": "recovery-codes", "codes-current_password": "nope"})
    assert "not right" in refused.content.decode() and not RecoveryCode.objects.filter(user=alice).exists()
    response = client.post(reverse("account"), {"action": "recovery-codes", "codes-current_password": PASSWORD})
    assert len(response.context["codes"]) == 10
    assert RecoveryCode.objects.filter(user=alice, used_at__isnull=True).count() == 10
