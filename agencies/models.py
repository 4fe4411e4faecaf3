"""Agencies, each user's membership in one agency, API tokens and login throttling."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone


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
