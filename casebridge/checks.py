"""Deployment checks of our own, shown by `manage.py check --deploy` next to Django's."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def shared_cache_check(app_configs, **kwargs) -> list[Warning]:
    if settings.CACHE_URL:
        return []
    return [
        Warning(
            "CACHE_URL is not set: login-free rate limits (partner requests, hash lookups) and lookup "
            "budgets are then counted by each web process on its own, multiplying them by the number "
            "of processes.",
            hint="Set CACHE_URL to a Redis database shared by every web process (docs/deploy.md).",
            id="casebridge.W001",
        )
    ]
