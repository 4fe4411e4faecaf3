"""Evidence as digests: parse pasted hashes or an uploaded file, add to a case, match against
every hash set the agency can see (exact digests in one batched join per algorithm, PDQ
near-matches through the in-memory index), and classify unknown items into the agency's own
"<code> case classifications" hash set so the next case benefits. Each write one audited
transaction; bad input changes nothing and names what is wrong."""

from __future__ import annotations

import binascii
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from agencies.selectors import membership_of
from audit.actions import Action, Outcome
from audit.capture import actor_for_user, audit_record
from casebridge.errors import CasebridgeError, ForbiddenError, NotFoundError
from cases.access import Access, CaseContext
from cases.models import ClassificationBatch, ClassificationBatchEntry, EvidenceItem, MatchState
from cases.services._common import case_audit, case_touch
from hashsets.formats import ParseError, ParseReport, detect_format, iter_records
from hashsets.formats.records import Category, Scheme
from hashsets.models import TLP, Classification, HashSet, HashSetPublication, Media, Series

EVIDENCE_MAX_ITEMS = 200_000
_BY_LENGTH = {32: "md5", 40: "sha1", 64: "sha256"}
_KEY_PREFIX = {"sha256": b"\x01", "sha1": b"\x02", "md5": b"\x03", "pdq": b"\x04"}
MANIFEST_FIRST_LINE = "md5,sha1,sha256,size,media_type,pdq,pdq_quality,pdq_hasher,error"

# most severe first: what one word says of an item several agencies classified
SEVERITY = [
    Category.CSAM_A,
    Category.CSAM_B,
    Category.CSAM_C,
    Category.CSAM_UNGRADED,
    Category.EXPLOITIVE,
    Category.CGI,
    Category.COMPARISON,
    Category.UNCATEGORIZED,
    Category.NON_PERTINENT,
]
_RANK = {str(c): n for n, c in enumerate(SEVERITY)}


@dataclass
class DigestRow:
    md5: bytes | None = None
    sha1: bytes | None = None
    sha256: bytes | None = None
    pdq: bytes | None = None
    pdq_quality: int | None = None
    size: int | None = None
    media_type: str = ""

    @property
    def key(self) -> bytes:
        for name in ("sha256", "sha1", "md5", "pdq"):
            value = getattr(self, name)
            if value is not None:
                return _KEY_PREFIX[name] + value
        raise ValueError("a row without digest")


@dataclass
class ParsedEvidence:
    rows: list[DigestRow]
    source: str
    skipped: int = 0
    skipped_details: list[str] = field(default_factory=list)


@dataclass
class EvidenceAddResult:
    added: int = 0
    duplicates: int = 0
    known: int = 0
    near: int = 0
    unknown: int = 0
    skipped: int = 0
    skipped_details: list[str] = field(default_factory=list)
    hits: int = 0


# --- parsing ----------------------------------------------------------------------------------


def _hex(text: str, where: str, nbytes: int, algorithm: str) -> bytes:
    if len(text) != nbytes * 2:
        raise CasebridgeError(
            f"{where}: a {algorithm} digest has {nbytes * 2} hexadecimal characters, got {len(text)}."
        )
    try:
        return binascii.unhexlify(text)
    except ValueError:  # binascii.Error, or a character outside ASCII
        raise CasebridgeError(f"{where}: {text[:80]!r} is not hexadecimal.") from None


def evidence_parse_pasted(text: str) -> ParsedEvidence:
    """One digest per line; the algorithm follows from the length (32 MD5, 40 SHA-1, 64 SHA-256).
    `pdq:<64 hex>[:quality]` for a PDQ hash. Blank lines and `#` comments are skipped; a bad line
    refuses the whole paste, naming its line number."""
    rows: list[DigestRow] = []
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"line {number}"
        if line.lower().startswith("pdq:"):
            _, _, rest = line.partition(":")
            code, _, quality_text = rest.strip().partition(":")
            row = DigestRow(pdq=_hex(code.strip().lower(), where, 32, "PDQ"))
            if quality_text.strip():
                if not quality_text.strip().isdigit() or not 0 <= int(quality_text) <= 100:
                    raise CasebridgeError(f"{where}: the PDQ quality must be a whole number from 0 to 100.")
                row.pdq_quality = int(quality_text)
            rows.append(row)
            continue
        token = line.split()[0]
        algorithm = _BY_LENGTH.get(len(token))
        if algorithm is None:
            raise CasebridgeError(
                f"{where}: {token[:80]!r} has {len(token)} characters; a digest has 32 (MD5), 40 (SHA-1) "
                "or 64 (SHA-256) hexadecimal characters, or is written pdq:<64 hex>[:quality]."
            )
        rows.append(DigestRow(**{algorithm: _hex(token.lower(), where, len(token) // 2, algorithm.upper())}))
    if not rows:
        raise CasebridgeError("No digest found: paste one MD5, SHA-1 or SHA-256 per line.")
    if len(rows) > EVIDENCE_MAX_ITEMS:
        raise CasebridgeError(f"At most {EVIDENCE_MAX_ITEMS:,} items at once; split the list.")
    return ParsedEvidence(rows=rows, source="paste")


def _is_manifest(path: Path) -> bool:
    with path.open("rb") as handle:
        first = handle.readline(4096).decode("utf-8", "replace").lstrip("\ufeff").strip().lower()
    return first == MANIFEST_FIRST_LINE


def evidence_parse_file(path: Path) -> ParsedEvidence:
    """A `hash_files` manifest, VICS, CSV or hash list, read with hashsets.formats.

    A manifest's rows for files that could not be hashed (its `error` column) are skipped and
    counted; in any other file the first bad record refuses the file, naming record and field.
    """
    manifest = _is_manifest(path)
    report = ParseReport()
    rows: list[DigestRow] = []
    try:
        info = detect_format(path)
        for record in iter_records(path, fmt=info, scheme=Scheme.CUSTOM, skip_invalid=manifest, report=report):
            rows.append(
                DigestRow(
                    md5=record.md5,
                    sha1=record.sha1,
                    sha256=record.sha256,
                    pdq=record.pdq,
                    pdq_quality=record.pdq_quality,
                    size=record.size,
                    media_type=(record.media_type or "")[:16],
                )
            )
            if len(rows) > EVIDENCE_MAX_ITEMS:
                raise CasebridgeError(f"At most {EVIDENCE_MAX_ITEMS:,} items at once; split the file.")
    except ParseError as exc:
        raise CasebridgeError(f"The file cannot be read: {exc}") from None
    except UnicodeDecodeError:
        raise CasebridgeError("The file is not text in UTF-8 (or UTF-16).") from None
    rows = [r for r in rows if r.md5 or r.sha1 or r.sha256 or r.pdq]
    if not rows:
        raise CasebridgeError("The file holds no digests.")
    return ParsedEvidence(
        rows=rows,
        source="manifest" if manifest else info.name,
        skipped=report.skipped,
        skipped_details=[str(e) for e in report.errors[:20]],
    )


# --- matching ---------------------------------------------------------------------------------


def _summarise(classifications: list[dict], own_code: str) -> tuple[str, bool, bool | None]:
    """(category, agencies disagree, victim identified) from the visible classifications."""
    categories = {c["category"] for c in classifications}
    own = [c["category"] for c in classifications if c["agency"] == own_code]
    pool = own or list(categories)
    category = min(pool, key=lambda c: _RANK.get(c, len(_RANK)))
    flags = [c["victim_identified"] for c in classifications if c["victim_identified"] is not None]
    victim = True if any(flags) else (False if flags else None)
    return category, len(categories) > 1, victim


def evidence_match(*, user, items: list[EvidenceItem]) -> None:
    """Match `items` (saved rows) against every hash set the user's agency can see, in place.

    Exact: one joined lookup per algorithm for the whole batch (hashsets.selectors.hash_lookup).
    PDQ: items still unknown with a PDQ of quality >= PDQ_MIN_QUALITY are searched within radius 31;
    a near match counts only where the agency may see an opinion of the matched media.
    """
    from hashsets.pdq_service import pdq_index_current
    from hashsets.selectors import classifications_visible, hash_lookup

    if not items:
        return
    own_code = membership_of(user).agency.code
    pairs: list[tuple[str, bytes]] = []
    owners: list[int] = []
    for n, item in enumerate(items):
        for algorithm in ("sha256", "sha1", "md5"):
            value = getattr(item, algorithm)
            if value is not None:
                pairs.append((algorithm, bytes(value)))
                owners.append(n)
    exact: dict[int, tuple[int, list[dict]]] = {}
    for owner, hit in zip(owners, hash_lookup(user=user, items=pairs), strict=True):
        if hit.known and owner not in exact:
            exact[owner] = (hit.media_id, hit.classifications)
    now = timezone.now()
    pdq_wanted = []
    for n, item in enumerate(items):
        item.matched_at = now
        item.pdq_distance = None
        if n in exact:
            media_id, classifications = exact[n]
            item.match_state = MatchState.KNOWN
            item.media_id = media_id
            item.category, item.disagree, item.victim_identified = _summarise(classifications, own_code)
            continue
        item.match_state, item.media_id, item.category, item.disagree, item.victim_identified = (
            MatchState.UNKNOWN, None, "", False, None,
        )  # fmt: skip
        if item.pdq is not None and (item.pdq_quality or 0) >= settings.PDQ_MIN_QUALITY:
            pdq_wanted.append(item)
    if pdq_wanted:
        index = pdq_index_current()
        queries = np.frombuffer(b"".join(bytes(i.pdq) for i in pdq_wanted), dtype=np.uint8).reshape(-1, 32)
        found = index.search(queries, radius=31)
        visible = classifications_visible(user=user, media_ids={m for matches in found for m, _ in matches})
        for item, matches in zip(pdq_wanted, found, strict=True):
            candidates = sorted((d, m) for m, d in matches if visible.get(m))
            if candidates:
                distance, media_id = candidates[0]
                item.match_state = MatchState.NEAR
                item.media_id = media_id
                item.pdq_distance = distance
                item.category, item.disagree, item.victim_identified = _summarise(visible[media_id], own_code)
    _store_matches(items, now)


def _store_matches(items: list[EvidenceItem], now) -> None:
    """Write the match results: one UPDATE joined to unnest() arrays on PostgreSQL (bulk_update's
    CASE expressions grow quadratically with the batch), bulk_update elsewhere."""
    if connection.vendor != "postgresql":
        EvidenceItem.objects.bulk_update(
            items,
            ["match_state", "media", "pdq_distance", "category", "disagree", "victim_identified", "matched_at"],
            batch_size=500,
        )
        return
    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE cases_evidenceitem e
               SET match_state = v.state, media_id = v.media, pdq_distance = v.distance, category = v.category,
                   disagree = v.disagree, victim_identified = v.victim, matched_at = %s
              FROM unnest(%s::bigint[], %s::text[], %s::bigint[], %s::int[], %s::text[], %s::bool[], %s::bool[])
                   AS v(id, state, media, distance, category, disagree, victim)
             WHERE e.id = v.id
            """,
            [
                now,
                [i.pk for i in items],
                [str(i.match_state) for i in items],
                [i.media_id for i in items],
                [i.pdq_distance for i in items],
                [i.category for i in items],
                [i.disagree for i in items],
                [i.victim_identified for i in items],
            ],
        )


# --- adding -----------------------------------------------------------------------------------


def _require(context: CaseContext) -> None:
    if context.access < Access.WRITE:
        raise ForbiddenError("You may not change this case.")


@transaction.atomic
def evidence_add(*, acting_user, context: CaseContext, parsed: ParsedEvidence) -> EvidenceAddResult:
    """Add the digests to the case (an item already in it is counted, not repeated), match them at
    once, and tell other cases holding the same new material (deconfliction)."""
    from cases.deconfliction import deconflict_evidence

    _require(context)
    case = context.case
    result = EvidenceAddResult(skipped=parsed.skipped, skipped_details=parsed.skipped_details)
    unique: dict[bytes, DigestRow] = {}
    for row in parsed.rows:
        unique.setdefault(row.key, row)
    result.duplicates = len(parsed.rows) - len(unique)
    existing = set()
    keys = list(unique)
    for start in range(0, len(keys), 5000):
        existing.update(
            bytes(k)
            for k in EvidenceItem.objects.filter(case=case, digest_key__in=keys[start : start + 5000]).values_list(
                "digest_key", flat=True
            )
        )
    result.duplicates += len(existing)
    now = timezone.now()
    new_items = [
        EvidenceItem(
            case=case,
            digest_key=key,
            md5=row.md5,
            sha1=row.sha1,
            sha256=row.sha256,
            pdq=row.pdq,
            pdq_quality=row.pdq_quality,
            size=row.size,
            media_type=row.media_type,
            source=parsed.source,
            added_by=acting_user,
            added_at=now,
        )
        for key, row in unique.items()
        if key not in existing
    ]
    created = _insert_items(new_items)
    evidence_match(user=acting_user, items=created)
    result.added = len(created)
    result.known = sum(1 for i in created if i.match_state == MatchState.KNOWN)
    result.near = sum(1 for i in created if i.match_state == MatchState.NEAR)
    result.unknown = result.added - result.known - result.near
    if created:
        case_touch(case)
    case_audit(
        action=Action.EVIDENCE_ADD,
        user=acting_user,
        case=case,
        details={
            "source": parsed.source, "added": result.added, "duplicates": result.duplicates, "known": result.known,
            "near": result.near, "unknown": result.unknown, "skipped": result.skipped,
        },
    )  # fmt: skip
    result.hits = len(deconflict_evidence(case=case, items=created, user=acting_user))
    return result


@transaction.atomic
def evidence_rematch(*, acting_user, context: CaseContext) -> int:
    """Match every item of the case again (hash sets change); returns how many were matched."""
    _require(context)
    count = 0
    last = 0
    while True:
        batch = list(context.case.evidence.filter(pk__gt=last).order_by("pk")[:5000])
        if not batch:
            break
        evidence_match(user=acting_user, items=batch)
        count += len(batch)
        last = batch[-1].pk
    case_audit(action=Action.EVIDENCE_ADD, user=acting_user, case=context.case, details={"rematched": count})
    return count


def _insert_items(items: list[EvidenceItem]) -> list[EvidenceItem]:
    """Insert new items and give them their ids: one INSERT ... SELECT FROM unnest() on PostgreSQL
    (ids mapped back by the unique digest key), bulk_create elsewhere."""
    if not items or connection.vendor != "postgresql":
        return EvidenceItem.objects.bulk_create(items, batch_size=500)
    first = items[0]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO cases_evidenceitem (case_id, digest_key, md5, sha1, sha256, pdq, pdq_quality, size, media_type,
                                            source, added_by_id, added_at, match_state, category, disagree)
            SELECT %s, k, m, s1, s2, p, q, z, t, %s, %s, %s, 'unknown', '', false
              FROM unnest(%s::bytea[], %s::bytea[], %s::bytea[], %s::bytea[], %s::bytea[], %s::int[], %s::bigint[],
                          %s::text[]) AS b(k, m, s1, s2, p, q, z, t)
            RETURNING id, digest_key
            """,
            [
                first.case_id, first.source, first.added_by_id, first.added_at,
                [i.digest_key for i in items], [i.md5 for i in items], [i.sha1 for i in items],
                [i.sha256 for i in items], [i.pdq for i in items], [i.pdq_quality for i in items],
                [i.size for i in items], [i.media_type for i in items],
            ],
        )  # fmt: skip
        ids = {bytes(key): pk for pk, key in cursor.fetchall()}
    for item in items:
        item.pk = ids[bytes(item.digest_key)]
        item.match_state = MatchState.UNKNOWN
        item._state.adding = False
        item._state.db = "default"
    return items


# --- classifying ------------------------------------------------------------------------------


def case_classification_set(*, agency) -> HashSet:
    """The agency's own "<code> case classifications" hash set, created on demand."""
    name = f"{agency.code} case classifications"
    hashset, _created = HashSet.objects.get_or_create(
        owner=agency,
        name=name,
        defaults={
            "description": "Classifications investigators made while triaging case evidence.",
            "tlp": TLP.AMBER,
            "scheme": Scheme.VIC_US,
        },
    )
    return hashset


def _media_for(items: list[EvidenceItem]) -> dict[int, int]:
    """Media id per item id: found by its strongest digest, else created (batched, no per-item query)."""
    media_of: dict[int, int] = {}
    for algorithm in ("sha256", "sha1", "md5"):
        wanted = {bytes(getattr(i, algorithm)): i.pk for i in items if i.pk not in media_of and getattr(i, algorithm)}
        if wanted:
            for digest, media_id in Media.objects.filter(**{f"{algorithm}__in": list(wanted)}).values_list(
                algorithm, "pk"
            ):
                media_of[wanted[bytes(digest)]] = media_id
    missing = [i for i in items if i.pk not in media_of]
    if missing:
        created = Media.objects.bulk_create(
            [
                Media(
                    md5=i.md5,
                    sha1=i.sha1,
                    sha256=i.sha256,
                    pdq=i.pdq,
                    pdq_quality=i.pdq_quality,
                    size=i.size,
                    media_type=i.media_type,
                )
                for i in missing
            ]
        )
        for item, media in zip(missing, created, strict=True):
            media_of[item.pk] = media.pk
    return media_of


@transaction.atomic
def evidence_classify(
    *, acting_user, context: CaseContext, item_ids: Iterable[int], category: str,
    victim_identified: bool | None = None, series: str = "",
) -> int:  # fmt: skip
    """Record the agency's opinion of items in its own case-classification set (one Classification
    per item, updated if it exists); the items then show as known. Returns how many."""
    _require(context)
    if category not in {str(c) for c in Category}:
        raise CasebridgeError(f"Unknown category {category!r}; use one of: {', '.join(c.value for c in Category)}.")
    ids = sorted({int(i) for i in item_ids})
    if not ids:
        raise CasebridgeError("Select at least one item to classify.")
    items = list(context.case.evidence.filter(pk__in=ids))
    if len(items) != len(ids):
        raise CasebridgeError("Some selected items are not in this case; reload the page and try again.")
    if any(i.md5 is None and i.sha1 is None and i.sha256 is None for i in items):
        raise CasebridgeError("Items known only by a PDQ hash cannot be classified: add their MD5, SHA-1 or SHA-256.")
    agency = context.case.agency
    hashset = case_classification_set(agency=agency)
    media_of = _media_for(items)
    now = timezone.now()
    from hashsets.formats.records import category_code_for

    code = category_code_for(category, hashset.scheme) or ""
    series_name = series.strip()[:200]
    series_obj = Series.objects.get_or_create(name=series_name)[0] if series_name else None
    batch = _batch_record(
        acting_user=acting_user, context=context, hashset=hashset, media_ids=set(media_of.values()), now=now,
        category=category, victim_identified=victim_identified, series_obj=series_obj, item_ids=ids,
    )  # fmt: skip
    Classification.objects.bulk_create(
        [
            Classification(
                media_id=media_of[i.pk],
                hashset=hashset,
                agency=agency,
                scheme=hashset.scheme,
                category_code=code,
                category=category,
                victim_identified=victim_identified,
                created_at=now,
                updated_at=now,
            )
            for i in items
        ],
        update_conflicts=True,
        unique_fields=["hashset", "media"],
        update_fields=["category", "category_code", "victim_identified", "updated_at", "retracted_at"],
    )
    if series_obj is not None:
        classification_ids = Classification.objects.filter(
            hashset=hashset, media_id__in=set(media_of.values())
        ).values_list("pk", flat=True)
        Classification.series.through.objects.bulk_create(
            [Classification.series.through(classification_id=c, series_id=series_obj.pk) for c in classification_ids],
            ignore_conflicts=True,
        )
    HashSet.objects.filter(pk=hashset.pk).update(updated_at=now)
    evidence_match(user=acting_user, items=items)
    case_touch(context.case)
    case_audit(
        action=Action.EVIDENCE_CLASSIFY,
        user=acting_user,
        case=context.case,
        details={
            "items": len(items),
            "category": category,
            "hashset": hashset.pk,
            "series": series_obj.pk if series_obj else None,
            "batch": batch.pk,
        },
    )
    if series_obj is not None:
        from cases.services.cases import case_series_link

        case_series_link(acting_user=acting_user, context=context, name=series_obj.name)
    return len(items)


def _batch_record(
    *, acting_user, context: CaseContext, hashset: HashSet, media_ids: set[int], now, category: str,
    victim_identified: bool | None, series_obj: Series | None, item_ids: list[int],
) -> ClassificationBatch:  # fmt: skip
    """The batch with each item's classification as it is before this change (locked, so a
    concurrent classify cannot slip between what is remembered and what is overwritten)."""
    before = {
        c.media_id: c
        for c in Classification.objects.select_for_update()
        .filter(hashset=hashset, media_id__in=media_ids)
        .order_by("pk")
    }
    linked: set[int] = set()
    if series_obj is not None and before:
        linked = set(
            Classification.series.through.objects.filter(
                classification_id__in=[c.pk for c in before.values()], series_id=series_obj.pk
            ).values_list("classification__media_id", flat=True)
        )
    batch = ClassificationBatch.objects.create(
        case=context.case, hashset=hashset, created_by=acting_user, created_at=now, category=category,
        victim_identified=victim_identified, series=series_obj, item_ids=item_ids,
    )  # fmt: skip
    entries = []
    for media_id in sorted(media_ids):
        old = before.get(media_id)
        entries.append(
            ClassificationBatchEntry(
                batch=batch,
                media_id=media_id,
                existed=old is not None,
                category=old.category if old else "",
                category_code=old.category_code if old else "",
                victim_identified=old.victim_identified if old else None,
                retracted_at=old.retracted_at if old else None,
                series_added=series_obj is not None and media_id not in linked,
            )
        )
    ClassificationBatchEntry.objects.bulk_create(entries)
    return batch


@dataclass(frozen=True)
class UndoResult:
    restored: int
    skipped: int  # changed again since the batch: left as they are

    @property
    def message(self) -> str:
        text = f"Classification of {self.restored} item{'s' if self.restored != 1 else ''} undone."
        if self.skipped:
            text += (
                f" {self.skipped} item{'s were' if self.skipped != 1 else ' was'} classified again since this change"
                " and left as they are."
            )
        return text


def classification_bulk_undo(*, acting_user, batch: ClassificationBatch) -> UndoResult:
    """Put back each item's classification as it was before `batch` (removed where there was none),
    for the rows the batch wrote and nobody changed since; audited. Only the user who made the
    change and the agency's supervisors may undo it: anyone else is told it does not exist."""
    from cases.access import batch_undo_allowed
    from cases.selectors import case_context

    context = case_context(user=acting_user, case_id=batch.case_id, need=Access.WRITE, what="classify")
    if not batch_undo_allowed(user=acting_user, context=context, batch=batch):
        # the refusal is recorded in its own transaction: the NotFoundError must not roll it back
        with transaction.atomic():
            audit_record(
                action=Action.ACCESS_DENIED, actor=actor_for_user(acting_user), outcome=Outcome.DENIED,
                agency=context.case.agency.code, object_type="classification_batch", object_id=batch.pk,
                reason="undo of a classification change: neither its author nor a supervisor",
            )  # fmt: skip
        raise NotFoundError("No such classification change in this case.")
    with transaction.atomic():
        batch = ClassificationBatch.objects.select_for_update().get(pk=batch.pk)
        if batch.undone_at is not None:
            raise CasebridgeError("This change was already undone.")
        entries = {e.media_id: e for e in batch.entries.all()}
        current = {
            c.media_id: c
            for c in Classification.objects.select_for_update()
            .filter(hashset_id=batch.hashset_id, media_id__in=list(entries))
            .order_by("pk")
        }
        now = timezone.now()
        # a partner that received the set since the batch has these rows: removing one would leave
        # the partner's copy standing, so it is retracted (a tombstone the next delta carries)
        published = HashSetPublication.objects.filter(
            hashset_id=batch.hashset_id, published_at__gte=batch.created_at
        ).exists()
        restored, skipped = 0, 0
        to_delete: list[int] = []
        to_update: list[Classification] = []
        unlink: list[int] = []
        for media_id, entry in entries.items():
            row = current.get(media_id)
            if (
                row is None
                or row.updated_at != batch.created_at
                or row.retracted_at is not None
                or row.category != batch.category
            ):
                skipped += 1
                continue
            restored += 1
            if entry.series_added and batch.series_id is not None:
                unlink.append(row.pk)
            if not entry.existed and not published:
                to_delete.append(row.pk)
                continue
            if entry.existed:
                row.category, row.category_code = entry.category, entry.category_code
                row.victim_identified, row.retracted_at = entry.victim_identified, entry.retracted_at
            else:
                row.retracted_at = now
            row.updated_at = now  # the next delta to partners carries the restored values
            to_update.append(row)
        if unlink:
            Classification.series.through.objects.filter(
                classification_id__in=unlink, series_id=batch.series_id
            ).delete()
        if to_delete:
            Classification.objects.filter(pk__in=to_delete).delete()
        if to_update:
            Classification.objects.bulk_update(
                to_update, ["category", "category_code", "victim_identified", "retracted_at", "updated_at"]
            )
        HashSet.objects.filter(pk=batch.hashset_id).update(updated_at=now)
        batch.undone_at, batch.undone_by = now, acting_user
        batch.save(update_fields=["undone_at", "undone_by"])
        items = list(context.case.evidence.filter(pk__in=batch.item_ids))
        if items:
            evidence_match(user=acting_user, items=items)
        case_touch(context.case)
        case_audit(
            action=Action.EVIDENCE_CLASSIFY_UNDO, user=acting_user, case=context.case,
            object_type="classification_batch", object_id=batch.pk,
            details={
                "batch": batch.pk, "category": batch.category, "hashset": batch.hashset_id,
                "restored": restored, "skipped": skipped, "made_by": batch.created_by.username,
            },
        )  # fmt: skip
    return UndoResult(restored=restored, skipped=skipped)


def evidence_view_record(*, acting_user, context: CaseContext, details: dict) -> None:
    with transaction.atomic():
        case_audit(action=Action.EVIDENCE_VIEW, user=acting_user, case=context.case, details=details)


def evidence_export_record(*, acting_user, context: CaseContext, rows: int) -> None:
    with transaction.atomic():
        case_audit(
            action=Action.CASE_EXPORT, user=acting_user, case=context.case, details={"what": "evidence", "rows": rows}
        )
