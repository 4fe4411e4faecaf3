"""Web UI: password + one-time code login, MFA enrolment, users of the agency, API tokens."""

from __future__ import annotations

import math
import time

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, get_user_model, update_session_auth_hash
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

from agencies import selectors, services
from agencies.decorators import member_required
from agencies.forms import (
    CurrentPasswordForm,
    EnrolmentForm,
    LoginForm,
    OneTimeCodeForm,
    PasswordChangeForm,
    RecoveryCodeForm,
    RoleForm,
    TokenCreateForm,
    UserCreateForm,
)
from agencies.models import Authenticator
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
                services.login_attempt_release(username=username, address=address)
                state = services.mfa_enrolment_state(user)
                if state == "closed":
                    # Never enrolled: only the user's one-time enrolment link sets up an account,
                    # so whoever saw or guessed a password cannot enrol an authenticator (H2).
                    form.add_error(
                        None,
                        "This account is not set up yet. Open the enrolment link your agency admin "
                        "gave you, or ask them for a new one.",
                    )
                    return render(request, "agencies/login.html", {"form": form})
                request.session.cycle_key()
                request.session[_PENDING_USER] = user.pk
                request.session[_PENDING_AT] = time.time()
                request.session[_PENDING_NEXT] = request.GET.get("next", "")
                return redirect(_STATE_PAGES[state])
    return render(request, "agencies/login.html", {"form": form})


_STATE_PAGES = {
    "enrolled": "login-verify",
    "open": "login-enrol",
    "recovery": "login-recover",
    "approval": "login-recover",
}


def _finish_login(request: HttpRequest, user, device, *, recovery_codes: list[str] | None = None) -> HttpResponse:
    target = _safe_next(request, request.session.get(_PENDING_NEXT))
    for key in (_PENDING_USER, _PENDING_AT, _PENDING_NEXT, _ENROL_DEVICE):
        request.session.pop(key, None)
    auth_login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    otp_login(request, device)
    services.login_success_record(user=user, method="password+totp")
    if recovery_codes:
        return _recovery_codes_page(request, recovery_codes, target)
    return redirect(target)


def _recovery_codes_page(request: HttpRequest, codes: list[str], target: str) -> HttpResponse:
    response = render(request, "agencies/recovery_codes.html", {"codes": codes, "next": target})
    response["Cache-Control"] = "no-store"
    return response


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
        devices = list(Authenticator.objects.filter(user=user, confirmed=True))
        wait = _cooling_down(devices)
        if wait:
            services.login_code_throttled_record(user=user, address=client_address(request), wait_seconds=wait)
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
    state = services.mfa_enrolment_state(user)
    if state != "open":
        # Closed until a recovery code or a second admin's approval (H2): the password alone,
        # which an admin may have seen, never enrols an authenticator.
        if state == "closed":
            request.session.flush()
            messages.error(request, "This account is set up with its enrolment link only.")
            return redirect("login")
        return redirect(_STATE_PAGES[state])
    device = Authenticator.objects.filter(pk=request.session.get(_ENROL_DEVICE), user=user, confirmed=False).first()
    if device is None:
        device = services.totp_device_start(user=user)
        request.session[_ENROL_DEVICE] = device.pk
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        wait = _cooling_down([device])
        attempt = None if wait else _code_attempt(request, user)
        if wait:
            services.login_code_throttled_record(user=user, address=client_address(request), wait_seconds=wait)
            form.add_error("code", _cooling_down_message(wait))
        elif not attempt.allowed:
            _code_refused_locked(request, form, attempt)
        elif device.verify_token(form.cleaned_data["code"].strip()):
            codes = services.mfa_reenrol_complete(user=user, device=device)
            return _finish_login(request, user, device, recovery_codes=codes)
        else:
            _code_failed(request, form, user, attempt)
    secret_b32 = _base32(device.bin_key)
    qr = segno.make(device.config_url, error="m")
    return render(
        request,
        "agencies/login_enrol.html",
        {"form": form, "qr_data_uri": qr.svg_data_uri(scale=5, border=2), "secret": secret_b32, "pending_user": user},
    )


@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def login_recover_view(request: HttpRequest) -> HttpResponse:
    """After an MFA reset: a recovery code (or, none left, a second admin's approval) before a
    new authenticator can be enrolled. The notice of the reset is shown here, at the next login."""
    user = _pending_user(request)
    if user is None:
        messages.info(request, "Please log in again.")
        return redirect("login")
    state = services.mfa_enrolment_state(user)
    if state not in {"recovery", "approval"}:
        return redirect(_STATE_PAGES.get(state, "login"))
    form = RecoveryCodeForm(request.POST or None)
    if request.method == "POST" and state == "recovery" and form.is_valid():
        address = client_address(request)
        if services.mfa_recovery_code_use(user=user, code=form.cleaned_data["code"], address=address):
            services.login_attempt_release(username=user.get_username(), address=address)
            return redirect("login-enrol")
        until = services.login_locked_until(username=user.get_username(), address=address)
        if until:
            request.session.flush()
            form.add_error(None, _locked_message(until))
        else:
            form.add_error("code", "That recovery code is not right or was already used.")
    reset = services.mfa_reset_open(user)
    return render(
        request,
        "agencies/login_recover.html",
        {"form": form, "pending_user": user, "reset": reset, "state": state},
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


@member_required("agency.admin")
def users_view(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    users = selectors.agency_users(acting_user=request.user, search=search)
    page = Paginator(users, 25).get_page(request.GET.get("page"))
    return render(request, "agencies/users.html", {"page": page, "search": search})


@member_required("agency.admin")
@require_http_methods(["GET", "POST"])
def user_create_view(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            created = services.user_create(acting_user=request.user, **form.cleaned_data)
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            return _enrolment_link_page(request, created.user, created.enrolment_token)
    return render(request, "agencies/user_form.html", {"form": form})


def _enrolment_link_page(request: HttpRequest, user, token: str) -> HttpResponse:
    link = request.build_absolute_uri(reverse("enrol", args=[token]))
    response = render(
        request,
        "agencies/user_created.html",
        {"new_user": user, "link": link, "hours": settings.ENROLMENT_LINK_HOURS},
    )
    response["Cache-Control"] = "no-store"
    return response


@member_required("agency.admin")
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
                messages.success(
                    request,
                    f"{target.username}'s authenticator was removed. They give a recovery code at their next "
                    "login before setting up a new one (or, with none left, another agency admin approves).",
                )
            elif action == "approve-reenrol":
                services.user_mfa_reenrol_approve(acting_user=request.user, user=target)
                messages.success(request, f"{target.username} may set up a new authenticator at their next login.")
            elif action == "enrolment-link":
                issued = services.enrolment_link_issue(acting_user=request.user, user=target)
                return _enrolment_link_page(request, target, issued.token)
            elif action in {"deactivate", "activate"}:
                services.user_set_active(acting_user=request.user, user=target, active=action == "activate")
                messages.success(
                    request, f"{target.username} is {'active' if action == 'activate' else 'deactivated'}."
                )
            return redirect("user-detail", user_id=target.pk)
        except CasebridgeError as exc:
            messages.error(request, exc.message)
    has_mfa = Authenticator.objects.filter(user=target, confirmed=True).exists()
    reset = services.mfa_reset_open(target)
    context = {
        "target": target,
        "form": form,
        "has_mfa": has_mfa,
        "enrolled": services.has_enrolled(target),
        "reset": reset,
        "state": services.mfa_enrolment_state(target),
        "codes_left": services.recovery_codes_left(target),
    }
    return render(request, "agencies/user_detail.html", context)


# --- one-time enrolment link (anonymous: the token is the credential) ---------------------------

_LINK_SESSION = "enrolment_link"


@sensitive_post_parameters("new_password", "new_password_again")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def enrol_view(request: HttpRequest, token: str) -> HttpResponse:
    """The user sets their own password and enrols their authenticator; the link is spent then."""
    link = services.enrolment_link_find(token=token)
    if link is None:
        raise Http404("No such enrolment link")
    if not link.is_usable:
        services.enrolment_link_refused(link=link)
        return render(request, "agencies/enrol_spent.html", {"link": link}, status=410)
    state = request.session.get(_LINK_SESSION) or {}
    device = None
    if state.get("link") == link.pk:
        device = Authenticator.objects.filter(pk=state.get("device"), user_id=link.user_id, confirmed=False).first()
    form = EnrolmentForm(request.POST or None) if device else None
    if request.method == "POST":
        try:
            if request.POST.get("action") == "start" or device is None:
                device = services.enrolment_link_start(link=link)
                request.session[_LINK_SESSION] = {"link": link.pk, "device": device.pk}
                return redirect("enrol", token=token)
            if form.is_valid():
                codes = services.enrolment_link_complete(
                    link=link,
                    device=device,
                    password=form.cleaned_data["new_password"],
                    code=form.cleaned_data["code"].strip(),
                )
                request.session.pop(_LINK_SESSION, None)
                messages.success(request, "Your account is ready. Log in with your password and a one-time code.")
                return _recovery_codes_page(request, codes, reverse("login"))
        except CasebridgeError as exc:
            if form is None:
                raise Http404("No such enrolment link") from None
            form.add_error(None, exc.message)
    context = {"link": link, "form": form, "hours": settings.ENROLMENT_LINK_HOURS}
    if device is not None:
        context["qr_data_uri"] = segno.make(device.config_url, error="m").svg_data_uri(scale=5, border=2)
        context["secret"] = _base32(device.bin_key)
    response = render(request, "agencies/enrol.html", context)
    # The token is in this page's URL: never sent to another site. (Not no-referrer: browsers then
    # send `Origin: null` with the form, which the CSRF check rightly refuses.)
    response["Referrer-Policy"] = "same-origin"
    return response


# --- one's own account ------------------------------------------------------------------------


@sensitive_post_parameters("current_password", "new_password", "new_password_again")
@member_required("member")
@require_http_methods(["GET", "POST"])
def account_view(request: HttpRequest) -> HttpResponse:
    """Change one's own password; new recovery codes."""
    action = request.POST.get("action") if request.method == "POST" else None
    password_form = PasswordChangeForm(request.POST if action == "password" else None)
    codes_form = CurrentPasswordForm(request.POST if action == "recovery-codes" else None, prefix="codes")
    address = client_address(request)
    try:
        if action == "password" and password_form.is_valid():
            services.user_password_change(
                acting_user=request.user,
                current_password=password_form.cleaned_data["current_password"],
                new_password=password_form.cleaned_data["new_password"],
                address=address,
            )
            update_session_auth_hash(request, request.user)  # this session stays; the others end
            messages.success(request, "Your password was changed. Your other sessions were ended.")
            return redirect("account")
        if action == "recovery-codes" and codes_form.is_valid():
            codes = services.recovery_codes_regenerate(
                acting_user=request.user, current_password=codes_form.cleaned_data["current_password"], address=address
            )
            return _recovery_codes_page(request, codes, reverse("account"))
    except CasebridgeError as exc:
        (password_form if action == "password" else codes_form).add_error(None, exc.message)
    context = {
        "password_form": password_form,
        "codes_form": codes_form,
        "codes_left": services.recovery_codes_left(request.user),
    }
    return render(request, "agencies/account.html", context)


# --- personal API tokens ----------------------------------------------------------------------


@member_required("member")
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


@member_required("member")
@require_POST
def token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        token = selectors.api_token_get(user=request.user, token_id=token_id)
    except CasebridgeError:
        raise Http404("No such token") from None
    services.api_token_revoke(acting_user=request.user, token=token)
    messages.success(request, f"Token “{token.name}” revoked. Scripts using it will now be refused.")
    return redirect("tokens")
