from __future__ import annotations

from agencies.selectors import is_node_auditor, membership_of


def membership(request):
    user = getattr(request, "user", None)
    member = membership_of(user) if user is not None else None
    if member is None and user is not None and is_node_auditor(user):
        return {"membership": None, "role": "node_auditor"}
    return {"membership": member, "role": member.role if member else ""}
