"""The node operator's console (Django admin at /operator/): one login, view-only trust anchors, audited.

The operator is an adversary of the agencies it hosts (docs/threat-model.md), so the console is
narrow on purpose:

- its login is the main login's: the same throttle and lockout (agencies.services
  login_locked_until / login_failure_record / login_success_record), one message for a wrong
  username, password or one-time code, every attempt audited;
- only a superuser who gave a one-time code (django-otp) gets in;
- every page it serves, and every refusal, is an audit entry (`operator.view`, `access.denied`);
- what it may change goes through the services (agencies/admin.py); everything else is view-only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import authenticate
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django_otp.admin import OTPAdminSite

from agencies import services
from audit.actions import Action, Outcome
from audit.capture import Actor, actor_for_user, audit_record
from casebridge.middleware import client_address

# One message whatever was wrong, so the form tells nobody whether a password was right.
OPERATOR_LOGIN_REFUSED = "Wrong username, password or one-time code, or not a node operator account."


def _locked_message(until) -> str:
    return (
        f"Too many failed attempts. This account is locked until {until:%H:%M} UTC; "
        "try again then or ask another node operator."
    )


def is_node_operator(user: Any) -> bool:
    return bool(user is not None and user.is_active and user.is_staff and user.is_superuser)


class OperatorLoginForm(AdminAuthenticationForm):
    """Username, password and one-time code in one step, through the main login's throttle."""

    otp_token = forms.CharField(
        label="One-time code", max_length=16, required=False, widget=forms.TextInput(attrs={"autocomplete": "off"})
    )

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": OPERATOR_LOGIN_REFUSED,
        "inactive": OPERATOR_LOGIN_REFUSED,
    }

    def clean(self) -> dict[str, Any]:
        username = (self.cleaned_data.get("username") or "").strip()
        password = self.cleaned_data.get("password") or ""
        token = (self.cleaned_data.get("otp_token") or "").strip()
        if not username or not password:
            return self.cleaned_data  # the required fields say what is missing; nothing was tried
        address = client_address(self.request)
        # Reserved before anything is checked, as at the main login: parallel guesses cannot all be
        # evaluated against the limit (M1). Password and code are one step here, so one reservation.
        attempt = services.login_attempt_reserve(username=username, address=address)
        if not attempt.allowed:
            services.login_failure_record(username=username, address=address, stage="password", attempt=attempt)
            raise ValidationError(_locked_message(attempt.locked_until), code="locked")
        user = authenticate(self.request, username=username, password=password)
        if not is_node_operator(user):
            if user is not None:
                # Right password, but an agency's user (or a disabled operator): refused like a wrong one.
                audit_record(
                    action=Action.ACCESS_DENIED,
                    actor=actor_for_user(user, auth="password"),
                    outcome=Outcome.DENIED,
                    agency="",
                    object_type="page",
                    object_id="/operator/login/",
                    reason="the node console is for node operators (superusers) only",
                )
            self._refuse(
                services.login_failure_record(username=username, address=address, stage="password", attempt=attempt)
            )
        # Through agencies.Authenticator: TOTP seeds are stored wrapped under the KEK (L4).
        device = services.authenticator_match(user=user, token=token) if token else None
        if device is None:
            self._refuse(
                services.login_failure_record(
                    username=username, address=address, stage="otp", user=user, attempt=attempt
                )
            )
        user.otp_device = device  # django-otp marks the session verified when Django logs the user in
        self.user_cache = user
        services.login_success_record(user=user, method="password+totp")
        return self.cleaned_data

    def _refuse(self, locked: bool) -> None:
        username = (self.cleaned_data.get("username") or "").strip()
        if locked:
            until = services.login_locked_until(username=username, address=client_address(self.request))
            raise ValidationError(_locked_message(until), code="locked")
        raise ValidationError(OPERATOR_LOGIN_REFUSED, code="invalid_login")


def _operator_page_actor(user: Any) -> Actor:
    return actor_for_user(user, auth="password+totp" if user.is_verified() else "password")


class OperatorAdminSite(OTPAdminSite):
    """django-otp's admin site, for superusers only, with the login above and every page audited."""

    login_form = OperatorLoginForm
    login_template = "admin/operator_login.html"
    site_header = "Casebridge node administration"
    site_title = "Casebridge node administration"

    def has_permission(self, request: HttpRequest) -> bool:
        return super().has_permission(request) and request.user.is_superuser

    def admin_view(self, view: Callable[..., HttpResponse], cacheable: bool = False) -> Callable[..., HttpResponse]:
        inner = super().admin_view(view, cacheable)

        def audited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            # Decided before the view runs: logging out changes request.user.
            user = request.user
            permitted = self.has_permission(request)
            actor = _operator_page_actor(user) if user.is_authenticated else None
            try:
                response = inner(request, *args, **kwargs)
            except (PermissionDenied, Http404) as refusal:
                # Django turns these into 403 / 404 pages: the attempt is recorded all the same.
                if actor is not None:
                    status = 403 if isinstance(refusal, PermissionDenied) else 404
                    operator_page_record(request=request, actor=actor, permitted=permitted, status=status)
                raise
            if actor is not None:
                operator_page_record(request=request, actor=actor, permitted=permitted, status=response.status_code)
            return response

        return update_wrapper(audited, view)


def operator_page_record(*, request: HttpRequest, actor: Actor, permitted: bool, status: int) -> None:
    """Audit one page of the node console: a read (or the POST of a change, which its service also
    records), or the refusal of someone who is not a node operator."""
    match = getattr(request, "resolver_match", None)
    common = {
        "actor": actor,
        "agency": "",
        "object_type": "operator_page",
        "object_id": request.path[:200],
        # Searches and filters may name people: committed to, not written in clear.
        "sensitive": {"query": request.META.get("QUERY_STRING", "")[:2000]},
    }
    if not permitted:
        audit_record(
            action=Action.ACCESS_DENIED,
            outcome=Outcome.DENIED,
            reason="the node console is for node operators (superusers with a one-time code) only",
            **common,
        )
        return
    audit_record(
        action=Action.OPERATOR_VIEW,
        outcome=Outcome.SUCCESS if status < 400 else Outcome.FAILURE,
        # A consultation like any other: its purpose is running the node.
        purpose={"code": "node_administration"},
        details={"method": request.method, "status": status, "page": match.url_name if match else ""},
        **common,
    )
