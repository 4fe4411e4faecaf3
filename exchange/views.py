"""Exchange UI: keys and fingerprints, partners and agreements, approvals, outbox and inbox."""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from agencies.decorators import member_required
from agencies.models import Role
from casebridge.errors import CasebridgeError
from casebridge.lib.queue import enqueue
from exchange import keystore, outbound, selectors, services
from exchange.delivery import bundle_retry_now
from exchange.forms import AgreementForm, FingerprintForm, OutboundTokenForm, PartnerAddForm, RevokeForm
from exchange.models import Bundle
from exchange.tasks import outbox_deliver_task


def _or_404(fn, **kwargs):
    try:
        return fn(**kwargs)
    except CasebridgeError:
        raise Http404("Not found") from None


@member_required("exchange.view")
def overview_view(request: HttpRequest) -> HttpResponse:
    agency = request.user.membership.agency
    if request.user.membership.role == Role.AGENCY_ADMIN:
        services.keys_ensure(agency=agency)
    return render(
        request,
        "exchange/overview.html",
        {
            "partners": selectors.partners_of(user=request.user),
            "keys": selectors.key_sets_of(user=request.user)[:5],
            "current_key": keystore.key_set_current(agency),
            "health": selectors.sync_health(user=request.user),
            "pending": selectors.share_requests_pending(user=request.user).count(),
            "outbox": selectors.bundles_of(user=request.user, direction="out")[:10],
            "inbox": selectors.bundles_of(user=request.user, direction="in")[:10],
            "alarms": [log for log in selectors.witnessed_logs(user=request.user) if log.alarm],
        },
    )


@member_required("agency.admin")
def card_view(request: HttpRequest) -> HttpResponse:
    key_set = services.keys_ensure(agency=request.user.membership.agency)
    response = JsonResponse(key_set.card, json_dumps_params={"indent": 1})
    response["Content-Disposition"] = f'attachment; filename="{key_set.agency.code}-agency-card.json"'
    return response


@member_required("agency.admin")
@require_POST
def keys_rotate_view(request: HttpRequest) -> HttpResponse:
    fresh = services.keys_rotate(acting_user=request.user)
    messages.success(
        request,
        f"New keys in use (signing fingerprint {fresh.signing_fingerprint}). "
        "Send your new agency card to every partner.",
    )
    return redirect("exchange")


@member_required("agency.admin")
@require_POST
def keys_revoke_view(request: HttpRequest, key_set_id: int) -> HttpResponse:
    key_set = _or_404(selectors.key_set_get, user=request.user, key_set_id=key_set_id)
    form = RevokeForm(request.POST)
    try:
        if not form.is_valid():
            raise CasebridgeError("Say why the keys are revoked.")
        services.keys_revoke(acting_user=request.user, key_set=key_set, reason=form.cleaned_data["reason"])
        messages.success(
            request,
            "Keys revoked: nothing signed with them is accepted any more. "
            "Call every partner and send them your current agency card.",
        )
    except CasebridgeError as exc:
        messages.error(request, exc.message)
    return redirect("exchange")


def _fetch_card(url: str) -> dict:
    try:
        return json.loads(outbound.call(url, timeout=10, limit=1 << 20))
    except (OSError, ValueError) as exc:
        raise CasebridgeError(f"Could not fetch the card from {url}: {exc}") from None


@member_required("agency.admin")
@require_http_methods(["GET", "POST"])
def partner_add_view(request: HttpRequest) -> HttpResponse:
    form = PartnerAddForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            document = (
                json.loads(form.cleaned_data["card"])
                if form.cleaned_data["card"]
                else _fetch_card(form.cleaned_data["card_url"])
            )
            partner = services.partner_add_from_card(acting_user=request.user, card_document=document)
        except json.JSONDecodeError:
            form.add_error("card", "This is not JSON: paste the whole card file as you received it.")
        except CasebridgeError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(
                request, f"{partner.partner.name} added. Compare its fingerprint before anything is shared."
            )
            return redirect("exchange-partner", partner_id=partner.pk)
    return render(request, "exchange/partner_add.html", {"form": form})


@member_required("exchange.view")
@require_http_methods(["GET", "POST"])
def partner_view(request: HttpRequest, partner_id: int) -> HttpResponse:
    partner = _or_404(selectors.partner_get, user=request.user, partner_id=partner_id)
    agreement = getattr(partner, "agreement", None)
    is_admin = request.user.membership.role == Role.AGENCY_ADMIN
    fingerprint_form = FingerprintForm()
    agreement_form = AgreementForm(
        initial={
            "data_types": agreement.data_types if agreement else [],
            "max_tlp": agreement.max_tlp if agreement else "AMBER",
            "requires_approval": agreement.requires_approval if agreement else True,
        }
    )
    token_form = OutboundTokenForm()
    issued_token = None
    if request.method == "POST":
        if not is_admin:
            return render(request, "403.html", {"roles": ["agency_admin"]}, status=403)
        action = request.POST.get("action")
        try:
            if action == "verify":
                fingerprint_form = FingerprintForm(request.POST)
                if fingerprint_form.is_valid():
                    services.partner_verify(acting_user=request.user, partner=partner, **fingerprint_form.cleaned_data)
                    messages.success(request, f"{partner.partner.code} is verified: sharing can start.")
                    return redirect("exchange-partner", partner_id=partner.pk)
            elif action == "agreement":
                agreement_form = AgreementForm(request.POST)
                if agreement_form.is_valid():
                    services.agreement_set(acting_user=request.user, partner=partner, **agreement_form.cleaned_data)
                    messages.success(request, "Sharing agreement saved.")
                    return redirect("exchange-partner", partner_id=partner.pk)
            elif action == "issue-token":
                issued_token = services.partner_token_issue(acting_user=request.user, partner=partner)
            elif action == "outbound-token":
                token_form = OutboundTokenForm(request.POST)
                if token_form.is_valid():
                    services.partner_outbound_token_set(
                        acting_user=request.user, partner=partner, **token_form.cleaned_data
                    )
                    messages.success(request, "Token stored (encrypted). Deliveries to this partner will use it.")
                    return redirect("exchange-partner", partner_id=partner.pk)
        except CasebridgeError as exc:
            messages.error(request, exc.message)
    # What this agency trusts (the keys it verified) and, apart from it, the newest card it imported:
    # never keys another local agency imported (C1).
    trusted = selectors.partner_keys_current(partner=partner)
    latest = selectors.partner_keys_latest(partner=partner)
    return render(
        request,
        "exchange/partner.html",
        {
            "partner": partner,
            "agreement": agreement,
            "keys": trusted or latest,
            "pending_keys": latest if trusted is not None and latest is not None and latest.pk != trusted.pk else None,
            "is_admin": is_admin,
            "fingerprint_form": fingerprint_form,
            "agreement_form": agreement_form,
            "token_form": token_form,
            "issued_token": issued_token,
            "health": selectors.sync_health(user=request.user).get(partner.partner.code, {}),
            "witnessed": selectors.witnessed_logs(user=request.user, partner=partner),
        },
    )


@member_required("exchange.view")
def bundles_view(request: HttpRequest, direction: str) -> HttpResponse:
    if direction not in ("out", "in"):
        raise Http404("No such list")
    state = request.GET.get("state", "")
    bundles = selectors.bundles_of(user=request.user, direction=direction, state=state)
    page = Paginator(bundles, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "exchange/bundles.html",
        {"page": page, "direction": direction, "state": state, "states": Bundle.State.choices},
    )


@member_required("exchange.view")
@require_POST
def bundle_retry_view(request: HttpRequest, bundle_pk: int) -> HttpResponse:
    bundle = _or_404(selectors.bundle_get, user=request.user, bundle_pk=bundle_pk)
    if bundle.direction == "out":
        bundle_retry_now(bundle=bundle)
        enqueue(outbox_deliver_task, bundle.pk)  # if the broker is down, the sweep sends it
        messages.success(request, "Delivery retried now.")
    return redirect("exchange-bundles", direction=bundle.direction)


@member_required("exchange.supervise")
@require_http_methods(["GET", "POST"])
def approvals_view(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        raw = request.POST.get("request", "")
        request_id = int(raw) if raw.isdecimal() else 0  # junk names no request: 404, not a 500
        share = _or_404(selectors.share_request_get, user=request.user, request_id=request_id)
        try:
            bundles = services.share_decide(
                acting_user=request.user, request=share, approve=request.POST.get("decision") == "approve"
            )
            messages.success(request, f"Approved: {len(bundles)} bundle(s) queued." if bundles else "Share refused.")
        except CasebridgeError as exc:
            messages.error(request, exc.message)
        return redirect("exchange-approvals")
    return render(request, "exchange/approvals.html", {"requests": selectors.share_requests_pending(user=request.user)})
