"""Writes for agencies, users, roles and API tokens. Each function is one audited transaction."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from agencies.models import Agency, ApiToken, Membership, NodeAuditor, Role
from agencies.services.accounts import enrolment_link_create
from agencies.services.guards import require_agency_admin
from audit.actions import Action, Outcome
from audit.capture import SYSTEM_ACTOR, Actor, actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError

User = get_user_model()

TOKEN_PREFIX = "cb"  # noqa: S105 - the public prefix of the token format, not a secret


# --- users and roles -------------------------------------------------------------------------


@dataclass(frozen=True)
class NewUser:
    user: object
    enrolment_token: str  # for the one-time enrolment link shown to the admin once; never stored


def user_create(*, acting_user, username: str, role: str, email: str = "", full_name: str = "") -> NewUser:
    """Create a user in the acting admin's own agency, without a usable password: the user sets
    their own through the one-time enrolment link returned here (H2: no admin sees a password)."""
    admin_membership = require_agency_admin(acting_user)
    if role not in Role.values:
        raise CasebridgeError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    username = username.strip()
    if not username:
        raise CasebridgeError("A username is required.")
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise CasebridgeError(f"The username {username!r} is taken.")
        first, _, last = full_name.strip().partition(" ")
        candidate = User(username=username, email=email, first_name=first, last_name=last)
        candidate.set_unusable_password()
        try:
            with transaction.atomic():
                candidate.save()
        except IntegrityError:
            raise CasebridgeError(f"The username {username!r} is taken.") from None
        Membership.objects.create(user=candidate, agency=admin_membership.agency, role=role)
        audit_record(
            action=Action.USER_CREATE,
            actor=actor_for_user(acting_user),
            object_type="user",
            object_id=candidate.pk,
            details={"username": username, "role": role},
        )
        issued = enrolment_link_create(user=candidate, created_by=acting_user)
    return NewUser(user=candidate, enrolment_token=issued.token)


def user_role_change(*, acting_user, user, role: str) -> None:
    require_agency_admin(acting_user, user)
    if role not in Role.values:
        raise CasebridgeError(f"Unknown role {role!r}.")
    if user.pk == acting_user.pk and role != Role.AGENCY_ADMIN:
        raise CasebridgeError("You cannot remove your own admin role; ask another agency admin.")
    with transaction.atomic():
        membership = Membership.objects.select_for_update().get(user=user)
        previous = membership.role
        if previous == role:
            return
        membership.role = role
        membership.save(update_fields=["role"])
        audit_record(
            action=Action.USER_ROLE_CHANGE,
            actor=actor_for_user(acting_user),
            object_type="user",
            object_id=user.pk,
            details={"from": previous, "to": role},
        )


def user_set_active(*, acting_user, user, active: bool) -> None:
    require_agency_admin(acting_user, user)
    if user.pk == acting_user.pk:
        raise CasebridgeError("You cannot deactivate your own account.")
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        if not active:
            ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
        audit_record(
            action=Action.USER_DEACTIVATE if not active else Action.USER_UPDATE,
            actor=actor_for_user(acting_user),
            object_type="user",
            object_id=user.pk,
            details={"active": active},
        )


@dataclass(frozen=True)
class NewNodeAuditor:
    user: object
    password: str


@transaction.atomic
def node_auditor_create(*, actor: Actor, username: str, email: str = "", password: str | None = None) -> NewNodeAuditor:
    """Operator action (`manage.py node_auditor_create`, or Django admin): a user of no agency who
    reads the node-level audit entries and the tree (audit.selectors.audit_scope). Returns the user
    and its initial password; MFA is enrolled at the first login like anyone's."""
    username = username.strip()
    if not username:
        raise CasebridgeError("A username is required.")
    if User.objects.filter(username__iexact=username).exists():
        raise CasebridgeError(f"The username {username!r} is taken.")
    initial = password or secrets.token_urlsafe(15)
    candidate = User(username=username, email=email)
    try:
        validate_password(initial, candidate)
    except ValidationError as exc:
        raise CasebridgeError("The password is too weak: " + " ".join(exc.messages)) from None
    candidate.set_password(initial)
    try:
        candidate.save()
    except IntegrityError:
        raise CasebridgeError(f"The username {username!r} is taken.") from None
    NodeAuditor.objects.create(user=candidate)
    audit_record(
        action=Action.USER_CREATE,
        actor=actor,
        agency="",  # a node-level account: the node auditor's own entry, no agency's
        object_type="user",
        object_id=candidate.pk,
        details={"username": username, "role": "node_auditor"},
    )
    return NewNodeAuditor(user=candidate, password=initial)


def _require_node_operator(acting_user, *, object_type: str, object_id: str | int = "") -> None:
    # A node operator is a superuser; on the web it also gave a one-time code (the console checks that).
    if not (acting_user is not None and acting_user.is_active and acting_user.is_superuser):
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor_for_user(acting_user),
            outcome=Outcome.DENIED,
            object_type=object_type,
            object_id=object_id,
            reason="node operator required",
        )
        raise ForbiddenError("Only a node operator can do this.")


def agency_create(
    *, name: str, code: str, country: str, node_url: str = "", hosted_here: bool = True, acting_user=None
) -> Agency:
    """Operator action (the node console, or seed_demo as the node itself when `acting_user` is None):
    agencies are not created from the web UI."""
    if acting_user is not None:
        _require_node_operator(acting_user, object_type="agency")  # outside the transaction: the refusal stays
    with transaction.atomic():
        return _agency_create(
            name=name, code=code, country=country, node_url=node_url, hosted_here=hosted_here, acting_user=acting_user
        )


def _agency_create(*, name: str, code: str, country: str, node_url: str, hosted_here: bool, acting_user) -> Agency:
    agency = Agency(name=name, code=code, country=country.upper(), node_url=node_url, hosted_here=hosted_here)
    agency.full_clean()
    agency.save()
    audit_record(
        action=Action.AGENCY_CREATE,
        actor=actor_for_user(acting_user) if acting_user is not None else SYSTEM_ACTOR,
        agency=agency.code,
        object_type="agency",
        object_id=agency.pk,
        details={"code": agency.code, "country": agency.country, "hosted_here": hosted_here, "node_url": node_url},
    )
    return agency


def user_deactivate_by_operator(*, acting_user, user) -> None:
    """The node operator suspends an account (a stolen password, say): it can no longer log in and
    its API tokens are revoked. Only that way round: bringing an account back is its agency admin's
    decision (user_set_active), so an operator cannot revive someone an agency removed."""
    _require_node_operator(acting_user, object_type="user", object_id=user.pk)  # the refusal's entry stays
    if user.pk == acting_user.pk:
        raise CasebridgeError("You cannot deactivate your own account.")
    with transaction.atomic():
        _user_deactivate(acting_user=acting_user, user=user)


def _user_deactivate(*, acting_user, user) -> None:
    user = User.objects.select_for_update().get(pk=user.pk)
    was_active = user.is_active
    if was_active:
        user.is_active = False
        user.save(update_fields=["is_active"])
    revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    membership = Membership.objects.select_related("agency").filter(user=user).first()
    audit_record(
        action=Action.USER_DEACTIVATE,
        actor=actor_for_user(acting_user),
        agency=membership.agency.code if membership else "",
        object_type="user",
        object_id=user.pk,
        details={"active": False, "was_active": was_active, "tokens_revoked": revoked, "by": "node operator"},
    )


# --- API tokens ------------------------------------------------------------------------------


def token_hash(secret: str) -> bytes:
    # Tokens carry 256 bits of randomness, so a fast hash is enough (no password stretching needed).
    return hashlib.sha256(secret.encode("ascii")).digest()


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # shown to the user once, never stored


@transaction.atomic
def api_token_create(*, acting_user, name: str, days: int | None = None) -> IssuedToken:
    name = name.strip()
    if not name:
        raise CasebridgeError("Give the token a name that says where it is used.")
    days = days or settings.API_TOKEN_DEFAULT_DAYS
    # The one cap on a token's life (API_TOKEN_MAX_DAYS); the database refuses a later expiry from
    # any other path (constraint api_token_expiry_capped).
    if not 1 <= days <= settings.API_TOKEN_MAX_DAYS:
        raise CasebridgeError(f"A token can live between 1 and {settings.API_TOKEN_MAX_DAYS} days.")
    prefix = secrets.token_hex(4)
    secret = f"{TOKEN_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    now = timezone.now()
    token = ApiToken.objects.create(
        user=acting_user,
        name=name[:100],
        prefix=prefix,
        key_hash=token_hash(secret),
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    audit_record(
        action=Action.TOKEN_CREATE,
        actor=actor_for_user(acting_user),
        object_type="api_token",
        object_id=token.pk,
        details={"prefix": prefix, "days": days},
    )
    return IssuedToken(token=token, secret=secret)


@transaction.atomic
def api_token_revoke(*, acting_user, token: ApiToken) -> None:
    if token.user_id != acting_user.pk:
        raise ForbiddenError("You can only revoke your own tokens.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    audit_record(
        action=Action.TOKEN_REVOKE,
        actor=actor_for_user(acting_user),
        object_type="api_token",
        object_id=token.pk,
        details={"prefix": token.prefix},
    )
