"""The integrator: contiguous indices, one consistent tree, proofs that verify, under concurrency."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection

from audit import merkle, note
from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, audit_record
from audit.integrator import audit_checkpoint_now, audit_integrate, stored_nodes
from audit.keys import audit_key_name, audit_public_key_bytes
from audit.models import AuditCheckpoint, AuditEntry, AuditPending
from audit.selectors import consistency_proof, inclusion_proof

ROOT = Path(__file__).resolve().parents[2]


def _write(n: int) -> None:
    for i in range(n):
        audit_record(action=Action.CASE_VIEW, actor=SYSTEM_ACTOR, object_type="case", object_id=i)


def _leaves() -> list[bytes]:
    return [bytes(h) for h in AuditEntry.objects.order_by("index").values_list("leaf_hash", flat=True)]


@pytest.mark.django_db
def test_batches_extend_one_tree_and_checkpoints_verify():
    _write(5)
    audit_integrate(batch_size=2, force_checkpoint=True)
    _write(8)
    audit_checkpoint_now()
    leaves = _leaves()
    assert [e for e in AuditEntry.objects.order_by("index").values_list("index", flat=True)] == list(range(13))
    latest = AuditCheckpoint.objects.order_by("-size").first()
    assert latest.size == 13 and bytes(latest.root_hash) == merkle.root_from_leaf_hashes(leaves)
    vkey = note.vkey_from_public_key(audit_key_name(), audit_public_key_bytes())
    checkpoint = note.checkpoint_verify(latest.note, vkey=vkey)
    assert checkpoint.size == 13 and checkpoint.root_hash == bytes(latest.root_hash)
    assert not AuditPending.objects.exists()


@pytest.mark.django_db
def test_proofs_from_stored_nodes_verify_for_every_index_and_size():
    _write(21)
    audit_checkpoint_now()
    leaves = _leaves()
    for size in (1, 2, 7, 8, 13, 21):
        root = merkle.root_from_leaf_hashes(leaves[:size])
        for index in range(size):
            proof = inclusion_proof(index=index, size=size)
            assert merkle.verify_inclusion(leaves[index], index, size, proof["inclusion_path"], root)
        for first in range(1, size + 1):
            path = consistency_proof(first=first, second=size)["consistency_path"]
            assert merkle.verify_consistency(first, size, merkle.root_from_leaf_hashes(leaves[:first]), root, path)


@pytest.mark.django_db
def test_frontier_nodes_are_read_not_recomputed():
    """After integration the stored perfect subtrees alone give the root (no rereading of leaves)."""
    _write(11)
    audit_checkpoint_now()
    nodes = stored_nodes(merkle.CompactRange.node_ids(11))
    assert len(nodes) == 3  # 11 = 8 + 2 + 1: three stored subtrees, no leaf reread
    frontier = merkle.CompactRange.from_nodes(11, lambda level, index: nodes[(level, index)])
    assert frontier.root() == merkle.root_from_leaf_hashes(_leaves())


WRITER = textwrap.dedent(
    """
    import django, sys
    django.setup()
    from django.db import transaction
    from audit.actions import Action
    from audit.capture import SYSTEM_ACTOR, audit_record
    n, tag = int(sys.argv[1]), sys.argv[2]
    for i in range(n):
        with transaction.atomic():
            audit_record(action=Action.CASE_VIEW, actor=SYSTEM_ACTOR, object_type="case", object_id=f"{tag}-{i}")
    """
)
INTEGRATOR = textwrap.dedent(
    """
    import django, time
    django.setup()
    from audit.integrator import audit_integrate
    deadline = time.time() + 120
    idle = 0
    while time.time() < deadline and idle < 20:
        idle = 0 if audit_integrate(batch_size=50) else idle + 1
        time.sleep(0.05)
    """
)


def _subprocess_env() -> dict[str, str]:
    settings = connection.settings_dict
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="casebridge.settings", AUDIT_INTEGRATE_ON_COMMIT="0")
    env["DATABASE_URL"] = (
        f"postgres://{settings['USER']}@{settings['HOST']}:{settings['PORT'] or 5432}/{settings['NAME']}"
    )
    return env


@pytest.mark.slow
def test_concurrent_writers_and_integrators_give_contiguous_indices(tx_db):
    if connection.vendor != "postgresql":
        pytest.skip("concurrency test runs on PostgreSQL")
    env = _subprocess_env()
    per_writer, writers = 150, 4
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(per_writer), f"w{w}"], cwd=ROOT, env=env)
        for w in range(writers)
    ]
    # Two integrators at once: the advisory lock must keep them from interleaving indices.
    procs += [subprocess.Popen([sys.executable, "-c", INTEGRATOR], cwd=ROOT, env=env) for _ in range(2)]
    for proc in procs:
        assert proc.wait(timeout=300) == 0
    audit_checkpoint_now()
    indices = list(AuditEntry.objects.order_by("index").values_list("index", flat=True))
    assert indices == list(range(per_writer * writers))
    objects = set(AuditEntry.objects.values_list("object_id", flat=True))
    assert len(objects) == per_writer * writers  # every write exactly once
    leaves = _leaves()
    checkpoints = list(AuditCheckpoint.objects.order_by("size"))
    assert checkpoints[-1].size == len(leaves)
    for checkpoint in checkpoints:
        assert bytes(checkpoint.root_hash) == merkle.root_from_leaf_hashes(leaves[: checkpoint.size])
