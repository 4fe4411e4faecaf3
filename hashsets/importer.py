"""Importing a hash-set file: one transaction, all or nothing.

Records stream from the parser into the database in batches, so memory stays bounded whatever the
file size. On PostgreSQL the batches are COPY'd into a temporary staging table and merged with a
handful of set-based statements at the end (the fast path the benchmark measures). On SQLite
(the zero-setup `make run`) each batch is merged through the ORM. Either way the whole import is
one transaction: a bad record rolls everything back unless `skip_invalid` was asked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import connection
from django.utils import timezone

from hashsets.formats import MediaRecord
from hashsets.models import Classification, HashSet, HashSetImport, Media, Series

BATCH = 5000
DIGESTS = ("sha256", "sha1", "md5", "photodna")  # strongest first: how an existing item is found


@dataclass
class MergeCounts:
    records: int = 0
    media_created: int = 0
    classifications_created: int = 0
    classifications_updated: int = 0


def _batched(records: Iterable[MediaRecord], size: int) -> Iterable[list[MediaRecord]]:
    batch: list[MediaRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class _PostgresStage:
    """COPY into a temporary table, then merge with set-based SQL."""

    COLUMNS = (
        "n", "md5", "sha1", "sha256", "pdq", "pdq_quality", "photodna", "size", "media_type",
        "category_code", "category", "victim", "offender", "distributed", "series", "tags", "comments", "scheme",
    )  # fmt: skip

    def __init__(self) -> None:
        with connection.cursor() as cursor:
            # Several imports may share one transaction (a test, a bundle applying many sets).
            cursor.execute("DROP TABLE IF EXISTS hashset_import_stage")
            cursor.execute(
                """
                CREATE TEMP TABLE hashset_import_stage (
                    n integer, md5 bytea, sha1 bytea, sha256 bytea, pdq bytea, pdq_quality smallint,
                    photodna bytea, size bigint, media_type text, category_code text, category text,
                    victim boolean, offender boolean, distributed boolean, series text[], tags text,
                    comments text, scheme text, media_id bigint
                ) ON COMMIT DROP
                """
            )

    def add(self, batch: list[MediaRecord]) -> None:
        columns = ", ".join(self.COLUMNS)
        # The raw psycopg COPY bypasses Django's error translation: wrap it, so a failure here is a
        # django.db.DatabaseError like any other statement's (the import reports it the same way).
        with connection.cursor() as cursor, connection.wrap_database_errors:
            with cursor.cursor.copy(f"COPY hashset_import_stage ({columns}) FROM STDIN") as copy:
                for r in batch:
                    copy.write_row(
                        (
                            r.number, r.md5, r.sha1, r.sha256, r.pdq, r.pdq_quality, r.photodna, r.size,
                            r.media_type or "", r.category_code or "", str(r.category), r.victim_identified,
                            r.offender_identified, r.distributed, list(r.series), json.dumps(list(r.tags)),
                            r.comments or "", r.scheme,
                        )
                    )  # fmt: skip

    def _resolve(self, cursor) -> None:
        for digest in DIGESTS:
            cursor.execute(
                f"UPDATE hashset_import_stage s SET media_id = m.id FROM hashsets_media m "  # noqa: S608 - fixed names
                f"WHERE s.media_id IS NULL AND s.{digest} IS NOT NULL AND m.{digest} = s.{digest}"
            )

    def merge(self, *, hashset: HashSet, job: HashSetImport) -> MergeCounts:
        counts = MergeCounts()
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM hashset_import_stage")
            counts.records = cursor.fetchone()[0]
            cursor.execute("CREATE INDEX ON hashset_import_stage (md5)")
            cursor.execute("CREATE INDEX ON hashset_import_stage (sha1)")
            cursor.execute("CREATE INDEX ON hashset_import_stage (sha256)")
            cursor.execute("ANALYZE hashset_import_stage")
            self._resolve(cursor)
            # New media: one row per distinct item of the file (strongest digest identifies it);
            # a conflict on any unique digest means another row of this file created it first.
            cursor.execute(
                """
                INSERT INTO hashsets_media (md5, sha1, sha256, pdq, pdq_quality, pdq_hasher, photodna, size,
                                            media_type, created_at)
                SELECT DISTINCT ON (COALESCE(sha256, sha1, md5, photodna, pdq))
                       md5, sha1, sha256, pdq, pdq_quality, '', photodna, size, media_type, %s
                FROM hashset_import_stage WHERE media_id IS NULL
                ORDER BY COALESCE(sha256, sha1, md5, photodna, pdq), n
                ON CONFLICT DO NOTHING
                """,
                [now],
            )
            counts.media_created = cursor.rowcount
            self._resolve(cursor)
            cursor.execute("SELECT n FROM hashset_import_stage WHERE media_id IS NULL ORDER BY n LIMIT 1")
            unresolved = cursor.fetchone()
            if unresolved:  # digests of one record belong to two different known items
                raise ImportConflict(unresolved[0])
            for digest in DIGESTS:
                cursor.execute(
                    f"SELECT s.n FROM hashset_import_stage s JOIN hashsets_media m ON m.{digest} = s.{digest} "  # noqa: S608 - fixed names
                    "WHERE m.id <> s.media_id ORDER BY s.n LIMIT 1"
                )
                mismatch = cursor.fetchone()
                if mismatch:
                    raise ImportConflict(mismatch[0])
            # One classification per (set, media): the file's last record for an item wins.
            cursor.execute(
                """
                INSERT INTO hashsets_classification (media_id, hashset_id, agency_id, source_import_id, scheme,
                    category_code, category, victim_identified, offender_identified, distributed, tags,
                    comments, created_at, updated_at, retracted_at)
                SELECT DISTINCT ON (media_id) media_id, %s, %s, %s, COALESCE(NULLIF(scheme, ''), %s),
                       category_code, category, victim,
                       offender, distributed, tags::jsonb, comments, %s, %s, NULL
                FROM hashset_import_stage ORDER BY media_id, n DESC
                ON CONFLICT (hashset_id, media_id) DO UPDATE SET
                    source_import_id = EXCLUDED.source_import_id, scheme = EXCLUDED.scheme,
                    category_code = EXCLUDED.category_code, category = EXCLUDED.category,
                    victim_identified = EXCLUDED.victim_identified,
                    offender_identified = EXCLUDED.offender_identified,
                    distributed = EXCLUDED.distributed, tags = EXCLUDED.tags, comments = EXCLUDED.comments,
                    updated_at = EXCLUDED.updated_at, retracted_at = NULL
                RETURNING (xmax = 0)
                """,
                [hashset.pk, hashset.owner_id, job.pk, job.scheme or hashset.scheme, now, now],
            )
            inserted = [row[0] for row in cursor.fetchall()]
            counts.classifications_created = sum(inserted)
            counts.classifications_updated = len(inserted) - counts.classifications_created
            cursor.execute(
                "INSERT INTO hashsets_series (name, created_at) "
                "SELECT DISTINCT unnest(series), %s FROM hashset_import_stage ON CONFLICT (name) DO NOTHING",
                [now],
            )
            cursor.execute(
                """
                INSERT INTO hashsets_classification_series (classification_id, series_id)
                SELECT DISTINCT c.id, se.id
                FROM hashset_import_stage s
                CROSS JOIN LATERAL unnest(s.series) AS listed(series_name)
                JOIN hashsets_series se ON se.name = listed.series_name
                JOIN hashsets_classification c ON c.hashset_id = %s AND c.media_id = s.media_id
                ON CONFLICT DO NOTHING
                """,
                [hashset.pk],
            )
            cursor.execute("DROP TABLE hashset_import_stage")
        return counts


class _OrmMerger:
    """Batch-by-batch merge through the ORM (SQLite and any other database)."""

    def __init__(self) -> None:
        self.counts = MergeCounts()
        self._hashset: HashSet | None = None
        self._job: HashSetImport | None = None

    def bind(self, *, hashset: HashSet, job: HashSetImport) -> None:
        self._hashset, self._job = hashset, job

    def _known(self, batch: list[MediaRecord]) -> dict[tuple[str, bytes], int]:
        known: dict[tuple[str, bytes], int] = {}
        for digest in DIGESTS:
            values = {getattr(r, digest) for r in batch if getattr(r, digest)}
            if values:
                for pk, value in Media.objects.filter(**{f"{digest}__in": values}).values_list("pk", digest):
                    known[(digest, bytes(value))] = pk
        return known

    @staticmethod
    def _find(record: MediaRecord, known: dict[tuple[str, bytes], int]) -> int | None:
        matches = {
            known[(digest, getattr(record, digest))]
            for digest in DIGESTS
            if getattr(record, digest) and (digest, getattr(record, digest)) in known
        }
        if len(matches) > 1:
            raise ImportConflict(record.number)
        return matches.pop() if matches else None

    def add(self, batch: list[MediaRecord]) -> None:
        if self._hashset is None or self._job is None:
            raise RuntimeError("add() before begin(): no hash set or import job to merge into")
        now = timezone.now()
        self.counts.records += len(batch)
        known = self._known(batch)
        new_media: dict[bytes, Media] = {}
        for r in batch:
            if self._find(r, known) is None:
                key = r.sha256 or r.sha1 or r.md5 or r.photodna or r.pdq
                new_media.setdefault(
                    key,
                    Media(
                        md5=r.md5, sha1=r.sha1, sha256=r.sha256, pdq=r.pdq, pdq_quality=r.pdq_quality,
                        photodna=r.photodna, size=r.size, media_type=r.media_type or "", created_at=now,
                    ),
                )  # fmt: skip
        before = Media.objects.count()
        Media.objects.bulk_create(new_media.values(), ignore_conflicts=True)
        self.counts.media_created += Media.objects.count() - before
        known = self._known(batch)
        latest: dict[int, MediaRecord] = {}
        for r in batch:
            media_id = self._find(r, known)
            if media_id is None:
                raise ImportConflict(r.number)
            latest[media_id] = r
        existing = set(
            Classification.objects.filter(hashset=self._hashset, media_id__in=latest).values_list("media_id", flat=True)
        )
        rows = [
            Classification(
                media_id=media_id, hashset=self._hashset, agency_id=self._hashset.owner_id, source_import=self._job,
                scheme=r.scheme or self._job.scheme, category_code=r.category_code or "",
                category=str(r.category), victim_identified=r.victim_identified,
                offender_identified=r.offender_identified, distributed=r.distributed, tags=list(r.tags),
                comments=r.comments or "", created_at=now, updated_at=now, retracted_at=None,
            )
            for media_id, r in latest.items()
        ]  # fmt: skip
        Classification.objects.bulk_create(
            rows,
            update_conflicts=True,
            unique_fields=["hashset", "media"],
            update_fields=[
                "source_import", "scheme", "category_code", "category", "victim_identified",
                "offender_identified", "distributed", "tags", "comments", "updated_at", "retracted_at",
            ],
        )  # fmt: skip
        self.counts.classifications_updated += len(existing)
        self.counts.classifications_created += len(rows) - len(existing)
        names = {name for r in latest.values() for name in r.series}
        if names:
            Series.objects.bulk_create([Series(name=n) for n in names], ignore_conflicts=True)
            series_ids = dict(Series.objects.filter(name__in=names).values_list("name", "pk"))
            class_ids = dict(
                Classification.objects.filter(hashset=self._hashset, media_id__in=latest).values_list("media_id", "pk")
            )
            through = Classification.series.through
            through.objects.bulk_create(
                [
                    through(classification_id=class_ids[media_id], series_id=series_ids[name])
                    for media_id, r in latest.items()
                    for name in r.series
                ],
                ignore_conflicts=True,
            )

    def merge(self, *, hashset: HashSet, job: HashSetImport) -> MergeCounts:
        return self.counts


class ImportConflict(Exception):
    def __init__(self, record: int) -> None:
        super().__init__(
            f"record {record}: its digests belong to two different known media items "
            "(e.g. its MD5 matches one item and its SHA-1 another); fix the file or import that record separately"
        )
        self.record = record


def records_merge(
    records: Iterable[MediaRecord],
    *,
    hashset: HashSet,
    job: HashSetImport,
    on_batch: Callable[[int], None] | None = None,
) -> MergeCounts:
    """Merge parsed records into the database, inside the caller's transaction."""
    if connection.vendor == "postgresql":
        stage = _PostgresStage()
        seen = 0
        for batch in _batched(records, BATCH):
            stage.add(batch)
            seen += len(batch)
            if on_batch:
                on_batch(seen)
        return stage.merge(hashset=hashset, job=job)
    merger = _OrmMerger()
    merger.bind(hashset=hashset, job=job)
    seen = 0
    for batch in _batched(records, BATCH):
        merger.add(batch)
        seen += len(batch)
        if on_batch:
            on_batch(seen)
    return merger.merge(hashset=hashset, job=job)
