"""What each role sees first. Apps contribute their summaries here as they grow."""

from __future__ import annotations

from agencies.models import Role
from agencies.selectors import agency_users, api_tokens_of, membership_of


def dashboard_context(*, user) -> dict:
    membership = membership_of(user)
    context: dict = {"membership": membership, "panels": []}
    if membership.role == Role.AGENCY_ADMIN:
        users = agency_users(acting_user=user)
        context["user_count"] = users.count()
        context["recent_users"] = users.order_by("-date_joined")[:5]
    if membership.role == Role.AUDITOR:
        from audit.selectors import audit_overview

        context["audit"] = audit_overview()
    if membership.role in (Role.INVESTIGATOR, Role.SUPERVISOR):
        from cases import selectors as case_selectors
        from cases.models import LeadStatus

        context["my_cases"] = case_selectors.my_cases(user=user)
        context["my_tasks"] = case_selectors.my_tasks(user=user)
        counts = case_selectors.lead_status_counts(user=user)
        context["lead_counts"] = [(value, label, counts.get(value, 0)) for value, label in LeadStatus.choices]
        context["triage"] = case_selectors.triage_progress(user=user)
        if membership.role == Role.SUPERVISOR:
            context["shares_pending"] = case_selectors.share_requests_pending(user=user).count()
    context["token_count"] = api_tokens_of(user=user).filter(revoked_at__isnull=True).count()
    return context
