from __future__ import annotations

from agencies.policy import role_permission

__all__ = ["IsAgencyMember", "IsAgencyMemberOrNodeAuditor", "role_permission"]


# Authenticated and a member of an agency on this node (operators without one use Django admin):
# the policy's "member" key, through the one role guard, so a refusal is audited like any other.
IsAgencyMember = role_permission("member")
# An agency member, or the node auditor (the audit log's checkpoint and proofs).
IsAgencyMemberOrNodeAuditor = role_permission("audit.proofs")
