"""Receiving a bundle: every check, then an atomic, idempotent apply — or quarantine with a reason.

Checks, in order (the first failure decides the reason the sender sees):
  malformed / too_large      framing and header (exchange.envelope)
  not_recipient              no agency hosted here is the bundle's recipient
  unknown_sender             the sender is not a partner of the recipient
  unverified_partner         fingerprints were never compared out of band (or suspended)
  unknown_key / key_not_valid / key_revoked
                             the signing key is not on record, was not valid at creation, or is revoked
  signature_invalid, expired, key_unwrap_failed, payload_digest_mismatch, chunk_auth_failed,
  truncated, trailing_data   exchange.envelope.bundle_open
  replayed                   this bundle id was already received (applied twice = no change)
  out_of_order               an earlier sequence number is missing: the bundle is held, not lost
  kind_not_allowed / tlp_not_allowed
                             the sharing agreement does not cover it
  apply_refused              the content cannot be applied (reason from the kind's handler)
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import BinaryIO

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from agencies.models import Agency
from audit.actions import Action, Outcome
from audit.capture import Actor, audit_record
from exchange import keystore, selectors
from exchange.envelope import BundleError, bundle_open, bundle_read_header
from exchange.keys import parse_timestamp
from exchange.kinds import ApplyContext, ApplyRefused, kind_get
from exchange.models import AgencyKeySet, Bundle, Partner, Stream, tlp_allows
from exchange.services import bundle_dir

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReceiveResult:
    state: str  # applied, held, duplicate, rejected
    code: str = ""
    message: str = ""
    bundle_id: str = ""

    @property
    def accepted(self) -> bool:
        return self.state in {"applied", "held", "duplicate"}


class _Reject(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _partner_actor(code: str) -> Actor:
    return Actor(type="partner", id=code, name=code, auth="bundle-signature", agency="")


def _quarantine(
    *, path: Path, header: dict, code: str, message: str, via: str, pushed_by: Partner | None = None
) -> ReceiveResult:
    """Keep the rejected bundle with its reason, and audit the rejection. Nothing is applied.

    A pushed bundle is filed under the partnership whose token pushed it (what the header claims is
    kept in the header), so the per-partner cap of quarantine_trim holds against a node that makes
    up sender and recipient codes (L2).
    """
    claimed_sender = str((header.get("sender") or {}).get("agency", ""))[:16]
    entries = [e for e in header.get("recipients") or [] if isinstance(e, dict)]
    claimed_recipient = str(entries[0].get("agency", ""))[:16] if entries else ""
    sequence = entries[0].get("sequence") if entries else None
    if pushed_by is not None:
        sender, recipient = pushed_by.partner.code, pushed_by.agency.code
    else:
        sender, recipient = claimed_sender, claimed_recipient
    with transaction.atomic():
        # Each rejected copy is kept under its own row id (the claimed bundle id stays in the
        # header): a rejection must never make the id look "seen" to the replay check.
        kept = bundle_dir() / "quarantine"
        kept.mkdir(exist_ok=True)
        target = kept / f"{timezone.now():%Y%m%dT%H%M%S%f}-{path.name}"
        shutil.copyfile(path, target)
        Bundle.objects.create(
            direction=Bundle.Direction.IN,
            kind=str(header.get("kind", ""))[:40],
            sender_code=sender,
            recipient_code=recipient,
            sequence=sequence if isinstance(sequence, int) else None,
            tlp=str(header.get("tlp", ""))[:14],
            state=Bundle.State.QUARANTINED,
            path=str(target),
            size=target.stat().st_size,
            header=header,
            reject_code=code,
            last_error=message[:2000],
        )
        details = {"via": via, "kind": str(header.get("kind", ""))[:40], "sender": claimed_sender}
        if pushed_by is not None:
            details["token_of"] = f"{pushed_by.agency.code}->{pushed_by.partner.code}"
            details["recipient"] = claimed_recipient
        audited = [recipient] if Agency.objects.filter(code=recipient, hosted_here=True).exists() else [""]
        if (
            pushed_by is not None
            and claimed_recipient != recipient
            and Agency.objects.filter(code=claimed_recipient, hosted_here=True).exists()
        ):
            # Another agency's token was used on a bundle addressed to this one: it is told too.
            audited.append(claimed_recipient)
        for agency in audited:
            audit_record(
                action=Action.BUNDLE_REJECT,
                actor=_partner_actor(claimed_sender or sender),
                outcome=Outcome.FAILURE,
                agency=agency,
                object_type="bundle",
                object_id=str(header.get("bundle_id", ""))[:64],
                reason=f"{code}: {message}"[:500],
                details=details,
            )
    quarantine_trim(sender_code=sender, recipient_code=recipient)
    return ReceiveResult(state="rejected", code=code, message=message, bundle_id=str(header.get("bundle_id", "")))


def _quarantined() -> QuerySet[Bundle]:
    return Bundle.objects.filter(direction=Bundle.Direction.IN, state=Bundle.State.QUARANTINED)


def _bodies_drop(bundles: QuerySet[Bundle]) -> int:
    """Delete the kept files of these quarantined bundles; their header and reason stay."""
    dropped = 0
    for pk, path in bundles.exclude(path="").values_list("pk", "path"):
        for file in (Path(path), Path(path).with_suffix(".payload")):
            file.unlink(missing_ok=True)
        dropped += Bundle.objects.filter(pk=pk).update(path="", size=0)
    return dropped


def quarantine_trim(*, sender_code: str, recipient_code: str) -> None:
    """Bound what one partner's rejected bundles can keep (L2): the newest
    EXCHANGE_QUARANTINE_BODIES_PER_PARTNER keep their file for an operator to examine, older ones
    only their header and reason, and beyond EXCHANGE_QUARANTINE_MAX_PER_PARTNER the oldest rows go.
    Their audit entries stay: the audit log, not this table, is the record of a refusal."""
    rows = _quarantined().filter(sender_code=sender_code, recipient_code=recipient_code).order_by("-created_at", "-pk")
    keep_bodies = settings.EXCHANGE_QUARANTINE_BODIES_PER_PARTNER
    with_body = rows.exclude(path="")
    stale = list(with_body.values_list("pk", flat=True)[keep_bodies : keep_bodies + 1000])
    if stale:
        _bodies_drop(Bundle.objects.filter(pk__in=stale))
    surplus = list(rows.values_list("pk", flat=True)[settings.EXCHANGE_QUARANTINE_MAX_PER_PARTNER :][:1000])
    if surplus:
        _bodies_drop(Bundle.objects.filter(pk__in=surplus))
        Bundle.objects.filter(pk__in=surplus).delete()


def quarantine_expire(*, now: datetime | None = None) -> dict[str, int]:
    """The periodic sweep of the quarantine (L2): files older than EXCHANGE_QUARANTINE_BODY_DAYS
    are deleted (header and reason stay), rows older than EXCHANGE_QUARANTINE_DAYS go entirely."""
    now = now or timezone.now()
    bodies = _bodies_drop(
        _quarantined().filter(created_at__lt=now - timedelta(days=settings.EXCHANGE_QUARANTINE_BODY_DAYS))
    )
    old = _quarantined().filter(created_at__lt=now - timedelta(days=settings.EXCHANGE_QUARANTINE_DAYS))
    _bodies_drop(old)
    rows, _ = old.delete()
    return {"bodies": bodies, "rows": rows}


def _sender_keys(recipient: Agency, header: dict) -> AgencyKeySet:
    sender_code = header["sender"]["agency"]
    partner = Partner.objects.select_related("partner").filter(agency=recipient, partner__code=sender_code).first()
    if partner is None:
        raise _Reject("unknown_sender", f"{sender_code} is not a partner of {recipient.code}")
    if partner.state != Partner.State.VERIFIED:
        raise _Reject("unverified_partner", f"{sender_code} is not verified by {recipient.code}")
    # Only the keys the recipient itself verified: a key set another local agency imported for the
    # same code does not exist for this recipient (C1).
    key_set = (
        selectors.partner_key_sets_trusted(partner=partner)
        .filter(signing_key_id=header["sender"]["signing_key_id"])
        .first()
    )
    if key_set is None:
        raise _Reject(
            "unknown_key",
            f"signing key {header['sender']['signing_key_id']} of {sender_code} is not one {recipient.code} verified",
        )
    created = parse_timestamp(header["created"])
    if key_set.revoked_at is not None:
        raise _Reject("key_revoked", f"signing key of {sender_code} was revoked on {key_set.revoked_at:%Y-%m-%d}")
    # Inclusive end: timestamps are whole seconds, and a rotation ends the old key at its own second.
    if not key_set.valid_from <= created <= key_set.valid_until:
        raise _Reject("key_not_valid", f"signing key of {sender_code} was not valid when the bundle was created")
    return key_set


def _recipient(header: dict, *, pushed_by: Partner | None) -> Agency:
    """The agency hosted here that the bundle is for. A push made with a partner's node token can
    only be for the agency that issued the token (C1): no other agency's partnership is reached."""
    for entry in header.get("recipients", []):
        if pushed_by is not None and entry.get("agency") != pushed_by.agency.code:
            continue
        agency = Agency.objects.filter(code=entry.get("agency"), hosted_here=True).first()
        if agency is not None:
            return agency
    if pushed_by is not None:
        raise _Reject(
            "not_recipient", f"the node token used was issued by {pushed_by.agency.code}, which is not a recipient"
        )
    raise _Reject("not_recipient", "no agency hosted on this node is a recipient of this bundle")


def _open(path: Path, recipient: Agency, sender_keys: AgencyKeySet, header: dict, plaintext: Path) -> dict:
    enc_key_id = next(e["encryption_key_id"] for e in header["recipients"] if e["agency"] == recipient.code)
    key_set = AgencyKeySet.objects.filter(agency=recipient, owner__isnull=True, encryption_key_id=enc_key_id).first()
    if key_set is None or key_set.encryption_private_wrapped is None:
        raise _Reject("not_recipient", f"{recipient.code} holds no private key {enc_key_id}")
    with path.open("rb") as src, plaintext.open("wb") as out:
        return bundle_open(
            src=src,
            recipient_code=recipient.code,
            encryption_private_keys=keystore.encryption_private(key_set),
            sender_public_keys=keystore.signing_public(sender_keys),
            out=out,
        )


def _apply(bundle: Bundle, recipient: Agency, header: dict, plaintext: Path) -> str:
    kind = kind_get(bundle.kind)
    context = ApplyContext(
        recipient=recipient, sender=Agency.objects.get(code=bundle.sender_code), header=header, plaintext=plaintext
    )
    return kind.apply(context)


def inbox_receive(*, src: BinaryIO, via: str, pushed_by: Partner | None = None) -> ReceiveResult:
    """Receive one bundle from `src` (local delivery, a push, or a pull).

    `pushed_by` is the partnership whose node token was used (exchange.authentication checked it is
    verified): a node may only push bundles its own agency signed (no relaying of other agencies'
    bundles), and only to the agency that issued the token.
    """
    scratch = Path(tempfile.mkdtemp(prefix="inbox-", dir=bundle_dir()))
    try:
        raw = scratch / "bundle.cbb"
        with raw.open("wb") as handle:
            shutil.copyfileobj(src, handle, 1 << 20)
        header: dict = {}
        try:
            with raw.open("rb") as handle:
                header, _header_bytes, _signatures = bundle_read_header(handle)
            recipient = _recipient(header, pushed_by=pushed_by)
            if pushed_by is not None and header["sender"]["agency"] != pushed_by.partner.code:
                raise _Reject(
                    "unknown_sender",
                    f"a node authenticated as {pushed_by.partner.code} pushed a bundle signed by another agency",
                )
            sender_keys = _sender_keys(recipient, header)
            plaintext = scratch / "payload"
            try:
                header = _open(raw, recipient, sender_keys, header, plaintext)
            except BundleError as exc:
                raise _Reject(exc.code, str(exc)) from None
            return _accept(raw=raw, header=header, recipient=recipient, plaintext=plaintext, via=via)
        except BundleError as exc:
            return _quarantine(path=raw, header=header, code=exc.code, message=str(exc), via=via, pushed_by=pushed_by)
        except _Reject as exc:
            return _quarantine(
                path=raw, header=header, code=exc.code, message=exc.message, via=via, pushed_by=pushed_by
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _accept(*, raw: Path, header: dict, recipient: Agency, plaintext: Path, via: str) -> ReceiveResult:
    entry = next(e for e in header["recipients"] if e["agency"] == recipient.code)
    sender_code = header["sender"]["agency"]
    bundle_id = header["bundle_id"]
    existing = (
        Bundle.objects.filter(direction=Bundle.Direction.IN, bundle_id=bundle_id, recipient_code=recipient.code)
        .exclude(state=Bundle.State.QUARANTINED)
        .first()
    )
    if existing is not None and existing.state == Bundle.State.HELD:
        # Sent again before it was applied: still waiting for an earlier one, or its apply died with
        # the process that ran it (the receive had committed). Apply whatever is ready now.
        result = _apply_ready(sender_code=sender_code, recipient=recipient, first_id=bundle_id)
        if result.state != "held":
            return result
        existing.refresh_from_db()
        if existing.state == Bundle.State.HELD:
            return ReceiveResult(state="held", code="out_of_order", bundle_id=bundle_id)
        # Applied (or refused) meanwhile by the process that was already at it: the same bundle again.
    if existing is not None:
        # The same bundle again: a retry after a lost acknowledgement, or a replay. Nothing changes;
        # the attempt is audited, and the sender is told it was already received.
        with transaction.atomic():
            audit_record(
                action=Action.BUNDLE_REJECT,
                actor=_partner_actor(sender_code),
                outcome=Outcome.FAILURE,
                agency=recipient.code,
                object_type="bundle",
                object_id=bundle_id,
                reason="replayed: this bundle id was already received; nothing applied again",
                details={"via": via},
            )
        return ReceiveResult(state="duplicate", code="replayed", bundle_id=bundle_id)
    kind = kind_get(header["kind"])
    partner = Partner.objects.select_related("agreement").get(agency=recipient, partner__code=sender_code)
    agreement = getattr(partner, "agreement", None)
    if kind is None or agreement is None or kind.data_type not in agreement.data_types:
        raise _Reject("kind_not_allowed", f"the sharing agreement does not accept {header['kind']} from {sender_code}")
    if not tlp_allows(agreement.max_tlp, header["tlp"]):
        raise _Reject("tlp_not_allowed", f"TLP:{header['tlp']} is above the agreement's TLP:{agreement.max_tlp}")
    kept = bundle_dir() / "inbox" / f"{bundle_id}.cbb"
    kept.parent.mkdir(exist_ok=True)
    shutil.copyfile(raw, kept)
    payload_copy = kept.with_suffix(".payload")
    shutil.copyfile(plaintext, payload_copy)
    try:
        with transaction.atomic():
            stream, _ = Stream.objects.get_or_create(sender_code=sender_code, recipient_code=recipient.code)
            stream = Stream.objects.select_for_update().get(pk=stream.pk)
            sequence = entry["sequence"]
            if sequence < stream.next_in:
                raise _Reject("replayed", f"sequence {sequence} of {sender_code} was already received")
            bundle = Bundle.objects.create(
                direction=Bundle.Direction.IN,
                bundle_id=bundle_id,
                kind=header["kind"],
                sender_code=sender_code,
                recipient_code=recipient.code,
                sequence=sequence,
                tlp=header["tlp"],
                state=Bundle.State.HELD,
                path=str(kept),
                size=kept.stat().st_size,
                header=header,
                delivered_at=timezone.now(),
            )
            audit_record(
                action=Action.BUNDLE_RECEIVE,
                actor=_partner_actor(sender_code),
                agency=recipient.code,
                object_type="bundle",
                object_id=bundle_id,
                purpose={"code": "sharing_agreement", "partner": sender_code},
                details={"via": via, "kind": header["kind"], "sequence": sequence},
            )
            if sequence > stream.next_in:
                bundle.last_error = f"waiting for sequence {stream.next_in} first"
                bundle.save(update_fields=["last_error"])
                return ReceiveResult(state="held", code="out_of_order", message=bundle.last_error, bundle_id=bundle_id)
    except IntegrityError:
        return ReceiveResult(state="duplicate", bundle_id=bundle_id)
    return _apply_ready(sender_code=sender_code, recipient=recipient, first_id=bundle_id)


def inbox_resume() -> int:
    """Apply every received bundle whose turn has come but which nobody applied (its process died
    after the receive committed). Run by the periodic sweep; returns how many streams moved."""
    next_in = Stream.objects.filter(sender_code=OuterRef("sender_code"), recipient_code=OuterRef("recipient_code"))
    waiting = Bundle.objects.filter(
        direction=Bundle.Direction.IN, state=Bundle.State.HELD, sequence=Subquery(next_in.values("next_in")[:1])
    ).values_list("sender_code", "recipient_code", "bundle_id")
    moved = 0
    for sender_code, recipient_code, bundle_id in waiting:
        recipient = Agency.objects.get(code=recipient_code)
        if _apply_ready(sender_code=sender_code, recipient=recipient, first_id=str(bundle_id)).state != "held":
            moved += 1
    return moved


def _apply_ready(*, sender_code: str, recipient: Agency, first_id: str) -> ReceiveResult:
    """Apply every held bundle of the stream whose turn has come, in sequence order."""
    result = ReceiveResult(state="held", bundle_id=first_id)
    while True:
        with transaction.atomic():
            stream = Stream.objects.select_for_update().get(sender_code=sender_code, recipient_code=recipient.code)
            bundle = Bundle.objects.filter(
                direction=Bundle.Direction.IN,
                sender_code=sender_code,
                recipient_code=recipient.code,
                sequence=stream.next_in,
                state=Bundle.State.HELD,
            ).first()
            if bundle is None:
                return result
            payload = Path(bundle.path).with_suffix(".payload")
            try:
                with transaction.atomic():
                    summary = _apply(bundle, recipient, bundle.header, payload)
                    bundle.state = Bundle.State.APPLIED
                    bundle.applied_at = timezone.now()
                    bundle.summary = summary[:300]
                    bundle.save(update_fields=["state", "applied_at", "summary"])
                    audit_record(
                        action=Action.BUNDLE_APPLY,
                        actor=_partner_actor(sender_code),
                        agency=recipient.code,
                        object_type="bundle",
                        object_id=str(bundle.bundle_id),
                        purpose={"code": "sharing_agreement", "partner": sender_code},
                        details={"kind": bundle.kind, "sequence": bundle.sequence, "summary": summary[:200]},
                    )
                outcome = ReceiveResult(state="applied", bundle_id=str(bundle.bundle_id))
            except Exception as exc:  # noqa: BLE001 - any apply failure quarantines; it must not block the stream
                # ApplyRefused carries the kind's reason; anything else is hostile or broken content.
                if not isinstance(exc, ApplyRefused):
                    logger.warning("apply of bundle %s failed: %s", bundle.bundle_id, exc.__class__.__name__)
                    exc = ApplyRefused(f"the payload could not be applied ({exc.__class__.__name__})")
                bundle.state = Bundle.State.QUARANTINED
                bundle.reject_code = "apply_refused"
                bundle.last_error = str(exc)[:2000]
                bundle.save(update_fields=["state", "reject_code", "last_error"])
                audit_record(
                    action=Action.BUNDLE_REJECT,
                    actor=_partner_actor(sender_code),
                    outcome=Outcome.FAILURE,
                    agency=recipient.code,
                    object_type="bundle",
                    object_id=str(bundle.bundle_id),
                    reason=f"apply_refused: {exc}"[:500],
                )
                outcome = ReceiveResult(
                    state="rejected", code="apply_refused", message=str(exc), bundle_id=str(bundle.bundle_id)
                )
            # The stream moves on either way: a refused bundle is quarantined, not blocking the rest.
            stream.next_in += 1
            stream.save(update_fields=["next_in"])
            payload.unlink(missing_ok=True)
        if str(bundle.bundle_id) == str(first_id):
            result = outcome
