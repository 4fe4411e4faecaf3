"""Keys, partners, sharing agreements and bundles (outbox and inbox).

Private keys are stored only wrapped under the node's key-encryption key (KEY_ENCRYPTION_KEY).
A bundle is addressed to exactly one recipient agency, so each sender -> recipient pair is one
stream with contiguous sequence numbers; a share to three partners writes three bundles.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from agencies.models import Agency
from hashsets.models import TLP

# TLP order from most to least restrictive; an agreement allows up to (and including) its max TLP.
TLP_ORDER = [TLP.RED, TLP.AMBER_STRICT, TLP.AMBER, TLP.GREEN, TLP.CLEAR]


def tlp_allows(max_tlp: str, tlp: str) -> bool:
    """True when data marked `tlp` may go under an agreement whose ceiling is `max_tlp`."""
    return TLP_ORDER.index(TLP(tlp)) >= TLP_ORDER.index(TLP(max_tlp))


class AgencyKeySet(models.Model):
    """One generation of an agency's keys: signing (Ed25519 + ML-DSA-65) and encryption (ML-KEM-768 + X25519).

    Keys of an agency hosted here have no owner: they are its own, with the private halves. Keys of
    a remote agency are known only from a card some local agency imported, so they belong to that
    importer (`owner`) and are that agency's trust anchor alone: a card one agency imports never
    changes what another agency seals to or verifies with (issue 13, C1).
    """

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="key_sets")
    owner = models.ForeignKey(
        Agency,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="imported_key_sets",
        help_text="The local agency that imported this remote agency's card; empty for an agency's own keys.",
    )
    signing_key_id = models.CharField(max_length=40)
    encryption_key_id = models.CharField(max_length=40)
    signing_public = models.BinaryField()
    encryption_public = models.BinaryField()
    signing_fingerprint = models.CharField(max_length=40)
    encryption_fingerprint = models.CharField(max_length=40)
    signing_private_wrapped = models.BinaryField(null=True, editable=False)
    encryption_private_wrapped = models.BinaryField(null=True, editable=False)
    card = models.JSONField(default=dict, blank=True, help_text="The signed agency card that published these keys.")
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-valid_from"]
        indexes = [models.Index(fields=["agency", "owner", "valid_from"])]
        constraints = [
            # Key ids are unique per trust anchor: among an agency's own keys, and per importing agency.
            models.UniqueConstraint(
                fields=["signing_key_id"], condition=models.Q(owner__isnull=True), name="keyset_own_signing_unique"
            ),
            models.UniqueConstraint(
                fields=["encryption_key_id"],
                condition=models.Q(owner__isnull=True),
                name="keyset_own_encryption_unique",
            ),
            models.UniqueConstraint(fields=["owner", "signing_key_id"], name="keyset_owner_signing_unique"),
            models.UniqueConstraint(fields=["owner", "encryption_key_id"], name="keyset_owner_encryption_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.agency.code} keys {self.signing_fingerprint}"

    @property
    def is_local(self) -> bool:
        return self.signing_private_wrapped is not None


class Partner(models.Model):
    """A partner agency as seen by one local agency: fingerprints compared out of band or not."""

    class State(models.TextChoices):
        UNVERIFIED = "unverified", "Unverified"
        VERIFIED = "verified", "Verified"
        SUSPENDED = "suspended", "Suspended"

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="partners")
    partner = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="partner_of")
    state = models.CharField(max_length=12, choices=State.choices, default=State.UNVERIFIED)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    # What the admin compared: verification is bound to these exact keys of a remote partner, so a
    # key set imported later is not trusted until it is compared in turn. Empty unless verified.
    verified_signing_key_id = models.CharField(max_length=40, blank=True)
    verified_encryption_key_id = models.CharField(max_length=40, blank=True)
    # Where this agency delivers to and calls the partner: from the card it imported itself (for a
    # remote partner), never from the agency row that every local agency shares.
    node_url = models.URLField(max_length=2000, blank=True)
    # Node-to-node credentials for a partner on another node: the token it presents to us (hashed)
    # and the token we present to it (wrapped under the KEK).
    inbound_token_hash = models.BinaryField(null=True, editable=False)
    outbound_token_wrapped = models.BinaryField(null=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agency", "partner"], name="partner_unique_pair")]

    def __str__(self) -> str:
        return f"{self.agency.code} -> {self.partner.code} ({self.state})"


class SharingAgreement(models.Model):
    """What one local agency sends to and accepts from one partner."""

    partner = models.OneToOneField(Partner, on_delete=models.CASCADE, related_name="agreement")
    data_types = models.JSONField(default=list, help_text='Kinds of data, e.g. ["hashset", "lead"].')
    max_tlp = models.CharField(max_length=14, choices=TLP.choices, default=TLP.AMBER)
    requires_approval = models.BooleanField(default=True, help_text="A supervisor approves each outgoing share.")
    allow_reshare = models.BooleanField(default=False, help_text="Received data may be passed on (handling code).")
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"agreement {self.partner}"


class Stream(models.Model):
    """Sequence bookkeeping for one sender -> recipient stream, on each side."""

    sender_code = models.CharField(max_length=16)
    recipient_code = models.CharField(max_length=16)
    next_out = models.BigIntegerField(default=1, help_text="Next sequence number to give an outgoing bundle.")
    next_in = models.BigIntegerField(default=1, help_text="Next sequence number expected from the sender.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sender_code", "recipient_code"], name="stream_unique")]

    def __str__(self) -> str:
        return f"stream {self.sender_code}->{self.recipient_code}"


class ShareRequest(models.Model):
    """A share waiting for a supervisor (four eyes), or already decided."""

    class State(models.TextChoices):
        PENDING = "pending", "Awaiting approval"
        APPROVED = "approved", "Approved and queued"
        REFUSED = "refused", "Refused"

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="share_requests")
    kind = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=64)
    recipients = models.JSONField(default=list)
    tlp = models.CharField(max_length=14, choices=TLP.choices)
    purpose = models.CharField(max_length=200, blank=True)
    summary = models.CharField(max_length=200, blank=True, help_text="What is shared, in words safe to list.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"share {self.kind} of {self.object_type} {self.object_id} ({self.state})"


class Bundle(models.Model):
    """A bundle in the outbox (we sent it) or the inbox (we received it)."""

    class Direction(models.TextChoices):
        OUT = "out", "Outgoing"
        IN = "in", "Incoming"

    class State(models.TextChoices):
        PENDING = "pending", "Pending delivery"
        DELIVERED = "delivered", "Delivered"
        APPLIED = "applied", "Applied"
        HELD = "held", "Held (waiting for an earlier bundle)"
        REJECTED = "rejected", "Rejected"
        QUARANTINED = "quarantined", "Quarantined"
        DEAD = "dead", "Given up"

    id = models.BigAutoField(primary_key=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    bundle_id = models.UUIDField(default=uuid.uuid4)
    kind = models.CharField(max_length=40, blank=True)
    sender_code = models.CharField(max_length=16, blank=True)
    recipient_code = models.CharField(max_length=16, blank=True)
    sequence = models.BigIntegerField(null=True)
    tlp = models.CharField(max_length=14, blank=True)
    state = models.CharField(max_length=12, choices=State.choices)
    path = models.CharField(max_length=300, help_text="The bundle file under VAR_DIR/bundles.")
    size = models.BigIntegerField(default=0)
    header = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    reject_code = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)
    summary = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # An id is applied once per receiving agency: the replay check and idempotency rest on this.
            models.UniqueConstraint(
                fields=["direction", "bundle_id", "recipient_code"], name="bundle_unique_per_direction"
            ),
        ]
        indexes = [
            models.Index(fields=["direction", "state", "next_attempt_at"]),
            models.Index(fields=["direction", "sender_code", "recipient_code", "sequence"]),
        ]

    def __str__(self) -> str:
        return f"{self.direction} {self.kind} {self.sender_code}->{self.recipient_code} #{self.sequence} {self.state}"


class WitnessedLog(models.Model):
    """A partner node's audit log that this node witnesses: the last checkpoint we cosigned.

    The origin and the first pinned verifier key are the ones in the partner's verified agency card
    (M3), never what a submission brings; the pin moves only through hand-overs signed by the pinned
    key. Every new checkpoint must be signed by it and be consistent with the last one cosigned, or
    it is refused as a rewritten history.
    """

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="witnessed_logs")
    origin = models.CharField(max_length=200)
    vkey = models.CharField(max_length=300)
    last_size = models.BigIntegerField(default=0)
    last_root = models.BinaryField(null=True)
    last_note = models.TextField(blank=True)
    alarm = models.TextField(blank=True, help_text="Set when the log presented an inconsistent history.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["origin"], name="witnessed_log_unique_origin")]

    def __str__(self) -> str:
        return f"witnessed {self.origin} at {self.last_size}"


class WitnessKey(models.Model):
    """This node's own cosigning key (M3): witnessing is not done with the audit signing key, so a
    cosignature and a checkpoint of this node's log can never be confused, and either key can be
    replaced alone. The private key is stored only wrapped under the KEK, like the agency keys."""

    key_id = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200, help_text="The key name in cosignature lines.")
    public = models.BinaryField()
    private_wrapped = models.BinaryField(editable=False)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"witness key {self.name}"
