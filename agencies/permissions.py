from __future__ import annotations

from rest_framework.permissions import BasePermission

from agencies.selectors import is_node_auditor, membership_of


class IsAgencyMember(BasePermission):
    """Authenticated and a member of an agency on this node (operators without one use Django admin)."""

    message = "Log in as a member of an agency on this node."

    def has_permission(self, request, view) -> bool:
        return membership_of(request.user) is not None and request.user.is_active


class IsAgencyMemberOrNodeAuditor(BasePermission):
    """An agency member, or the node auditor (the audit log's checkpoint and proofs)."""

    message = IsAgencyMember.message

    def has_permission(self, request, view) -> bool:
        if not request.user.is_active:
            return False
        return membership_of(request.user) is not None or is_node_auditor(request.user)


def role_permission(*roles: str, node_auditor: bool = False) -> type[BasePermission]:
    class HasRole(BasePermission):
        message = f"This needs one of the roles: {', '.join(roles)}{' or node auditor' if node_auditor else ''}."

        def has_permission(self, request, view) -> bool:
            membership = membership_of(request.user)
            if node_auditor and is_node_auditor(request.user):
                return request.user.is_active
            return membership is not None and membership.role in roles

    return HasRole
