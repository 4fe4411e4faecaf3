"""`{% legal_hold_panel case ctx %}` on the case page: the case's legal hold and retention dates,
with the supervisor's place/lift form. A template tag, so the cases app never imports retention."""

from __future__ import annotations

from django import template
from django.utils import timezone

from agencies.models import Role
from agencies.selectors import membership_of
from retention import selectors
from retention.forms import HoldForm
from retention.models import RecordKind

register = template.Library()


@register.inclusion_tag("retention/_legal_hold.html", takes_context=True)
def legal_hold_panel(context, case, case_context=None):
    user = context.get("user")
    membership = membership_of(user)
    hold = selectors.legal_hold_active(case_id=case.pk)
    retention = None
    if membership is not None and membership.agency_id == case.agency_id:
        retention = selectors.record_retention(agency=case.agency, kind=RecordKind.CASE, object_id=case.pk)
    return {
        "case": case,
        "hold": hold,
        "retention": retention,
        "now": timezone.now(),
        "show_reason": case_context is not None and case_context.can_read,
        "is_supervisor": membership is not None and membership.role == Role.SUPERVISOR,
        "form": HoldForm(),
        "csrf_token": context.get("csrf_token"),
    }
