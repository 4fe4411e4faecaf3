from __future__ import annotations

from rest_framework.permissions import BasePermission

from agencies.selectors import membership_of


class IsAgencyMember(BasePermission):
    """Authenticated and a member of an agency on this node (operators without one use Django admin)."""

    message = "Log in as a member of an agency on this node."

    def has_permission(self, request, view) -> bool:
        return membership_of(request.user) is not None and request.user.is_active


def role_permission(*roles: str) -> type[BasePermission]:
    class HasRole(BasePermission):
        message = f"This needs one of the roles: {', '.join(roles)}."

        def has_permission(self, request, view) -> bool:
            membership = membership_of(request.user)
            return membership is not None and membership.role in roles

    return HasRole
