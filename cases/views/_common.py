"""Shared bits of the case pages: role guards and the access-checked case fetch."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render

from casebridge.errors import ForbiddenError, NotFoundError
from cases import selectors
from cases.access import Access, CaseContext


class Refused(Exception):
    """Carries the 403 response out of a helper."""

    def __init__(self, response):
        super().__init__("refused")
        self.response = response


def case_or_404(request, case_id: int, need: Access = Access.READ, what: str = "") -> CaseContext:
    """The case as the user may use it; 404 for outsiders, a 403 page (audited) for too little access."""
    try:
        return selectors.case_context(user=request.user, case_id=case_id, need=need, what=what)
    except NotFoundError:
        raise Http404("No such case") from None
    except ForbiddenError as exc:
        raise Refused(render(request, "cases/refused.html", {"message": exc.message}, status=403)) from None


def refusable(view):
    """Render the 403 page a helper raised as Refused."""
    from functools import wraps

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except Refused as refused:
            return refused.response

    return wrapped


def lead_or_404(request, lead_id: int, write: bool = False):
    try:
        return selectors.lead_context(user=request.user, lead_id=lead_id, write=write)
    except NotFoundError:
        raise Http404("No such lead") from None
    except ForbiddenError as exc:
        raise Refused(render(request, "cases/refused.html", {"message": exc.message}, status=403)) from None
