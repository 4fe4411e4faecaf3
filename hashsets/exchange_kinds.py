"""Hash sets over the exchange: `hashset.snapshot` (the whole set) and `hashset.delta` (changes).

Payload: JSON Lines. The first line describes the set (`{"hashset": {...}}`); each following line
is an item (`{"item": {...}}`) or a retraction (`{"retract": {...digests}}`). A retraction is a
tombstone at the receiver: the classification stays, marked retracted, and is no longer shown;
a later addition of the same item revives it. A snapshot retracts whatever it no longer lists.
PhotoDNA goes only to partners whose agreement covers the "photodna" marking.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from agencies.models import Agency
from exchange.kinds import ApplyContext, ApplyRefused, BundleKind, Produced, register_kind
from hashsets.formats import MediaRecord
from hashsets.formats.records import Category
from hashsets.importer import records_merge
from hashsets.models import Classification, HashSet, HashSetImport, HashSetPublication

DIGEST_FIELDS = ("md5", "sha1", "sha256", "pdq", "photodna")


# The payload is built from plain rows, not model instances: a snapshot of a million items spends
# its time here, and instantiating two models per item (plus prefetching their series) cost 4x more.
_ROW = (
    "id", "retracted_at", "scheme", "category_code", "category", "victim_identified", "offender_identified",
    "distributed", "tags", *(f"media__{name}" for name in DIGEST_FIELDS), "media__pdq_quality", "media__size",
    "media__media_type",
)  # fmt: skip
_CHUNK = 2000


def _digests(row: tuple, *, include_photodna: bool = True) -> dict:
    values = zip(DIGEST_FIELDS, row[9:14], strict=True)
    digests = {name: bytes(value).hex() for name, value in values if value is not None}
    if not include_photodna:
        digests.pop("photodna", None)
    return digests


def _item(row: tuple, series: list[str], *, include_photodna: bool) -> dict:
    (_id, _retracted, scheme, category_code, category, victim, offender, distributed, tags) = row[:9]
    pdq_quality, size, media_type = row[14:17]
    item = _digests(row, include_photodna=include_photodna)
    item.update(
        {
            "pdq_quality": pdq_quality,
            "size": size,
            "media_type": media_type,
            "scheme": scheme,
            "category_code": category_code,
            "category": category,
            "victim_identified": victim,
            "offender_identified": offender,
            "distributed": distributed,
            "series": sorted(series),
            "tags": list(tags or []),
        }
    )
    return {key: value for key, value in item.items() if value is not None}


def _series_of(classification_ids: list[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    through = Classification.series.through.objects.filter(classification_id__in=classification_ids)
    for classification_id, name in through.values_list("classification_id", "series__name"):
        names[classification_id].append(name)
    return names


def _lines(hashset: HashSet, *, since: datetime | None, include_photodna: bool) -> Iterator[bytes]:
    yield (
        json.dumps(
            {
                "hashset": {
                    "name": hashset.name,
                    "version": hashset.version,
                    "description": hashset.description,
                    "tlp": hashset.tlp,
                    "scheme": hashset.scheme,
                    "snapshot": since is None,
                }
            }
        )
        + "\n"
    ).encode()
    rows = Classification.objects.filter(hashset=hashset)
    if since is not None:
        rows = rows.filter(Q(updated_at__gt=since) | Q(retracted_at__gt=since))
    last_id = 0
    while True:
        chunk = list(rows.filter(id__gt=last_id).order_by("id").values_list(*_ROW)[:_CHUNK])
        if not chunk:
            return
        series = _series_of([row[0] for row in chunk if row[1] is None])
        for row in chunk:
            if row[1] is not None:  # retracted
                line = {"retract": _digests(row)}
            else:
                line = {"item": _item(row, series.get(row[0], []), include_photodna=include_photodna)}
            yield (json.dumps(line) + "\n").encode()
        last_id = chunk[-1][0]


def hashset_payload(hashset: HashSet, *, since: datetime | None, include_photodna: bool):
    """A function giving the payload's byte chunks, for the outbox to stream (once per recipient)."""

    def chunks() -> Iterable[bytes]:
        buffer: list[bytes] = []
        size = 0
        for line in _lines(hashset, since=since, include_photodna=include_photodna):
            buffer.append(line)
            size += len(line)
            if size >= 1 << 20:
                yield b"".join(buffer)
                buffer, size = [], 0
        if buffer:
            yield b"".join(buffer)

    return chunks


def _record(number: int, item: dict) -> MediaRecord:
    def digest(name: str, length: int) -> bytes | None:
        value = item.get(name)
        if value is None:
            return None
        raw = bytes.fromhex(value)
        if len(raw) != length:
            raise ApplyRefused(f"line {number}: {name} has {len(raw)} bytes, expected {length}")
        return raw

    try:
        return MediaRecord(
            number=number,
            md5=digest("md5", 16),
            sha1=digest("sha1", 20),
            sha256=digest("sha256", 32),
            pdq=digest("pdq", 32),
            pdq_quality=item.get("pdq_quality"),
            photodna=digest("photodna", 144),
            size=item.get("size"),
            media_type=item.get("media_type") or None,
            category_code=item.get("category_code") or None,
            category=Category(item.get("category", Category.UNCATEGORIZED)),
            scheme=item.get("scheme", "custom"),
            victim_identified=item.get("victim_identified"),
            offender_identified=item.get("offender_identified"),
            distributed=item.get("distributed"),
            series=tuple(item.get("series", ())),
            tags=tuple(item.get("tags", ())),
        )
    except (ValueError, TypeError) as exc:
        raise ApplyRefused(f"line {number}: {exc}") from None


def _apply(context: ApplyContext) -> str:
    retractions: list[dict] = []
    with context.plaintext.open("rb") as handle:
        first = handle.readline()
        try:
            meta = json.loads(first)["hashset"]
        except (ValueError, KeyError, TypeError):
            raise ApplyRefused("the first line must describe the hash set") from None
        mirror, _ = HashSet.objects.get_or_create(
            owner=context.sender,
            name=str(meta["name"])[:200],
            defaults={"tlp": context.header["tlp"], "scheme": meta.get("scheme", "custom")},
        )
        mirror.shared_with.add(context.recipient)
        job = HashSetImport.objects.create(
            hashset=mirror, file_name=f"bundle {context.header['bundle_id']}", format="bundle", scheme=mirror.scheme
        )

        def records() -> Iterator[MediaRecord]:
            for number, raw in enumerate(handle, start=2):
                try:
                    line = json.loads(raw)
                except ValueError:
                    raise ApplyRefused(f"line {number} is not JSON") from None
                if "retract" in line:
                    retractions.append(line["retract"])
                elif "item" in line:
                    yield _record(number, line["item"])
                else:
                    raise ApplyRefused(f"line {number} is neither an item nor a retraction")

        counts = records_merge(records(), hashset=mirror, job=job)
    now = timezone.now()
    retracted = 0
    for digests in retractions:
        for name, value in digests.items():
            if name in DIGEST_FIELDS:
                retracted += Classification.objects.filter(
                    hashset=mirror, **{f"media__{name}": bytes.fromhex(value)}, retracted_at__isnull=True
                ).update(retracted_at=now)
                break
    if meta.get("snapshot"):
        # A snapshot is the whole set: what it no longer lists is retracted (tombstoned).
        retracted += (
            Classification.objects.filter(hashset=mirror, retracted_at__isnull=True)
            .exclude(source_import=job)
            .update(retracted_at=now)
        )
    job.records = counts.records
    job.media_created = counts.media_created
    job.classifications_created = counts.classifications_created
    job.classifications_updated = counts.classifications_updated
    job.status = HashSetImport.Status.DONE
    job.finished_at = now
    job.save()
    mirror.version = max(mirror.version, int(meta.get("version", 1)))
    mirror.updated_at = now
    mirror.save(update_fields=["version", "updated_at"])
    return f"{mirror.name} v{mirror.version}: {counts.records} items, {retracted} retracted"


def _produce_snapshot(sender: Agency, object_id: str) -> Produced:
    hashset = HashSet.objects.get(pk=int(object_id), owner=sender)
    return Produced(
        payload=hashset_payload(hashset, since=None, include_photodna=False),
        tlp=hashset.tlp,
        summary=f"{hashset.name} v{hashset.version} (snapshot)",
    )


register_kind(BundleKind(name="hashset.snapshot", data_type="hashset", apply=_apply, produce=_produce_snapshot))
register_kind(BundleKind(name="hashset.delta", data_type="hashset", apply=_apply))


def recipients_needing_approval(hashset: HashSet, recipient_codes: list[str]) -> list[str]:
    """The partners whose sharing agreement asks a supervisor to approve each share (four eyes)."""
    from exchange.services import share_check

    return [
        code
        for code in recipient_codes
        if share_check(
            sender=hashset.owner, recipient_code=code, kind="hashset.snapshot", tlp=hashset.tlp
        ).agreement.requires_approval
    ]


@transaction.atomic
def hashset_publish(*, acting_user, hashset: HashSet, recipient_codes: list[str]):
    """Publish the set to partners: a snapshot the first time, a delta of changes afterwards.

    Partners whose agreement asks for a supervisor's approval get a share request instead, like any
    other share; once another supervisor approves it they receive a snapshot (complete whatever
    they had). Returns the bundles queued now.
    """
    from audit.capture import actor_for_user
    from exchange.services import share_enqueue, share_request

    hashset = HashSet.objects.select_for_update().get(pk=hashset.pk)
    awaiting = recipients_needing_approval(hashset, recipient_codes)
    hashset.version += 1
    hashset.save(update_fields=["version"])
    if awaiting:
        share_request(
            acting_user=acting_user, kind="hashset.snapshot", object_type="hashset", object_id=str(hashset.pk),
            recipient_codes=awaiting, tlp=hashset.tlp, summary=f"{hashset.name} v{hashset.version} (snapshot)",
        )  # fmt: skip
    bundles = []
    for code in recipient_codes:
        if code in awaiting:
            continue
        last = HashSetPublication.objects.filter(hashset=hashset, recipient_code=code).first()
        since = last.published_at if last else None
        kind = "hashset.snapshot" if since is None else "hashset.delta"
        bundles += share_enqueue(
            actor=actor_for_user(acting_user),
            sender=hashset.owner,
            recipient_codes=[code],
            kind=kind,
            payload=hashset_payload(hashset, since=since, include_photodna=False),
            tlp=hashset.tlp,
            summary=f"{hashset.name} v{hashset.version} ({kind.split('.')[1]})",
            purpose={"code": "disclosure"},
        )
        HashSetPublication.objects.create(hashset=hashset, recipient_code=code, version=hashset.version, kind=kind)
    return bundles
