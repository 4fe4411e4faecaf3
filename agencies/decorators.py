"""View guard: an MFA-verified member of an agency whose role the policy allows (agencies/policy.py)."""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from agencies.policy import POLICY, role_check, roles_for
from audit.routes import route_object


def member_required(key: str = "member"):
    """Pages of policy `key` (agencies.policy.POLICY): the same guard as the API's `role_permission`."""
    if key not in POLICY:  # fails at import, not at the first request
        raise KeyError(
            f"member_required takes one key of agencies.policy.POLICY (a role is no key): {key!r}; "
            f"keys: {', '.join(POLICY)}"
        )

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated or not user.is_verified():
                return redirect_to_login(request.get_full_path())
            object_type, object_id = route_object(request, kwargs)
            if role_check(user, key, object_type=object_type, object_id=object_id) is not None:
                return render(request, "403.html", {"roles": roles_for(key)}, status=403)
            return view(request, *args, **kwargs)

        wrapped.policy_key = key  # type: ignore[attr-defined]
        return wrapped

    return decorator
