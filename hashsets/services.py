"""Writes for hash sets: create, import, export, classify. Each one transaction, audited."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from agencies.models import Role
from agencies.selectors import membership_of
from audit.actions import Action, Outcome
from audit.capture import Actor, actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError
from hashsets.formats import ParseError, ParseReport, detect_format, export_records, iter_records
from hashsets.formats.records import Scheme, normalize_scheme
from hashsets.importer import ImportConflict, records_merge
from hashsets.models import TLP, Classification, HashSet, HashSetImport

CURATOR_ROLES = (Role.INVESTIGATOR, Role.SUPERVISOR, Role.AGENCY_ADMIN)


class _DryRunDone(Exception):
    """Raised inside the import transaction to roll a dry run back after counting."""


def require_curator(user, hashset: HashSet | None = None) -> None:
    membership = membership_of(user)
    allowed = membership is not None and membership.role in CURATOR_ROLES
    if allowed and hashset is not None:
        allowed = hashset.owner_id == membership.agency_id
    if not allowed:
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=actor_for_user(user),
            outcome=Outcome.DENIED,
            object_type="hashset",
            object_id=hashset.pk if hashset else "",
            reason="only investigators, supervisors and admins of the owning agency change its hash sets",
        )
        raise ForbiddenError("Only investigators, supervisors and admins of the owning agency change its hash sets.")


@transaction.atomic
def hashset_create(
    *, acting_user, name: str, description: str = "", tlp: str = TLP.AMBER, scheme: str = Scheme.VIC_US
) -> HashSet:
    require_curator(acting_user)
    agency = acting_user.membership.agency
    name = name.strip()
    if not name:
        raise CasebridgeError("A hash set needs a name.")
    if tlp not in TLP.values:
        raise CasebridgeError(f"Unknown TLP {tlp!r}; use one of {', '.join(TLP.values)}.")
    if normalize_scheme(scheme) is None:
        raise CasebridgeError(f"Unknown category scheme {scheme!r}.")
    if HashSet.objects.filter(owner=agency, name=name).exists():
        raise CasebridgeError(f"Your agency already has a hash set named {name!r}.")
    hashset = HashSet.objects.create(owner=agency, name=name, description=description, tlp=tlp, scheme=scheme)
    audit_record(
        action=Action.HASHSET_CREATE,
        actor=actor_for_user(acting_user),
        object_type="hashset",
        object_id=hashset.pk,
        details={"name": name, "tlp": tlp, "scheme": scheme},
    )
    return hashset


def import_job_create(
    *, acting_user, hashset: HashSet, file_name: str, total_bytes: int, scheme: str | None, dry_run: bool = False
) -> HashSetImport:
    if acting_user is not None:
        require_curator(acting_user, hashset)
    return HashSetImport.objects.create(
        hashset=hashset,
        started_by=acting_user,
        file_name=os.path.basename(file_name)[:255],
        total_bytes=total_bytes,
        scheme=scheme or "",
        dry_run=dry_run,
    )


def _progress_key(job_id: int) -> str:
    return f"hashset-import-progress:{job_id}"


def _progress_writer(job: HashSetImport) -> Callable[[int], None]:
    """Progress goes to the shared cache: the import's own transaction is invisible until it commits."""

    def report(bytes_read: int) -> None:
        cache.set(_progress_key(job.pk), bytes_read, timeout=24 * 3600)

    return report


def import_progress(job: HashSetImport) -> int:
    """Percent done of a running import, as far as the cache knows."""
    if job.status in (HashSetImport.Status.DONE, HashSetImport.Status.FAILED):
        return 100
    read = cache.get(_progress_key(job.pk), 0)
    return min(99, int(100 * read / job.total_bytes)) if job.total_bytes else 0


class _CountingReader:
    """A binary file wrapper that remembers how far it was read, for progress bars."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.position += len(data)
        return data

    def readinto(self, buffer) -> int:
        count = self._handle.readinto(buffer)
        self.position += count or 0
        return count

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def __getattr__(self, name):
        return getattr(self._handle, name)


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hashset_import_run(
    *,
    job: HashSetImport,
    path: Path,
    actor: Actor,
    fmt: str | None = None,
    skip_invalid: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> HashSetImport:
    """Parse `path` and merge it into the job's hash set in one transaction (all or nothing).

    On a bad record (without skip_invalid) nothing is imported: the job is marked failed with the
    record and field named, and the failure is audited.
    """
    hashset = job.hashset
    scheme = job.scheme or None
    report = ParseReport()
    write_progress = _progress_writer(job)
    total = path.stat().st_size
    try:
        info = detect_format(path) if fmt is None else fmt
        implied = getattr(info, "scheme", None)
        # Every classification of one import carries one scheme: the override, else the file's own.
        job.scheme = str(scheme or implied or hashset.scheme)
        with transaction.atomic():
            _limit_statement_time()
            with path.open("rb") as raw:
                reader = _CountingReader(raw)

                def on_batch(records: int) -> None:
                    write_progress(reader.position)
                    if progress:
                        progress(reader.position, total)

                records = iter_records(reader, fmt=info, scheme=scheme, skip_invalid=skip_invalid, report=report)
                counts = records_merge(records, hashset=hashset, job=job, on_batch=on_batch)
            job.format = report.format.name if report.format else ""
            job.format_version = (report.format.version or "") if report.format else ""
            job.file_sha256 = _file_sha256(path)
            job.records = counts.records
            job.media_created = counts.media_created
            job.classifications_created = counts.classifications_created
            job.classifications_updated = counts.classifications_updated
            job.skipped = report.skipped
            job.skipped_details = [str(error) for error in report.errors[:1000]]
            job.status = HashSetImport.Status.DONE
            job.progress_bytes = total
            job.finished_at = timezone.now()
            if counts.records == 0:
                raise ParseError(None, None, "the file holds no records to import")
            audit_record(
                action=Action.HASHSET_IMPORT,
                actor=actor,
                agency=hashset.owner.code,
                object_type="hashset",
                object_id=hashset.pk,
                details={
                    "import": job.pk,
                    "format": job.format,
                    "version": job.format_version,
                    "scheme": job.scheme,
                    "file_sha256": job.file_sha256,
                    "records": job.records,
                    "skipped": job.skipped,
                    "dry_run": job.dry_run,
                },
            )
            if job.dry_run:
                raise _DryRunDone
            HashSet.objects.filter(pk=hashset.pk).update(updated_at=timezone.now())
            job.save()
    except _DryRunDone:
        job.save()  # the counts of what would have happened; nothing else was kept
        with transaction.atomic():
            audit_record(
                action=Action.HASHSET_IMPORT,
                actor=actor,
                agency=hashset.owner.code,
                object_type="hashset",
                object_id=hashset.pk,
                details={"import": job.pk, "dry_run": True, "records": job.records, "file_sha256": job.file_sha256},
            )
    except (ParseError, ImportConflict) as exc:
        import_job_fail(job, actor, str(exc))
    except OSError as exc:
        import_job_fail(job, actor, f"the file could not be read: {exc.strerror or exc}")
    except DatabaseError as exc:
        import_job_fail(job, actor, _database_refusal(exc))
    return job


def _limit_statement_time() -> None:
    """Bound every statement of this import transaction (SET LOCAL ends with the transaction)."""
    timeout = settings.HASHSET_IMPORT_STATEMENT_TIMEOUT_MS
    if connection.vendor == "postgresql" and timeout:
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('statement_timeout', %s, true)", [f"{timeout}ms"])


# SQLSTATE classes a database limit raises, and what to tell the person who started the import.
_LIMIT_MESSAGES = {
    "57014": "the import took longer than the database allows for one step (statement timeout {timeout}); "
    "split the file or ask the operator to raise HASHSET_IMPORT_STATEMENT_TIMEOUT_MS",
    "53100": "the database server ran out of disk space during the import; tell the operator",
    "53200": "the database server ran out of memory during the import; split the file or tell the operator",
    "53400": "the import hit a database resource limit ({detail}); split the file or tell the operator",
}


def _database_refusal(exc: DatabaseError) -> str:
    """A database error during an import, as one sentence for the user (the transaction rolled back)."""
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or ""
    detail = (getattr(getattr(cause, "diag", None), "message_primary", None) or "").strip()
    template = _LIMIT_MESSAGES.get(sqlstate, "the database refused the import ({detail})")
    timeout = f"{settings.HASHSET_IMPORT_STATEMENT_TIMEOUT_MS} ms"
    message = template.format(timeout=timeout, detail=detail or type(exc).__name__)
    return f"nothing was imported: {message}"


def import_job_fail(job: HashSetImport, actor: Actor, message: str) -> None:
    """Mark the job failed with `message` (said to the user as is) and audit the failure."""
    with transaction.atomic():
        HashSetImport.objects.filter(pk=job.pk).update(
            status=HashSetImport.Status.FAILED, error=message, finished_at=timezone.now(), progress_bytes=0
        )
        audit_record(
            action=Action.HASHSET_IMPORT,
            actor=actor,
            outcome=Outcome.FAILURE,
            agency=job.hashset.owner.code,
            object_type="hashset",
            object_id=job.hashset_id,
            reason=message[:500],
            details={"import": job.pk},
        )
    job.refresh_from_db()


# --- export ----------------------------------------------------------------------------------


def _export_rows(hashset: HashSet, *, categories: list[str] | None, series: str | None):
    from hashsets.formats import MediaRecord
    from hashsets.formats.records import Category

    rows = (
        Classification.objects.filter(hashset=hashset, retracted_at__isnull=True)
        .select_related("media")
        .prefetch_related("series")
        .order_by("id")
    )
    if categories:
        rows = rows.filter(category__in=categories)
    if series:
        rows = rows.filter(series__name=series)
    number = 0
    # Chunks of 2,000 with their series prefetched: bounded memory and no query per row.
    last_id = 0
    while True:
        chunk = list(rows.filter(id__gt=last_id)[:2000])
        if not chunk:
            return
        for c in chunk:
            number += 1
            m = c.media
            yield MediaRecord(
                number=number,
                md5=bytes(m.md5) if m.md5 is not None else None,
                sha1=bytes(m.sha1) if m.sha1 is not None else None,
                sha256=bytes(m.sha256) if m.sha256 is not None else None,
                pdq=bytes(m.pdq) if m.pdq is not None else None,
                pdq_quality=m.pdq_quality,
                photodna=bytes(m.photodna) if m.photodna is not None else None,
                size=m.size,
                media_type=m.media_type or None,
                category_code=c.category_code or None,
                category=Category(c.category),
                scheme=c.scheme,
                victim_identified=c.victim_identified,
                offender_identified=c.offender_identified,
                distributed=c.distributed,
                series=tuple(s.name for s in c.series.all()),
                tags=tuple(c.tags or ()),
                comments=c.comments or None,
                source_id=str(m.pk),
            )
        last_id = chunk[-1].id


def hashset_export(
    *,
    actor: Actor,
    hashset: HashSet,
    fmt: str,
    out,
    scheme: str | None = None,
    categories: list[str] | None = None,
    series: str | None = None,
    purpose: dict[str, str] | None = None,
) -> int:
    """Stream the set's live classifications in `fmt` to `out`. Audited with its purpose (default
    "investigation": loading the digests into forensic tools). Returns records written."""
    purpose = dict(purpose or {"code": "investigation"})
    with transaction.atomic():
        report = export_records(_export_rows(hashset, categories=categories, series=series), fmt, out, scheme=scheme)
        audit_record(
            action=Action.HASHSET_EXPORT,
            actor=actor,
            agency=actor.agency or hashset.owner.code,
            object_type="hashset",
            object_id=hashset.pk,
            details={"format": fmt, "records": report.written, "categories": categories or [], "series": series or ""},
            purpose=purpose,
        )
    return report.written
