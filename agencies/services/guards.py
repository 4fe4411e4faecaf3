"""The one agency-admin guard of the account services."""

from __future__ import annotations

from django.db import transaction

from agencies.models import Membership, Role
from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from casebridge.errors import ForbiddenError, NotFoundError


def require_agency_admin(acting_user, user=None) -> Membership:
    """The acting user's membership if they are an agency admin (of `user`'s agency, when given);
    else an audited refusal: 403, or 404 for another agency's user (no existence leak).

    Call it before opening the service's transaction: the refusal's entry is committed on its own,
    so it survives the refusal."""
    membership = getattr(acting_user, "membership", None)
    if membership is None or membership.role != Role.AGENCY_ADMIN:
        reason = "agency admin role required"
    elif user is not None and getattr(getattr(user, "membership", None), "agency_id", None) != membership.agency_id:
        reason = "user of another agency"
    else:
        return membership
    with transaction.atomic():
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor_for_user(acting_user),
            outcome=Outcome.DENIED,
            object_type="user",
            object_id=getattr(user, "pk", "") or "",
            reason=reason,
        )
    if user is not None and reason == "user of another agency":
        raise NotFoundError("No such user.")
    raise ForbiddenError("Only an agency admin can manage users.")
