"""Audit log storage.

`AuditPending` is the writers' queue: any transaction appends to it without waiting for others.
The integrator moves pending rows into `AuditEntry` with contiguous indices, stores the Merkle
tree's perfect subtrees in `AuditTreeNode` and signs a `AuditCheckpoint`. Those three tables and
`AuditCosignature` are append-only: database triggers (migration 0002) refuse UPDATE, DELETE and
TRUNCATE. `AuditSensitiveValue` holds the clear values behind salted commitments; deleting a row
there is how a court-ordered erasure is carried out without touching the tree.
"""

from __future__ import annotations

from django.db import models


class AuditPending(models.Model):
    id = models.BigAutoField(primary_key=True)
    body = models.TextField(help_text="JSON of the entry, without its index.")

    class Meta:
        db_table = "audit_pending"

    def __str__(self) -> str:
        return f"pending audit entry {self.pk}"


class AuditEntry(models.Model):
    index = models.BigIntegerField(primary_key=True)
    time = models.DateTimeField()
    agency_code = models.CharField(max_length=16, blank=True)
    actor_type = models.CharField(max_length=16)
    actor_name = models.CharField(max_length=150, blank=True)
    action = models.CharField(max_length=40)
    object_type = models.CharField(max_length=40, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    outcome = models.CharField(max_length=10)
    canonical = models.TextField(help_text="RFC 8785 JSON of the entry: the leaf hash preimage after 0x00.")
    leaf_hash = models.BinaryField(max_length=32)

    class Meta:
        db_table = "audit_entry"
        ordering = ["-index"]
        indexes = [
            models.Index(fields=["time"]),
            models.Index(fields=["agency_code", "time"]),
            models.Index(fields=["action", "time"]),
            models.Index(fields=["object_type", "object_id"]),
            models.Index(fields=["actor_name", "time"]),
        ]

    def __str__(self) -> str:
        return f"#{self.index} {self.action} {self.outcome}"


class AuditTreeNode(models.Model):
    """Hash of the perfect subtree covering leaves [index * 2**level, (index + 1) * 2**level), level >= 1."""

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        db_table = "audit_tree_node"
        constraints = [models.UniqueConstraint(fields=["level", "index"], name="audit_tree_node_unique")]

    def __str__(self) -> str:
        return f"node {self.level}/{self.index}"


class AuditCheckpoint(models.Model):
    size = models.BigIntegerField(primary_key=True)
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField(help_text="C2SP signed note (tlog-checkpoint) as issued.")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "audit_checkpoint"
        ordering = ["-size"]

    def __str__(self) -> str:
        return f"checkpoint at size {self.size}"


class AuditCosignature(models.Model):
    id = models.BigAutoField(primary_key=True)
    checkpoint_size = models.BigIntegerField()
    witness = models.CharField(max_length=200, help_text="Key name of the cosigning partner node.")
    vkey = models.CharField(max_length=300)
    line = models.TextField(help_text="The cosignature line (C2SP tlog-cosignature).")
    created_at = models.DateTimeField()

    class Meta:
        db_table = "audit_cosignature"
        indexes = [models.Index(fields=["checkpoint_size"])]

    def __str__(self) -> str:
        return f"cosignature by {self.witness} of size {self.checkpoint_size}"


class AuditSensitiveValue(models.Model):
    """A value committed to by an entry. Erasure deletes the row; the entry's commitment stays."""

    commitment = models.CharField(max_length=64, primary_key=True)
    salt = models.BinaryField(max_length=32)
    value = models.TextField()
    field = models.CharField(max_length=40)
    created_at = models.DateTimeField()

    class Meta:
        db_table = "audit_sensitive_value"

    def __str__(self) -> str:
        return f"sensitive {self.field} {self.commitment[:12]}"
