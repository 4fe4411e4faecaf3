"""Reads of the audit log for auditors, with filters; plus proofs built from the stored tree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncHour
from django.utils import timezone

from audit import merkle
from audit.actions import Action
from audit.integrator import stored_nodes, tree_size
from audit.models import AuditCheckpoint, AuditCosignature, AuditEntry, AuditPending
from casebridge.errors import CasebridgeError, NotFoundError


@dataclass(frozen=True)
class AuditFilters:
    time_from: datetime | None = None
    time_to: datetime | None = None
    agency: str = ""
    actor: str = ""
    action: str = ""  # an exact action ("case.view") or a family ("case")
    object_type: str = ""
    object_id: str = ""
    outcome: str = ""


# Who sees which entries (docs/audit-log.md, "Who sees which entries"). An entry that concerns one
# agency carries that agency's code, decided where it is written (a known user's failed login, a
# bundle rejected that was addressed to an agency hosted here, a share, a lookup). Entries of no
# agency are the node's own: failed logins of unknown users with their source addresses, witness
# cosigning, bundles rejected that were addressed to no agency here, the integrator and verifier
# run by the operator. They are for the node auditor only, except the log's own key hand-overs,
# which every auditor needs to pin the keys its checkpoints are signed with.
NODE_SCOPE = ""
NODE_ENTRIES_FOR_EVERY_AGENCY = (Action.AUDIT_KEY_ROTATED.value,)


def audit_scope(entries: QuerySet[AuditEntry], scope: str) -> QuerySet[AuditEntry]:
    """The entries a viewer of `scope` may read: an agency code (that agency's auditors) or
    `NODE_SCOPE` (the node auditor). `agencies.selectors.audit_scope_of` gives a user's scope."""
    if scope == NODE_SCOPE:
        return entries.filter(agency_code="")
    return entries.filter(Q(agency_code=scope) | Q(agency_code="", action__in=NODE_ENTRIES_FOR_EVERY_AGENCY))


def audit_entries(*, filters: AuditFilters, scope: str) -> QuerySet[AuditEntry]:
    entries = audit_scope(AuditEntry.objects.defer("canonical", "leaf_hash").order_by("-index"), scope)
    if filters.time_from:
        entries = entries.filter(time__gte=filters.time_from)
    if filters.time_to:
        entries = entries.filter(time__lt=filters.time_to)
    if filters.agency:
        entries = entries.filter(agency_code=filters.agency)
    if filters.actor:
        entries = entries.filter(actor_name=filters.actor)
    if filters.action:
        if "." in filters.action:
            entries = entries.filter(action=filters.action)
        else:
            entries = entries.filter(action__startswith=filters.action + ".")
    if filters.object_type:
        entries = entries.filter(object_type=filters.object_type)
    if filters.object_id:
        entries = entries.filter(object_id=filters.object_id)
    if filters.outcome:
        entries = entries.filter(outcome=filters.outcome)
    return entries


def audit_entry_get(*, index: int, scope: str) -> AuditEntry:
    """One entry in the viewer's scope; another's is "not found", exactly like one that does not exist."""
    entry = audit_scope(AuditEntry.objects.filter(index=index), scope).first()
    if entry is None:
        raise NotFoundError(f"There is no audit entry {index} for you.")
    return entry


def checkpoint_latest() -> AuditCheckpoint | None:
    return AuditCheckpoint.objects.order_by("-size").first()


def cosignatures_for(*, size: int) -> QuerySet[AuditCosignature]:
    return AuditCosignature.objects.filter(checkpoint_size=size).order_by("witness")


def audit_overview() -> dict:
    return {"latest_checkpoint": checkpoint_latest(), "pending": AuditPending.objects.count(), "size": tree_size()}


def _check_size(size: int) -> int:
    latest = checkpoint_latest()
    if latest is None:
        raise CasebridgeError("No checkpoint has been signed yet.")
    if size < 1 or size > latest.size:
        raise CasebridgeError(f"Tree size must be between 1 and the latest checkpoint's size {latest.size}.")
    return size


def inclusion_proof(*, index: int, size: int | None = None) -> dict:
    latest = checkpoint_latest()
    size = _check_size(size if size is not None else (latest.size if latest else 0))
    if not 0 <= index < size:
        raise CasebridgeError(f"Entry {index} is not in a tree of size {size}.")
    # Every node the proof needs, fetched in two queries whatever the tree size.
    nodes = stored_nodes([*merkle.inclusion_proof_nodes(index, size), (0, index)])
    path = merkle.inclusion_proof_from_nodes(index, size, nodes)
    return {"index": index, "tree_size": size, "leaf_hash": nodes[(0, index)], "inclusion_path": path}


def consistency_proof(*, first: int, second: int) -> dict:
    _check_size(second)
    if not 1 <= first <= second:
        raise CasebridgeError("Need 1 <= first <= second.")
    nodes = stored_nodes(merkle.consistency_proof_nodes(first, second))
    path = merkle.consistency_proof_from_nodes(first, second, nodes)
    return {"first": first, "second": second, "consistency_path": path}


FAMILIES = ["auth", "case", "evidence", "lead", "hashset", "hash", "bundle", "audit", "user", "access"]


def activity_by_family(*, scope: str, hours: int = 48, now: datetime | None = None) -> dict:
    """Counts per hour and action family over the last `hours` of the entries the viewer of `scope`
    may read, for the auditor's activity chart (a count of others' entries would tell their activity)."""
    now = now or timezone.now()
    start = (now - timedelta(hours=hours)).replace(minute=0, second=0, microsecond=0)
    rows = (
        audit_scope(AuditEntry.objects.filter(time__gte=start), scope)
        .annotate(hour=TruncHour("time"))
        .values("hour", "action")
        .annotate(n=Count("index"))
    )
    buckets = [start + timedelta(hours=i) for i in range(hours + 1)]
    series: dict[str, list[int]] = {}
    for row in rows:
        family = row["action"].split(".", 1)[0]
        family = family if family in FAMILIES else "other"
        counts = series.setdefault(family, [0] * len(buckets))
        position = int((row["hour"] - start).total_seconds() // 3600)
        if 0 <= position < len(buckets):
            counts[position] += row["n"]
    return {"buckets": buckets, "series": series}
