"""View guards: an MFA-verified member of an agency, optionally with one of some roles."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from agencies.selectors import is_node_auditor, membership_of
from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record


def member_required(*roles: str, node_auditor: bool = False):
    """An MFA-verified member with one of `roles` (any role when none are given); with
    `node_auditor=True` the node auditor (who belongs to no agency) passes too."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated or not user.is_verified():
                return redirect_to_login(request.get_full_path())
            membership = membership_of(user)
            if node_auditor and is_node_auditor(user):
                return view(request, *args, **kwargs)
            if membership is None or (roles and membership.role not in roles):
                audit_record(
                    action=Action.ACCESS_DENIED,
                    actor=actor_for_user(user),
                    outcome=Outcome.DENIED,
                    object_type="page",
                    object_id=request.path[:64],
                    reason=f"role {membership.role if membership else 'none'} may not open this page",
                )
                return render(request, "403.html", {"roles": roles}, status=403)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
