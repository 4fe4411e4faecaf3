"""Benchmark the time from an audit entry's commit to the first signed checkpoint that covers it.

    .venv/bin/python benchmarks/audit_checkpoint_latency.py [--rate 200] [--duration 30] [--runs 3]

Creates the database ``casebridge_bench_audit_checkpoint_latency``. In each run, ``--writers``
processes together commit ``--rate`` entries per second through ``audit_record`` (each in its own
transaction, on a fixed schedule) for ``--duration`` seconds while one integrator process runs,
and this process polls ``audit_checkpoint`` every ``--poll`` seconds, noting when each new
checkpoint becomes visible. Afterwards each entry's index is read from ``audit_entry`` (matched
by its unique object id) and its latency is: time the first checkpoint with size > index was
seen - time the writer's commit returned. Percentiles are over all entries of a run.

Two integrators, alternating between runs (each run starts a fresh one):

* ``audit_integrator``: the production loop, ``manage.py audit_integrator`` (pass every
  0.25 s when idle, a checkpoint at most once per second: ``audit.integrator.CHECKPOINT_INTERVAL``).
* ``checkpoint every pass`` (baseline): a loop calling ``audit_integrate(force_checkpoint=True)``
  with the same idle interval, i.e. the same integration work without the once-a-second limit on
  signing; the floor the production loop is compared with.

Reported per integrator: p50/p95/max latency (median over runs of each, and pooled over all
entries), and the ratio of p95s. Target: production p95 <= 2 s.
"""

from __future__ import annotations

import argparse
import bisect
import multiprocessing as mp
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402

NAME = "audit_checkpoint_latency"
BENCH_QUICK_ARGS = ["--duration", "15", "--runs", "2"]
BENCH_FULL_ARGS = ["--duration", "60", "--runs", "3"]
MODES = ("audit_integrator", "checkpoint every pass")


def writer(index: int, run: int, rate: float, duration: float, barrier, results) -> None:
    """Commit entries at `rate` per second for `duration` seconds; report (object id, commit time)."""
    _common.setup_django_from_env()
    from django.db import connection, transaction

    from audit.actions import Action
    from audit.capture import Actor, audit_record

    actor = Actor(type="user", id="17", name="bench.investigator", role="investigator", auth="session", agency="BENCH")
    connection.ensure_connection()
    committed: list[tuple[str, float]] = []
    barrier.wait()
    started = time.monotonic()
    count = int(rate * duration)
    for n in range(count):
        due = started + n / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        object_id = f"lat-{run}-{index}-{n}"
        with transaction.atomic():
            audit_record(
                action=Action.CASE_VIEW,
                actor=actor,
                object_type="case",
                object_id=object_id,
                details={"case": f"CB-2025-{n:06d}", "via": "web"},
            )
        committed.append((object_id, time.monotonic()))
    connection.close()
    results.put((index, committed, time.monotonic() - started))


def integrator_loop(interval: float) -> int:
    """Baseline integrator: the command's loop, but a checkpoint after every pass that added entries."""
    _common.setup_django_from_env()
    from django.db import close_old_connections

    from audit.integrator import audit_integrate

    stopping = False

    def stop(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping:
        close_old_connections()
        added = audit_integrate(force_checkpoint=True)
        if not added:
            time.sleep(interval)
    return 0


class CheckpointPoller(threading.Thread):
    """Polls audit_checkpoint on its own connection; remembers when each size was first seen."""

    def __init__(self, url: str, poll: float) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.poll = poll
        self.seen: list[tuple[int, float]] = []  # (size, monotonic time first seen), sizes increasing
        self.stop_event = threading.Event()
        self.largest = 0

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self.stop_event.is_set():
                rows = conn.execute(
                    "SELECT size FROM audit_checkpoint WHERE size > %s ORDER BY size", (self.largest,)
                ).fetchall()
                now = time.monotonic()
                for (size,) in rows:
                    self.seen.append((size, now))
                    self.largest = size
                self.stop_event.wait(self.poll)


def start_integrator(mode: str, env: dict, interval: float) -> subprocess.Popen:
    if mode == "audit_integrator":
        command = [_common.PYTHON, _common.MANAGE, "audit_integrator", "--interval", str(interval)]
    else:
        command = [_common.PYTHON, __file__, "--integrator-loop", "--interval", str(interval)]
    return subprocess.Popen(command, env=env, cwd=_common.ROOT)


def _warm_up_entry(run: int) -> None:
    from django.db import transaction

    from audit.actions import Action
    from audit.capture import SYSTEM_ACTOR, audit_record

    with transaction.atomic():
        audit_record(action=Action.CASE_VIEW, actor=SYSTEM_ACTOR, object_type="case", object_id=f"warm-{run}")


def run_once(mode: str, run: int, args, db) -> dict:
    from django.db import connection

    from audit.models import AuditEntry

    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(max(index) + 1, 0) FROM audit_entry")
        size_before = cursor.fetchone()[0]
    poller = CheckpointPoller(db.url, args.poll)
    poller.start()
    integrator = start_integrator(mode, db.env, args.interval)
    try:
        # Warm-up: one entry, and wait until the integrator has signed a checkpoint covering it.
        _warm_up_entry(run)
        size_before += 1
        deadline = time.monotonic() + 60
        while poller.largest < size_before and time.monotonic() < deadline:
            time.sleep(0.02)
        context = mp.get_context("spawn")
        barrier = context.Barrier(args.writers)
        results = context.Queue()
        per_writer = args.rate / args.writers
        processes = [
            context.Process(target=writer, args=(i, run, per_writer, args.duration, barrier, results), daemon=True)
            for i in range(args.writers)
        ]
        for process in processes:
            process.start()
        outputs = [results.get(timeout=args.duration * 10 + 120) for _ in processes]
        for process in processes:
            process.join(timeout=60)
        committed = [item for _, items, _ in outputs for item in items]
        achieved = len(committed) / max(elapsed for _, _, elapsed in outputs)
        # Wait for a checkpoint that covers everything written.
        target = size_before + len(committed)
        deadline = time.monotonic() + 60
        while poller.largest < target and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        integrator.send_signal(signal.SIGTERM)
        try:
            integrator.wait(timeout=30)
        except subprocess.TimeoutExpired:
            integrator.kill()
        poller.stop_event.set()
        poller.join()
    if poller.largest < target:
        raise SystemExit(f"{mode}: no checkpoint covered all {target} entries within 60 s of the last commit")
    ids = [object_id for object_id, _ in committed]
    index_of = dict(AuditEntry.objects.filter(object_id__in=ids).values_list("object_id", "index"))
    sizes = [size for size, _ in poller.seen]
    latencies = []
    for object_id, commit_time in committed:
        index = index_of[object_id]
        position = bisect.bisect_right(sizes, index)  # first checkpoint with size > index
        latencies.append(poller.seen[position][1] - commit_time)
    stats = _common.summary(latencies)
    checkpoints = sum(1 for size in sizes if size > size_before)
    return {
        **stats,
        "entries": len(committed),
        "achieved_rate": achieved,
        "checkpoints": checkpoints,
        "latencies": latencies,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rate", type=float, default=200, help="entries per second, all writers together (default 200)"
    )
    parser.add_argument("--duration", type=float, default=30, help="seconds of writing per run (default 30)")
    parser.add_argument("--writers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="runs per integrator")
    parser.add_argument("--interval", type=float, default=0.25, help="integrator idle interval (the command's default)")
    parser.add_argument("--poll", type=float, default=0.01, help="checkpoint polling interval in seconds")
    parser.add_argument("--integrator-loop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.integrator_loop:
        return integrator_loop(args.interval)

    with _common.BenchDatabase(NAME) as db:
        db.setup_django()
        print(
            f"{args.writers} writers, {args.rate:g} entries/s for {args.duration:g}s per run, "
            f"integrator interval {args.interval}s, polling every {args.poll * 1000:g} ms"
        )
        runs: dict[str, list[dict]] = {mode: [] for mode in MODES}
        for run in range(args.runs):
            order = MODES if run % 2 == 0 else tuple(reversed(MODES))
            for mode in order:
                result = run_once(mode, len(runs[MODES[0]]) + len(runs[MODES[1]]), args, db)
                runs[mode].append(result)
                print(
                    f"run {run + 1} {mode}: {result['entries']} entries at {result['achieved_rate']:.0f}/s, "
                    f"{result['checkpoints']} checkpoints; latency p50 {result['p50']:.3f}s "
                    f"p95 {result['p95']:.3f}s max {result['max']:.3f}s"
                )

        table = []
        summary = {}
        for mode, results in runs.items():
            pooled = _common.summary([x for r in results for x in r["latencies"]])
            row = {
                "p50": _common.median(r["p50"] for r in results),
                "p95": _common.median(r["p95"] for r in results),
                "max": max(r["max"] for r in results),
                "pooled_p50": pooled["p50"],
                "pooled_p95": pooled["p95"],
                "pooled_p99": pooled["p99"],
                "entries": sum(r["entries"] for r in results),
                "checkpoints_per_run": _common.median(r["checkpoints"] for r in results),
            }
            summary[mode] = row
            table.append(
                [mode, row["p50"], row["p95"], row["max"], pooled["p99"], row["entries"], row["checkpoints_per_run"]]
            )
        _common.print_table(
            f"commit -> covering checkpoint latency (seconds; p50/p95 = medians over {args.runs} runs, max over all)",
            ["integrator", "p50 s", "p95 s", "max s", "pooled p99 s", "entries", "checkpoints/run"],
            table,
        )
        ours, floor = summary[MODES[0]], summary[MODES[1]]
        ratio = ours["p95"] / floor["p95"]
        print(f"ratio p95 audit_integrator / checkpoint every pass: {ratio:.2f}")
        print(f"target p95 <= 2 s: {_common.verdict(ours['p95'] <= 2.0)}")
        for results in runs.values():
            for r in results:
                r.pop("latencies")
        _common.record(
            NAME,
            {k: v for k, v in vars(args).items() if k != "integrator_loop"},
            {"summary": summary, "p95_ratio": ratio, "runs": runs},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
