"""Retention rules per agency and kind of record, reviewers' decisions, legal holds and tombstones.

A rule says when a record comes up for review and when it is erased, in days counted from the
record's last change (a case's closing is its last change when nothing happened since). A review
either extends the record (with a reason and a new review date; the erasure deadline moves with
it) or lets it go (it is erased at its deadline). A legal hold on a case suspends review and
erasure of the case and everything that hangs off it. An erased record leaves a `Tombstone`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from agencies.models import Agency
from cases.models import Case


class RecordKind(models.TextChoices):
    CASE = "case", "Case"
    LEAD = "lead", "Victim-identification lead"
    EVIDENCE = "evidence", "Evidence item"
    CLASSIFICATION = "classification", "Hash set classification"
    BUNDLE_RECEIVED = "bundle_received", "Received bundle"
    BUNDLE_QUARANTINED = "bundle_quarantined", "Quarantined bundle"


class RetentionRule(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="retention_rules")
    kind = models.CharField(max_length=20, choices=RecordKind.choices)
    status = models.CharField(
        max_length=12,
        blank=True,
        help_text="Cases and leads: the status this rule is for; empty: every status without a rule of its own.",
    )
    review_after_days = models.PositiveIntegerField()
    erase_after_days = models.PositiveIntegerField()
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["kind", "status"]
        constraints = [
            models.UniqueConstraint(fields=["agency", "kind", "status"], name="retention_rule_unique"),
            models.CheckConstraint(
                condition=Q(review_after_days__gte=1) & Q(erase_after_days__gte=F("review_after_days")),
                name="retention_rule_review_before_erasure",
            ),
        ]

    def __str__(self) -> str:
        scope = f"{self.kind}/{self.status}" if self.status else self.kind
        return f"{self.agency_id} {scope}: review {self.review_after_days}d, erase {self.erase_after_days}d"


class ReviewDecision(models.TextChoices):
    EXTENDED = "extended", "Extended"
    RELEASED = "released", "Let go"


class ReviewState(models.Model):
    """The latest review decision on one record (each decision is also in the audit log)."""

    kind = models.CharField(max_length=20, choices=RecordKind.choices)
    object_id = models.BigIntegerField()
    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    # Decisions on a case's records go with the case when it is erased.
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    decision = models.CharField(max_length=10, choices=ReviewDecision.choices)
    review_at = models.DateTimeField(null=True, blank=True, help_text="Extended: the next review date.")
    erase_at = models.DateTimeField(null=True, blank=True, help_text="Extended: the erasure deadline moved with it.")
    reason = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="review_state_once_per_record")]
        indexes = [models.Index(fields=["agency", "decision"], name="review_state_agency")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.decision}"


class LegalHold(models.Model):
    """A case under legal hold: no review, no erasure of it or of anything hanging off it."""

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    # Erasure is refused while a hold is active; past holds go with the case (the log keeps them).
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="legal_holds")
    reason = models.TextField()
    placed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    placed_at = models.DateTimeField(default=timezone.now)
    lifted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    lifted_at = models.DateTimeField(null=True, blank=True)
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-placed_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(lifted_at__isnull=True), name="legal_hold_one_active_per_case"
            ),
        ]
        indexes = [models.Index(fields=["agency", "lifted_at"], name="legal_hold_agency")]

    def __str__(self) -> str:
        return f"hold on case {self.case_id}" + (" (lifted)" if self.lifted_at else "")

    @property
    def active(self) -> bool:
        return self.lifted_at is None


class Tombstone(models.Model):
    """What is left of an erased record: which record it was, when, under which rule, by whom."""

    kind = models.CharField(max_length=20, choices=RecordKind.choices)
    object_id = models.BigIntegerField(help_text="The erased record's primary key.")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    label = models.CharField(max_length=200, help_text="What it was, in words safe to list (no content).")
    case_reference = models.CharField(max_length=32, blank=True)
    erased_at = models.DateTimeField(default=timezone.now)
    rule = models.ForeignKey(RetentionRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    rule_snapshot = models.JSONField(default=dict, help_text="The rule as it was when the record was erased.")
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    erased_via = models.CharField(max_length=20, help_text="retention_sweep (periodic task) or manual.")
    details = models.JSONField(default=dict, blank=True, help_text="Counts of what went with it; never content.")

    class Meta:
        ordering = ["-erased_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="tombstone_once_per_record")]
        indexes = [models.Index(fields=["agency", "-erased_at"], name="tombstone_agency_erased")]

    def __str__(self) -> str:
        return f"tombstone of {self.kind} {self.object_id}"

    @property
    def details_text(self) -> str:
        return ", ".join(f"{n} {key.replace('_', ' ')}" for key, n in self.details.items() if n)
