"""Writes what the offline verifier checks: a full export directory, or a range document (docs/audit-log.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings

from audit import merkle
from audit.integrator import stored_nodes
from audit.keys import audit_key_history
from audit.models import AuditCheckpoint, AuditCosignature, AuditEntry

EXPORT_FORMAT = "casebridge-audit-export/1"


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def audit_export_write(out_dir: Path, *, progress: Callable[[int], None] | None = None) -> dict:
    """Export everything up to the latest checkpoint. Returns the manifest.

    Entries past the latest checkpoint are left out: nothing signed vouches for them yet.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    latest = AuditCheckpoint.objects.order_by("-size").first()
    size = latest.size if latest else 0
    entries_path = out_dir / "entries.jsonl"
    leaves_path = out_dir / "leaf-hashes.txt"
    written = 0
    with entries_path.open("w", encoding="utf-8", newline="\n") as entries, leaves_path.open("w") as leaves:
        rows = AuditEntry.objects.filter(index__lt=size).order_by("index").values_list("canonical", "leaf_hash")
        for canonical, leaf in rows.iterator(chunk_size=5000):
            entries.write(canonical)
            entries.write("\n")
            leaves.write(bytes(leaf).hex())
            leaves.write("\n")
            written += 1
            if progress and written % 10000 == 0:
                progress(written)
    with (out_dir / "checkpoints.jsonl").open("w", encoding="utf-8") as handle:
        for checkpoint in AuditCheckpoint.objects.order_by("size").iterator():
            handle.write(json.dumps({"size": checkpoint.size, "note": checkpoint.note}, ensure_ascii=False) + "\n")
    with (out_dir / "cosignatures.jsonl").open("w", encoding="utf-8") as handle:
        for cosig in AuditCosignature.objects.order_by("checkpoint_size", "id").iterator():
            record = {"size": cosig.checkpoint_size, "witness": cosig.witness, "vkey": cosig.vkey, "line": cosig.line}
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
    history = audit_key_history(below=size)
    (out_dir / "public-key.vkey").write_text(history[-1].vkey + "\n", encoding="utf-8")
    files = ["entries.jsonl", "leaf-hashes.txt", "checkpoints.jsonl", "cosignatures.jsonl", "public-key.vkey"]
    if len(history) > 1:
        # Only after a rotation, so that exports of never-rotated logs keep the original layout.
        with (out_dir / "key-history.jsonl").open("w", encoding="utf-8") as handle:
            for period in history:
                handle.write(json.dumps(period.as_record()) + "\n")
        files.append("key-history.jsonl")
    manifest = {
        "format": EXPORT_FORMAT,
        "origin": settings.AUDIT_ORIGIN,
        "entries": written,
        "checkpoints": AuditCheckpoint.objects.count(),
        "files": {name: _sha256_file(out_dir / name) for name in files},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


# --------------------------------------------------------------------------- range exports

RANGE_FORMAT = "casebridge-audit-range/2"  # audit.verify.common.RANGE_FORMAT: the verifier reads this
RANGE_FILE = "audit-range.json"
_PROOF_BATCH = 1000


def _cosignature_records(size: int) -> list[dict]:
    return [
        {"witness": c.witness, "vkey": c.vkey, "line": c.line}
        for c in AuditCosignature.objects.filter(checkpoint_size=size).order_by("id")
    ]


def _witnessed(latest: AuditCheckpoint) -> dict | None:
    """The largest cosigned checkpoint below the latest, with a consistency path up to it.

    Witnesses cosign asynchronously, so the checkpoint the proofs lead to is usually not cosigned yet;
    this is what lets a range export show that a partner saw (a prefix of) the same history.
    """
    if AuditCosignature.objects.filter(checkpoint_size=latest.size).exists():
        return None
    size = (
        AuditCosignature.objects.filter(checkpoint_size__lt=latest.size, checkpoint_size__gt=0)
        .order_by("-checkpoint_size")
        .values_list("checkpoint_size", flat=True)
        .first()
    )
    checkpoint = AuditCheckpoint.objects.filter(size=size).first() if size else None
    if checkpoint is None:
        return None
    nodes = stored_nodes(merkle.consistency_proof_nodes(checkpoint.size, latest.size))
    path = merkle.consistency_proof_from_nodes(checkpoint.size, latest.size, nodes)
    return {
        "size": checkpoint.size,
        "note": checkpoint.note,
        "cosignatures": _cosignature_records(checkpoint.size),
        "consistency_path": [p.hex() for p in path],
    }


def audit_range_document(
    entries: Iterable[AuditEntry],
    *,
    latest: AuditCheckpoint,
    contiguous: bool,
    selection: dict | None = None,
    filters: dict | None = None,
    truncated_at: int | None = None,
) -> dict:
    """A range export: each entry with its inclusion path to ``latest`` (docs/audit-log.md).

    ``entries`` must be below ``latest.size``, in increasing index order. ``contiguous`` promises
    that ``selection`` ({"first", "last"}) names every index present, which the verifier checks.
    """
    records: list[dict] = []
    batch: list[AuditEntry] = []

    def flush() -> None:
        wanted = {node for entry in batch for node in merkle.inclusion_proof_nodes(entry.index, latest.size)}
        nodes = stored_nodes(sorted(wanted))  # one pair of queries per batch, not per entry
        for entry in batch:
            path = merkle.inclusion_proof_from_nodes(entry.index, latest.size, nodes)
            records.append(
                {
                    "index": entry.index,
                    "entry": entry.canonical,
                    "leaf_hash": bytes(entry.leaf_hash).hex(),
                    "inclusion_path": [p.hex() for p in path],
                }
            )
        batch.clear()

    for entry in entries:
        if entry.index >= latest.size:
            raise ValueError(f"entry {entry.index} is not covered by the checkpoint of size {latest.size}")
        batch.append(entry)
        if len(batch) >= _PROOF_BATCH:
            flush()
    if batch:
        flush()
    return {
        "format": RANGE_FORMAT,
        "origin": settings.AUDIT_ORIGIN,
        "exported_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "contiguous": contiguous,
        "range": selection,
        "filters": filters or {},
        "truncated_at": truncated_at,
        "checkpoint": {"size": latest.size, "note": latest.note},
        "cosignatures": _cosignature_records(latest.size),
        "witnessed": _witnessed(latest),
        # The vkey the checkpoint is signed with, for reading only: the verifier trusts pins, not this.
        "public_key": audit_key_history(below=latest.size)[-1].vkey,
        "entries": records,
    }


def audit_range_write(out_dir: Path, *, first: int, last: int) -> dict:
    """Write every entry first..last (inclusive) with proofs to ``out_dir/audit-range.json``."""
    latest = AuditCheckpoint.objects.order_by("-size").first()
    size = latest.size if latest else 0
    if not 0 <= first <= last < size:
        raise ValueError(f"the range must satisfy 0 <= from <= to < {size} (the latest checkpoint's size)")
    entries = AuditEntry.objects.filter(index__gte=first, index__lte=last).order_by("index")
    document = audit_range_document(
        entries.iterator(chunk_size=_PROOF_BATCH),
        latest=latest,
        contiguous=True,
        selection={"first": first, "last": last},
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / RANGE_FILE).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return document
