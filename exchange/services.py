"""Writes for the exchange: keys, partners, agreements, shares and the outbox.

Every function is one transaction and audited. A share writes its bundle row (and the sealed
file) in the same transaction as the change that caused it; delivery starts after commit and is
retried from the outbox, so nothing is lost when the broker or the partner is down.
"""

from __future__ import annotations

import json
import secrets
import tempfile
from collections.abc import Callable, Iterable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agencies.models import Agency, Role
from agencies.selectors import membership_of
from agencies.services import token_hash
from audit.actions import Action, Outcome
from audit.capture import Actor, actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError
from casebridge.lib.queue import enqueue_on_commit
from exchange import keystore, selectors
from exchange.envelope import bundle_seal
from exchange.keys import CardError, card_verify, wrap_private_key
from exchange.kinds import DATA_TYPES, kind_get
from exchange.models import AgencyKeySet, Bundle, Partner, ShareRequest, SharingAgreement, Stream, tlp_allows
from hashsets.models import TLP


def _require_role(user, *roles: str, what: str) -> Agency:
    membership = membership_of(user)
    if membership is None or membership.role not in roles:
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor_for_user(user),
            outcome=Outcome.DENIED,
            object_type="exchange",
            reason=f"{what} needs one of the roles {', '.join(roles)}",
        )
        raise ForbiddenError(f"Only {' or '.join(r.replace('_', ' ') for r in roles)}s can {what}.")
    return membership.agency


# --- keys ------------------------------------------------------------------------------------


@transaction.atomic
def keys_ensure(*, agency: Agency) -> AgencyKeySet:
    """The agency's current key set, generated the first time it is needed."""
    current = keystore.key_set_current(agency)
    if current is None:
        current = keystore.key_set_generate(agency=agency)
        audit_record(
            action=Action.KEY_CREATE,
            actor=Actor(type="system", name="casebridge", auth="system", agency=agency.code),
            object_type="key_set",
            object_id=current.pk,
            details={"signing_key_id": current.signing_key_id, "encryption_key_id": current.encryption_key_id},
        )
    return current


@transaction.atomic
def keys_rotate(*, acting_user) -> AgencyKeySet:
    """New keys from now on. Old keys keep verifying what they signed while they were valid."""
    agency = _require_role(acting_user, Role.AGENCY_ADMIN, what="rotate keys")
    previous = keystore.key_set_current(agency)
    now = timezone.now().replace(microsecond=0)
    fresh = keystore.key_set_generate(agency=agency, valid_from=now)
    if previous is not None:
        # The old set stays valid for verifying and decrypting what was made before now.
        previous.valid_until = now
        previous.save(update_fields=["valid_until"])
    audit_record(
        action=Action.KEY_ROTATE,
        actor=actor_for_user(acting_user),
        object_type="key_set",
        object_id=fresh.pk,
        details={"previous": previous.signing_key_id if previous else "", "new": fresh.signing_key_id},
    )
    return fresh


@transaction.atomic
def keys_revoke(*, acting_user, key_set: AgencyKeySet, reason: str) -> None:
    agency = _require_role(acting_user, Role.AGENCY_ADMIN, what="revoke keys")
    if key_set.agency_id != agency.pk:
        raise ForbiddenError("You can only revoke your own agency's keys.")
    if not reason.strip():
        raise CasebridgeError("Say why the keys are revoked (for example: suspected compromise).")
    key_set.revoked_at = timezone.now()
    key_set.revoked_reason = reason.strip()[:200]
    key_set.save(update_fields=["revoked_at", "revoked_reason"])
    audit_record(
        action=Action.KEY_REVOKE,
        actor=actor_for_user(acting_user),
        object_type="key_set",
        object_id=key_set.pk,
        reason=key_set.revoked_reason,
    )


# --- partners and agreements -----------------------------------------------------------------


@transaction.atomic
def partner_add_from_card(*, acting_user, card_document) -> Partner:
    """Add (or refresh) a partner from its signed agency card. It stays unverified until checked.

    A remote agency's card is stored as this agency's own trust anchor (key set owned by it, node
    URL on its partner row): what another local agency imports never reaches it, and it reaches no
    other agency (C1). Keys this agency has not compared yet are never used.
    """
    agency = _require_role(acting_user, Role.AGENCY_ADMIN, what="add partners")
    try:
        card = card_verify(card_document, now=timezone.now())
    except CardError as exc:
        raise CasebridgeError(f"The agency card was refused ({exc.code}): {exc}") from None
    if card.code == agency.code:
        raise CasebridgeError("That is your own agency's card.")
    partner_agency = Agency.objects.filter(code=card.code).first()
    if partner_agency is None:
        # The shared row holds only the code (and a name to list it by); nothing a partner's trust rests on.
        partner_agency = Agency.objects.create(
            name=card.name, code=card.code, country=card.country, node_url="", hosted_here=False
        )
    new_keys = False
    if not partner_agency.hosted_here:
        key_set, new_keys = AgencyKeySet.objects.get_or_create(
            owner=agency,
            signing_key_id=card.signing_keys.key_id,
            defaults={
                "agency": partner_agency,
                "encryption_key_id": card.encryption_keys.key_id,
                "signing_public": card.signing_keys.to_bytes(),
                "encryption_public": card.encryption_keys.to_bytes(),
                "signing_fingerprint": card.signing_keys.fingerprint,
                "encryption_fingerprint": card.encryption_keys.fingerprint,
                # The document as verified (also when it came as text): its audit_log is read from here (M3).
                "card": card_document if isinstance(card_document, dict) else json.loads(card_document),
                "valid_from": card.valid_from,
                "valid_until": card.valid_until,
            },
        )
        if key_set.agency_id != partner_agency.pk or key_set.encryption_key_id != card.encryption_keys.key_id:
            raise CasebridgeError("This card pairs signing keys already on record with other keys: refused.")
    elif not AgencyKeySet.objects.filter(
        agency=partner_agency, owner__isnull=True, signing_key_id=card.signing_keys.key_id
    ).exists():
        raise CasebridgeError("This card's keys are not the keys the agency holds on this node: refused.")
    partner, created = Partner.objects.get_or_create(agency=agency, partner=partner_agency)
    if not partner_agency.hosted_here:
        if new_keys and partner.state == Partner.State.VERIFIED:
            # New keys are trusted only after their fingerprint is compared out of band again.
            partner.state = Partner.State.UNVERIFIED
            partner.verified_signing_key_id = partner.verified_encryption_key_id = ""
        # A verified partner's address changes only through a card signed by the keys compared;
        # an unverified one shows the latest card's (verifying binds the URL of the card compared).
        if partner.state != Partner.State.VERIFIED or partner.verified_signing_key_id == card.signing_keys.key_id:
            partner.node_url = card.node_url
        partner.save(update_fields=["state", "verified_signing_key_id", "verified_encryption_key_id", "node_url"])
    SharingAgreement.objects.get_or_create(partner=partner, defaults={"data_types": [], "max_tlp": TLP.AMBER})
    audit_record(
        action=Action.PARTNER_ADD,
        actor=actor_for_user(acting_user),
        object_type="partner",
        object_id=partner.pk,
        details={
            "partner": partner_agency.code,
            "signing_fingerprint": card.signing_keys.fingerprint,
            "new": created,
            "new_keys": new_keys,
            "node_url": card.node_url,
        },
    )
    return partner


def _fingerprint_normal(text: str) -> str:
    return "".join(ch for ch in text.upper() if ch.isalnum())


@transaction.atomic
def partner_verify(*, acting_user, partner: Partner, signing_fingerprint: str) -> Partner:
    """Mark verified after the admin compared the fingerprint with the partner out of band.

    The verification is bound to the exact signing and encryption key ids shown and compared, and
    the partner's node URL is the one of that card.
    """
    agency = _require_role(acting_user, Role.AGENCY_ADMIN, what="verify partners")
    if partner.agency_id != agency.pk:
        raise ForbiddenError("That partner belongs to another agency.")
    partner = Partner.objects.select_for_update().select_related("partner").get(pk=partner.pk)
    keys = selectors.partner_keys_latest(partner=partner)
    if keys is None:
        raise CasebridgeError("The partner has no valid keys on record; import its current agency card first.")
    if _fingerprint_normal(signing_fingerprint) != _fingerprint_normal(keys.signing_fingerprint):
        audit_record(
            action=Action.PARTNER_VERIFY,
            actor=actor_for_user(acting_user),
            outcome=Outcome.FAILURE,
            object_type="partner",
            object_id=partner.pk,
            reason="fingerprint did not match",
        )
        raise CasebridgeError(
            "The fingerprint you entered does not match the partner's signing key. Do not verify: call the partner "
            "again on a known number and compare character by character."
        )
    partner.state = Partner.State.VERIFIED
    partner.verified_at = timezone.now()
    partner.verified_by = acting_user
    partner.verified_signing_key_id = keys.signing_key_id
    partner.verified_encryption_key_id = keys.encryption_key_id
    fields = ["state", "verified_at", "verified_by", "verified_signing_key_id", "verified_encryption_key_id"]
    if not partner.partner.hosted_here:
        partner.node_url = _card_node_url(keys) or partner.node_url
        fields.append("node_url")
    partner.save(update_fields=fields)
    audit_record(
        action=Action.PARTNER_VERIFY,
        actor=actor_for_user(acting_user),
        object_type="partner",
        object_id=partner.pk,
        details={
            "partner": partner.partner.code,
            "signing_fingerprint": keys.signing_fingerprint,
            "signing_key_id": keys.signing_key_id,
            "encryption_key_id": keys.encryption_key_id,
            "node_url": partner.node_url,
        },
    )
    return partner


def _card_node_url(key_set: AgencyKeySet) -> str:
    """The node URL in the (already verified) card a key set came from."""
    try:
        return str(key_set.card["card"]["agency"]["node_url"])
    except (KeyError, TypeError):
        return ""


@transaction.atomic
def agreement_set(
    *, acting_user, partner: Partner, data_types: list[str], max_tlp: str, requires_approval: bool, allow_reshare=False
) -> SharingAgreement:
    agency = _require_role(acting_user, Role.AGENCY_ADMIN, what="change sharing agreements")
    if partner.agency_id != agency.pk:
        raise ForbiddenError("That partner belongs to another agency.")
    unknown = sorted(set(data_types) - set(DATA_TYPES))
    if unknown:
        raise CasebridgeError(f"Unknown data types {', '.join(unknown)}; choose from {', '.join(DATA_TYPES)}.")
    if max_tlp not in TLP.values:
        raise CasebridgeError(f"Unknown TLP {max_tlp!r}.")
    agreement, _ = SharingAgreement.objects.get_or_create(partner=partner)
    before = {"data_types": agreement.data_types, "max_tlp": agreement.max_tlp, "approval": agreement.requires_approval}
    agreement.data_types = sorted(set(data_types))
    agreement.max_tlp = max_tlp
    agreement.requires_approval = requires_approval
    agreement.allow_reshare = allow_reshare
    agreement.updated_at = timezone.now()
    agreement.save()
    audit_record(
        action=Action.AGREEMENT_CHANGE,
        actor=actor_for_user(acting_user),
        object_type="partner",
        object_id=partner.pk,
        details={
            "before": before,
            "after": {"data_types": agreement.data_types, "max_tlp": max_tlp, "approval": requires_approval},
        },
    )
    return agreement


@transaction.atomic
def partner_token_issue(*, acting_user, partner: Partner) -> str:
    """A new token the partner's node presents when it calls this node. Shown once."""
    agency = _require_role(acting_user, Role.AGENCY_ADMIN, what="issue partner tokens")
    if partner.agency_id != agency.pk:
        raise ForbiddenError("That partner belongs to another agency.")
    token = "cbp_" + secrets.token_urlsafe(32)
    partner.inbound_token_hash = token_hash(token)
    partner.save(update_fields=["inbound_token_hash"])
    audit_record(
        action=Action.TOKEN_CREATE, actor=actor_for_user(acting_user), object_type="partner", object_id=partner.pk
    )
    return token


@transaction.atomic
def partner_outbound_token_set(*, acting_user, partner: Partner, token: str) -> None:
    """Store (wrapped under the KEK) the token the partner's node issued to us."""
    agency = _require_role(acting_user, Role.AGENCY_ADMIN, what="set partner tokens")
    if partner.agency_id != agency.pk:
        raise ForbiddenError("That partner belongs to another agency.")
    partner.outbound_token_wrapped = wrap_private_key(
        token.strip().encode(), kek=keystore.node_kek(), key_id=f"partner-token-{partner.pk}"
    )
    partner.save(update_fields=["outbound_token_wrapped"])
    audit_record(
        action=Action.TOKEN_CREATE, actor=actor_for_user(acting_user), object_type="partner", object_id=partner.pk
    )


# --- shares and the outbox -------------------------------------------------------------------


class ShareRefused(CasebridgeError):
    status_code = 409
    title = "Share refused"


def share_check(*, sender: Agency, recipient_code: str, kind: str, tlp: str) -> Partner:
    """The partner row a share to `recipient_code` may go through, or a clear refusal."""
    bundle_kind = kind_get(kind)
    if bundle_kind is None:
        raise ShareRefused(f"Unknown kind of share {kind!r}.")
    partner = (
        Partner.objects.select_related("partner", "agreement")
        .filter(agency=sender, partner__code=recipient_code)
        .first()
    )
    if partner is None:
        raise ShareRefused(f"{recipient_code} is not a partner of {sender.code}.")
    if partner.state != Partner.State.VERIFIED:
        raise ShareRefused(f"{recipient_code} is not verified yet: compare its fingerprint out of band first.")
    agreement = getattr(partner, "agreement", None)
    if agreement is None or bundle_kind.data_type not in agreement.data_types:
        raise ShareRefused(f"The sharing agreement with {recipient_code} does not cover {bundle_kind.data_type} data.")
    if not tlp_allows(agreement.max_tlp, tlp):
        raise ShareRefused(f"The agreement with {recipient_code} allows up to TLP:{agreement.max_tlp}, not TLP:{tlp}.")
    return partner


def _next_sequence(sender_code: str, recipient_code: str) -> int:
    stream, _ = Stream.objects.get_or_create(sender_code=sender_code, recipient_code=recipient_code)
    stream = Stream.objects.select_for_update().get(pk=stream.pk)
    sequence = stream.next_out
    stream.next_out = sequence + 1
    stream.save(update_fields=["next_out"])
    return sequence


def bundle_dir() -> Path:
    path = Path(settings.EXCHANGE_BUNDLE_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def share_enqueue(
    *,
    actor: Actor,
    sender: Agency,
    recipient_codes: list[str],
    kind: str,
    payload: bytes | Callable[[], Iterable[bytes]],
    tlp: str,
    summary: str,
    markings: dict | None = None,
    purpose: dict | None = None,
) -> list[Bundle]:
    """Seal one bundle per recipient into the outbox, in the caller's transaction.

    `payload` is the plaintext, or a function returning an iterable of byte chunks (called once
    per recipient), so a large hash set streams through sealing with bounded memory.
    """
    from exchange.tasks import outbox_deliver_task

    with transaction.atomic():
        partners = [share_check(sender=sender, recipient_code=code, kind=kind, tlp=tlp) for code in recipient_codes]
        key_set = keys_ensure(agency=sender)
        signing = keystore.signing_private(key_set)
        bundles = []
        for partner in partners:
            # Only keys this agency verified: never a card another local agency imported (C1).
            recipient_keys = selectors.partner_keys_current(partner=partner)
            if recipient_keys is None:
                raise ShareRefused(
                    f"{partner.partner.code} has no verified, valid keys on record: import its current card "
                    "and compare the fingerprint again."
                )
            sequence = _next_sequence(sender.code, partner.partner.code)
            handle = tempfile.NamedTemporaryFile(dir=bundle_dir(), suffix=".cbb", delete=False)
            with handle:
                header = bundle_seal(
                    kind=kind,
                    sender_code=sender.code,
                    signing_keys=signing,
                    recipients=[(partner.partner.code, keystore.encryption_public(recipient_keys))],
                    sequence=sequence,
                    payload=[payload] if isinstance(payload, bytes) else payload(),
                    out=handle,
                    tlp=tlp,
                    expires=timedelta(days=settings.EXCHANGE_BUNDLE_LIFETIME_DAYS),
                    markings=markings,
                    spool_dir=str(bundle_dir()),
                )
            path = Path(handle.name)
            bundle = Bundle.objects.create(
                direction=Bundle.Direction.OUT,
                bundle_id=header["bundle_id"],
                kind=kind,
                sender_code=sender.code,
                recipient_code=partner.partner.code,
                sequence=sequence,
                tlp=tlp,
                state=Bundle.State.PENDING,
                path=str(path),
                size=path.stat().st_size,
                header=header,
                summary=summary[:300],
                next_attempt_at=timezone.now(),
            )
            bundles.append(bundle)
            audit_record(
                action=Action.BUNDLE_SEND,
                actor=actor,
                agency=sender.code,
                object_type="bundle",
                object_id=str(bundle.bundle_id),
                purpose=purpose or {"code": "disclosure"},
                recipients=[partner.partner.code],
                details={"kind": kind, "sequence": sequence, "tlp": tlp, "bytes": bundle.size},
            )
        for bundle in bundles:
            enqueue_on_commit(outbox_deliver_task, bundle.pk)  # if the broker is down, the sweep sends it
    return bundles


@transaction.atomic
def share_request(
    *,
    acting_user,
    kind: str,
    object_type: str,
    object_id: str,
    recipient_codes: list[str],
    tlp: str,
    summary: str,
    purpose: str = "",
) -> tuple[ShareRequest, list[Bundle]]:
    """Share now, or park the share for a supervisor when any recipient's agreement asks for it."""
    agency = _require_role(acting_user, Role.INVESTIGATOR, Role.SUPERVISOR, Role.AGENCY_ADMIN, what="share data")
    partners = [share_check(sender=agency, recipient_code=code, kind=kind, tlp=tlp) for code in recipient_codes]
    needs_approval = any(p.agreement.requires_approval for p in partners)
    request = ShareRequest.objects.create(
        agency=agency,
        kind=kind,
        object_type=object_type,
        object_id=str(object_id),
        recipients=list(recipient_codes),
        tlp=tlp,
        purpose=purpose[:200],
        summary=summary[:200],
        requested_by=acting_user,
    )
    audit_record(
        action=Action.SHARE_REQUEST,
        actor=actor_for_user(acting_user),
        object_type=object_type,
        object_id=object_id,
        recipients=list(recipient_codes),
        purpose={"code": "disclosure"},
        sensitive={"purpose_text": purpose},
        details={"kind": kind, "tlp": tlp, "needs_approval": needs_approval, "request": request.pk},
    )
    if needs_approval:
        return request, []
    return request, _share_request_send(request=request, actor=actor_for_user(acting_user))


def _share_request_send(*, request: ShareRequest, actor: Actor) -> list[Bundle]:
    bundle_kind = kind_get(request.kind)
    if bundle_kind is None or bundle_kind.produce is None:
        raise ShareRefused(f"Nothing can produce a {request.kind!r} share.")
    produced = bundle_kind.produce(request.agency, request.object_id)
    bundles = share_enqueue(
        actor=actor,
        sender=request.agency,
        recipient_codes=request.recipients,
        kind=request.kind,
        payload=produced.payload,
        tlp=produced.tlp,
        summary=produced.summary,
        markings=produced.markings,
        purpose={"code": "disclosure", "share_request": str(request.pk)},
    )
    request.state = ShareRequest.State.APPROVED
    request.decided_at = request.decided_at or timezone.now()
    request.save(update_fields=["state", "decided_at"])
    return bundles


@transaction.atomic
def share_decide(*, acting_user, request: ShareRequest, approve: bool) -> list[Bundle]:
    """A supervisor (not the requester) approves or refuses a pending share: four eyes."""
    agency = _require_role(acting_user, Role.SUPERVISOR, what="approve shares")
    request = ShareRequest.objects.select_for_update().get(pk=request.pk)
    if request.agency_id != agency.pk:
        raise ForbiddenError("That share belongs to another agency.")
    if request.state != ShareRequest.State.PENDING:
        raise CasebridgeError("This share was already decided.")
    if request.requested_by_id == acting_user.pk:
        raise ForbiddenError("You cannot approve your own share: another supervisor must (four eyes).")
    request.decided_by = acting_user
    request.decided_at = timezone.now()
    audit_record(
        action=Action.SHARE_APPROVE,
        actor=actor_for_user(acting_user),
        outcome=Outcome.SUCCESS if approve else Outcome.DENIED,
        object_type=request.object_type,
        object_id=request.object_id,
        recipients=request.recipients,
        purpose={"code": "disclosure", "share_request": str(request.pk)},
        details={"request": request.pk, "approved": approve},
    )
    if not approve:
        request.state = ShareRequest.State.REFUSED
        request.save(update_fields=["state", "decided_by", "decided_at"])
        return []
    request.save(update_fields=["decided_by", "decided_at"])
    return _share_request_send(request=request, actor=actor_for_user(acting_user))
