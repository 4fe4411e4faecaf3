"""Accounts no admin can take over (H2): enrolment links, own passwords, recovery codes, and
re-enrolment after an MFA reset only with a recovery code or a second admin's approval.

What an agency admin can do to a user's account: create it (and see a one-time enrolment link,
never a password), change its role, deactivate it, reset its authenticator. What an admin cannot
do: learn or set its password, or enrol an authenticator for it. After a reset, enrolment opens
only for someone holding one of the user's recovery codes (shown to the user alone, once) or,
when the user has none left, after an agency admin other than the one who reset approves.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from agencies.models import Authenticator, EnrolmentLink, LoginThrottle, MfaReset, RecoveryCode
from agencies.services.guards import require_agency_admin
from agencies.services.login import LoginAttempt, login_attempt_reserve, login_failure_record
from audit.actions import Action, Outcome
from audit.capture import Actor, actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError

User = get_user_model()
logger = logging.getLogger(__name__)

RECOVERY_CODE_COUNT = 10
RECOVERY_CODE_BYTES = 10  # 80 bits each: a fast hash is enough, as for API tokens


# --- shared helpers ------------------------------------------------------------------------


def secret_hash(secret: str) -> bytes:
    # Link tokens (256 bits) and recovery codes (80 bits) are random, not chosen by people, so a
    # fast hash suffices; no password stretching needed.
    return hashlib.sha256(secret.encode("ascii", "ignore")).digest()


def _normalised_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def _agency_of(user) -> str:
    membership = getattr(user, "membership", None)
    return membership.agency.code if membership else ""


def _password_checked(user, password: str) -> None:
    candidate = password or ""
    try:
        validate_password(candidate, user)
    except ValidationError as exc:
        raise CasebridgeError("Choose another password: " + " ".join(exc.messages)) from None


def _notify(user, subject: str, body: str) -> None:
    """An e-mail to the account's holder after commit; a mail server that is down must not undo
    or fail the action it reports (the audit entry is the record), so a failure is only logged."""
    if not user.email:
        return

    def send() -> None:
        try:
            send_mail(f"[Casebridge] {subject}", body, None, [user.email])
        except Exception:  # noqa: BLE001 - any transport error; the action itself stands
            logger.warning("could not send the %r notice to user %s", subject, user.pk)

    transaction.on_commit(send)


# --- enrolment links -----------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedLink:
    link: EnrolmentLink
    token: str  # goes into the URL shown to the admin once; never stored


def enrolment_link_create(*, user, created_by) -> IssuedLink:
    """A new one-time link for `user` (any earlier one ends). Caller checks the right and commits."""
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    # Any earlier link of the user ends: there is one way in at a time.
    EnrolmentLink.objects.filter(user=user, used_at__isnull=True, expires_at__gt=now).update(expires_at=now)
    link = EnrolmentLink.objects.create(
        user=user,
        token_hash=secret_hash(token),
        created_by=created_by,
        expires_at=now + timedelta(hours=settings.ENROLMENT_LINK_HOURS),
    )
    audit_record(
        action=Action.ENROLMENT_LINK_ISSUED,
        actor=actor_for_user(created_by) if created_by else Actor(type="system", name="casebridge"),
        agency=_agency_of(user),
        object_type="user",
        object_id=user.pk,
        details={"link": link.pk, "hours": settings.ENROLMENT_LINK_HOURS},
    )
    return IssuedLink(link=link, token=token)


def has_enrolled(user) -> bool:
    """Whether the user ever completed enrolment (set a password of their own)."""
    return user.has_usable_password()


def enrolment_link_issue(*, acting_user, user) -> IssuedLink:
    """A new link for a user who has not completed enrolment (the first one expired or was lost).
    Never for an enrolled account: that would let an admin set its password."""
    require_agency_admin(acting_user, user)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        if has_enrolled(user):
            raise CasebridgeError(
                f"{user.username} has already set their own password; an enrolment link cannot replace it."
            )
        return enrolment_link_create(user=user, created_by=acting_user)


def enrolment_link_find(*, token: str) -> EnrolmentLink | None:
    """The link a token names (used or expired ones included), or None."""
    if not token or len(token) > 128:
        return None
    links = EnrolmentLink.objects.select_related("user__membership__agency")
    return links.filter(token_hash=secret_hash(token)).first()


def enrolment_link_refused(*, link: EnrolmentLink) -> None:
    """Audit that a spent or expired link was opened (it may have been intercepted)."""
    with transaction.atomic():
        audit_record(
            action=Action.ENROLMENT_LINK_EXPIRED,
            actor=Actor(type="anonymous"),
            agency=_agency_of(link.user),
            outcome=Outcome.DENIED,
            object_type="user",
            object_id=link.user_id,
            reason="link already used" if link.used_at else "link expired",
            details={"link": link.pk},
        )


@transaction.atomic
def enrolment_link_start(*, link: EnrolmentLink) -> Authenticator:
    """An unconfirmed authenticator for the link's user, to show as a QR code."""
    link = EnrolmentLink.objects.select_for_update().get(pk=link.pk)
    if not link.is_usable:
        raise CasebridgeError("This enrolment link has expired or was already used.")
    Authenticator.objects.filter(user_id=link.user_id, confirmed=False).delete()
    return Authenticator.objects.create(user_id=link.user_id, name="Authenticator app", confirmed=False)


@transaction.atomic
def enrolment_link_complete(*, link: EnrolmentLink, device: Authenticator, password: str, code: str) -> list[str]:
    """Spend the link: the user's own password, their confirmed authenticator, fresh recovery
    codes (returned to show once). All or nothing; a link is spent exactly once."""
    link = EnrolmentLink.objects.select_for_update().select_related("user").get(pk=link.pk)
    user = link.user
    if not link.is_usable or not user.is_active:
        raise CasebridgeError("This enrolment link has expired or was already used.")
    device = Authenticator.objects.select_for_update().filter(pk=device.pk, user=user, confirmed=False).first()
    if device is None:
        raise CasebridgeError("Start again: the authenticator set-up of this link was replaced.")
    _password_checked(user, password)
    if not device.verify_token(code):
        raise CasebridgeError("That code is not right or has expired. Check your device's clock and try the new code.")
    user.set_password(password)
    user.save(update_fields=["password"])
    Authenticator.objects.filter(user=user).exclude(pk=device.pk).delete()
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    link.used_at = timezone.now()
    link.save(update_fields=["used_at"])
    actor = actor_for_user(user, auth="enrolment-link")
    audit_record(
        action=Action.ENROLMENT_LINK_USED, actor=actor, object_type="user", object_id=user.pk, details={"link": link.pk}
    )
    audit_record(action=Action.MFA_ENROLLED, actor=actor, object_type="user", object_id=user.pk)
    return _recovery_codes_replace(user=user, actor=actor)


# --- own password ----------------------------------------------------------------------------


def _current_password_attempt(*, user, password: str, address: str) -> LoginAttempt:
    """Check the current password through the login throttle, so a borrowed session cannot be
    used to guess it; a wrong one is counted and audited like a failed login."""
    attempt = login_attempt_reserve(username=user.get_username(), address=address)
    if not attempt.allowed or not user.check_password(password or ""):
        login_failure_record(username=user.get_username(), address=address, stage="password", attempt=attempt)
        if not attempt.allowed:
            raise CasebridgeError("Too many failed attempts; try again later.")
        raise CasebridgeError("Your current password is not right.")
    LoginThrottle.objects.filter(username=user.get_username().lower()).delete()  # as after a login
    return attempt


def user_password_change(*, acting_user, current_password: str, new_password: str, address: str = "") -> None:
    """A user changes their own password (the current one, then a new one Django's validators
    accept). Other sessions end: their session hash no longer matches (the caller keeps its own)."""
    _current_password_attempt(user=acting_user, password=current_password, address=address)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=acting_user.pk)
        _password_checked(user, new_password)
        if user.check_password(new_password):
            raise CasebridgeError("The new password must differ from the current one.")
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit_record(
            action=Action.PASSWORD_CHANGED, actor=actor_for_user(acting_user), object_type="user", object_id=user.pk
        )
        _notify(
            user,
            "Your password was changed",
            f"The password of your Casebridge account {user.username} was changed at "
            f"{timezone.now():%Y-%m-%d %H:%M} UTC. Other sessions were ended. If this was not you, "
            "tell your agency admin at once.",
        )
    acting_user.password = user.password


# --- recovery codes --------------------------------------------------------------------------


def _recovery_code_new() -> str:
    text = base64.b32encode(secrets.token_bytes(RECOVERY_CODE_BYTES)).decode().lower()
    return "-".join(text[i : i + 4] for i in range(0, len(text), 4))


def _recovery_codes_replace(*, user, actor: Actor) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [_recovery_code_new() for _ in range(RECOVERY_CODE_COUNT)]
    RecoveryCode.objects.bulk_create(
        [RecoveryCode(user=user, code_hash=secret_hash(_normalised_code(code))) for code in codes]
    )
    audit_record(
        action=Action.RECOVERY_CODES_ISSUED,
        actor=actor,
        agency=_agency_of(user),
        object_type="user",
        object_id=user.pk,
        details={"count": len(codes)},
    )
    return codes


def recovery_codes_left(user) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def recovery_codes_regenerate(*, acting_user, current_password: str, address: str = "") -> list[str]:
    """New recovery codes for the acting user (the old ones stop working), after their password."""
    _current_password_attempt(user=acting_user, password=current_password, address=address)
    with transaction.atomic():
        return _recovery_codes_replace(user=acting_user, actor=actor_for_user(acting_user))


# --- MFA reset and re-enrolment --------------------------------------------------------------


def mfa_reset_open(user) -> MfaReset | None:
    return MfaReset.objects.filter(user=user, completed_at__isnull=True).select_related("reset_by").first()


def mfa_enrolment_state(user) -> str:
    """Where a user who gave the right password but has no authenticator goes next:
    "open" (may enrol one), "recovery" (must give a recovery code first), "approval" (no codes
    left: waits for a second agency admin), or "closed" (never enrolled: needs an enrolment link)."""
    if Authenticator.objects.filter(user=user, confirmed=True).exists():
        return "enrolled"
    reset = mfa_reset_open(user)
    if reset is not None:
        if reset.reenrolment_open:
            return "open"
        return "recovery" if recovery_codes_left(user) else "approval"
    if getattr(user, "membership", None) is None:
        # A node-level account (operator, node auditor) is made only at the console by the node
        # operator, who hands over its initial password: it enrols at first login. No agency admin
        # can make or reach such an account.
        return "open"
    return "closed"


def user_mfa_reset(*, acting_user, user) -> int:
    """An agency admin removes a user's authenticator (a lost phone). Sessions verified with the
    old one end. Re-enrolment needs a recovery code or a second admin (see `mfa_enrolment_state`);
    the user is told by e-mail and at their next login. Not one's own: another admin must."""
    require_agency_admin(acting_user, user)
    if user.pk == acting_user.pk:
        raise CasebridgeError("You cannot reset your own authenticator; ask another agency admin.")
    with transaction.atomic():
        return _mfa_reset(acting_user=acting_user, user=user)


def _mfa_reset(*, acting_user, user) -> int:
    removed, _ = Authenticator.objects.filter(user=user).delete()
    now = timezone.now()
    MfaReset.objects.filter(user=user, completed_at__isnull=True).update(completed_at=now)  # superseded
    MfaReset.objects.create(user=user, reset_by=acting_user, created_at=now)
    codes_left = recovery_codes_left(user)
    audit_record(
        action=Action.MFA_RESET,
        actor=actor_for_user(acting_user),
        object_type="user",
        object_id=user.pk,
        details={"devices_removed": removed, "recovery_codes_left": codes_left},
    )
    _notify(
        user,
        "Your authenticator was reset",
        f"{acting_user.get_username()} removed the authenticator of your Casebridge account "
        f"{user.username} at {now:%Y-%m-%d %H:%M} UTC. At your next login you will be asked for one of "
        "your recovery codes before you set up a new one. If you did not ask for this, tell another "
        "agency admin at once.",
    )
    return removed


def mfa_recovery_code_use(*, user, code: str, address: str = "") -> bool:
    """The user, past the password step after a reset, proves possession of a recovery code:
    spent, and re-enrolment opens. A wrong code counts against the login throttle. True on success."""
    attempt = login_attempt_reserve(username=user.get_username(), address=address)
    if attempt.allowed:
        with transaction.atomic():
            reset = MfaReset.objects.select_for_update().filter(user=user, completed_at__isnull=True).first()
            wanted = secret_hash(_normalised_code(code or ""))
            match = None
            for candidate in RecoveryCode.objects.select_for_update().filter(user=user, used_at__isnull=True):
                if hmac.compare_digest(bytes(candidate.code_hash), wanted):
                    match = candidate
            if reset is not None and match is not None:
                now = timezone.now()
                match.used_at = now
                match.save(update_fields=["used_at"])
                reset.recovered_at = now
                reset.save(update_fields=["recovered_at"])
                audit_record(
                    action=Action.RECOVERY_CODE_USED,
                    actor=actor_for_user(user, auth="password+recovery-code"),
                    object_type="user",
                    object_id=user.pk,
                    details={"reset": reset.pk, "codes_left": recovery_codes_left(user)},
                )
                return True
    login_failure_record(username=user.get_username(), address=address, stage="recovery", attempt=attempt, user=user)
    return False


def user_mfa_reenrol_approve(*, acting_user, user) -> None:
    """A second agency admin (not the one who reset, not the user) re-opens enrolment for a user
    whose authenticator was reset and who has no recovery code left. Four eyes: no single admin
    can both remove a user's authenticator and let a new one be enrolled."""
    require_agency_admin(acting_user, user)
    with transaction.atomic():
        _mfa_reenrol_approve(acting_user=acting_user, user=user)


def _mfa_reenrol_approve(*, acting_user, user) -> None:
    reset = MfaReset.objects.select_for_update().filter(user=user, completed_at__isnull=True).first()
    if reset is None:
        raise CasebridgeError(f"{user.username}'s authenticator was not reset; nothing to approve.")
    if acting_user.pk in (reset.reset_by_id, user.pk):
        raise CasebridgeError("Another agency admin than the one who reset the authenticator must approve.")
    if reset.reenrolment_open:
        raise CasebridgeError(f"{user.username} may already enrol a new authenticator.")
    if recovery_codes_left(user):
        raise CasebridgeError(f"{user.username} still has recovery codes: they give one at their next login.")
    reset.approved_by = acting_user
    reset.approved_at = timezone.now()
    reset.save(update_fields=["approved_by", "approved_at"])
    audit_record(
        action=Action.MFA_REENROL_APPROVED,
        actor=actor_for_user(acting_user),
        object_type="user",
        object_id=user.pk,
        details={"reset": reset.pk, "reset_by": reset.reset_by_id},
    )


@transaction.atomic
def mfa_reenrol_complete(*, user, device: Authenticator) -> list[str]:
    """A new authenticator confirmed after a reset (or an operator's first one): the reset is
    closed and the recovery codes replaced (returned to show once)."""
    state = mfa_enrolment_state(user)
    if state != "open":
        raise ForbiddenError("Enrolling a new authenticator is not open for this account.")
    device = Authenticator.objects.select_for_update().get(pk=device.pk, user=user)
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    MfaReset.objects.filter(user=user, completed_at__isnull=True).update(completed_at=timezone.now())
    actor = actor_for_user(user, auth="password+totp")
    audit_record(action=Action.MFA_ENROLLED, actor=actor, object_type="user", object_id=user.pk)
    return _recovery_codes_replace(user=user, actor=actor)
