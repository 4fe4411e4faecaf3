"""The integrator: the single sequencer that gives pending entries their indices.

One integrator at a time holds the lock (a PostgreSQL advisory lock; SQLite's write lock),
takes committed pending entries in batches, assigns contiguous indices from the current tree
size, stores leaves and every newly completed perfect subtree, and signs a checkpoint at most
once a second. Writers never wait for it: they only append to the pending queue.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q

from audit import merkle, note
from audit.keys import audit_key_name, audit_signing_key, audit_signing_key_problem
from audit.models import AuditCheckpoint, AuditEntry, AuditPending, AuditTreeNode
from casebridge.lib.canonical_json import canonical_json
from casebridge.lib.queue import enqueue

logger = logging.getLogger(__name__)

_ADVISORY_LOCK_KEY = 0x6361_7365_6272_6964 & 0x7FFF_FFFF_FFFF_FFFF  # "casebrid"
CHECKPOINT_INTERVAL = timedelta(seconds=1)


def _lock_sequencer() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_ADVISORY_LOCK_KEY])
    # SQLite: transactions start with BEGIN IMMEDIATE (settings), which already serializes writers.


def tree_size() -> int:
    last = AuditEntry.objects.aggregate(last=Max("index"))["last"]
    return 0 if last is None else last + 1


def stored_nodes(coordinates: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """Fetch stored node hashes in two queries, whatever the number of coordinates."""
    found: dict[tuple[int, int], bytes] = {}
    leaves = [index for level, index in coordinates if level == 0]
    if leaves:
        for index, leaf in AuditEntry.objects.filter(index__in=leaves).values_list("index", "leaf_hash"):
            found[(0, index)] = bytes(leaf)
    inner = [(level, index) for level, index in coordinates if level > 0]
    if inner:
        # One query whatever the number of levels: OR of (level, index IN ...) per level.
        by_level: dict[int, list[int]] = {}
        for level, index in inner:
            by_level.setdefault(level, []).append(index)
        condition = Q()
        for level, indices in by_level.items():
            condition |= Q(level=level, index__in=indices)
        for level, index, node_hash in AuditTreeNode.objects.filter(condition).values_list("level", "index", "hash"):
            found[(level, index)] = bytes(node_hash)
    missing = set(coordinates) - set(found)
    if missing:
        raise RuntimeError(f"audit tree storage is missing nodes {sorted(missing)[:5]}")
    return found


def _checkpoint_due(size: int, *, force: bool) -> bool:
    latest = AuditCheckpoint.objects.order_by("-size").first()
    if latest is not None and latest.size >= size:
        return False
    if force or latest is None:
        return True
    return datetime.now(UTC) - latest.created_at >= CHECKPOINT_INTERVAL


def _checkpoint_store(size: int, root: bytes) -> AuditCheckpoint | None:
    problem = audit_signing_key_problem()
    if problem:
        # Entries keep flowing; only signing waits, so a stale process never signs past a hand-over.
        logger.error("audit checkpoint not signed: %s", problem)
        return None
    checkpoint = note.Checkpoint(origin=settings.AUDIT_ORIGIN, size=size, root_hash=root)
    text = note.checkpoint_sign(checkpoint, name=audit_key_name(), private_key=audit_signing_key())
    return AuditCheckpoint.objects.create(size=size, root_hash=root, note=text, created_at=datetime.now(UTC))


def _integrate_batch(batch_size: int) -> tuple[int, int, bytes]:
    """Integrate one batch inside the caller's transaction. Returns (added, new size, root)."""
    _lock_sequencer()
    pending = list(AuditPending.objects.order_by("id")[:batch_size])
    size = tree_size()
    nodes = stored_nodes(merkle.CompactRange.node_ids(size))
    frontier = merkle.CompactRange.from_nodes(size, lambda level, index: nodes[(level, index)])
    if not pending:
        return 0, size, frontier.root()
    entries: list[AuditEntry] = []
    inner_nodes: list[AuditTreeNode] = []
    for offset, row in enumerate(pending):
        entry = json.loads(row.body)
        entry["index"] = size + offset
        text = canonical_json(entry)
        leaf = merkle.leaf_hash(text)
        for level, index, node_hash in frontier.append(leaf):
            if level > 0:
                inner_nodes.append(AuditTreeNode(level=level, index=index, hash=node_hash))
        obj = entry["object"]
        entries.append(
            AuditEntry(
                index=entry["index"],
                time=datetime.strptime(entry["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC),
                agency_code=entry["agency"] or "",
                actor_type=entry["actor"]["type"],
                actor_name=entry["actor"]["name"],
                action=entry["action"],
                object_type=obj["type"],
                object_id=obj["id"],
                outcome=entry["outcome"],
                canonical=text.decode("utf-8"),
                leaf_hash=leaf,
            )
        )
    AuditEntry.objects.bulk_create(entries, batch_size=2000)
    AuditTreeNode.objects.bulk_create(inner_nodes, batch_size=2000)
    AuditPending.objects.filter(id__in=[row.id for row in pending]).delete()
    return len(pending), frontier.size, frontier.root()


def audit_integrate(*, batch_size: int = 5000, force_checkpoint: bool = False) -> int:
    """Integrate every committed pending entry; sign a checkpoint if one is due. Returns entries added."""
    total = 0
    while True:
        with transaction.atomic():
            added, size, root = _integrate_batch(batch_size)
            total += added
            last_batch = added < batch_size
            if size and _checkpoint_due(size, force=force_checkpoint and last_batch):
                _checkpoint_store(size, root)
        if last_batch:
            return total


def audit_integrate_soon() -> None:
    """Run the integrator now (no broker) or hand it to a worker (broker configured)."""
    from audit.tasks import audit_integrate_task

    if settings.CELERY_TASK_ALWAYS_EAGER:
        audit_integrate(force_checkpoint=True)
    else:
        enqueue(audit_integrate_task)  # beat runs it every second anyway


def audit_checkpoint_now() -> AuditCheckpoint | None:
    """Integrate what is pending and make sure a checkpoint covers the whole tree (on demand)."""
    audit_integrate(force_checkpoint=True)
    return AuditCheckpoint.objects.order_by("-size").first()
