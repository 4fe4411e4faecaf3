"""Who may do what with a case: need-to-know, in one place.

A case is seen by its members and by the supervisors of its agency. The agency's auditors see its
metadata (reference, title, status...) but none of its content (notes, tasks, evidence, leads,
attachments, deconfliction hits). Everyone else, including users of other agencies, is told the
case does not exist (404), never that it is forbidden.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from agencies.models import Role
from agencies.selectors import membership_of
from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from casebridge.errors import ForbiddenError, NotFoundError
from cases.models import Case, CaseRole


class Access(IntEnum):
    NONE = 0
    METADATA = 1  # auditors of the agency
    READ = 2  # case viewers
    WRITE = 3  # case members and the lead
    MANAGE = 4  # the case lead and supervisors: members, status, approvals


_ROLE_ACCESS = {CaseRole.VIEWER: Access.READ, CaseRole.MEMBER: Access.WRITE, CaseRole.LEAD: Access.MANAGE}

NOT_FOUND = "No such case, or you are not one of its members."


@dataclass(frozen=True)
class CaseContext:
    """A case as one user may use it: the case, that user's access and role in it ('' if none)."""

    case: Case
    access: Access
    case_role: str = ""

    @property
    def can_read(self) -> bool:
        return self.access >= Access.READ

    @property
    def can_write(self) -> bool:
        return self.access >= Access.WRITE

    @property
    def can_manage(self) -> bool:
        return self.access >= Access.MANAGE


def access_for(user, case: Case, case_role: str | None) -> Access:
    """The access `user` has to `case`, given their role in it (None or '' when not a member)."""
    membership = membership_of(user)
    if membership is None or membership.agency_id != case.agency_id or not user.is_active:
        return Access.NONE
    if membership.role == Role.SUPERVISOR:
        return Access.MANAGE
    if case_role and membership.role == Role.INVESTIGATOR:
        return _ROLE_ACCESS.get(case_role, Access.NONE)
    if membership.role == Role.AUDITOR:
        return Access.METADATA
    return Access.NONE


_NEED_LABEL = {
    Access.METADATA: "see this case",
    Access.READ: "see the content of this case",
    Access.WRITE: "change this case",
    Access.MANAGE: "manage this case (its lead or a supervisor)",
}


def require(context: CaseContext, need: Access, *, user, what: str = "") -> CaseContext:
    """`context` if it grants `need`; else 404 for outsiders and an audited 403 for the others."""
    if context.access == Access.NONE:
        raise NotFoundError(NOT_FOUND)
    if context.access < need:
        reason = f"needs access to {_NEED_LABEL[need]}" + (f" ({what})" if what else "")
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor_for_user(user),
            outcome=Outcome.DENIED,
            object_type="case",
            object_id=context.case.pk,
            reason=reason,
        )
        if context.access == Access.METADATA:
            raise ForbiddenError("Auditors see a case's metadata only, not its notes, tasks, evidence or leads.")
        if context.access == Access.READ:
            raise ForbiddenError("You are a viewer of this case: ask its lead to make you a member to change it.")
        raise ForbiddenError("Only the case lead or a supervisor can do this.")
    return context


def batch_undo_allowed(*, user, context: CaseContext, batch) -> bool:
    """Who may undo a bulk classification of this case: the user who made it, while still able to
    change the case, and the agency's supervisors. Everyone else is told it does not exist."""
    if batch.case_id != context.case.pk or not context.can_write:
        return False
    if batch.created_by_id == user.pk:
        return True
    membership = membership_of(user)
    return (
        membership is not None and membership.role == Role.SUPERVISOR and membership.agency_id == context.case.agency_id
    )
