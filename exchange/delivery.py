"""Delivering outbox bundles: locally for an agency on this node, by HTTPS POST otherwise.

A delivery first claims the bundle with a compare-and-set on `next_attempt_at` (a lease), so two
workers never deliver the same bundle at once and a crashed worker's claim simply expires.
Receivers are idempotent by bundle id, so a delivery repeated after a crash changes nothing.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agencies.models import Agency
from audit.actions import Action, Outcome
from audit.capture import SYSTEM_ACTOR, audit_record
from exchange import keystore, outbound
from exchange.models import Bundle, Partner

logger = logging.getLogger(__name__)
LEASE = timedelta(minutes=5)


@dataclass(frozen=True)
class DeliveryOutcome:
    state: str  # delivered, applied, rejected, retry
    code: str = ""
    message: str = ""


def backoff(attempts: int) -> timedelta:
    """10 s, 20 s, 40 s ... capped at one hour."""
    return timedelta(seconds=min(3600, 10 * 2 ** max(0, attempts - 1)))


def _claim(bundle_pk: int) -> Bundle | None:
    now = timezone.now()
    claimed = Bundle.objects.filter(
        pk=bundle_pk, direction=Bundle.Direction.OUT, state=Bundle.State.PENDING, next_attempt_at__lte=now
    ).update(next_attempt_at=now + LEASE, attempts=F("attempts") + 1)
    return Bundle.objects.get(pk=bundle_pk) if claimed else None


def _deliver_local(bundle: Bundle) -> DeliveryOutcome:
    from exchange.inbox import inbox_receive

    with Path(bundle.path).open("rb") as src:
        result = inbox_receive(src=src, via="local")
    if result.accepted:
        return DeliveryOutcome(state="applied" if result.state in ("applied", "duplicate") else "delivered")
    return DeliveryOutcome(state="rejected", code=result.code, message=result.message)


def _outbound_token(partner: Partner) -> str:
    if partner.outbound_token_wrapped is None:
        raise RuntimeError(f"no token for calling {partner.partner.code}'s node; an admin must set it")
    return keystore.unwrap(bytes(partner.outbound_token_wrapped), key_id=f"partner-token-{partner.pk}").decode()


def _deliver_http(bundle: Bundle) -> DeliveryOutcome:
    # The sender's own partnership decides where its bundles go: the node URL of the card it
    # verified, never the agency row that another local agency's import could have written (C1).
    partner = Partner.objects.select_related("partner").get(
        agency__code=bundle.sender_code, partner__code=bundle.recipient_code
    )
    if partner.state != Partner.State.VERIFIED or not partner.node_url:
        return DeliveryOutcome(
            state="retry", message=f"{partner.partner.code} is not verified (again) yet: nothing is sent to it"
        )
    url = partner.node_url.rstrip("/") + "/api/v1/exchange/inbox"
    data = Path(bundle.path).read_bytes()
    request = urllib.request.Request(  # noqa: S310 - the URL is the partner's verified node URL
        url,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/octet-stream",
            "Authorization": f"Partner {_outbound_token(partner)}",
            "Idempotency-Key": str(bundle.bundle_id),
        },
    )
    recipient = partner.partner
    try:
        body = json.loads(outbound.call(request, timeout=settings.EXCHANGE_HTTP_TIMEOUT, limit=1 << 16) or b"{}")
        return DeliveryOutcome(state="applied" if body.get("state") in ("applied", "duplicate") else "delivered")
    except urllib.error.HTTPError as exc:
        try:
            body = json.loads(exc.read() or b"{}")
        except ValueError:
            body = {}
        if exc.code == 422:  # the partner checked the bundle and refused it: retrying cannot help
            return DeliveryOutcome(state="rejected", code=body.get("code", "rejected"), message=body.get("detail", ""))
        return DeliveryOutcome(state="retry", message=f"HTTP {exc.code} from {recipient.code}'s node")
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
        return DeliveryOutcome(state="retry", message=f"{recipient.code}'s node unreachable: {exc}")
    except outbound.OutboundRefused as exc:  # e.g. its address is private and not listed: the operator decides
        return DeliveryOutcome(state="retry", message=f"{recipient.code}'s node not called: {exc.message}")


def outbox_deliver(bundle_pk: int) -> DeliveryOutcome | None:
    """Deliver one outbox bundle if it is due. Returns None when another worker holds it."""
    bundle = _claim(bundle_pk)
    if bundle is None:
        return None
    recipient = Agency.objects.get(code=bundle.recipient_code)
    try:
        outcome = _deliver_local(bundle) if recipient.hosted_here else _deliver_http(bundle)
    except Exception as exc:
        logger.exception("delivery of bundle %s failed", bundle.bundle_id)
        outcome = DeliveryOutcome(state="retry", message=f"{exc.__class__.__name__}: {exc}")
    _record(bundle, outcome)
    return outcome


@transaction.atomic
def _record(bundle: Bundle, outcome: DeliveryOutcome) -> None:
    bundle = Bundle.objects.select_for_update().get(pk=bundle.pk)
    now = timezone.now()
    if outcome.state in ("applied", "delivered"):
        bundle.state = Bundle.State.APPLIED if outcome.state == "applied" else Bundle.State.DELIVERED
        bundle.delivered_at = now
        bundle.last_error = ""
    elif outcome.state == "rejected":
        bundle.state = Bundle.State.REJECTED
        bundle.reject_code = outcome.code[:40]
        bundle.last_error = outcome.message[:2000]
        audit_record(
            action=Action.BUNDLE_REJECT,
            actor=SYSTEM_ACTOR,
            outcome=Outcome.FAILURE,
            agency=bundle.sender_code,
            object_type="bundle",
            object_id=str(bundle.bundle_id),
            reason=f"refused by {bundle.recipient_code}: {outcome.code}: {outcome.message}"[:500],
        )
    elif bundle.attempts >= settings.EXCHANGE_MAX_ATTEMPTS:
        bundle.state = Bundle.State.DEAD
        bundle.last_error = outcome.message[:2000]
    else:
        bundle.next_attempt_at = now + backoff(bundle.attempts)
        bundle.last_error = outcome.message[:2000]
    bundle.save()


def outbox_due(limit: int = 500) -> list[int]:
    return list(
        Bundle.objects.filter(
            direction=Bundle.Direction.OUT, state=Bundle.State.PENDING, next_attempt_at__lte=timezone.now()
        )
        .order_by("recipient_code", "sequence")
        .values_list("pk", flat=True)[:limit]
    )


@transaction.atomic
def bundle_retry_now(*, bundle: Bundle) -> None:
    """Make a pending (or given-up) bundle due again at once (the UI's "retry now")."""
    if bundle.state not in (Bundle.State.PENDING, Bundle.State.DEAD):
        return
    bundle.state = Bundle.State.PENDING
    bundle.next_attempt_at = timezone.now()
    bundle.save(update_fields=["state", "next_attempt_at"])
