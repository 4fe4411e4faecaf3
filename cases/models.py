"""Cases, their members, notes, tasks, attachments and evidence; victim-identification leads;
deconfliction between cases.

Need-to-know: a case is seen by its members and by the supervisors of its agency (auditors see its
metadata only). Evidence is digests only, never imagery. Target identifiers (user names, e-mail
addresses, phone numbers, IP addresses) are kept as keyed hashes, never in clear.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from agencies.models import Agency
from hashsets.models import TLP, Media, Series


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    CLOSED = "closed", "Closed"


# from -> allowed to; anything else is refused with the allowed list named
CASE_TRANSITIONS: dict[str, tuple[str, ...]] = {
    CaseStatus.OPEN: (CaseStatus.ACTIVE, CaseStatus.CLOSED),
    CaseStatus.ACTIVE: (CaseStatus.SUSPENDED, CaseStatus.CLOSED),
    CaseStatus.SUSPENDED: (CaseStatus.ACTIVE, CaseStatus.CLOSED),
    CaseStatus.CLOSED: (CaseStatus.ACTIVE,),
}


class Priority(models.IntegerChoices):
    LOW = 1, "Low"
    NORMAL = 2, "Normal"
    HIGH = 3, "High"
    URGENT = 4, "Urgent"


class CaseRole(models.TextChoices):
    LEAD = "lead", "Case lead"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class CaseReferenceCounter(models.Model):
    """The last reference number handed out per agency and year (row-locked while incremented)."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="+")
    year = models.PositiveSmallIntegerField()
    last = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agency", "year"], name="case_refcounter_unique")]

    def __str__(self) -> str:
        return f"{self.agency_id}/{self.year}: {self.last}"


class Case(models.Model):
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="cases")
    reference = models.CharField(max_length=32, help_text="Generated: <agency code>-<year>-<number>.")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=CaseStatus.choices, default=CaseStatus.OPEN)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    tlp = models.CharField(max_length=14, choices=TLP.choices, default=TLP.AMBER)
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases_led")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    template = models.ForeignKey("CaseTemplate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    series = models.ManyToManyField(Series, blank=True, related_name="cases", through="CaseSeries")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agency", "reference"], name="case_reference_unique")]
        indexes = [
            # the list: one agency's cases, newest first, optionally by status/priority/TLP
            models.Index(fields=["agency", "-updated_at", "-id"], name="case_agency_updated"),
            models.Index(fields=["agency", "status", "-updated_at"], name="case_agency_status"),
            models.Index(fields=["agency", "priority"], name="case_agency_priority"),
            models.Index(fields=["agency", "tlp"], name="case_agency_tlp"),
            models.Index(fields=["agency", "created_at"], name="case_agency_created"),
            # trigram indexes for text search are created in migration 0002 (PostgreSQL only)
        ]

    def __str__(self) -> str:
        return self.reference


class CaseMember(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="case_memberships")
    role = models.CharField(max_length=10, choices=CaseRole.choices, default=CaseRole.MEMBER)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "user"], name="case_member_unique")]
        indexes = [models.Index(fields=["user", "case"], name="case_member_user")]

    def __str__(self) -> str:
        return f"{self.user_id} in case {self.case_id} ({self.role})"


class CaseStatusChange(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="status_history")
    from_status = models.CharField(max_length=10, blank=True)
    to_status = models.CharField(max_length=10)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=500, blank=True)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id}: {self.from_status or '-'} -> {self.to_status}"


class CaseSeries(models.Model):
    """A series the case holds material of (also what deconfliction compares)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="series_links")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="case_links")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "series"], name="case_series_unique")]
        indexes = [models.Index(fields=["series", "case"], name="case_series_series")]

    def __str__(self) -> str:
        return f"case {self.case_id} / series {self.series_id}"


class CaseTemplate(models.Model):
    """A reusable starting point: default description, priority, TLP and tasks. Per agency."""

    agency = models.ForeignKey(Agency, on_delete=models.CASCADE, related_name="case_templates")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    tlp = models.CharField(max_length=14, choices=TLP.choices, default=TLP.AMBER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agency", "name"], name="case_template_unique")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CaseTemplateTask(models.Model):
    template = models.ForeignKey(CaseTemplate, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    due_in_days = models.PositiveSmallIntegerField(null=True, blank=True)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.title


class Note(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="notes")
    body = models.TextField()
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    revision_count = models.PositiveIntegerField(default=1)

    class Meta:
        indexes = [models.Index(fields=["case", "-created_at"], name="note_case_created")]

    def __str__(self) -> str:
        return f"note {self.pk} of case {self.case_id}"


class NoteRevision(models.Model):
    """Every version of a note, the first included: edits never lose what was written."""

    note = models.ForeignKey(Note, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    body = models.TextField()
    edited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    edited_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["note", "number"], name="note_revision_unique")]
        ordering = ["note", "number"]

    def __str__(self) -> str:
        return f"note {self.note_id} v{self.number}"


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class Task(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="tasks")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="case_tasks"
    )
    due_date = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=12, choices=TaskState.choices, default=TaskState.OPEN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["case", "state"], name="task_case_state"),
            models.Index(fields=["assignee", "state", "due_date"], name="task_assignee"),
        ]

    def __str__(self) -> str:
        return self.title


class TaskLogEntry(models.Model):
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="log")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    change = models.JSONField(default=dict, help_text="Field -> [before, after] (ids and states, no text).")
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"task {self.task_id} log {self.pk}"


def attachment_path(instance: Attachment, filename: str) -> str:
    # Never the uploaded name on disk: a random name under the case's folder.
    return f"cases/{instance.case_id}/{uuid.uuid4().hex}"


class Attachment(models.Model):
    """A non-image document (PDF, plain text, office document); content-checked, size-limited."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(upload_to=attachment_path, max_length=200)
    name = models.CharField(max_length=255, help_text="The uploaded file name, for display and download.")
    kind = models.CharField(max_length=20, help_text="What the content was recognised as (pdf, text, office...).")
    content_type = models.CharField(max_length=100)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return self.name


class MatchState(models.TextChoices):
    UNKNOWN = "unknown", "Unknown"
    KNOWN = "known", "Known"
    NEAR = "near", "Near match (PDQ)"


class EvidenceItem(models.Model):
    """One file of a case as digests (never the file), with what the agency's hash sets say of it."""

    id = models.BigAutoField(primary_key=True)
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="evidence")
    # the strongest digest with its algorithm ("sha256:" + bytes ...): an item is in a case once
    digest_key = models.BinaryField(max_length=40)
    md5 = models.BinaryField(max_length=16, null=True)
    sha1 = models.BinaryField(max_length=20, null=True)
    sha256 = models.BinaryField(max_length=32, null=True)
    pdq = models.BinaryField(max_length=32, null=True)
    pdq_quality = models.PositiveSmallIntegerField(null=True)
    size = models.BigIntegerField(null=True)
    media_type = models.CharField(max_length=16, blank=True)
    source = models.CharField(max_length=16, help_text="paste, manifest, vics2, csv ...")
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)
    # match result, refreshed by matching and by classification
    match_state = models.CharField(max_length=8, choices=MatchState.choices, default=MatchState.UNKNOWN)
    media = models.ForeignKey(Media, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    pdq_distance = models.PositiveSmallIntegerField(null=True, blank=True)
    category = models.CharField(max_length=16, blank=True, help_text="Most severe visible category (own first).")
    disagree = models.BooleanField(default=False, help_text="Visible agencies classify it differently.")
    victim_identified = models.BooleanField(null=True)
    matched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "digest_key"], name="evidence_once_per_case"),
            models.CheckConstraint(
                condition=Q(md5__isnull=False) | Q(sha1__isnull=False) | Q(sha256__isnull=False) | Q(pdq__isnull=False),
                name="evidence_has_a_digest",
            ),
        ]
        indexes = [
            models.Index(fields=["case", "match_state", "id"], name="evidence_case_state"),
            models.Index(fields=["case", "category", "id"], name="evidence_case_category"),
            # deconfliction compares digests across cases
            models.Index(fields=["sha256"], name="evidence_sha256"),
            models.Index(fields=["sha1"], name="evidence_sha1"),
            models.Index(fields=["md5"], name="evidence_md5"),
        ]

    def __str__(self) -> str:
        for name in ("sha256", "sha1", "md5", "pdq"):
            value = getattr(self, name)
            if value:
                return f"{name}:{bytes(value).hex()}"
        return f"evidence {self.pk}"


class LeadStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    IDENTIFIED = "identified", "Victim identified"
    SAFEGUARDED = "safeguarded", "Victim safeguarded"
    CLOSED = "closed", "Closed"


class ClassificationBatch(models.Model):
    """One "classify selected": who wrote which category over which items, with what each item's
    classification was before (the entries), so the change can be undone exactly."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="classification_batches")
    hashset = models.ForeignKey("hashsets.HashSet", on_delete=models.CASCADE, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # also the `updated_at` the batch wrote on each classification: a row with another value (or
    # retracted since) was changed again and is not the batch's to undo
    created_at = models.DateTimeField(default=timezone.now)
    category = models.CharField(max_length=16)
    victim_identified = models.BooleanField(null=True)
    series = models.ForeignKey(Series, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    item_ids = models.JSONField(default=list, help_text="The evidence items classified, to match again on undo.")
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["case", "-created_at"], name="classification_batch_case")]

    def __str__(self) -> str:
        return f"batch {self.pk}: {len(self.item_ids)} items as {self.category} in case {self.case_id}"


class ClassificationBatchEntry(models.Model):
    """What one media item's classification in the case set was before a batch wrote it."""

    batch = models.ForeignKey(ClassificationBatch, on_delete=models.CASCADE, related_name="entries")
    media = models.ForeignKey(Media, on_delete=models.CASCADE, related_name="+")
    existed = models.BooleanField(help_text="False: the item had no classification (undo removes the row).")
    category = models.CharField(max_length=16, blank=True)
    category_code = models.CharField(max_length=32, blank=True)
    victim_identified = models.BooleanField(null=True)
    retracted_at = models.DateTimeField(null=True, blank=True)
    series_added = models.BooleanField(default=False, help_text="The batch linked its series to this row.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["batch", "media"], name="classification_batch_entry_once")]

    def __str__(self) -> str:
        return f"batch {self.batch_id} media {self.media_id}"


class Lead(models.Model):
    """What is known about a not-yet-identified victim. Its text and clues are sensitive."""

    share_uid = models.UUIDField(default=uuid.uuid4, help_text="Same at every agency the lead was shared with.")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="leads", help_text="Holder here.")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.PROTECT, related_name="leads")
    origin_agency_code = models.CharField(max_length=16)
    received = models.BooleanField(default=False, help_text="Received from a partner (not created here).")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(max_length=12, choices=LeadStatus.choices, default=LeadStatus.OPEN)
    tlp = models.CharField(max_length=14, choices=TLP.choices, default=TLP.AMBER)
    assigned_agency_code = models.CharField(max_length=16, blank=True)
    series = models.ManyToManyField(Series, blank=True, related_name="leads")
    evidence = models.ManyToManyField(EvidenceItem, blank=True, related_name="leads")
    shared_digests = models.JSONField(default=list, blank=True, help_text="Evidence digests of a received lead.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["agency", "share_uid"], name="lead_share_uid_per_agency")]
        indexes = [
            models.Index(fields=["agency", "status"], name="lead_agency_status"),
            models.Index(fields=["case", "status"], name="lead_case_status"),
        ]

    def __str__(self) -> str:
        return f"lead {self.pk}"


class ClueType(models.TextChoices):
    LOCATION = "location", "Location hint"
    OBJECT = "object", "Object"
    LANGUAGE = "language", "Language"
    CLOTHING = "clothing", "Clothing"
    TIME_OF_YEAR = "time_of_year", "Time of year"
    DEVICE = "device", "Device metadata"
    OTHER = "other", "Other"


class LeadClue(models.Model):
    uid = models.UUIDField(default=uuid.uuid4, help_text="Stable across agencies, so updates merge.")
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="clues")
    type = models.CharField(max_length=16, choices=ClueType.choices)
    text = models.TextField()
    origin_agency_code = models.CharField(max_length=16)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["lead", "uid"], name="lead_clue_uid")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.type} clue of lead {self.lead_id}"


class LeadEvent(models.Model):
    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS = "status", "Status changed"
        CLUE = "clue", "Clue added"
        UPDATED = "updated", "Changed"
        SHARE_REQUESTED = "share_requested", "Share requested"
        SHARE_APPROVED = "share_approved", "Share approved"
        SHARE_REJECTED = "share_rejected", "Share rejected"
        RECEIVED = "received", "Received from a partner"
        PARTNER_UPDATE = "partner_update", "Update from a partner"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    agency_code = models.CharField(max_length=16, help_text="Agency whose user or system caused the event.")
    from_status = models.CharField(max_length=12, blank=True)
    to_status = models.CharField(max_length=12, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="Counts and codes only, never lead text.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} on lead {self.lead_id}"


class ShareState(models.TextChoices):
    REQUESTED = "requested", "Awaiting approval"
    APPROVED = "approved", "Approved"
    SENT = "sent", "Sent"
    REJECTED = "rejected", "Rejected"
    SUPERSEDED = "superseded", "Superseded by a later change"


class LeadShareKind(models.TextChoices):
    SHARE = "lead.share", "Share"
    UPDATE = "lead.update", "Update"


class LeadShareRequest(models.Model):
    """One disclosure of a lead to partners (its first share or a later update), with the exact
    payload taken when it was asked for: that snapshot is what the approver reads and what is sent."""

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="share_requests")
    kind = models.CharField(max_length=12, choices=LeadShareKind.choices, default=LeadShareKind.SHARE)
    partner_codes = models.JSONField(default=list)
    payload = models.JSONField(default=dict, blank=True, help_text="The payload as it will be sent (snapshot).")
    changes = models.JSONField(
        default=list, blank=True, help_text="What an update changes against what the partners already hold."
    )
    approval_reasons = models.JSONField(default=list, blank=True, help_text="Why a supervisor must approve.")
    purpose = models.CharField(max_length=32)
    state = models.CharField(max_length=10, choices=ShareState.choices, default=ShareState.REQUESTED)
    needs_approval = models.BooleanField(default=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "created_at"], name="lead_share_state")]

    def __str__(self) -> str:
        return f"share of lead {self.lead_id} to {','.join(self.partner_codes)} ({self.state})"


class IdentifierKind(models.TextChoices):
    USERNAME = "username", "User name"
    EMAIL = "email", "E-mail address"
    PHONE = "phone", "Phone number"
    IP = "ip", "IP address"


class CaseIdentifier(models.Model):
    """A target identifier, as a keyed hash only (HMAC-SHA256 under a key derived from SECRET_KEY)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="identifiers")
    kind = models.CharField(max_length=10, choices=IdentifierKind.choices)
    keyed_hash = models.BinaryField(max_length=32)
    added_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["case", "kind", "keyed_hash"], name="case_identifier_unique")]
        indexes = [
            models.Index(fields=["kind", "keyed_hash"], name="case_identifier_hash"),
            # the deconfliction budget counts one user's recent checks
            models.Index(fields=["added_by", "added_at"], name="case_identifier_by_user"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {bytes(self.keyed_hash).hex()[:12]}… in case {self.case_id}"


class DeconflictionKind(models.TextChoices):
    EVIDENCE = "evidence", "Same evidence"
    SERIES = "series", "Same series"
    IDENTIFIER = "identifier", "Same target identifier"


class DeconflictionHit(models.Model):
    """Case `case` shares something of kind `kind` with `other_case` (one row on each side)."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="deconfliction_hits")
    other_case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=12, choices=DeconflictionKind.choices)
    count = models.PositiveIntegerField(default=1, help_text="How many shared items of this kind.")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["case", "other_case", "kind"], name="deconfliction_hit_unique"),
        ]
        indexes = [models.Index(fields=["case", "-last_seen_at"], name="deconfliction_case")]

    def __str__(self) -> str:
        return f"{self.kind} hit: case {self.case_id} ~ case {self.other_case_id}"
