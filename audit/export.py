"""Writes the offline-verifiable export directory (layout in docs/audit-log.md)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from django.conf import settings

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
