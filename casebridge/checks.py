"""Deployment checks of our own, shown by `manage.py check --deploy` next to Django's."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register


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


@register(Tags.security, deploy=True)
def trusted_proxies_check(app_configs, **kwargs) -> list[Warning]:
    # Behind a reverse proxy without the PROXY protocol every request's TCP peer is the proxy. The
    # login lockout counts failures per username and address, so five wrong guesses by anyone
    # would then lock the account for everyone, and audit entries would all name the proxy.
    behind_proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None) is not None
    if settings.TRUSTED_PROXIES or settings.PROXY_PROTOCOL or not behind_proxy:
        return []
    return [
        Warning(
            "TRUST_X_FORWARDED_PROTO says a reverse proxy is in front, but TRUSTED_PROXIES is empty and "
            "gunicorn does not take the PROXY protocol: every client then has the proxy's address, so a "
            "few wrong passwords from anyone lock an account for everyone and audit entries name the proxy "
            "instead of the client.",
            hint="Set TRUSTED_PROXIES to the proxy's address or network as the node sees it (its "
            "X-Forwarded-For is then believed), or have the proxy send the PROXY protocol "
            "(GUNICORN_CMD_ARGS=--proxy-protocol v2 ...). See docs/deploy.md, 'The client address'.",
            id="casebridge.W002",
        )
    ]


@register(Tags.security, deploy=True)
def demo_mode_check(app_configs, **kwargs) -> list[Error]:
    # DEMO relaxes cookies, TLS and keys for the loopback demo; a node being checked for deployment
    # must never carry it, whatever else its environment says.
    if not settings.DEMO:
        return []
    return [
        Error(
            "DEMO is on: this is the `make run` demo node (generated keys under var/, plain-HTTP cookies, "
            "published demo passwords), not a deployable node.",
            hint="Unset DEMO and configure the node as docs/deploy.md describes.",
            id="casebridge.E001",
        )
    ]
