"""Media digests, agencies' classifications of them, hash sets and imports.

A `Media` row is one file's digests and holds no agency's opinion. A `Classification` is one
agency's opinion of one media item, from one hash set; agencies disagree, and every opinion is
kept side by side (never overwritten). Digests are stored as raw bytes with length checks.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact, GreaterThanOrEqual, LessThanOrEqual
from django.utils import timezone

from agencies.models import Agency
from hashsets.formats.records import Category, Scheme

DIGEST_LENGTHS = {"md5": 16, "sha1": 20, "sha256": 32, "pdq": 32, "photodna": 144}


def _length_check(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True}) | Q(Exact(Length(field), DIGEST_LENGTHS[field])),
        name=f"media_{field}_length",
    )


class TLP(models.TextChoices):
    RED = "RED", "TLP:RED"
    AMBER_STRICT = "AMBER+STRICT", "TLP:AMBER+STRICT"
    AMBER = "AMBER", "TLP:AMBER"
    GREEN = "GREEN", "TLP:GREEN"
    CLEAR = "CLEAR", "TLP:CLEAR"


class Media(models.Model):
    id = models.BigAutoField(primary_key=True)
    md5 = models.BinaryField(max_length=16, null=True, unique=True)
    sha1 = models.BinaryField(max_length=20, null=True, unique=True)
    sha256 = models.BinaryField(max_length=32, null=True, unique=True)
    pdq = models.BinaryField(max_length=32, null=True)
    pdq_quality = models.PositiveSmallIntegerField(null=True)
    pdq_hasher = models.CharField(max_length=40, blank=True)
    photodna = models.BinaryField(max_length=144, null=True, unique=True)
    size = models.BigIntegerField(null=True)
    media_type = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "hashsets_media"
        constraints = [
            *(_length_check(name) for name in DIGEST_LENGTHS),
            models.CheckConstraint(
                condition=Q(pdq_quality__isnull=True)
                | Q(GreaterThanOrEqual(models.F("pdq_quality"), 0), LessThanOrEqual(models.F("pdq_quality"), 100)),
                name="media_pdq_quality_range",
            ),
            models.CheckConstraint(
                condition=Q(md5__isnull=False)
                | Q(sha1__isnull=False)
                | Q(sha256__isnull=False)
                | Q(pdq__isnull=False)
                | Q(photodna__isnull=False),
                name="media_has_a_digest",
            ),
        ]

    def __str__(self) -> str:
        for name in ("sha256", "sha1", "md5"):
            value = getattr(self, name)
            if value:
                return f"{name}:{bytes(value).hex()}"
        return f"media {self.pk}"


class Series(models.Model):
    name = models.CharField(max_length=200, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "series"
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class HashSet(models.Model):
    owner = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="hash_sets")
    name = models.CharField(max_length=200)
    version = models.PositiveIntegerField(default=1, help_text="Bumped by every change published to partners.")
    description = models.TextField(blank=True)
    tlp = models.CharField(max_length=14, choices=TLP.choices, default=TLP.AMBER)
    scheme = models.CharField(max_length=12, choices=[(s.value, s.value) for s in Scheme], default=Scheme.VIC_US)
    shared_with = models.ManyToManyField(
        Agency, blank=True, related_name="hash_sets_received", help_text="Agencies on this node that received it."
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="hashset_unique_name_per_owner")]
        ordering = ["owner__code", "name"]

    def __str__(self) -> str:
        return f"{self.owner.code}/{self.name} v{self.version}"


class HashSetImport(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    hashset = models.ForeignKey(HashSet, on_delete=models.CASCADE, related_name="imports")
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    file_name = models.CharField(max_length=255, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    format = models.CharField(max_length=16, blank=True)
    format_version = models.CharField(max_length=16, blank=True)
    scheme = models.CharField(max_length=12, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    records = models.PositiveIntegerField(default=0)
    media_created = models.PositiveIntegerField(default=0)
    classifications_created = models.PositiveIntegerField(default=0)
    classifications_updated = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    skipped_details = models.JSONField(default=list, blank=True)
    progress_bytes = models.BigIntegerField(default=0)
    total_bytes = models.BigIntegerField(default=0)
    error = models.TextField(blank=True)
    dry_run = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"import {self.pk} into {self.hashset}"

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(100 * self.progress_bytes / self.total_bytes) if self.total_bytes else 0


class Classification(models.Model):
    """One agency's opinion of one media item, as asserted in one hash set."""

    id = models.BigAutoField(primary_key=True)
    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="classifications")
    hashset = models.ForeignKey(HashSet, on_delete=models.CASCADE, related_name="classifications")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    source_import = models.ForeignKey(HashSetImport, null=True, blank=True, on_delete=models.SET_NULL)
    scheme = models.CharField(max_length=12)
    category_code = models.CharField(max_length=32, blank=True, help_text="The code exactly as the source gave it.")
    category = models.CharField(
        max_length=16, choices=[(c.value, c.value) for c in Category], default=Category.UNCATEGORIZED
    )
    victim_identified = models.BooleanField(null=True)
    offender_identified = models.BooleanField(null=True)
    distributed = models.BooleanField(null=True)
    series = models.ManyToManyField(Series, blank=True, related_name="classifications")
    tags = models.JSONField(default=list, blank=True)
    comments = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    retracted_at = models.DateTimeField(null=True, blank=True, help_text="Tombstone: retracted by its agency.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["hashset", "media"], name="classification_one_per_set")]
        indexes = [models.Index(fields=["media", "agency"]), models.Index(fields=["hashset", "category"])]

    def __str__(self) -> str:
        return f"{self.agency_id}:{self.category} on media {self.media_id}"


class HashSetPublication(models.Model):
    """What was last published of a hash set to one partner, so the next publication is a delta."""

    hashset = models.ForeignKey(HashSet, on_delete=models.CASCADE, related_name="publications")
    recipient_code = models.CharField(max_length=16)
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=20)
    published_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-published_at"]
        indexes = [models.Index(fields=["hashset", "recipient_code", "published_at"])]

    def __str__(self) -> str:
        return f"{self.hashset_id} v{self.version} to {self.recipient_code}"
