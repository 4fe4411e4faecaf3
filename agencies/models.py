"""Agencies, each user's membership in one agency, API tokens and login throttling."""

from __future__ import annotations

import base64
from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from casebridge.lib.kek import kek_unwrap, node_kek
from casebridge.lib.keywrap import wrap_private_key


class Agency(models.Model):
    name = models.CharField(max_length=200)
    code = models.CharField(
        max_length=16,
        unique=True,
        validators=[RegexValidator(r"^[A-Z0-9][A-Z0-9_-]{1,15}$", "Use 2-16 upper-case letters, digits, - or _.")],
        help_text="Short code partners use to address this agency, e.g. NCA-UK.",
    )
    country = models.CharField(max_length=2, help_text="ISO 3166-1 alpha-2 country code.")
    node_url = models.URLField(blank=True, help_text="Base URL of the node hosting this agency.")
    hosted_here = models.BooleanField(default=True, help_text="Hosted on this node (else a remote partner).")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "agencies"

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"


class Role(models.TextChoices):
    INVESTIGATOR = "investigator", "Investigator"
    SUPERVISOR = "supervisor", "Supervisor"
    AGENCY_ADMIN = "agency_admin", "Agency admin"
    AUDITOR = "auditor", "Auditor"


class Membership(models.Model):
    """A user belongs to exactly one agency with exactly one role."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["agency", "role"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.agency.code} ({self.role})"


class NodeAuditor(models.Model):
    """A node-level auditor: reads the entries of no agency (failed logins of unknown users, witness
    cosigning, rejected bundles addressed to no agency here) and the tree, never an agency's entries.

    Deliberately not a `Role`: a role is held inside one agency, and this user belongs to none. A user
    with a membership is never a node auditor (the membership wins), so an operator who adds this
    row to an agency's member gains that member nothing.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="node_auditor")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "node auditor"

    def __str__(self) -> str:
        return f"node auditor {self.user}"


# No token outlives this, whatever path wrote it (the service caps lower: API_TOKEN_MAX_DAYS).
API_TOKEN_HARD_MAX_DAYS = 365


class ApiToken(models.Model):
    """A personal API token: only its SHA-256 is stored; the secret is shown once at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(expires_at__lte=models.F("created_at") + timedelta(days=API_TOKEN_HARD_MAX_DAYS)),
                name="api_token_expiry_capped",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()


class LoginThrottle(models.Model):
    """Consecutive failed logins of a username from one client address, and (address ANY_ADDRESS)
    from every address together; a lock ends at `locked_until`."""

    ANY_ADDRESS = "*"

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=64, default=ANY_ADDRESS)
    failures = models.PositiveIntegerField(default=0)
    locked_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["username", "address"], name="login_throttle_unique")]

    def __str__(self) -> str:
        return f"{self.username} from {self.address}: {self.failures} failures"


class LoginFailureBudget(models.Model):
    """Failed logins of unknown usernames from one client address in one time window.

    The first LOGIN_ANONYMOUS_AUDIT_PER_WINDOW are audited one by one; the rest only counted here
    and written as one summary entry once the window has closed, so a flood of made-up usernames
    cannot grow the append-only audit log without bound. The row is deleted when summarised.
    """

    address = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    audited = models.PositiveIntegerField(default=0)
    suppressed = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["address", "window_start"], name="login_budget_unique")]
        indexes = [models.Index(fields=["window_start"])]

    def __str__(self) -> str:
        return f"{self.address} from {self.window_start:%Y-%m-%d %H:%M}: {self.audited}+{self.suppressed}"


class EnrolmentLink(models.Model):
    """A one-time link with which a new user sets their own password and enrols their authenticator.

    No admin ever sees a usable password: the admin who creates a user sees this link once, to hand
    over out of band. Only the SHA-256 of the link's token is stored; it is spent on first use."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="enrolment_links")
    token_hash = models.BinaryField(max_length=32, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"enrolment link of {self.user_id} until {self.expires_at:%Y-%m-%d %H:%M}"

    @property
    def is_usable(self) -> bool:
        return self.used_at is None and self.expires_at > timezone.now()


class RecoveryCode(models.Model):
    """One of the codes a user receives at enrolment (shown once, only the SHA-256 stored, single
    use). After an admin reset their authenticator, one proves it is the user who re-enrols."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.BinaryField(max_length=32)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "code_hash"], name="recovery_code_unique")]

    def __str__(self) -> str:
        return f"recovery code of {self.user_id}{' (used)' if self.used_at else ''}"


class MfaReset(models.Model):
    """An agency admin removed a user's authenticator. Enrolling a new one stays closed until the
    user proves possession of a recovery code, or (none left) a second agency admin approves."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mfa_resets")
    reset_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    recovered_at = models.DateTimeField(null=True, blank=True)  # a recovery code was given
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)  # a new authenticator was enrolled

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"], condition=models.Q(completed_at__isnull=True), name="mfa_reset_one_open"
            )
        ]

    def __str__(self) -> str:
        return f"MFA reset of {self.user_id} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def reenrolment_open(self) -> bool:
        return self.completed_at is None and (self.recovered_at is not None or self.approved_at is not None)


WRAPPED_SEED_PREFIX = "kek1:"


def totp_seed_key_id(user_id: int) -> str:
    # Binds a wrapped seed to its user: copied onto another user's row it does not unwrap.
    return f"totp-seed-{user_id}"


def totp_seed_wrap(seed: bytes, *, user_id: int, kek: bytes | None = None) -> str:
    blob = wrap_private_key(seed, kek=kek or node_kek(), key_id=totp_seed_key_id(user_id))
    return WRAPPED_SEED_PREFIX + base64.b64encode(blob).decode("ascii")


class Authenticator(TOTPDevice):
    """A user's TOTP authenticator whose seed is stored wrapped under the node's key-encryption
    key (L4), like the exchange keys: a database dump or the operator's table view does not give
    the codes. django-otp's TOTP logic is used unchanged; only where the seed comes from differs.

    The seed sits, wrapped, in the `key` column ("kek1:" + base64 of the blob, 71 characters for a
    20-byte seed). A row still holding a clear hex seed (made outside this model) is read and
    wrapped at its next save, which every code check does."""

    class Meta:
        proxy = True
        verbose_name = "authenticator"

    @property
    def seed_is_wrapped(self) -> bool:
        return self.key.startswith(WRAPPED_SEED_PREFIX)

    @property
    def bin_key(self) -> bytes:
        if not self.seed_is_wrapped:
            return bytes.fromhex(self.key)
        blob = base64.b64decode(self.key[len(WRAPPED_SEED_PREFIX) :])
        return kek_unwrap(blob, key_id=totp_seed_key_id(self.user_id))

    def save(self, *args, **kwargs) -> None:
        if not self.seed_is_wrapped:
            self.key = totp_seed_wrap(bytes.fromhex(self.key), user_id=self.user_id)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "key"}
        super().save(*args, **kwargs)
