"""PostgreSQL restarts while requests are in flight: the app answers 503 (never a stack trace, never
a success without its data) and recovers by itself once the database is back.

The node under test is real (gunicorn with 2 workers, a Celery worker with beat, the shared Node
class of the federation tests) on a PostgreSQL cluster of this test's own, made with initdb in a
temporary directory on a free port, so crashing it touches nobody else's database.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.federation.conftest import Node, RedisServer, _tail, free_port, http, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.slow]

CLIENTS = 6


def _postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster: trust auth on 127.0.0.1, no fsync, owned by `postgres` when we
    are root (initdb refuses to run as root)."""

    def __init__(self, bindir: Path) -> None:
        # Not under pytest's temporary directory: that is private to us, and the server runs as postgres.
        base = Path(tempfile.mkdtemp(prefix="casebridge-pg-"))
        self.base, self.dir, self.bindir, self.port = base, base / "pgdata", bindir, free_port()
        self.log = base / "postgres.log"
        self.as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.as_postgres:
            shutil.chown(base, "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str, timeout: float = 120) -> None:
        done = subprocess.run(
            [*self.as_postgres, *argv], capture_output=True, text=True, timeout=timeout, cwd=self.dir.parent
        )
        if done.returncode != 0:
            raise AssertionError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}\n{_tail(self.log)}")

    def init(self) -> None:
        self._run(str(self.bindir / "initdb"), "-D", str(self.dir), "-U", "postgres", "-A", "trust", "--no-sync")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off -c max_connections=50"
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir), "-l", str(self.log), "-o", options, "-w", "start")

    def crash(self) -> None:
        """Immediate shutdown: every backend killed, no checkpoint; the next start runs crash recovery."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir), "-m", "immediate", "-w", "stop")

    def stop(self) -> None:
        if (self.dir / "postmaster.pid").exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.dir), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("needs PostgreSQL's server binaries (initdb, pg_ctl) to make a cluster of its own")
    base = tmp_path_factory.mktemp("pg-restart")
    postgres = PrivatePostgres(bindir)
    postgres.init()
    postgres.start()
    redis_server = RedisServer(base)
    redis_server.start()
    node = Node("a", base=base, database_url=postgres.url, redis_base=redis_server.url)
    node.postgres = postgres
    try:
        import psycopg

        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{node.db_name}"')
        migrate = node.migrate()
        assert migrate.wait(timeout=300) == 0, _tail(node.logs / "migrate.log")
        node.launch()
        node.wait_started()
        node.info = node.shell("init", code="NSP", name="Northshire Police", country="GB", node_url=node.url(""))
        yield node
    finally:
        for proc in (node.worker, node.web):
            if proc is not None:
                proc.stop()
        if node.shell is not None:
            node.shell.close()
        node.close_db()
        redis_server.proc.stop()
        postgres.stop()


class Clients:
    """Threads creating cases and looking up hashes through the API until told to stop; every
    answer is recorded (status, and the case title for a 201)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.headers = {"Authorization": f"Bearer {node.info['api_token']}", "Content-Type": "application/json"}
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.statuses: Counter[tuple[str, int | str]] = Counter()
        self.created: list[str] = []
        self.threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)]

    def _run(self, n: int) -> None:
        import json

        count = 0
        while not self.stop.is_set():
            count += 1
            title = f"restart-{n}-{count}"
            try:
                status, _ = http(
                    "POST", self.node.url("/api/v1/cases/"), data=json.dumps({"title": title}).encode(),
                    headers=self.headers, timeout=30,
                )  # fmt: skip
            except OSError as exc:  # refused while gunicorn cannot answer: counted, not a success
                status = type(exc).__name__
            with self.lock:
                self.statuses[("create", status)] += 1
                if status == 201:
                    self.created.append(title)
            try:
                status, _ = http(
                    "GET", self.node.url(f"/api/v1/hashes/md5/{count:032x}"), headers=self.headers, timeout=30
                )
            except OSError as exc:
                status = type(exc).__name__
            with self.lock:
                self.statuses[("lookup", status)] += 1

    def __enter__(self) -> Clients:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)

    def count(self, what: str, status) -> int:
        with self.lock:
            return self.statuses[(what, status)]


def test_postgres_crash_mid_requests_the_app_recovers_and_no_success_lacks_its_data(node):
    with Clients(node) as clients:
        wait_until(lambda: clients.count("create", 201) >= 20, timeout=60, what="cases being created")
        node.postgres.crash()
        time.sleep(2)  # requests keep arriving at a node without a database
        during = dict(clients.statuses)
        node.postgres.start()
        created_before_recovery = clients.count("create", 201)
        # The app recovers by itself: new connections pass their health check, requests succeed again.
        wait_until(
            lambda: clients.count("create", 201) >= created_before_recovery + 20,
            timeout=60,
            what="cases created again after the restart",
        )
    statuses = dict(clients.statuses)
    print(f"answers during the test: {sorted(statuses.items(), key=str)}")
    failures = {key: n for key, n in statuses.items() if key[1] not in (200, 201)}
    # Requests in flight or arriving while the database was down were refused cleanly: 503 with
    # Retry-After, never a 500 (a stack trace path) and never a success.
    assert failures, f"the crash went unnoticed, which means the test did not test anything: {statuses}"
    assert {status for _what, status in failures} <= {503}, statuses
    assert any(status == 503 for _what, status in during), during

    # No success without its data: every case the API said it created is in the database ...
    titles = {row["title"] for row in node.sql("SELECT title FROM cases_case WHERE title LIKE 'restart-%%'")}
    assert set(clients.created) <= titles, sorted(set(clients.created) - titles)[:10]
    # ... and is audited: once the node's integrator has caught up, one case.create entry per case.
    cases = node.value("SELECT count(*) FROM cases_case WHERE title LIKE 'restart-%%'")

    def audited() -> int:
        pending = node.value("SELECT count(*) FROM audit_pending")
        entries = node.value("SELECT count(*) FROM audit_entry WHERE action = 'case.create'")
        return entries if pending == 0 else 0

    wait_until(lambda: audited() >= cases, timeout=60, what="the audit log to catch up")
    assert audited() == cases
    lookups = node.value("SELECT count(*) FROM audit_entry WHERE action = 'hash.lookup'")
    assert lookups >= clients.count("lookup", 200)
