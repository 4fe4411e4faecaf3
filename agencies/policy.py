"""The node's role policy: which role may do what to which app's objects, in one table, and the one
role guard that pages (`member_required`) and the API (`role_permission`) both ask.

A page and the API endpoint that serve the same thing name the same policy key, so they cannot
disagree (`tests/security/test_l7_role_policy.py`). A refusal is audited here (`access.denied`,
reason "role ... may not ...", `details.policy`); the route layer (`audit/middleware.py`) writes it
again if the refusal's own transaction rolled it back. Object-level rules (need-to-know on cases,
own agency's hash sets) stay with the selectors; this is the role level only.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from agencies.models import Role
from agencies.selectors import is_node_auditor
from audit.actions import Action, Outcome
from audit.capture import Actor, actor_for_user, audit_record
from audit.routes import route_object

_I, _S, _A, _U = Role.INVESTIGATOR, Role.SUPERVISOR, Role.AGENCY_ADMIN, Role.AUDITOR
EVERY_ROLE = frozenset(Role.values)
# The node auditor (`agencies.NodeAuditor`) belongs to no agency: in this table it is one more role.
NODE_AUDITOR = "node_auditor"

POLICY: dict[str, frozenset[str]] = {
    "member": EVERY_ROLE,  # any member of an agency on this node: own tokens, /api/v1/me, the API
    "dashboard": EVERY_ROLE | {NODE_AUDITOR},
    "agency.admin": frozenset({_A}),  # users, roles, keys, partners
    "exchange.view": frozenset({_I, _S, _A}),  # partners, bundles (not auditors: the log shows them)
    "exchange.supervise": frozenset({_S}),  # approve outgoing shares
    # hash sets: pages and API alike. Auditors review the log, they do not consult hash data.
    "hashsets.view": frozenset({_I, _S, _A}),  # list sets, a set, look up and match hashes
    "hashsets.curate": frozenset({_I, _S, _A}),  # create, import, export, publish
    "cases.read": frozenset({_I, _S, _U}),  # auditors see metadata only (cases.access)
    "cases.work": frozenset({_I, _S}),
    "cases.supervise": frozenset({_S}),  # case templates, share approvals
    "audit.review": frozenset({_U, NODE_AUDITOR}),  # each sees its own scope (audit.selectors)
    "audit.proofs": EVERY_ROLE | {NODE_AUDITOR},  # checkpoint, inclusion and consistency proofs
    "retention.review": frozenset({_I, _S}),
    "retention.erase": frozenset({_S}),
    "retention.rules.view": frozenset({_A, _S, _U}),
    "retention.rules.change": frozenset({_A}),
    "retention.holds.view": frozenset({_S, _U}),
    "retention.holds.change": frozenset({_S}),
    "retention.tombstones.view": frozenset({_S, _U, _A}),
    "retention.report": frozenset({_U}),
}


def role_of(user) -> str | None:
    """The user's role in this table: its membership's role, `node_auditor`, or None."""
    if user is None or not user.is_authenticated:
        return None
    membership = getattr(user, "membership", None)
    if membership is not None:
        return membership.role
    return NODE_AUDITOR if is_node_auditor(user) else None


def role_allows(user, key: str) -> bool:
    """Whether `user`'s role may do `key` (an unknown key is a programming error: KeyError)."""
    roles = POLICY[key]
    return role_of(user) in roles and user.is_active


def role_check(user, key: str, *, object_type: str = "page", object_id: str = "") -> str | None:
    """None when allowed; else the refusal's reason, already audited."""
    if role_allows(user, key):
        return None
    role = role_of(user) or "none"
    reason = f"role {role} may not {key}"
    if hasattr(user, "partner"):  # a partner node's principal (exchange.authentication): no user
        actor = Actor(type="partner", name=user.get_username(), auth="partner-token")
    else:
        actor = actor_for_user(user)
    audit_record(
        action=Action.ACCESS_DENIED,
        actor=actor,
        outcome=Outcome.DENIED,
        object_type=object_type,
        object_id=object_id[:64],
        reason=reason,
        details={"policy": key},
    )
    return reason


def roles_for(key: str) -> list[str]:
    return sorted(POLICY[key])


def role_permission(key: str = "member", *, writes: str | None = None) -> type[BasePermission]:
    """The DRF permission for policy `key` (`writes` for unsafe methods, when it differs): the same
    guard as `member_required(key)`."""
    write_key = writes or key
    for name in (key, write_key):
        if name not in POLICY:  # fails at import, not at the first request
            raise KeyError(f"{name!r} is no key of agencies.policy.POLICY")

    class HasRole(BasePermission):
        policy_key = key
        policy_write_key = write_key
        message = f"This needs one of the roles: {', '.join(roles_for(key))}."

        def has_permission(self, request, view) -> bool:
            if not request.user or not request.user.is_authenticated:
                return False  # 401 from authentication; the route layer audits it
            wanted = key if request.method in SAFE_METHODS else write_key
            object_type, object_id = route_object(request, getattr(view, "kwargs", None))
            if role_check(request.user, wanted, object_type=object_type, object_id=object_id) is None:
                return True
            self.message = f"This needs one of the roles: {', '.join(roles_for(wanted))}."
            return False

    HasRole.__name__ = HasRole.__qualname__ = f"HasRole_{write_key.replace('.', '_')}"
    return HasRole
