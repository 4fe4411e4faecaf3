"""Web UI: password + one-time code login, MFA enrolment, users of the agency, API tokens."""

from __future__ import annotations

import math
import time

import segno
from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from agencies import selectors, services
from agencies.decorators import member_required
from agencies.forms import LoginForm, OneTimeCodeForm, RoleForm, TokenCreateForm, UserCreateForm
from agencies.models import Role
from casebridge.errors import CasebridgeError
from casebridge.middleware import client_address

User = get_user_model()

_PENDING_USER = "login_pending_user"
_PENDING_AT = "login_pending_at"
_PENDING_NEXT = "login_pending_next"
_ENROL_DEVICE = "login_enrol_device"
PENDING_LOGIN_SECONDS = 300


def _locked_message(until) -> str:
    return (
        f"Too many failed attempts. This account is locked until {until:%H:%M} UTC; "
        "try again then or ask your agency admin."
    )


def _safe_next(request: HttpRequest, target: str | None) -> str:
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return reverse("dashboard")


def _pending_user(request: HttpRequest):
    user_id = request.session.get(_PENDING_USER)
    started = request.session.get(_PENDING_AT, 0)
    if not user_id or time.time() - started > PENDING_LOGIN_SECONDS:
        return None
    return User.objects.filter(pk=user_id, is_active=True).first()


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated and request.user.is_verified():
        return redirect("dashboard")
    form = LoginForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"].strip()
        address = client_address(request)
        # Reserved before the password is checked: parallel guesses cannot all be evaluated (M1).
        attempt = services.login_attempt_reserve(username=username, address=address)
        if not attempt.allowed:
            services.login_failure_record(username=username, address=address, stage="password", attempt=attempt)
            form.add_error(None, _locked_message(attempt.locked_until))
        else:
            user = authenticate(request, username=username, password=form.cleaned_data["password"])
            if user is None:
                if services.login_failure_record(username=username, address=address, stage="password", attempt=attempt):
                    form.add_error(None, _locked_message(attempt.locked_until))
                else:
                    form.add_error(None, "Wrong username or password.")
            else:
                request.session.cycle_key()
                request.session[_PENDING_USER] = user.pk
                request.session[_PENDING_AT] = time.time()
                request.session[_PENDING_NEXT] = request.GET.get("next", "")
                if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
                    return redirect("login-verify")
                return redirect("login-enrol")
    return render(request, "agencies/login.html", {"form": form})


def _finish_login(request: HttpRequest, user, device) -> HttpResponse:
    target = _safe_next(request, request.session.get(_PENDING_NEXT))
    for key in (_PENDING_USER, _PENDING_AT, _PENDING_NEXT, _ENROL_DEVICE):
        request.session.pop(key, None)
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    otp_login(request, device)
    services.login_success_record(user=user, method="password+totp")
    return redirect(target)


def _code_attempt(request: HttpRequest, user) -> services.LoginAttempt:
    """Reserve one code check of `user` (M1); a refused one is audited here."""
    username, address = user.get_username(), client_address(request)
    attempt = services.login_attempt_reserve(username=username, address=address)
    if not attempt.allowed:
        services.login_failure_record(username=username, address=address, stage="otp", user=user, attempt=attempt)
    return attempt


def _code_refused_locked(request: HttpRequest, form, attempt: services.LoginAttempt) -> None:
    request.session.flush()
    form.add_error(None, _locked_message(attempt.locked_until))


def _code_failed(request: HttpRequest, form, user, attempt: services.LoginAttempt) -> None:
    username, address = user.get_username(), client_address(request)
    if services.login_failure_record(username=username, address=address, stage="otp", user=user, attempt=attempt):
        _code_refused_locked(request, form, attempt)
    else:
        form.add_error("code", "That code is not right or has expired. Check your device's clock and try the new code.")


def _cooling_down(devices) -> int:
    """Seconds until a code is checked again (django-otp waits 1, 2, 4... s after each wrong code)."""
    waits = []
    for device in devices:
        allowed, data = device.verify_is_allowed()
        if allowed:
            return 0
        locked_until = (data or {}).get("locked_until")
        waits.append((locked_until - timezone.now()).total_seconds() if locked_until else 1)
    return max(1, math.ceil(min(waits))) if waits else 0


def _cooling_down_message(seconds: int) -> str:
    return (
        f"After a wrong code the next one is checked only after a short wait: try again in {seconds} "
        f"second{'s' if seconds != 1 else ''} with the code your app shows then."
    )


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_verify_view(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        messages.info(request, "Please log in again.")
        return redirect("login")
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["code"].strip()
        devices = list(TOTPDevice.objects.filter(user=user, confirmed=True))
        wait = _cooling_down(devices)
        if wait:
            form.add_error("code", _cooling_down_message(wait))
        else:
            attempt = _code_attempt(request, user)
            if not attempt.allowed:
                _code_refused_locked(request, form, attempt)
            else:
                for device in devices:
                    if device.verify_token(code):
                        return _finish_login(request, user, device)
                _code_failed(request, form, user, attempt)
    return render(request, "agencies/login_verify.html", {"form": form, "pending_user": user})


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_enrol_view(request: HttpRequest) -> HttpResponse:
    user = _pending_user(request)
    if user is None:
        messages.info(request, "Please log in again.")
        return redirect("login")
    if TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        return redirect("login-verify")
    device = TOTPDevice.objects.filter(pk=request.session.get(_ENROL_DEVICE), user=user, confirmed=False).first()
    if device is None:
        device = services.totp_device_start(user=user)
        request.session[_ENROL_DEVICE] = device.pk
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        wait = _cooling_down([device])
        attempt = None if wait else _code_attempt(request, user)
        if wait:
            form.add_error("code", _cooling_down_message(wait))
        elif not attempt.allowed:
            _code_refused_locked(request, form, attempt)
        elif device.verify_token(form.cleaned_data["code"].strip()):
            services.totp_device_confirm(user=user, device=device)
            return _finish_login(request, user, device)
        else:
            _code_failed(request, form, user, attempt)
    secret_b32 = _base32(device.bin_key)
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "agencies/login_enrol.html",
        {"form": form, "qr_data_uri": qr.svg_data_uri(scale=5, border=2), "secret": secret_b32, "pending_user": user},
    )


def _base32(key: bytes) -> str:
    import base64

    text = base64.b32encode(key).decode().rstrip("=")
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        user = request.user
        services.logout_record(user=user)
        auth_logout(request)
        messages.success(request, "You are logged out.")
    return redirect("login")


# --- agency users (agency admins) ---------------------------------------------------------------


@member_required(Role.AGENCY_ADMIN)
def users_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    users = selectors.agency_users(acting_user=request.user, search=search)
    page = Paginator(users, 25).get_page(request.GET.get("page"))
    return render(request, "agencies/users.html", {"page": page, "search": search})


@member_required(Role.AGENCY_ADMIN)
@require_http_methods(["GET", "POST"])
def user_create_view(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.user_create(acting_user=request.user, **form.cleaned_data)
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            return render(
                request, "agencies/user_created.html", {"new_user": created.user, "password": created.password}
            )
    return render(request, "agencies/user_form.html", {"form": form})


@member_required(Role.AGENCY_ADMIN)
@require_http_methods(["GET", "POST"])
def user_detail_view(request: HttpRequest, user_id: int) -> HttpResponse:
    try:
        target = selectors.agency_user_get(acting_user=request.user, user_id=user_id)
    except CasebridgeError:
        raise Http404("No such user") from None
    form = RoleForm(request.POST or None, initial={"role": target.membership.role})
    if request.method == "POST":
        try:
            action = request.POST.get("action")
            if action == "role" and form.is_valid():
                services.user_role_change(acting_user=request.user, user=target, role=form.cleaned_data["role"])
                messages.success(request, f"{target.username} is now {target.membership.get_role_display()}.")
            elif action == "mfa-reset":
                services.user_mfa_reset(acting_user=request.user, user=target)
                messages.success(request, f"{target.username} will set up a new authenticator at their next login.")
            elif action in {"deactivate", "activate"}:
                services.user_set_active(acting_user=request.user, user=target, active=action == "activate")
                messages.success(
                    request, f"{target.username} is {'active' if action == 'activate' else 'deactivated'}."
                )
            return redirect("user-detail", user_id=target.pk)
        except CasebridgeError as exc:
            messages.error(request, exc.message)
    has_mfa = TOTPDevice.objects.filter(user=target, confirmed=True).exists()
    return render(request, "agencies/user_detail.html", {"target": target, "form": form, "has_mfa": has_mfa})


# --- personal API tokens ----------------------------------------------------------------------


@member_required()
@require_http_methods(["GET", "POST"])
def tokens_view(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            issued = services.api_token_create(acting_user=request.user, **form.cleaned_data)
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            return render(request, "agencies/token_created.html", {"issued": issued})
    tokens = selectors.api_tokens_of(user=request.user)
    return render(request, "agencies/tokens.html", {"form": form, "tokens": tokens})


@member_required()
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = selectors.api_token_get(user=request.user, token_id=token_id)
    except CasebridgeError:
        raise Http404("No such token") from None
    services.api_token_revoke(acting_user=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked. Scripts using it will now be refused.")
    return redirect("tokens")
