"""Benchmark audit capture: concurrent writer processes calling ``audit_record`` vs raw INSERTs.

    .venv/bin/python benchmarks/audit_capture.py [--writers 4] [--entries 5000] [--runs 3]

Creates the database ``casebridge_bench_audit_capture``. In each run, two modes, one after the
other (order alternating between runs):

* ``audit_record``: ``--writers`` processes, each writing ``--entries`` entries through
  ``audit.capture.audit_record``, each entry in its own ``transaction.atomic()`` as a service
  does (an action on a case by a user, a few details).
* ``raw INSERT``: the same number of processes, each doing ``INSERT INTO bench_raw_pending (body)
  VALUES (%s)`` + COMMIT per entry with plain psycopg into a plain table of the same shape as
  ``audit_pending`` (id bigserial, body text), with a body of the same size. The floor: one
  durable commit per entry.

* ``ORM insert (before)``, with ``--with-orm-baseline``: ``audit_record`` with the queue INSERT
  done as it was before issue 14 (``AuditPending.objects.create`` in an ``atomic(savepoint=False)``
  block), so the old and the new capture are compared side by side in the same run.

Processes start together on a barrier after connecting; rate = all entries / (last finish -
first start). The order of the modes rotates between runs. Reported: median entries/s over runs
for every mode, the median of the per-run ratios to raw, and the ratio of the medians (targets:
``audit_record`` >= 1,000 entries/s and >= 0.5 x raw).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402

NAME = "audit_capture"
BENCH_QUICK_ARGS = ["--entries", "1500", "--runs", "3"]
BENCH_FULL_ARGS = ["--entries", "5000", "--runs", "5"]
RAW_TABLE = "bench_raw_pending"
WARMUP = 20


def _actor():
    from audit.capture import Actor

    return Actor(type="user", id="17", name="bench.investigator", role="investigator", auth="session", agency="BENCH")


def _record_one(actor, worker: int, n: int) -> None:
    from django.db import transaction

    from audit.actions import Action
    from audit.capture import audit_record

    with transaction.atomic():
        audit_record(
            action=Action.CASE_VIEW,
            actor=actor,
            object_type="case",
            object_id=f"{worker}-{n}",
            details={"case": f"CB-2025-{n:06d}", "section": "summary", "via": "web"},
            purpose={"code": "investigation", "case": f"CB-2025-{n:06d}"},
        )


def sample_body() -> str:
    """A body exactly as audit_record builds it for the entries above (for the raw baseline)."""
    from audit.actions import Action
    from casebridge.lib.canonical_json import canonical_json

    actor = _actor()
    entry = {
        "time": "2025-01-01T12:00:00.000000Z",
        "actor": actor.as_entry(),
        "agency": actor.agency,
        "action": str(Action.CASE_VIEW.value),
        "object": {"type": "case", "id": "0-000000"},
        "outcome": "success",
        "reason": "",
        "request_id": "",
        "source": "",
        "purpose": {"code": "investigation", "case": "CB-2025-000000"},
        "recipients": [],
        "details": {"case": "CB-2025-000000", "section": "summary", "via": "web"},
        "commitments": {},
    }
    return canonical_json(entry).decode()


ORM_BASELINE = "ORM insert (before)"


def _orm_insert(body: str) -> None:
    """The queue INSERT as audit_record did it before issue 14."""
    from django.db import transaction

    from audit.models import AuditPending

    with transaction.atomic(savepoint=False):
        AuditPending.objects.create(body=body)


def worker(mode: str, index: int, entries: int, barrier, results) -> None:
    """One writer process (spawned: sets Django up from the inherited environment)."""
    _common.setup_django_from_env()
    from django.db import connection

    if mode == ORM_BASELINE:
        from audit import capture

        capture._pending_insert = _orm_insert
    if mode in ("audit_record", ORM_BASELINE):
        actor = _actor()
        connection.ensure_connection()
        for n in range(WARMUP):
            _record_one(actor, index, -1 - n)
        barrier.wait()
        started = time.monotonic()
        for n in range(entries):
            _record_one(actor, index, n)
        finished = time.monotonic()
        connection.close()
    else:
        import psycopg

        body = sample_body()
        bodies = [body.replace("0-000000", f"{index}-{n:06d}") for n in range(entries)]
        with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
            with conn.cursor() as cursor:
                for _ in range(WARMUP):
                    cursor.execute(f"INSERT INTO {RAW_TABLE} (body) VALUES (%s)", (body,))
                    conn.commit()
                barrier.wait()
                started = time.monotonic()
                for text in bodies:
                    cursor.execute(f"INSERT INTO {RAW_TABLE} (body) VALUES (%s)", (text,))
                    conn.commit()
                finished = time.monotonic()
    results.put((index, started, finished, entries))


def run_mode(mode: str, writers: int, entries: int) -> dict:
    context = mp.get_context("spawn")
    barrier = context.Barrier(writers)
    results = context.Queue()
    processes = [
        context.Process(target=worker, args=(mode, i, entries, barrier, results), daemon=True) for i in range(writers)
    ]
    for process in processes:
        process.start()
    rows = [results.get(timeout=1800) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        if process.exitcode != 0:
            raise SystemExit(f"{mode} writer exited with {process.exitcode}")
    start = min(r[1] for r in rows)
    end = max(r[2] for r in rows)
    total = sum(r[3] for r in rows)
    per_writer = [r[3] / (r[2] - r[1]) for r in rows]
    return {"seconds": end - start, "entries": total, "rate": total / (end - start), "per_writer_rates": per_writer}


def reset_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE audit_pending, audit_sensitive_value, {RAW_TABLE} RESTART IDENTITY")
        cursor.execute("CHECKPOINT")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=4, help="concurrent writer processes (default 4)")
    parser.add_argument("--entries", type=int, default=5000, help="entries per writer per run (default 5000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--with-orm-baseline", action="store_true", help="also measure the pre-issue-14 ORM INSERT, side by side"
    )
    args = parser.parse_args(argv)

    with _common.BenchDatabase(NAME) as db:
        db.setup_django()
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {RAW_TABLE} (id bigserial PRIMARY KEY, body text NOT NULL)")
        print(f"body size: {len(sample_body())} bytes; {args.writers} writers x {args.entries} entries per run")
        modes = ["audit_record", "raw INSERT"] + ([ORM_BASELINE] if args.with_orm_baseline else [])
        runs: dict[str, list[dict]] = {mode: [] for mode in modes}
        for run in range(args.runs):
            shift = run % len(modes)
            order = modes[shift:] + modes[:shift]
            if len(modes) == 2 and run % 2:
                order = ["raw INSERT", "audit_record"]
            line = []
            for mode in order:
                reset_tables()
                connection.close()
                result = run_mode(mode, args.writers, args.entries)
                table = RAW_TABLE if mode == "raw INSERT" else "audit_pending"
                with connection.cursor() as cursor:
                    cursor.execute(f"SELECT count(*) FROM {table}")
                    written = cursor.fetchone()[0]
                assert written == args.writers * (args.entries + WARMUP), (mode, written)
                runs[mode].append(result)
                line.append(f"{mode} {result['rate']:,.0f}/s")
            print(f"run {run + 1}: " + "; ".join(line))

        ours = _common.median(r["rate"] for r in runs["audit_record"])
        raw = _common.median(r["rate"] for r in runs["raw INSERT"])
        ratio = ours / raw
        _common.print_table(
            f"audit capture, {args.writers} writer processes x {args.entries} entries, {args.runs} runs (medians)",
            ["mode", "entries/s", "min", "max", "seconds"],
            [
                [
                    mode,
                    _common.median(r["rate"] for r in rs),
                    min(r["rate"] for r in rs),
                    max(r["rate"] for r in rs),
                    _common.median(r["seconds"] for r in rs),
                ]
                for mode, rs in runs.items()
            ],
        )
        print(f"ratio audit_record / raw INSERT: {ratio:.2f} (ratio of the medians)")
        per_run = {
            mode: _common.median(r["rate"] / raw_r["rate"] for r, raw_r in zip(rs, runs["raw INSERT"], strict=True))
            for mode, rs in runs.items()
            if mode != "raw INSERT"
        }
        for mode, value in per_run.items():
            print(f"median of per-run ratios {mode} / raw INSERT: {value:.2f}")
        print(
            f"target >= 1,000 entries/s: {_common.verdict(ours >= 1000)}; "
            f"target ratio >= 0.5: {_common.verdict(ratio >= 0.5)}"
        )
        _common.record(
            NAME,
            vars(args),
            {
                "audit_record_rate": ours,
                "raw_insert_rate": raw,
                "ratio": ratio,
                "per_run_ratio_medians": per_run,
                "runs": runs,
            },
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
