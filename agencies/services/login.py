"""Logins: the failure throttle, audit of failed and successful logins, TOTP enrolment.

Two counters per username. Failures from one client address lock that address out after
LOGIN_FAILURE_LIMIT, so a stranger who knows a username cannot lock its owner out from elsewhere;
failures from all addresses together lock the account after LOGIN_ACCOUNT_FAILURE_LIMIT, so
guessing spread over many addresses still ends.

An attempt is reserved (counted, under a row lock) *before* its password or code is checked
(`login_attempt_reserve`), so parallel requests cannot all be evaluated against the same count:
at most the limit are ever checked. A success clears the counts; a failure keeps its reservation.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from agencies.models import (
    WRAPPED_SEED_PREFIX,
    Authenticator,
    LoginFailureBudget,
    LoginThrottle,
    totp_seed_key_id,
    totp_seed_wrap,
)
from audit.actions import Action, Outcome
from audit.capture import Actor, actor_for_user, audit_record
from casebridge.errors import CasebridgeError
from casebridge.lib.keywrap import KeyWrapError, unwrap_private_key

User = get_user_model()


class AccountLocked(CasebridgeError):
    status_code = 429
    title = "Account locked"


@dataclass(frozen=True)
class LoginAttempt:
    """A reserved attempt: whether its password or code may be checked, and the counts it made."""

    allowed: bool
    locked_until: datetime | None = None
    failures: int = 0  # from this address, this attempt included
    failures_all_addresses: int = 0
    locks: bool = False  # this attempt reached a limit: if it fails, the lock stands


def _throttle_keys(username: str, address: str) -> list[tuple[str, str, int]]:
    username = username.lower()
    # Always this order (this address, then all addresses): every request locks the rows of one
    # username in the same order, so two of them never wait on each other in a cycle.
    return [
        (username, address or "unknown", settings.LOGIN_FAILURE_LIMIT),
        (username, LoginThrottle.ANY_ADDRESS, settings.LOGIN_ACCOUNT_FAILURE_LIMIT),
    ]


def login_locked_until(*, username: str, address: str) -> datetime | None:
    """When the lock on `username` (from `address`) ends, or None when it may try to log in."""
    now, ends = timezone.now(), []
    for name, where, _limit in _throttle_keys(username, address):
        throttle = LoginThrottle.objects.filter(username=name, address=where).first()
        if throttle and throttle.locked_until and throttle.locked_until > now:
            ends.append(throttle.locked_until)
    return max(ends) if ends else None


@transaction.atomic
def login_attempt_reserve(*, username: str, address: str) -> LoginAttempt:
    """Count one attempt of `username` from `address` before its secret is checked.

    Refused (nothing counted) while a lock runs. The attempt that reaches a limit sets the lock
    itself, so a parallel attempt already sees it; if that attempt then succeeds, the success
    clears the counts and the lock with them.
    """
    now = timezone.now()
    rows = []
    for name, where, limit in _throttle_keys(username, address):
        throttle, _ = LoginThrottle.objects.select_for_update().get_or_create(username=name, address=where)
        if throttle.locked_until and throttle.locked_until <= now:
            throttle.failures = 0  # an expired lock starts a fresh count
            throttle.locked_until = None
        rows.append((throttle, limit))
    active = [throttle.locked_until for throttle, _ in rows if throttle.locked_until]
    if active:
        return LoginAttempt(allowed=False, locked_until=max(active))
    locks = False
    for throttle, limit in rows:
        throttle.failures += 1
        if throttle.failures >= limit:
            throttle.locked_until = now + timedelta(minutes=settings.LOGIN_LOCKOUT_MINUTES)
            locks = True
        throttle.save(update_fields=["failures", "locked_until", "updated_at"])
    ends = [throttle.locked_until for throttle, _ in rows if throttle.locked_until]
    return LoginAttempt(
        allowed=True,
        locked_until=max(ends) if ends else None,
        failures=rows[0][0].failures,
        failures_all_addresses=rows[1][0].failures,
        locks=locks,
    )


@transaction.atomic
def login_attempt_release(*, username: str, address: str) -> None:
    """Give back the reservation of an attempt whose password (or recovery code) was right, so a
    login that then stops at the next step does not count as a failure, nor keep a lock it set."""
    for name, where, limit in _throttle_keys(username, address):
        throttle = LoginThrottle.objects.select_for_update().filter(username=name, address=where).first()
        if throttle is None:
            continue
        throttle.failures = max(throttle.failures - 1, 0)
        if throttle.failures < limit:
            throttle.locked_until = None
        throttle.save(update_fields=["failures", "locked_until", "updated_at"])


def _account_of(username: str, user=None):
    """The existing user a failed login names (for attributing the entry to its agency), or None."""
    if user is not None:
        return user
    return User.objects.filter(username__iexact=username.strip()).select_related("membership__agency").first()


def _failure_actor(username: str, account, *, stage: str) -> tuple[Actor, str]:
    """Who failed and which agency's log the entry belongs to: the named account's agency when the
    account exists (its auditors must see attacks on it), the node otherwise."""
    if account is None:
        return Actor(type="anonymous", name=username[:150]), ""
    membership = getattr(account, "membership", None)
    agency = membership.agency.code if membership else ""
    if stage != "password":  # the password was right: this is the account's holder (or has its password)
        return actor_for_user(account, auth="password"), agency
    return Actor(type="anonymous", name=account.get_username(), agency=agency), agency


def _window_start(now: datetime) -> datetime:
    seconds = settings.LOGIN_ANONYMOUS_AUDIT_WINDOW_SECONDS
    return datetime.fromtimestamp(int(now.timestamp()) // seconds * seconds, tz=UTC)


def _anonymous_budget_allows(address: str) -> bool:
    """Whether one more entry about an unknown username from `address` is audited on its own (the
    first LOGIN_ANONYMOUS_AUDIT_PER_WINDOW of a window are); else it is counted for the summary."""
    now = timezone.now()
    budget, _ = LoginFailureBudget.objects.select_for_update().get_or_create(
        address=(address or "unknown")[:64], window_start=_window_start(now)
    )
    if budget.audited < settings.LOGIN_ANONYMOUS_AUDIT_PER_WINDOW:
        budget.audited += 1
        budget.save(update_fields=["audited"])
        allowed = True
    else:
        budget.suppressed += 1
        budget.save(update_fields=["suppressed"])
        allowed = False
    login_failure_summaries_write(now=now)
    return allowed


def login_failure_summaries_write(*, now: datetime | None = None) -> int:
    """One summary entry per closed window and address whose unknown-username failures were only
    counted; closed windows' rows are then deleted. Returns the number of summaries written.
    Called on every counted failure and periodically (agencies.tasks), so a summary appears soon
    after its window closes even when the flood stopped."""
    now = now or timezone.now()
    closed_before = _window_start(now)
    written = 0
    with transaction.atomic():
        closed = LoginFailureBudget.objects.select_for_update(skip_locked=True).filter(window_start__lt=closed_before)
        for budget in closed.order_by("window_start", "address")[:500]:
            if budget.suppressed:
                audit_record(
                    action=Action.LOGIN_FAILED,
                    actor=Actor(type="anonymous", name=""),
                    outcome=Outcome.FAILURE,
                    object_type="user",
                    reason=f"{budget.suppressed} further failed logins of unknown usernames from "
                    f"{budget.address} not audited one by one",
                    details={
                        "summary": True,
                        "address": budget.address,
                        "window_start": budget.window_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "window_seconds": settings.LOGIN_ANONYMOUS_AUDIT_WINDOW_SECONDS,
                        "audited": budget.audited,
                        "count": budget.suppressed,
                    },
                )
                written += 1
            budget.delete()
    return written


_FAILURE_REASONS = {
    "password": "wrong username or password",
    "otp": "wrong one-time code",
    "recovery": "wrong recovery code",
}


@transaction.atomic
def login_failure_record(
    *, username: str, address: str, stage: str, attempt: LoginAttempt | None = None, user=None
) -> bool:
    """Audit a failed password or one-time code whose attempt was reserved (`attempt`), or one
    refused unchecked because a lock runs (`attempt.allowed` false). True if `username` is now
    locked for this address.

    A failure naming an existing account is audited one by one, in that account's agency; one
    naming nobody is audited at node level within the per-address budget (L5)."""
    if attempt is None:  # callers that did not reserve (tests, scripts): reserve now
        attempt = login_attempt_reserve(username=username, address=address)
    account = _account_of(username, user)
    actor, agency = _failure_actor(username, account, stage=stage)
    if account is None and not _anonymous_budget_allows(address):
        return attempt.locked_until is not None
    object_id = account.pk if account else ""
    if not attempt.allowed:
        audit_record(
            action=Action.LOGIN_FAILED if stage == "password" else Action.MFA_FAILED,
            actor=actor,
            agency=agency,
            outcome=Outcome.DENIED,
            object_type="user",
            object_id=object_id,
            reason="locked: not checked",
            details={"address": address, "locked_until": attempt.locked_until.strftime("%Y-%m-%dT%H:%M:%SZ")},
        )
        return True
    audit_record(
        action=Action.LOGIN_FAILED if stage == "password" else Action.MFA_FAILED,
        actor=actor,
        agency=agency,
        outcome=Outcome.FAILURE,
        object_type="user",
        object_id=object_id,
        reason=_FAILURE_REASONS[stage],
        details={
            "failures": attempt.failures,
            "failures_all_addresses": attempt.failures_all_addresses,
            "address": address,
        },
    )
    if attempt.locks and (account is not None or _anonymous_budget_allows(address)):
        audit_record(
            action=Action.LOCKOUT,
            actor=actor,
            agency=agency,
            outcome=Outcome.FAILURE,
            object_type="user",
            object_id=object_id,
            reason=f"{attempt.failures} consecutive failures from {address or 'an unknown address'}, "
            f"{attempt.failures_all_addresses} from all addresses",
            details={"minutes": settings.LOGIN_LOCKOUT_MINUTES},
        )
    return attempt.locked_until is not None


@transaction.atomic
def login_code_throttled_record(*, user, address: str, wait_seconds: int) -> None:
    """Audit a one-time code sent during django-otp's wait after a wrong one: refused unchecked.

    Not counted towards the lockout (a hurried retype is no guess), but never silent: a burst of
    codes against one account shows in its agency's log."""
    actor, agency = _failure_actor(user.get_username(), user, stage="otp")
    audit_record(
        action=Action.MFA_FAILED,
        actor=actor,
        agency=agency,
        outcome=Outcome.DENIED,
        object_type="user",
        object_id=user.pk,
        reason="rate limited: sent during the wait after a wrong code, not checked",
        details={"address": address, "wait_seconds": wait_seconds},
    )


def login_success_record(*, user, method: str) -> None:
    LoginThrottle.objects.filter(username=user.get_username().lower()).delete()  # every count starts again
    audit_record(action=Action.LOGIN, actor=actor_for_user(user, auth=method), object_type="user", object_id=user.pk)


def logout_record(*, user, reason: str = "") -> None:
    audit_record(
        action=Action.SESSION_EXPIRED if reason else Action.LOGOUT,
        actor=actor_for_user(user),
        object_type="user",
        object_id=user.pk,
        reason=reason,
    )


def authenticator_match(*, user, token: str) -> Authenticator | None:
    """The confirmed authenticator of `user` that accepts `token` (django-otp's wait after a wrong
    code applies), or None. Seeds are read through Authenticator, which unwraps them."""
    with transaction.atomic():
        for device in Authenticator.objects.select_for_update().filter(user=user, confirmed=True).order_by("pk"):
            if device.verify_token(token):
                return device
    return None


@transaction.atomic
def totp_device_start(*, user) -> Authenticator:
    """An unconfirmed TOTP device for enrolment (replacing an earlier unconfirmed one)."""
    Authenticator.objects.filter(user=user, confirmed=False).delete()
    return Authenticator.objects.create(user=user, name="Authenticator app", confirmed=False)


@transaction.atomic
def totp_device_confirm(*, user, device: Authenticator) -> None:
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    audit_record(
        action=Action.MFA_ENROLLED,
        actor=actor_for_user(user, auth="password+totp"),
        object_type="user",
        object_id=user.pk,
    )


def totp_seeds_rewrap(*, old_kek: bytes, new_kek: bytes) -> int:
    """Re-wrap every TOTP seed under a new KEK (part of `manage.py rotate_kek`); rows already under
    the new one, or still in clear, are wrapped under the new one. Returns the number rewritten."""
    count = 0
    for device in Authenticator.objects.order_by("pk").iterator():
        key_id = totp_seed_key_id(device.user_id)
        if device.seed_is_wrapped:
            blob = base64.b64decode(device.key[len(WRAPPED_SEED_PREFIX) :])
            try:
                unwrap_private_key(blob, kek=new_kek, key_id=key_id)
                continue  # already re-wrapped (a re-run after a crash)
            except KeyWrapError:
                seed = unwrap_private_key(blob, kek=old_kek, key_id=key_id)
        else:
            seed = bytes.fromhex(device.key)
        Authenticator.objects.filter(pk=device.pk).update(key=totp_seed_wrap(seed, user_id=device.user_id, kek=new_kek))
        count += 1
    return count
