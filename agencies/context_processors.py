from __future__ import annotations

from agencies.selectors import membership_of


def membership(request):
    user = getattr(request, "user", None)
    member = membership_of(user) if user is not None else None
    return {"membership": member, "role": member.role if member else ""}
