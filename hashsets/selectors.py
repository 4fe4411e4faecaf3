"""Reads of hash sets and classifications, limited to what the caller's agency may see.

An agency sees the classifications in its own hash sets and in sets shared with it. Lookups
join against the whole batch of digests (one query per algorithm), never one query per digest.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Q, QuerySet

from agencies.selectors import membership_of
from casebridge.errors import NotFoundError
from hashsets.models import Classification, HashSet, HashSetImport, Media

LOOKUP_ALGORITHMS = {"md5": 16, "sha1": 20, "sha256": 32, "photodna": 144, "pdq": 32}


def hashsets_visible(*, user) -> QuerySet[HashSet]:
    membership = membership_of(user)
    if membership is None:
        return HashSet.objects.none()
    return (
        HashSet.objects.filter(Q(owner_id=membership.agency_id) | Q(shared_with=membership.agency_id))
        .distinct()
        .select_related("owner")
    )


def hashset_get(*, user, hashset_id: int) -> HashSet:
    hashset = hashsets_visible(user=user).filter(pk=hashset_id).first()
    if hashset is None:
        raise NotFoundError("No such hash set, or it is not shared with your agency.")
    return hashset


def hashset_get_owned(*, user, hashset_id: int) -> HashSet:
    membership = membership_of(user)
    hashset = HashSet.objects.filter(pk=hashset_id, owner_id=membership.agency_id if membership else None).first()
    if hashset is None:
        raise NotFoundError("No such hash set of your agency.")
    return hashset


def imports_of(*, hashset: HashSet) -> QuerySet[HashSetImport]:
    return hashset.imports.select_related("started_by").order_by("-created_at")


def import_get(*, user, import_id: int) -> HashSetImport:
    job = HashSetImport.objects.select_related("hashset__owner").filter(pk=import_id).first()
    if job is None or not hashsets_visible(user=user).filter(pk=job.hashset_id).exists():
        raise NotFoundError("No such import.")
    return job


@dataclass
class LookupHit:
    algorithm: str
    digest: bytes
    media_id: int | None = None
    classifications: list[dict] = field(default_factory=list)

    @property
    def known(self) -> bool:
        return bool(self.classifications)

    @property
    def agencies_disagree(self) -> bool:
        return len({c["category"] for c in self.classifications}) > 1


def _media_ids_by_digest(algorithm: str, digests: list[bytes]) -> dict[bytes, int]:
    """One query for the whole batch of one algorithm: a join against the batch, not N lookups."""
    if not digests:
        return {}
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT m.{algorithm}, m.id FROM hashsets_media m "  # noqa: S608 - algorithm is from a fixed list
                f"JOIN unnest(%s::bytea[]) AS batch(digest) ON m.{algorithm} = batch.digest",
                [digests],
            )
            return {bytes(digest): media_id for digest, media_id in cursor.fetchall()}
    rows = Media.objects.filter(**{f"{algorithm}__in": digests}).values_list(algorithm, "id")
    return {bytes(digest): media_id for digest, media_id in rows}


def classifications_visible(*, user, media_ids) -> dict[int, list[dict]]:
    """Visible, unretracted classifications per media id (two queries whatever the count)."""
    sets = hashsets_visible(user=user).values("pk")
    # Plain rows, not model instances: a 10,000-digest lookup touches tens of thousands of them.
    rows = list(
        Classification.objects.filter(media_id__in=media_ids, hashset__in=sets, retracted_at__isnull=True)
        .order_by("media_id", "agency__code")
        .values(
            "id", "media_id", "agency__code", "hashset__name", "hashset_id", "scheme", "category_code", "category",
            "victim_identified", "offender_identified", "distributed",
        )
    )  # fmt: skip
    series: dict[int, list[str]] = defaultdict(list)
    through = Classification.series.through
    for classification_id, name in through.objects.filter(
        classification_id__in=[row["id"] for row in rows]
    ).values_list("classification_id", "series__name"):
        series[classification_id].append(name)
    by_media: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_media[row["media_id"]].append(
            {
                "agency": row["agency__code"],
                "hashset": row["hashset__name"],
                "hashset_id": row["hashset_id"],
                "scheme": row["scheme"],
                "category_code": row["category_code"],
                "category": row["category"],
                "victim_identified": row["victim_identified"],
                "offender_identified": row["offender_identified"],
                "distributed": row["distributed"],
                "series": sorted(series.get(row["id"], [])),
            }
        )
    return by_media


def hash_lookup(*, user, items: list[tuple[str, bytes]]) -> list[LookupHit]:
    """Classifications the caller may see for each (algorithm, digest), in the order given."""
    by_algorithm: dict[str, list[bytes]] = defaultdict(list)
    for algorithm, digest in items:
        by_algorithm[algorithm].append(digest)
    found: dict[tuple[str, bytes], int] = {}
    for algorithm, digests in by_algorithm.items():
        for digest, media_id in _media_ids_by_digest(algorithm, list(set(digests))).items():
            found[(algorithm, digest)] = media_id
    visible = classifications_visible(user=user, media_ids=set(found.values()))
    hits = []
    for algorithm, digest in items:
        media_id = found.get((algorithm, digest))
        hit = LookupHit(algorithm=algorithm, digest=digest, media_id=media_id)
        if media_id is not None:
            hit.classifications = visible.get(media_id, [])
        hits.append(hit)
    return hits


def conflicts_in(*, user, hashset: HashSet, limit: int = 50) -> list[dict]:
    """Items of `hashset` that another visible agency classifies differently."""
    sets = hashsets_visible(user=user).values("pk")
    mine = Classification.objects.filter(hashset=hashset, retracted_at__isnull=True)
    others = (
        Classification.objects.filter(media_id__in=mine.values("media_id"), hashset__in=sets, retracted_at__isnull=True)
        .exclude(hashset=hashset)
        .select_related("agency", "media")
    )
    own_category = dict(mine.filter(media_id__in=others.values("media_id")).values_list("media_id", "category"))
    conflicts = []
    for other in others[: limit * 4]:
        if own_category.get(other.media_id) not in (None, other.category):
            conflicts.append(
                {
                    "media": str(other.media),
                    "ours": own_category[other.media_id],
                    "agency": other.agency.code,
                    "theirs": other.category,
                }
            )
        if len(conflicts) >= limit:
            break
    return conflicts
