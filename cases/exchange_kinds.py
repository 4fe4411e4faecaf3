"""Victim-identification leads over the exchange: `lead.share` and `lead.update`.

Registers both kinds with the exchange and wires `cases.sharing.exchange_share_enqueue`, so an
approved lead share (or a change to a shared lead) writes its outbox bundles in the same
transaction as the approval or change. Approval itself (four eyes for TLP:RED and AMBER) is the
cases app's lead share flow; the exchange still refuses partners that are unverified or whose
agreement does not cover leads at that TLP.
"""

from __future__ import annotations

import json

from agencies.models import Agency
from audit.capture import SYSTEM_ACTOR
from casebridge.errors import CasebridgeError
from casebridge.lib.canonical_json import canonical_json
from cases import sharing
from exchange.kinds import ApplyContext, ApplyRefused, BundleKind, register_kind
from exchange.services import share_enqueue


def _apply(context: ApplyContext) -> str:
    try:
        payload = json.loads(context.plaintext.read_bytes())
    except ValueError:
        raise ApplyRefused("the lead payload is not JSON") from None
    if not isinstance(payload, dict):
        raise ApplyRefused("the lead payload must be a JSON object")
    try:
        lead = sharing.lead_apply(
            recipient_agency=context.recipient,
            sender_agency_code=context.sender.code,
            payload=payload,
            kind=context.header["kind"],
        )
    except CasebridgeError as exc:
        raise ApplyRefused(exc.message) from None
    return f"lead {lead.share_uid} ({lead.status})"


def _enqueue(*, kind, sender_agency_code, partner_codes, payload, tlp, share_request_id) -> None:
    share_enqueue(
        actor=SYSTEM_ACTOR,
        sender=Agency.objects.get(code=sender_agency_code),
        recipient_codes=list(partner_codes),
        kind=kind,
        payload=canonical_json(payload),
        tlp=tlp,
        summary=f"lead {payload.get('share_uid', '')} ({kind})",
        purpose={"code": "disclosure", "lead_share_request": str(share_request_id or "")},
    )


register_kind(BundleKind(name="lead.share", data_type="lead", apply=_apply))
register_kind(BundleKind(name="lead.update", data_type="lead", apply=_apply))
sharing.exchange_share_enqueue = _enqueue
