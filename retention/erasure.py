"""Erasing one record's content, kind by kind, and the clear values behind its audit commitments.

The audit entries themselves never change (the tables are append-only and the tree must still
verify): what goes is each `AuditSensitiveValue` row whose commitment sits in an entry about the
erased record or about something that went with it (a case's notes, tasks, attachments,
identifiers and leads). Found through the entries' object type and id, indexed in `audit_entry`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.core.files.storage import default_storage
from django.db import transaction

from audit.models import AuditEntry, AuditPending, AuditSensitiveValue
from cases.models import Attachment, Case, CaseIdentifier, EvidenceItem, Lead, LeadClue, Note, Task
from exchange.models import Bundle
from hashsets.models import Classification
from retention.models import RecordKind

_CHUNK = 1000


@dataclass
class ErasedContent:
    """What one erasure removed: counts for the tombstone, audit objects for the commitments."""

    details: dict[str, int] = field(default_factory=dict)
    audit_objects: list[tuple[str, str]] = field(default_factory=list)


def _chunks(values: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _ids(queryset) -> list[int]:
    return list(queryset.values_list("pk", flat=True))


def _files_delete_after_commit(names: Iterable[str], paths: Iterable[Path] = ()) -> None:
    # Files go only once the rows are gone for good: a rolled-back erasure keeps everything.
    names, paths = [n for n in names if n], list(paths)

    def delete() -> None:
        for name in names:
            default_storage.delete(name)
        for path in paths:
            path.unlink(missing_ok=True)

    if names or paths:
        transaction.on_commit(delete)


def _case_erase(case: Case) -> ErasedContent:
    note_ids = _ids(Note.objects.filter(case=case))
    task_ids = _ids(Task.objects.filter(case=case))
    attachments = list(Attachment.objects.filter(case=case).values_list("pk", "file"))
    identifier_ids = _ids(CaseIdentifier.objects.filter(case=case))
    lead_ids = _ids(Lead.objects.filter(case=case))
    evidence = EvidenceItem.objects.filter(case=case).count()
    objects = [("case", str(case.pk))]
    for object_type, ids in (
        ("note", note_ids),
        ("task", task_ids),
        ("attachment", [pk for pk, _ in attachments]),
        ("identifier", identifier_ids),
        ("lead", lead_ids),
    ):
        objects += [(object_type, str(pk)) for pk in ids]
    # Leads are PROTECTed from a case's deletion (a lead must never vanish by accident); here it is
    # on purpose, and the service has already refused when one is still open.
    Lead.objects.filter(case=case).delete()
    case.delete()
    _files_delete_after_commit(name for _, name in attachments)
    return ErasedContent(
        details={
            "notes": len(note_ids),
            "tasks": len(task_ids),
            "attachments": len(attachments),
            "identifiers": len(identifier_ids),
            "leads": len(lead_ids),
            "evidence": evidence,
        },
        audit_objects=objects,
    )


def _lead_erase(lead: Lead) -> ErasedContent:
    clues = LeadClue.objects.filter(lead=lead).count()
    objects = [("lead", str(lead.pk))]
    lead.delete()
    return ErasedContent(details={"clues": clues}, audit_objects=objects)


def _evidence_erase(item: EvidenceItem) -> ErasedContent:
    objects = [("evidence", str(item.pk))]
    item.delete()
    return ErasedContent(details={}, audit_objects=objects)


def _classification_erase(classification: Classification) -> ErasedContent:
    objects = [("classification", str(classification.pk))]
    classification.delete()  # the Media row (digests only, no agency's opinion) stays for others
    return ErasedContent(details={}, audit_objects=objects)


def _bundle_erase(bundle: Bundle) -> ErasedContent:
    """The file and every descriptive field go; the row keeps its ids, direction, sender, sequence
    and state, because the inbox refuses a replayed bundle id by finding that row."""
    paths = [Path(bundle.path), Path(bundle.path).with_suffix(".payload")] if bundle.path else []
    size = bundle.size
    Bundle.objects.filter(pk=bundle.pk).update(header={}, summary="", last_error="", path="", size=0)
    _files_delete_after_commit((), paths)
    return ErasedContent(details={"bytes": size}, audit_objects=[("bundle", str(bundle.bundle_id))])


ERASERS = {
    RecordKind.CASE: _case_erase,
    RecordKind.LEAD: _lead_erase,
    RecordKind.EVIDENCE: _evidence_erase,
    RecordKind.CLASSIFICATION: _classification_erase,
    RecordKind.BUNDLE_RECEIVED: _bundle_erase,
    RecordKind.BUNDLE_QUARANTINED: _bundle_erase,
}


def commitments_of(objects: list[tuple[str, str]]) -> set[str]:
    """Every commitment in the audit entries (integrated or still pending) about these objects."""
    commitments: set[str] = set()
    by_type: dict[str, list[str]] = defaultdict(list)
    for object_type, object_id in objects:
        by_type[object_type].append(object_id)
    for object_type, ids in by_type.items():
        for chunk in _chunks(ids):
            rows = AuditEntry.objects.filter(object_type=object_type, object_id__in=chunk)
            for canonical in rows.values_list("canonical", flat=True).iterator(chunk_size=2000):
                commitments.update(json.loads(canonical).get("commitments", {}).values())
    # Entries the integrator has not placed yet (normally a second's worth) are found by their body.
    wanted = set(objects)
    for body in AuditPending.objects.values_list("body", flat=True).iterator(chunk_size=2000):
        entry = json.loads(body)
        target = entry.get("object") or {}
        if (target.get("type"), target.get("id")) in wanted:
            commitments.update(entry.get("commitments", {}).values())
    return commitments


def sensitive_values_erase(objects: list[tuple[str, str]]) -> int:
    """Delete the clear values behind the commitments of these objects' entries. Returns how many."""
    deleted = 0
    for chunk in _chunks(sorted(commitments_of(objects))):
        deleted += AuditSensitiveValue.objects.filter(commitment__in=chunk).delete()[0]
    return deleted
