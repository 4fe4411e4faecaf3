"""Two real Casebridge nodes for the federation tests: A hosts NSP, B hosts RNP.

Each node is its own set of processes, as in production: gunicorn on a free loopback port, a
Celery worker with embedded beat on its own Redis database (10 for A, 11 for B of a Redis server
the fixture starts for the federation alone, so a test may crash and restart it), and its own
PostgreSQL database (`casebridge_fed_a`, `casebridge_fed_b`, recreated and migrated), keys,
audit signing key, var and bundle directories. Every process runs in its own process group and
is stopped by group. The partnership is set up through the real services inside each node
(tests/federation/node_setup.py), with the agency cards fetched over HTTP from the other node.

The tests act on a node through its `shell` (node_setup.py serving JSON lines, in the node's
environment) and observe it through SQL on its database and its HTTP API. When a test fails,
the tail of every node log is added to the report.

The fixture is package-scoped: the nodes start once for all federation tests and stop as soon as
the last one has run, so the rest of a full `make test` run never shares the machine with them.
A PostgreSQL advisory lock makes concurrent runs on one server wait for each other instead of
dropping each other's databases.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import queue
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_SETUP = Path(__file__).with_name("node_setup.py")
LOCK_KEY = 0x4342_4644  # "CBFD": this suite owns the casebridge_fed_* databases while it runs
LOCK_WAIT_SECONDS = 600
START_TIMEOUT = 90

# key: (agency code, agency name, country, Redis database number)
NODE_SPECS = {"a": ("NSP", "Northshire Police", "GB", 10), "b": ("RNP", "Rivermark Police", "NL", 11)}

# Settings the nodes get from us, never from the environment of the test run (nor as NAME_FILE).
_NODE_OWNED = {
    "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "DATABASE_TEST_NAME", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND",
    "CELERY_TASK_ALWAYS_EAGER", "AUDIT_INTEGRATE_ON_COMMIT", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS",
    "SECURE_SSL_REDIRECT", "SECURE_COOKIES", "SECURE_HSTS_SECONDS", "SECURE_HSTS_PRELOAD", "TRUST_X_FORWARDED_PROTO",
    "KEY_ENCRYPTION_KEY", "KEY_ENCRYPTION_KEY_PREVIOUS", "AUDIT_SIGNING_KEY", "AUDIT_ORIGIN", "CASEBRIDGE_VAR_DIR",
    "EXCHANGE_BUNDLE_DIR", "EXCHANGE_HTTP_TIMEOUT", "EXCHANGE_SWEEP_SECONDS", "EXCHANGE_PARTNER_NETWORKS",
    "EXCHANGE_UPLOAD_MIN_BYTES_PER_SECOND", "EXCHANGE_UPLOAD_WINDOW_SECONDS", "CACHE_URL", "LOG_LEVEL",
}  # fmt: skip


class NodeStartError(RuntimeError):
    pass


# --- small helpers -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def http(method: str, url: str, *, data: bytes | None = None, headers: dict | None = None, timeout: float = 15):
    """(status, body): the body parsed as JSON when it is JSON, else text. Never raises on 4xx/5xx."""
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


def wait_until(check, *, timeout: float = 60, interval: float = 0.25, what: str = "the condition"):
    """Call `check` until it returns something truthy (returned); fail with its last value on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last value: {last!r}")
        time.sleep(interval)


def _b64_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def node_env(
    *, database_url: str, broker_url: str, audit_origin: str, var_dir: Path, bundle_dir: Path, **settings: str
) -> dict:
    """The environment of one production-like node process: DEBUG off, fresh secret and keys, its own
    database, broker and directories; nothing of _NODE_OWNED comes from the caller's environment."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name.removesuffix("_FILE") not in _NODE_OWNED and not name.startswith("PYTEST_")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="casebridge.settings",
        DATABASE_URL=database_url,
        CELERY_BROKER_URL=broker_url,
        CELERY_TASK_ALWAYS_EAGER="0",
        AUDIT_INTEGRATE_ON_COMMIT="0",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        SECURE_HSTS_SECONDS="0",
        KEY_ENCRYPTION_KEY=_b64_key(),
        AUDIT_SIGNING_KEY=_b64_key(),
        AUDIT_ORIGIN=audit_origin,
        CASEBRIDGE_VAR_DIR=str(var_dir),
        EXCHANGE_BUNDLE_DIR=str(bundle_dir),
        PYTHONUNBUFFERED="1",
    )
    env.update(settings)
    return env


# --- processes -----------------------------------------------------------------------------------


class Proc:
    """One long-running process of a node, in its own process group, logging to a file (appended)."""

    def __init__(self, name: str, argv: list[str], env: dict, log: Path) -> None:
        self.name, self.argv, self.env, self.log = name, argv, env, log
        self.popen: subprocess.Popen | None = None
        self.started_at_offset = 0

    def start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as handle:
            handle.write(f"\n===== {time.strftime('%H:%M:%S')} start {self.name}: {' '.join(self.argv)}\n".encode())
            self.started_at_offset = handle.tell()
            self.popen = subprocess.Popen(
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def output(self) -> str:
        """What this run of the process logged so far."""
        with self.log.open("rb") as handle:
            handle.seek(self.started_at_offset)
            return handle.read().decode(errors="replace")

    def signal_group(self, sig: int) -> None:
        if self.popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to the group, SIGKILL to whatever is left after `timeout`."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGCONT)  # a paused group cannot act on SIGTERM
        self.signal_group(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL to the whole group (leader and children), no shutdown of any kind."""
        if self.popen is None:
            return
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(timeout=10)


def web_ready(web: Proc, url: str, *, what: str, timeout: float = START_TIMEOUT) -> None:
    """Until `url` (the node's /readyz) answers 200; NodeStartError, with the log's tail, if the
    process exits first or `timeout` passes."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if not web.alive:
            raise NodeStartError(f"{what} exited ({web.popen.returncode}):\n{_tail(web.log)}")
        try:
            status, body = http("GET", url, timeout=3)
            if status == 200:
                return
            last = f"HTTP {status}: {body}"
        except OSError as exc:
            last = str(exc)
        time.sleep(0.25)
    raise NodeStartError(f"{what}: {url} not ready after {timeout:.0f} s ({last}):\n{_tail(web.log)}")


class RedisServer:
    """The federation's own Redis on a free loopback port, so a test may crash and restart it
    without touching the Redis anything else on the machine uses. Keeps nothing on disk."""

    def __init__(self, base: Path) -> None:
        self.port = free_port()
        self.proc = Proc(
            "redis",
            [
                "redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no",
                "--protected-mode", "no",
            ],
            dict(os.environ),
            base / "redis.log",
        )  # fmt: skip

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        import redis

        self.proc.start()

        def answers() -> bool:
            if not self.proc.alive:
                pytest.fail(f"redis-server exited:\n{_tail(self.proc.log)}")
            try:
                return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
            except redis.RedisError:
                return False

        wait_until(answers, timeout=30, what=f"redis-server on port {self.port}")

    def crash(self) -> None:
        """SIGKILL: queued messages are gone, as after a crash of a Redis that keeps nothing on disk."""
        self.proc.kill()


class Shell:
    """node_setup.py serving JSON lines inside the node's environment (Django set up once)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.log = node.logs / "shell.log"
        self._stderr = self.log.open("ab")
        self.popen = subprocess.Popen(
            [sys.executable, str(NODE_SETUP), "serve"],
            cwd=ROOT,
            env=node.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            bufsize=1,
            start_new_session=True,
        )
        self._replies: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def wait_ready(self) -> None:
        self._reply(timeout=START_TIMEOUT, op="start")

    def _read(self) -> None:
        for line in self.popen.stdout:
            self._replies.put(line)
        self._replies.put(None)

    def _reply(self, *, timeout: float, op: str):
        try:
            line = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"node {self.node.key} shell: no answer to {op} in {timeout:.0f} s") from None
        if line is None:
            raise AssertionError(f"node {self.node.key} shell exited:\n{_tail(self.log)}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise AssertionError(f"node {self.node.key} shell: {op} failed:\n{reply['error']}")
        return reply["result"]

    def __call__(self, op: str, *, timeout: float = 120, **args):
        self.popen.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
        self.popen.stdin.flush()
        return self._reply(timeout=timeout, op=op)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.popen.stdin.close()
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)
        self._stderr.close()


class Node:
    """One Casebridge node: database, Redis DB, gunicorn, worker (+ beat), shell, directories."""

    def __init__(self, key: str, *, base: Path, database_url: str, redis_base: str) -> None:
        self.key = key
        self.code, self.agency_name, self.country, self.redis_db = NODE_SPECS[key]
        self.db_name = f"casebridge_fed_{key}"
        self.db_url = _with_database(database_url, self.db_name)
        self.broker_url = f"{redis_base}/{self.redis_db}"
        self.dir = base / f"node-{key}"
        self.logs = self.dir / "logs"
        for sub in ("var", "bundles", "logs"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.env = node_env(
            database_url=self.db_url,
            broker_url=self.broker_url,
            audit_origin=f"node-{key}.federation.test/audit",
            var_dir=self.dir / "var",
            bundle_dir=self.dir / "bundles",
            EXCHANGE_HTTP_TIMEOUT="60",
            EXCHANGE_SWEEP_SECONDS="5",  # what a lost broker message costs: seconds here, not the default 30
            EXCHANGE_PARTNER_NETWORKS="127.0.0.0/8",  # the partner nodes here are on loopback
            EXCHANGE_UPLOAD_MIN_BYTES_PER_SECOND="1024",  # a slow-drip push is cut within seconds here
            EXCHANGE_UPLOAD_WINDOW_SECONDS="2",
            LOG_LEVEL="INFO",
        )
        self.port: int | None = None
        self.web: Proc | None = None
        self.worker: Proc | None = None
        self.shell: Shell | None = None
        self.info: dict = {}
        self._db = None

    def __repr__(self) -> str:
        return f"<node {self.key} {self.code} port {self.port}>"

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # --- database (observation only; writes go through the shell) ---

    def sql(self, query: str, params=()) -> list[dict]:
        import psycopg
        from psycopg.rows import dict_row

        if self._db is None or self._db.closed:
            self._db = psycopg.connect(self.db_url, autocommit=True, row_factory=dict_row)
        with self._db.cursor() as cursor:
            cursor.execute(query, params)
            return cursor.fetchall() if cursor.description else []

    def value(self, query: str, params=()):
        rows = self.sql(query, params)
        return next(iter(rows[0].values())) if rows else None

    def migrate(self) -> subprocess.Popen:
        log = (self.logs / "migrate.log").open("wb")
        return subprocess.Popen(
            [sys.executable, "manage.py", "migrate", "--no-input", "-v", "1"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    # --- web server ---

    def _launch_web(self) -> None:
        self.web = Proc(
            f"{self.key}-web",
            [
                sys.executable, "-m", "gunicorn", "casebridge.wsgi:application",
                "--bind", f"127.0.0.1:{self.port}", "--workers", "2", "--timeout", "120", "--graceful-timeout", "5",
                "--no-control-socket", "--access-logfile", "-", "--error-logfile", "-",
            ],
            self.env,
            self.logs / "web.log",
        )  # fmt: skip
        self.web.start()

    def start_web(self, *, same_port: bool = False) -> None:
        """gunicorn on a free port (or the node's port again), ready when /readyz says so."""
        attempts = 5 if same_port else 3
        for attempt in range(1, attempts + 1):
            if not same_port:
                self.port = free_port()
            self._launch_web()
            try:
                self._wait_ready()
                return
            except NodeStartError:
                self.web.stop(timeout=5)
                if attempt == attempts:
                    raise
                time.sleep(1)

    def _wait_ready(self) -> None:
        web_ready(self.web, self.url("/readyz"), what=f"node {self.key}: gunicorn on port {self.port}")

    def stop_web(self) -> None:
        self.web.stop()

    def pause_web(self) -> None:
        """SIGSTOP: the kernel still accepts connections, but nothing answers them."""
        self.web.signal_group(signal.SIGSTOP)

    def resume_web(self) -> None:
        self.web.signal_group(signal.SIGCONT)

    # --- worker ---

    def _launch_worker(self) -> None:
        self.worker = Proc(
            f"{self.key}-worker",
            [
                sys.executable, "-m", "celery", "-A", "casebridge", "worker", "--pool=solo", "--beat",
                "--schedule", str(self.dir / "var" / "celerybeat-schedule"), "--loglevel=INFO",
                "--hostname", f"fed-{self.key}@%h", "--without-gossip", "--without-mingle",
            ],
            self.env,
            self.logs / "worker.log",
        )  # fmt: skip
        self.worker.start()

    def _wait_worker(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while " ready." not in self.worker.output():
            if not self.worker.alive or time.monotonic() > deadline:
                state = "exited" if not self.worker.alive else f"not ready after {START_TIMEOUT} s"
                raise NodeStartError(f"node {self.key}: Celery worker {state}:\n{_tail(self.worker.log)}")
            time.sleep(0.2)

    def start_worker(self) -> None:
        self._launch_worker()
        self._wait_worker()

    def kill_worker(self) -> None:
        self.worker.kill()

    # --- everything ---

    def launch(self) -> None:
        """Start gunicorn, the worker and the shell without waiting (all nodes boot at once)."""
        self.port = free_port()
        self._launch_web()
        self._launch_worker()
        self.shell = Shell(self)

    def wait_started(self) -> None:
        try:
            self._wait_ready()
        except NodeStartError:
            self.web.stop(timeout=5)
            self.start_web()  # e.g. the port was taken after we picked it: again on another one
        self._wait_worker()
        self.shell.wait_ready()

    def close_db(self) -> None:
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()

    def logs_tail(self, lines: int = 40) -> str:
        parts = []
        for log in sorted(self.logs.glob("*.log")):
            parts.append(f"--- node {self.key} ({self.code}) {log.name} (last {lines} lines) ---\n{_tail(log, lines)}")
        return "\n".join(parts)


class Federation:
    """Nodes A (NSP) and B (RNP), partners of each other; the tokens each presents to the other."""

    def __init__(self, base: Path, *, database_url: str, redis_base: str) -> None:
        self.base = base
        self.a = Node("a", base=base, database_url=database_url, redis_base=redis_base)
        self.b = Node("b", base=base, database_url=database_url, redis_base=redis_base)
        self.token_a_presents_to_b = ""  # issued by B (RNP) for NSP's node
        self.token_b_presents_to_a = ""  # issued by A (NSP) for RNP's node
        self.redis: RedisServer | None = None  # the broker both nodes use (a database number each)

    @property
    def nodes(self) -> tuple[Node, Node]:
        return self.a, self.b

    def databases_recreate(self, admin) -> None:
        for node in self.nodes:
            admin.execute(f'DROP DATABASE IF EXISTS "{node.db_name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{node.db_name}"')

    def start(self) -> None:
        migrations = [(node, node.migrate()) for node in self.nodes]  # both at once: it takes a while
        for node, process in migrations:
            if process.wait(timeout=300) != 0:
                raise NodeStartError(f"node {node.key}: migrate failed:\n{_tail(node.logs / 'migrate.log')}")
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_started()
        self._partnership()

    def _partnership(self) -> None:
        """Keys, cards fetched over HTTP, fingerprints checked, agreements, and tokens both ways."""
        for node in self.nodes:
            node.info = node.shell(
                "init", code=node.code, name=node.agency_name, country=node.country, node_url=node.url("")
            )
        cards = {}
        for node in self.nodes:
            status, card = http("GET", node.url(f"/api/v1/exchange/agencies/{node.code}/card"))
            assert status == 200, f"node {node.key}: card endpoint answered {status}: {card}"
            cards[node.key] = card
        issued = {}
        for here, there in ((self.a, self.b), (self.b, self.a)):
            added = here.shell(
                "partner_add",
                card=cards[there.key],
                signing_fingerprint=there.info["signing_fingerprint"],  # as read to us over the phone
                data_types=["hashset", "lead"],
                max_tlp="AMBER",
            )
            assert added["node_url"] == there.url(""), added
            issued[here.key] = added["token"]  # what `there` presents when it calls `here`
        self.a.shell("partner_token_set", partner_code=self.b.code, token=issued["b"])
        self.b.shell("partner_token_set", partner_code=self.a.code, token=issued["a"])
        self.token_a_presents_to_b = issued["b"]
        self.token_b_presents_to_a = issued["a"]

    def stop(self, timeout: float = 15) -> None:
        """Every process of both nodes at once: SIGTERM to each group, SIGKILL to what is left."""
        procs = [proc for node in self.nodes for proc in (node.worker, node.web) if proc is not None]
        for proc in procs:
            proc.signal_group(signal.SIGCONT)
            proc.signal_group(signal.SIGTERM)
        for node in self.nodes:
            if node.shell is not None:
                node.shell.close()
            node.close_db()
        deadline = time.monotonic() + timeout
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            proc.kill()

    def logs_tail(self) -> str:
        return f"(full logs under {self.base})\n" + "\n".join(node.logs_tail() for node in self.nodes)


# --- the fixture and failure reports -------------------------------------------------------------

_RUNNING: list[Federation] = []


@contextlib.contextmanager
def _exclusive(admin):
    """One federation run per PostgreSQL server at a time (it drops and recreates casebridge_fed_*)."""
    deadline = time.monotonic() + LOCK_WAIT_SECONDS
    while not admin.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()[0]:
        if time.monotonic() > deadline:
            pytest.fail(f"another federation test run held the lock for {LOCK_WAIT_SECONDS} s; try again later")
        time.sleep(2)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            admin.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


@contextlib.contextmanager
def federation_started(tmp_path_factory, name: str, *, configure=None):
    """Two nodes with a Redis of their own, started, and stopped at the end. `configure(cluster)`
    may change the nodes (say, the agency a node hosts) before their databases are made."""
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        pytest.skip("federation tests need PostgreSQL and Redis: run them with DATABASE_URL=postgres://... (make test)")
    if shutil.which("redis-server") is None:
        pytest.fail("federation tests start a Redis of their own: install redis-server (Debian package redis-server)")
    import psycopg

    base = tmp_path_factory.mktemp(name)
    with psycopg.connect(_with_database(database_url, "postgres"), autocommit=True) as admin, _exclusive(admin):
        redis_server = RedisServer(base)
        redis_server.start()
        cluster = Federation(base, database_url=database_url, redis_base=redis_server.url)
        cluster.redis = redis_server
        if configure is not None:
            configure(cluster)
        _RUNNING.append(cluster)
        try:
            cluster.databases_recreate(admin)
            try:
                cluster.start()
            except NodeStartError as exc:
                pytest.fail(f"the federation nodes did not start: {exc}")
            yield cluster
        finally:
            cluster.stop()
            redis_server.proc.stop()
            _RUNNING.remove(cluster)
            # The databases stay for a look after a failure (dropping them costs PostgreSQL a
            # checkpoint each); the next run drops and recreates them.


@pytest.fixture(scope="package")
def federation(tmp_path_factory):
    with federation_started(tmp_path_factory, "federation") as cluster:
        yield cluster


@pytest.fixture
def published_set(federation) -> int:
    """NSP's set on A, published to RNP at least once and applied there (the test order does it first)."""
    from tests.federation.steps import SET_NAME, import_on_a, outbox, publish_on_a, wait_applied_on_b, wait_outbox

    hashset_id = federation.a.value("SELECT id FROM hashsets_hashset WHERE name = %s", (SET_NAME,))
    if hashset_id is None or not outbox(federation.a):
        hashset_id = import_on_a(federation, count=30, salt="snap", series="S-FED")
        bundle = publish_on_a(federation, hashset_id)
        wait_applied_on_b(federation, [bundle["bundle_id"]])
    for row in outbox(federation.a):
        if row["state"] == "pending":  # left behind by a failed test: deliver it now, so streams stay whole
            federation.a.shell("bundle_retry", pk=row["id"])
    wait_outbox(federation, [r["bundle_id"] for r in outbox(federation.a)], {"applied", "delivered", "rejected"})
    return hashset_id


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and _RUNNING:
        report.sections.append(("federation node logs", _RUNNING[0].logs_tail()))
