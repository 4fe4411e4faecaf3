"""Agency key generation, storage wrapped under the node's key-encryption key, and loading."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from agencies.models import Agency
from audit.keys import audit_key_history
from casebridge.lib.kek import kek_unwrap, node_kek, previous_kek  # noqa: F401 - previous_kek re-exported
from exchange.keys import (
    AgencyCard,
    AuditLogId,
    EncryptionPrivateKeys,
    EncryptionPublicKeys,
    KeyWrapError,
    SigningPrivateKeys,
    SigningPublicKeys,
    card_sign,
    rewrap,
    unwrap_private_key,
    wrap_private_key,
)
from exchange.models import AgencyKeySet

KEY_LIFETIME = timedelta(days=730)


# The KEK itself (node_kek, previous_kek) and unwrapping during a rotation live in
# casebridge.lib.kek, shared with the TOTP seeds of agencies; re-exported here for the exchange app.
unwrap = kek_unwrap


def key_set_generate(*, agency: Agency, valid_from=None) -> AgencyKeySet:
    """A new key generation for a local agency, with a self-signed card. Caller audits and commits."""
    signing = SigningPrivateKeys.generate()
    encryption = EncryptionPrivateKeys.generate()
    # Whole seconds: cards and bundle headers carry second-precision timestamps.
    valid_from = (valid_from or timezone.now()).replace(microsecond=0)
    card = AgencyCard(
        name=agency.name,
        code=agency.code,
        country=agency.country,
        node_url=agency.node_url or "http://127.0.0.1:8000",
        signing_keys=signing.public_keys(),
        encryption_keys=encryption.public_keys(),
        valid_from=valid_from,
        valid_until=valid_from + KEY_LIFETIME,
        # The node's audit log, so partners witness this log under this key, as compared (M3). Its
        # current key: a later rotation reaches partners as a hand-over signed by this one.
        audit_log=AuditLogId(origin=settings.AUDIT_ORIGIN, vkey=audit_key_history()[-1].vkey),
    )
    kek = node_kek()
    return AgencyKeySet.objects.create(
        agency=agency,
        signing_key_id=signing.key_id,
        encryption_key_id=encryption.key_id,
        signing_public=signing.public_keys().to_bytes(),
        encryption_public=encryption.public_keys().to_bytes(),
        signing_fingerprint=signing.public_keys().fingerprint,
        encryption_fingerprint=encryption.public_keys().fingerprint,
        signing_private_wrapped=wrap_private_key(signing.to_bytes(), kek=kek, key_id=signing.key_id),
        encryption_private_wrapped=wrap_private_key(encryption.to_bytes(), kek=kek, key_id=encryption.key_id),
        card=card_sign(card, signing),
        valid_from=card.valid_from,
        valid_until=card.valid_until,
    )


def key_set_current(agency: Agency) -> AgencyKeySet | None:
    """A local agency's own current keys. Never a partner's: ask exchange.selectors, which knows
    whose trust anchor a remote agency's keys are."""
    now = timezone.now()
    return (
        AgencyKeySet.objects.filter(
            agency=agency, owner__isnull=True, revoked_at__isnull=True, valid_from__lte=now, valid_until__gt=now
        )
        .order_by("-valid_from")
        .first()
    )


def signing_private(key_set: AgencyKeySet) -> SigningPrivateKeys:
    return SigningPrivateKeys.from_bytes(unwrap(bytes(key_set.signing_private_wrapped), key_id=key_set.signing_key_id))


def encryption_private(key_set: AgencyKeySet) -> EncryptionPrivateKeys:
    raw = unwrap(bytes(key_set.encryption_private_wrapped), key_id=key_set.encryption_key_id)
    return EncryptionPrivateKeys.from_bytes(raw)


def signing_public(key_set: AgencyKeySet) -> SigningPublicKeys:
    return SigningPublicKeys.from_bytes(bytes(key_set.signing_public))


def encryption_public(key_set: AgencyKeySet) -> EncryptionPublicKeys:
    return EncryptionPublicKeys.from_bytes(bytes(key_set.encryption_public))


def kek_rotate(*, old_kek: bytes, new_kek: bytes) -> int:
    """Re-wrap every private key under a new KEK.

    No downtime: run with KEY_ENCRYPTION_KEY=new and KEY_ENCRYPTION_KEY_PREVIOUS=old, so every
    process unwraps rows in either state while they are rewritten one by one; then drop PREVIOUS.
    A row already under the new KEK is left as it is, so the command can be re-run after a crash.
    """
    count = 0
    for key_set in AgencyKeySet.objects.filter(signing_private_wrapped__isnull=False).iterator():
        try:
            unwrap_private_key(bytes(key_set.signing_private_wrapped), kek=new_kek, key_id=key_set.signing_key_id)
            continue  # already re-wrapped
        except KeyWrapError:
            pass
        key_set.signing_private_wrapped = rewrap(
            bytes(key_set.signing_private_wrapped), old_kek, new_kek, key_id=key_set.signing_key_id
        )
        key_set.encryption_private_wrapped = rewrap(
            bytes(key_set.encryption_private_wrapped), old_kek, new_kek, key_id=key_set.encryption_key_id
        )
        key_set.save(update_fields=["signing_private_wrapped", "encryption_private_wrapped"])
        count += 1
    from exchange.models import Partner

    for partner in Partner.objects.filter(outbound_token_wrapped__isnull=False).iterator():
        try:
            unwrap_private_key(bytes(partner.outbound_token_wrapped), kek=new_kek, key_id=f"partner-token-{partner.pk}")
            continue
        except KeyWrapError:
            pass
        partner.outbound_token_wrapped = rewrap(
            bytes(partner.outbound_token_wrapped), old_kek, new_kek, key_id=f"partner-token-{partner.pk}"
        )
        partner.save(update_fields=["outbound_token_wrapped"])
    from exchange.models import WitnessKey

    for witness in WitnessKey.objects.iterator():  # the node's own cosigning key (M3)
        try:
            unwrap_private_key(bytes(witness.private_wrapped), kek=new_kek, key_id=witness.key_id)
            continue
        except KeyWrapError:
            pass
        witness.private_wrapped = rewrap(bytes(witness.private_wrapped), old_kek, new_kek, key_id=witness.key_id)
        witness.save(update_fields=["private_wrapped"])
        count += 1
    from agencies.services import totp_seeds_rewrap

    totp_seeds_rewrap(old_kek=old_kek, new_kek=new_kek)
    node_kek.cache_clear()
    return count
