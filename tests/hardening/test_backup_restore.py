"""Backup and restore, exactly as docs/operations.md tells an operator to do it.

A node's database (its own, made here) is migrated, given audit entries and a signed checkpoint,
dumped with pg_dump, restored with pg_restore into a new database, and then the restored copy
exports its audit log and the offline verifier accepts it: every entry, the checkpoint signed
before the backup (still consistent with the new ones), and the append-only triggers came back.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PG = ["-h", "127.0.0.1", "-U", "postgres"]
ENTRIES = 40

WRITE_ENTRIES = f"""
from django.db import transaction
from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, audit_record
from audit.integrator import audit_integrate
from audit.models import AuditCheckpoint
for i in range({ENTRIES}):
    with transaction.atomic():
        audit_record(action=Action.AUDIT_VIEW, actor=SYSTEM_ACTOR, object_type="backup-drill", object_id=i)
audit_integrate(force_checkpoint=True)
latest = AuditCheckpoint.objects.order_by("-size").first()
import json
from audit.keys import audit_key_name, audit_public_key_bytes
from audit.note import vkey_from_public_key
print(json.dumps({{"size": latest.size, "note": latest.note,
                  "vkey": vkey_from_public_key(audit_key_name(), audit_public_key_bytes())}}))
"""


def _run(args: list[str], env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(args[:4])}... failed:\n{result.stdout}\n{result.stderr}"
    return result


def _node_env(database: str, var_dir: Path) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}
    env = {key: value for key, value in os.environ.items() if key in keep}
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{database}",
        DEBUG="0",
        SECRET_KEY="b" * 20 + "ackupDrillKEYabcdefghijklmnopqrstuvwxyz0123456789",
        ALLOWED_HOSTS="casebridge.example",
        # the node's audit signing key travels with the node, not with the database
        AUDIT_SIGNING_KEY="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        KEY_ENCRYPTION_KEY="ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=",
        AUDIT_INTEGRATE_ON_COMMIT="0",
        CELERY_TASK_ALWAYS_EAGER="1",
        CASEBRIDGE_VAR_DIR=str(var_dir),
    )
    return env


@pytest.fixture
def databases():
    suffix = os.getpid()
    names = (f"casebridge_backup_src_{suffix}", f"casebridge_backup_dst_{suffix}")
    for name in names:
        _run(["dropdb", *PG, "--if-exists", name])
    yield names
    for name in names:
        subprocess.run(["dropdb", *PG, "--if-exists", "--force", name], capture_output=True, timeout=120)


def test_backup_restore_and_verify(databases, tmp_path):
    src, dst = databases
    source_env = _node_env(src, tmp_path / "var-src")
    restored_env = _node_env(dst, tmp_path / "var-dst")
    manage = [sys.executable, "manage.py"]

    # 1. A node with some history: migrated, entries written, integrated and checkpointed.
    _run(["createdb", *PG, src])
    _run([*manage, "migrate", "--no-input", "-v", "0"], source_env, timeout=600)
    before = json.loads(_run([*manage, "shell", "-c", WRITE_ENTRIES], source_env).stdout.strip().splitlines()[-1])
    assert before["size"] >= ENTRIES

    # 2. Backup, and restore into a new database.
    dump = tmp_path / "casebridge.dump"
    _run(["pg_dump", *PG, "--format=custom", "--file", str(dump), src])
    _run(["createdb", *PG, dst])
    _run(["pg_restore", *PG, "--no-owner", "--exit-on-error", "--dbname", dst, str(dump)])

    # 3. The restored node carries on (new entries, a new checkpoint), exports its log, and the
    #    offline verifier accepts it, pinned to the node's key.
    after = json.loads(_run([*manage, "shell", "-c", WRITE_ENTRIES], restored_env).stdout.strip().splitlines()[-1])
    assert after["size"] >= before["size"] + ENTRIES and after["vkey"] == before["vkey"]
    export = tmp_path / "export"
    _run([*manage, "audit_export", "--out", str(export)], restored_env)
    verified = subprocess.run(
        [sys.executable, "-m", "audit.verify", str(export), "--json", "--key", before["vkey"], "--require-complete"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    result = json.loads(verified.stdout)
    assert verified.returncode == 0 and result["ok"], result
    assert result["entries"] >= after["size"] and result["checkpoints"] >= 2

    # 4. The checkpoint signed before the backup is in the restored log, byte for byte, and the
    #    verifier checked the newer checkpoint's consistency with it.
    checkpoints = [json.loads(line) for line in (export / "checkpoints.jsonl").read_text().splitlines()]
    assert {"size": before["size"], "note": before["note"]} in checkpoints

    # 5. The append-only triggers came back with the schema.
    tamper = subprocess.run(
        ["psql", *PG, "-d", dst, "-v", "ON_ERROR_STOP=1", "-c", "UPDATE audit_entry SET action = 'x'"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert tamper.returncode != 0 and "append-only" in (tamper.stderr + tamper.stdout).lower(), tamper.stderr
