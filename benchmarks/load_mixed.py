"""Load: a running node (gunicorn + Celery worker on PostgreSQL and Redis, all on loopback) under
concurrent users mixing case views, evidence matching, hash lookups and exchange inbox posts.

    .venv/bin/python benchmarks/load_mixed.py [--users 50] [--duration 180] [--quick]

The script sets up its own node, as tests/federation/conftest.py does for the two-node tests
(its Proc, free_port and http are reused): a fresh database ``casebridge_load`` (dropped and
recreated, migrated), Redis database 13 (flushed; broker and cache), a temporary var and bundle
directory, production-like settings (DEBUG=0, random SECRET_KEY, KEY_ENCRYPTION_KEY and
AUDIT_SIGNING_KEY, AUDIT_INTEGRATE_ON_COMMIT=0), gunicorn (``--workers``, sync) and one Celery
worker with embedded beat (``--pool=solo``; it integrates the audit log once a second), each in
its own process group and stopped by group at the end, also on Ctrl-C or an error. The world is
set up inside the node through the services (benchmarks/_load_setup.py): an agency with
investigators and API tokens, a hash set, cases with evidence, and partner agencies "on another
node" with pre-sealed lead bundles.

Then locust runs headless (benchmarks/locustfile_mixed.py): ``--users`` users (one per partner
stream pushing bundles to the inbox, the rest investigators with API tokens), spawned at
``--spawn-rate``/s, each thinking ``--think`` seconds (uniform) between requests. Reported per
endpoint: requests, errors, requests/s, p50 and p99 latency, and p99 / the p99 of ``/healthz``
in the same run (a view without database work: the cost of the HTTP stack and the queue alone).

Nothing lost: after the run (and once the worker has integrated every pending audit entry), every
2xx response is looked for in the database and in the audit log (counted per endpoint), and the
audit log's latest signed checkpoint must cover every entry. Exit status 1 if anything is
missing or any request failed.

Hash lookups are limited per user (HASH_LOOKUP_DIGESTS_PER_HOUR, default 500,000 digests an hour);
the node gets a budget of 100,000,000 so the benchmark measures throughput, not the limit, and the
budget and partner rate limits are kept in Redis (CACHE_URL) as on a production node with several
web processes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402
from benchmarks._load_endpoints import (  # noqa: E402
    CASE_DETAIL,
    CASE_LIST,
    ENDPOINTS,
    EVIDENCE_ADD,
    EVIDENCE_TRIAGE,
    HEALTHZ,
    INBOX,
    LOOKUP_BATCH,
    LOOKUP_ONE,
)  # fmt: skip
from tests.federation.conftest import Proc, free_port, node_env, web_ready  # noqa: E402

NAME = "load_mixed"
DATABASE = "casebridge_load"
REDIS_DB = 13
LOCK_KEY = 0x4342_4C44  # "CBLD": one load run per PostgreSQL server at a time (it drops casebridge_load)
START_TIMEOUT = 120
LOCUSTFILE = ROOT / "benchmarks" / "locustfile_mixed.py"

# Longer than a minute: `make bench` (quick) runs the smoke size, --full the documented one.
BENCH_QUICK_ARGS = ["--quick"]
BENCH_FULL_ARGS = ["--users", "50", "--duration", "180"]

# gunicorn's access log line ("METHOD path" -> endpoint name), for the time spent inside a worker
PATHS = [
    (HEALTHZ, re.compile(r"GET /healthz$")),
    (CASE_LIST, re.compile(r"GET /api/v1/cases/(\?.*)?$")),
    (CASE_DETAIL, re.compile(r"GET /api/v1/cases/\d+$")),
    (EVIDENCE_ADD, re.compile(r"POST /api/v1/cases/\d+/evidence$")),
    (EVIDENCE_TRIAGE, re.compile(r"GET /api/v1/cases/\d+/evidence\?")),
    (LOOKUP_ONE, re.compile(r"GET /api/v1/hashes/md5/")),
    (LOOKUP_BATCH, re.compile(r"POST /api/v1/hashes/lookup$")),
    (INBOX, re.compile(r"POST /api/v1/exchange/inbox$")),
]
ACCESS_FORMAT = '%(t)s "%(r)s" %(s)s %(L)s'
_ACCESS_LINE = re.compile(r'"(\S+) (\S+) [^"]*" (\d{3}) ([\d.]+)$')


# --------------------------------------------------------------------------- the node


def _redis_base() -> str:
    broker = os.environ.get("CELERY_BROKER_URL") or "redis://127.0.0.1:6379/0"
    parts = urlsplit(broker)
    if parts.scheme not in ("redis", "rediss"):
        parts = urlsplit("redis://127.0.0.1:6379/0")
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


class LoadNode:
    """One node: database, Redis DB 13, gunicorn, a worker with beat, a temporary directory."""

    def __init__(self, base: Path, *, workers: int) -> None:
        self.base = base
        self.workers = workers
        self.db_url = _common.database_url(DATABASE)
        self.redis_url = f"{_redis_base()}/{REDIS_DB}"
        self.logs = base / "logs"
        for sub in ("var", "bundles", "logs", "sealed"):
            (base / sub).mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.env = node_env(
            database_url=self.db_url,
            broker_url=self.redis_url,
            audit_origin="load.casebridge.test/audit",
            var_dir=base / "var",
            bundle_dir=base / "bundles",
            CACHE_URL=self.redis_url,  # lookup budgets and partner rate limits shared by the web workers
            HASH_LOOKUP_DIGESTS_PER_HOUR="100000000",
            LOG_LEVEL="WARNING",
        )
        self.web: Proc | None = None
        self.worker: Proc | None = None
        self._db = None

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- database and Redis ---

    def recreate(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushdb()
        finally:
            client.close()
        server = _common._pg_args(self.db_url)
        subprocess.run(["dropdb", *server, "--if-exists", "--force", DATABASE], check=True)
        subprocess.run(["createdb", *server, DATABASE], check=True)
        with (self.logs / "migrate.log").open("wb") as log:
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--no-input", "-v", "1"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, check=True,
            )  # fmt: skip

    def sql(self, query: str, params=()) -> list[tuple]:
        import psycopg

        if self._db is None or self._db.closed:
            self._db = psycopg.connect(self.db_url, autocommit=True)
        with self._db.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def value(self, query: str, params=()):
        rows = self.sql(query, params)
        return rows[0][0] if rows else None

    def celery_queued(self) -> int:
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            return int(client.llen("celery"))
        finally:
            client.close()

    # --- processes ---

    def launch(self) -> None:
        self.web = Proc(
            "web",
            [
                sys.executable, "-m", "gunicorn", "casebridge.wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers), "--timeout", "120",
                "--graceful-timeout", "5", "--no-control-socket",
                "--access-logfile", str(self.logs / "access.log"), "--access-logformat", ACCESS_FORMAT,
                "--error-logfile", "-",
            ],
            self.env,
            self.logs / "web.log",
        )  # fmt: skip
        self.worker = Proc(
            "worker",
            [
                sys.executable, "-m", "celery", "-A", "casebridge", "worker", "--pool=solo", "--beat",
                "--schedule", str(self.base / "var" / "celerybeat-schedule"), "--loglevel=INFO",
                "--hostname", "load@%h", "--without-gossip", "--without-mingle",
            ],
            self.env,
            self.logs / "worker.log",
        )  # fmt: skip
        self.web.start()
        self.worker.start()

    def wait_started(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        web_ready(self.web, self.url("/readyz"), what="gunicorn", timeout=START_TIMEOUT)
        while " ready." not in self.worker.output():
            if not self.worker.alive or time.monotonic() > deadline:
                raise RuntimeError(f"the Celery worker did not start:\n{_tail(self.worker.log)}")
            time.sleep(0.2)

    def stop(self) -> None:
        for proc in (self.web, self.worker):
            if proc is not None:
                proc.stop()
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {path})"


@contextlib.contextmanager
def _exclusive():
    """One load run per PostgreSQL server at a time (it drops and recreates casebridge_load)."""
    import psycopg

    with psycopg.connect(_common.database_url("postgres"), autocommit=True) as admin:
        waited = time.monotonic()
        while not admin.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
            if time.monotonic() - waited > 900:
                raise RuntimeError("another load benchmark held the lock for 15 minutes")
            time.sleep(2)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):
                admin.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


# --------------------------------------------------------------------------- counting


def _wait_integrated(node: LoadNode, timeout: float = 300) -> float:
    """Until the worker has integrated every pending audit entry and a checkpoint covers them all."""
    started = time.monotonic()
    while True:
        pending = node.value("SELECT count(*) FROM audit_pending")
        entries = node.value("SELECT count(*) FROM audit_entry")
        covered = node.value("SELECT coalesce(max(size), 0) FROM audit_checkpoint")
        if pending == 0 and covered == entries and node.celery_queued() == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise RuntimeError(
                f"audit log not integrated after {timeout:.0f} s: {pending} pending, {entries} entries, "
                f"checkpoint at {covered}; worker log:\n{_tail(node.worker.log)}"
            )
        time.sleep(0.5)


def _snapshot(node: LoadNode) -> dict:
    return {
        "audit_index": node.value("SELECT coalesce(max(index), -1) FROM audit_entry"),
        "evidence_items": node.value("SELECT count(*) FROM cases_evidenceitem"),
        "leads_received": node.value("SELECT count(*) FROM cases_lead WHERE received"),
    }


def _audit_counts(node: LoadNode, after: int) -> dict[str, int]:
    rows = node.sql(
        """
        SELECT action || CASE WHEN action = 'hash.lookup'
                              THEN ':' || (canonical::jsonb #>> '{details,via}') ELSE '' END,
               count(*)
          FROM audit_entry WHERE index > %s GROUP BY 1
        """,
        (after,),
    )
    return dict(rows)


def _checks(node: LoadNode, tally: dict, before: dict) -> list[tuple[str, int, int]]:
    """(what, 2xx responses or what they reported, what the database / audit log holds)."""
    ok = tally["ok"]
    audit = _audit_counts(node, before["audit_index"])
    lookup_digests = node.value(
        "SELECT coalesce(sum((canonical::jsonb #>> '{details,digests}')::int), 0) FROM audit_entry "
        "WHERE index > %s AND action = 'hash.lookup'",
        (before["audit_index"],),
    )
    inbox_ids = [bundle_id for bundle_id, _state in tally["inbox"]]
    applied = node.value(
        "SELECT count(*) FROM exchange_bundle WHERE direction = 'in' AND state = 'applied' "
        "AND bundle_id::text = ANY(%s)",
        (inbox_ids,),
    )
    answered_applied = sum(1 for _bundle_id, state in tally["inbox"] if state == "applied")
    return [
        (f"{CASE_LIST}: audit case.list", ok.get(CASE_LIST, 0), audit.get("case.list", 0)),
        (f"{CASE_DETAIL}: audit case.view", ok.get(CASE_DETAIL, 0), audit.get("case.view", 0)),
        (f"{EVIDENCE_ADD}: audit evidence.add", ok.get(EVIDENCE_ADD, 0), audit.get("evidence.add", 0)),
        (
            f"{EVIDENCE_ADD}: items added (responses) vs evidence rows",
            tally["evidence_added"],
            node.value("SELECT count(*) FROM cases_evidenceitem") - before["evidence_items"],
        ),
        (f"{EVIDENCE_TRIAGE}: audit evidence.view", ok.get(EVIDENCE_TRIAGE, 0), audit.get("evidence.view", 0)),
        (f"{LOOKUP_ONE}: audit hash.lookup (single)", ok.get(LOOKUP_ONE, 0), audit.get("hash.lookup:single", 0)),
        (f"{LOOKUP_BATCH}: audit hash.lookup (batch)", ok.get(LOOKUP_BATCH, 0), audit.get("hash.lookup:batch", 0)),
        ("hash lookups: digests (responses) vs audited digests", tally["lookup_digests"], lookup_digests),
        (f"{INBOX}: answered 'applied' (of 2xx)", ok.get(INBOX, 0), answered_applied),
        (f"{INBOX}: bundles stored and applied", ok.get(INBOX, 0), applied),
        (
            f"{INBOX}: leads received",
            ok.get(INBOX, 0),
            node.value("SELECT count(*) FROM cases_lead WHERE received") - before["leads_received"],
        ),
        (f"{INBOX}: audit bundle.receive", ok.get(INBOX, 0), audit.get("bundle.receive", 0)),
        (f"{INBOX}: audit bundle.apply", ok.get(INBOX, 0), audit.get("bundle.apply", 0)),
        (f"{INBOX}: audit lead.create", ok.get(INBOX, 0), audit.get("lead.create", 0)),
        (
            "inbox: bundles held or quarantined (expected 0)",
            0,
            node.value("SELECT count(*) FROM exchange_bundle WHERE direction = 'in' AND state <> 'applied'"),
        ),
    ]


def _access_log(node: LoadNode) -> tuple[int, dict[str, list[float]]]:
    """(5xx responses, per endpoint the milliseconds each request spent inside a gunicorn worker).

    A worker's time excludes the wait in the listen backlog for a free worker, which the client's
    response time includes: the difference between the two is queueing.
    """
    fivexx, inside = 0, {name: [] for name in ENDPOINTS}
    with contextlib.suppress(OSError), (node.logs / "access.log").open(errors="replace") as handle:
        for line in handle:
            match = _ACCESS_LINE.search(line.rstrip())
            if not match:
                continue
            method, path, status, seconds = match.groups()
            if status.startswith("5"):
                fivexx += 1
            request = f"{method} {path}"
            for name, pattern in PATHS:
                if pattern.match(request):
                    inside[name].append(float(seconds) * 1000)
                    break
    return fivexx, inside


def _tracebacks(node: LoadNode) -> int:
    return node.web.output().count("Traceback (most recent call last)") if node.web else 0


def _table(tally: dict, inside: dict[str, list[float]]) -> tuple[list[list], dict]:
    """Per endpoint from every request locust made (its request events, see locustfile_mixed.py).

    Not from locust's CSV: in a smoke run it missed requests that completed during --stop-timeout,
    and the counts check needs every one of them.
    """
    seconds = max(tally["ended"] - tally["started"], 1e-9)
    times = {name: [ms for _at, ms in tally["times"].get(name, [])] for name in ENDPOINTS}
    base_p99 = _common.percentile(times[HEALTHZ], 99)
    base_inside_p99 = _common.percentile(inside[HEALTHZ], 99)
    rows, results = [], {}
    for name in [*ENDPOINTS, "all"]:
        if name == "all":
            values = [t for endpoint in ENDPOINTS for t in times[endpoint]]
            worker = [t for endpoint in ENDPOINTS for t in inside[endpoint]]
            ok = sum(tally["ok"].get(endpoint, 0) for endpoint in ENDPOINTS)
        else:
            values, worker, ok = times[name], inside[name], tally["ok"].get(name, 0)
        requests = len(values)
        p50, p99 = _common.percentile(values, 50), _common.percentile(values, 99)
        w50, w99 = _common.percentile(worker, 50), _common.percentile(worker, 99)
        ratio = p99 / base_p99 if name != "all" and base_p99 else math.nan
        w_ratio = w99 / base_inside_p99 if name != "all" and base_inside_p99 else math.nan
        rows.append([name, requests, requests - ok, requests / seconds, p50, p99, ratio, w50, w99, w_ratio])
        results[name] = {
            "requests": requests, "errors": requests - ok, "req_per_s": requests / seconds, "p50_ms": p50,
            "p99_ms": p99, "p99_ratio_to_healthz": ratio, "worker_p50_ms": w50, "worker_p99_ms": w99,
            "worker_p99_ratio_to_healthz": w_ratio, "statuses": tally["status"].get(name, {}),
        }  # fmt: skip
    return rows, results


def _stalls(tally: dict, threshold_ms: float = 500) -> list[tuple[int, int]]:
    """Seconds into the run in which some /healthz request took longer than `threshold_ms`, with how many."""
    slow: dict[int, int] = {}
    for at, ms in tally["times"].get(HEALTHZ, []):
        if ms > threshold_ms:
            second = int(at - ms / 1000 - tally["started"])
            slow[second] = slow.get(second, 0) + 1
    return sorted(slow.items())


def _interrupted(signum, frame):
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="Concurrent locust users.")
    parser.add_argument("--duration", type=int, default=180, help="Seconds of load.")
    parser.add_argument("--spawn-rate", type=float, default=10, help="Users started per second.")
    parser.add_argument("--think", default="0.5,1.5", help="Think time between a user's requests: min,max seconds.")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn (sync) worker processes.")
    parser.add_argument("--partners", type=int, default=0, help="Partner nodes pushing bundles (default users/10).")
    parser.add_argument("--quick", action="store_true", help="Smoke size: 10 users for 20 s, a small world.")
    parser.add_argument("--keep-dir", action="store_true", help="Keep the temporary directory (logs, tally).")
    args = parser.parse_args()
    if args.quick:
        args.users, args.duration = 10, 20
    think_min, think_max = (float(x) for x in args.think.split(","))
    partners = args.partners or max(2, round(args.users / 10))
    if partners >= args.users:
        parser.error("--partners must leave users for the investigators")
    world_size = {
        "investigators": 4 if args.quick else 10,
        "cases_per": 5 if args.quick else 10,
        "with_evidence": 2 if args.quick else 3,
        "records": 5_000 if args.quick else 20_000,
        "partners": partners,
        # enough for a partner that never waits longer than the shortest think time
        "bundles_per": int(args.duration / max(think_min, 0.1)) + 10,
    }
    params = {**vars(args), "partners": partners, "world": world_size}

    # SIGTERM (and SIGINT, even when started in the background) stop the node like Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    base = Path(tempfile.mkdtemp(prefix="cb-load-"))
    print(f"load benchmark: {args.users} users ({partners} partner nodes) for {args.duration} s; files in {base}")
    node = LoadNode(base, workers=args.workers)
    locust: Proc | None = None
    failed = False
    try:
        with _exclusive():
            started = time.perf_counter()
            node.recreate()
            print(f"database {DATABASE}: created and migrated in {time.perf_counter() - started:.1f} s")
            node.launch()
            setup_args = {
                **world_size, "out": str(base / "world.json"), "node_url": node.url(),
                "bundle_root": str(base / "sealed"),
            }  # fmt: skip
            with (node.logs / "setup.log").open("wb") as log:
                done = subprocess.run(
                    [sys.executable, str(ROOT / "benchmarks" / "_load_setup.py"), json.dumps(setup_args)],
                    cwd=ROOT, env=node.env, stdout=subprocess.PIPE, stderr=log, check=False,
                )  # fmt: skip
            if done.returncode != 0:
                raise RuntimeError(f"_load_setup.py failed:\n{_tail(node.logs / 'setup.log')}")
            node.wait_started()
            print(f"world set up ({done.stdout.decode().strip()}); node up on port {node.port}")
            _wait_integrated(node)
            before = _snapshot(node)

            prefix = base / "locust"
            tally_path = base / "tally.json"
            locust = Proc(
                "locust",
                [
                    sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", str(args.users),
                    "-r", str(args.spawn_rate), "-t", f"{args.duration}s", "--stop-timeout", "60",
                    "--host", node.url(), "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING",
                ],
                {
                    **os.environ, "LOAD_WORLD": str(base / "world.json"), "LOAD_TALLY": str(tally_path),
                    "LOAD_THINK": f"{think_min},{think_max}",
                },
                node.logs / "locust.log",
            )  # fmt: skip
            load_avg_before = os.getloadavg()[0]
            started = time.perf_counter()
            locust.start()
            locust.popen.wait(timeout=args.duration + 300)
            elapsed = time.perf_counter() - started
            load_avg_after = os.getloadavg()[0]
            if not tally_path.exists():
                raise RuntimeError(f"locust wrote no tally (exit {locust.popen.returncode}):\n{_tail(locust.log)}")
            tally = json.loads(tally_path.read_text(encoding="utf-8"))
            drained = _wait_integrated(node)

            fivexx, inside = _access_log(node)
            tracebacks = _tracebacks(node)
            rows, results = _table(tally, inside)
            _common.print_table(
                f"{args.users} users, {args.duration} s, think {think_min}-{think_max} s, gunicorn {args.workers} "
                f"sync workers; load average {load_avg_before:.1f} before, {load_avg_after:.1f} after. Client side "
                "(locust), then inside a gunicorn worker (access log: without the wait for a free worker)",
                [
                    "endpoint", "requests", "errors", "req/s", "p50 ms", "p99 ms", "p99 / healthz",
                    "worker p50", "worker p99", "worker p99 / healthz",
                ],
                rows,
            )  # fmt: skip
            stalls = _stalls(tally)
            print(
                f"/healthz slower than 500 ms in {len(stalls)} distinct seconds of the run"
                + (f" (second: count) {dict(stalls)}" if stalls else "")
            )
            checks = _checks(node, tally, before)
            _common.print_table(
                f"Nothing lost? (audit log integrated {drained:.1f} s after the load ended)",
                ["check", "2xx / reported", "database / audit log", "ok"],
                [[what, want, got, "yes" if want == got else "NO"] for what, want, got in checks],
            )
            errors = sum(row[2] for row in rows[:-1])
            lost = [(what, want, got) for what, want, got in checks if want != got]
            print(
                f"\nlocust ran {elapsed:.0f} s (exit {locust.popen.returncode}); partner users that ran out of "
                f"bundles: {tally['inbox_exhausted']}; gunicorn: {fivexx} 5xx responses, {tracebacks} tracebacks"
            )
            if lost:
                print("LOST OR EXTRA: " + "; ".join(f"{what}: {want} vs {got}" for what, want, got in lost))
            else:
                print("nothing lost: every 2xx response is in the database and in the audit log")
            if errors or fivexx:
                print(f"ERRORS: {errors} failed requests, {fivexx} 5xx responses (see {node.logs})")
            failed = bool(lost or errors or fivexx or tracebacks)
            _common.record(
                NAME,
                params,
                {
                    "endpoints": results, "checks": [list(c) for c in checks], "nothing_lost": not lost,
                    "server_5xx": fivexx, "tracebacks": tracebacks, "load_avg": [load_avg_before, load_avg_after],
                    "healthz_stall_seconds": stalls,
                },
            )  # fmt: skip
    except BaseException:
        failed = True
        print(f"\nlogs under {base / 'logs'}", file=sys.stderr)
        args.keep_dir = True
        raise
    finally:
        if locust is not None:
            locust.stop()
        node.stop()
        if failed:
            args.keep_dir = True
        if not args.keep_dir:
            import shutil

            shutil.rmtree(base, ignore_errors=True)
        else:
            print(f"files kept in {base}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
