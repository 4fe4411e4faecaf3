"""Reads for agencies and users, scoped to what the caller may see."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from agencies.models import ApiToken, Role
from casebridge.errors import NotFoundError

User = get_user_model()


def membership_of(user):
    return getattr(user, "membership", None) if user and user.is_authenticated else None


def is_node_auditor(user) -> bool:
    """A node-level auditor (`NodeAuditor`), who belongs to no agency. A member of an agency never is."""
    if not user or not user.is_authenticated or membership_of(user) is not None:
        return False
    return getattr(user, "node_auditor", None) is not None


def audit_scope_of(user) -> str | None:
    """Whose audit entries `user` may read: its agency's code (an agency's auditor), "" (the node
    auditor: entries of no agency), or None (not an auditor). The rule itself is
    `audit.selectors.audit_scope`."""
    membership = membership_of(user)
    if membership is not None:
        return membership.agency.code if membership.role == Role.AUDITOR else None
    return "" if is_node_auditor(user) else None


def has_role(user, *roles: str) -> bool:
    membership = membership_of(user)
    return membership is not None and membership.role in roles


def agency_users(*, acting_user, search: str = "") -> QuerySet:
    """The users of the acting user's own agency; nobody sees another agency's users."""
    membership = membership_of(acting_user)
    if membership is None:
        return User.objects.none()
    users = User.objects.filter(membership__agency_id=membership.agency_id).select_related("membership")
    if search:
        users = users.filter(username__icontains=search) | users.filter(email__icontains=search)
    return users.order_by("username")


def agency_user_get(*, acting_user, user_id: int):
    """One user of the acting admin's agency; any other id is 'not found' (no existence leak)."""
    if not has_role(acting_user, Role.AGENCY_ADMIN):
        raise NotFoundError("No such user.")
    user = agency_users(acting_user=acting_user).filter(pk=user_id).first()
    if user is None:
        raise NotFoundError("No such user.")
    return user


def api_tokens_of(*, user) -> QuerySet:
    return ApiToken.objects.filter(user=user).order_by("-created_at")


def api_token_get(*, user, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise NotFoundError("No such token.")
    return token
