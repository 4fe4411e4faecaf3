"""Shared helpers for the benchmarks: a database per benchmark, Django set up in-process, timing.

Every benchmark that touches the database gets its own PostgreSQL database
(``casebridge_bench_<name>``), dropped and recreated at the start and migrated with
``manage.py migrate`` in a subprocess. Django then runs in-process against it with the
benchmark environment (``bench_env``). Results are printed as a table and appended as one JSON
line to ``benchmarks/out/results.jsonl`` (gitignored), together with a description of the machine.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gc
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "benchmarks" / "out"
RESULTS = OUT_DIR / "results.jsonl"
PYTHON = sys.executable
MANAGE = str(ROOT / "manage.py")
DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# --------------------------------------------------------------------------- database


def server_url() -> str:
    """The PostgreSQL server to use: DATABASE_URL's host, port and user (the Makefile sets it)."""
    return os.environ.get("BENCH_DATABASE_SERVER") or os.environ.get("DATABASE_URL") or DEFAULT_SERVER


def database_url(name: str) -> str:
    parts = urlsplit(server_url())
    if parts.scheme not in ("postgres", "postgresql"):
        parts = urlsplit(DEFAULT_SERVER)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, "", ""))


def _pg_args(url: str) -> list[str]:
    parts = urlsplit(url)
    return ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]


def psql(url: str, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
    """Run psql against the database of `url` (trust auth on loopback, as in the Makefile)."""
    name = urlsplit(url).path.lstrip("/")
    command = ["psql", *_pg_args(url), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", name, *args]
    env = {**os.environ, "PGOPTIONS": "-c client_min_messages=warning"}
    return subprocess.run(command, check=check, text=True, capture_output=capture, env=env)


def bench_env(database: str, var_dir: str, **extra: str) -> dict[str, str]:
    """The environment of a benchmark's Django (in-process and in its subprocesses)."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="casebridge.settings",
        DATABASE_URL=database,
        DEBUG="1",
        AUDIT_INTEGRATE_ON_COMMIT="0",
        CELERY_TASK_ALWAYS_EAGER="1",
        CASEBRIDGE_VAR_DIR=var_dir,
        ALLOWED_HOSTS="testserver,127.0.0.1,localhost",
        LOG_LEVEL="WARNING",
    )
    env.pop("CELERY_BROKER_URL", None)
    env.update(extra)
    return env


class BenchDatabase:
    """A fresh, migrated database `casebridge_bench_<name>` and a temporary var dir.

    ``with BenchDatabase("audit_capture") as db:`` creates both; ``db.setup_django()`` configures
    Django in this process; ``db.env`` is the environment for subprocesses. The database is left
    in place at the end (handy for looking at it); the next run drops it. ``keep=True`` reuses an
    existing, already migrated database instead (for slow data loads).
    """

    def __init__(self, name: str, *, keep: bool = False, **extra_env: str) -> None:
        self.name = f"casebridge_bench_{name}"
        self.url = database_url(self.name)
        self.keep = keep
        self.var_dir = tempfile.mkdtemp(prefix=f"bench-{name}-var-")
        # One audit signing key for every process of the run (the file fallback races on first use).
        seed = base64.b64encode(os.urandom(32)).decode()
        self.env = bench_env(self.url, self.var_dir, AUDIT_SIGNING_KEY=seed, **extra_env)
        self.reused = False

    def exists(self) -> bool:
        out = psql(
            database_url("postgres"),
            "-tA",
            "-c",
            f"SELECT 1 FROM pg_database WHERE datname = '{self.name}'",
            capture=True,
        )
        return out.stdout.strip() == "1"

    def create(self) -> None:
        if self.keep and self.exists():
            self.reused = True
        else:
            server = _pg_args(self.url)
            subprocess.run(["dropdb", *server, "--if-exists", "--force", self.name], check=True)
            subprocess.run(["createdb", *server, self.name], check=True)
        started = time.perf_counter()
        subprocess.run([PYTHON, MANAGE, "migrate", "--no-input", "-v", "0"], check=True, env=self.env, cwd=ROOT)
        if not self.reused:
            print(f"database {self.name}: created and migrated in {time.perf_counter() - started:.1f}s")
        else:
            print(f"database {self.name}: reused (--keep)")

    def setup_django(self) -> None:
        os.environ.update(self.env)
        import django

        django.setup()

    def __enter__(self) -> BenchDatabase:
        self.create()
        return self

    def __exit__(self, *exc) -> None:
        shutil.rmtree(self.var_dir, ignore_errors=True)


def limit_query_log(size: int = 50) -> None:
    """DEBUG=1 keeps the SQL of the last 9,000 queries; with 10,000-digest arrays or bulk inserts
    of thousands of rows inlined (client-side binding) that is gigabytes. Keep only the last few."""
    from collections import deque

    from django.db import connection

    connection.queries_log = deque(maxlen=size)


def setup_django_from_env() -> None:
    """For worker subprocesses that inherited a BenchDatabase's env."""
    import django

    django.setup()


# --------------------------------------------------------------------------- users


def bench_agency(code: str = "BENCH", name: str = "Bench Police"):
    from agencies.models import Agency

    agency, _ = Agency.objects.get_or_create(code=code, defaults={"name": name, "country": "GB"})
    return agency


def bench_user(agency, *, role: str = "investigator", username: str = "bench.investigator"):
    """A member of `agency` with a confirmed TOTP device (as tests/conftest.py make_member)."""
    from django.contrib.auth import get_user_model
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from agencies.models import Membership

    user_model = get_user_model()
    user = user_model.objects.filter(username=username).first()
    if user is None:
        user = user_model.objects.create_user(username=username, password=None, email=f"{username}@example.org")
        Membership.objects.create(user=user, agency=agency, role=role)
        TOTPDevice.objects.create(user=user, name="bench", confirmed=True)
    return user


def verified_api_client(user):
    """A DRF APIClient logged in as after password and one-time code (tests/conftest.py login_verified)."""
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(user)
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = TOTPDevice.objects.get(user=user, confirmed=True).persistent_id
    session.save()
    return client


# --------------------------------------------------------------------------- timing


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Iterable[float]) -> float:
    values = list(values)
    return statistics.median(values) if values else math.nan


def summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
        "min": min(values) if values else math.nan,
    }


def timed(function: Callable, *args, **kwargs) -> tuple[float, object]:
    gc.collect()
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


def peak_rss_mib() -> dict[str, float]:
    """This process's peak RSS: VmHWM (this image's own) and ru_maxrss (can include a parent's)."""
    hwm = None
    try:
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    hwm = int(line.split()[1]) / 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"vm_hwm_mib": round(hwm if hwm is not None else maxrss, 1), "ru_maxrss_mib": round(maxrss, 1)}


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


# --------------------------------------------------------------------------- reporting


def machine() -> dict[str, object]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = 0
    try:
        with open("/proc/meminfo") as handle:
            memory = int(handle.readline().split()[1]) // 1024
    except OSError:
        pass
    postgres = ""
    try:
        out = psql(database_url("postgres"), "-tA", "-c", "SHOW server_version", capture=True, check=False)
        postgres = out.stdout.strip()
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "memory_mib": memory,
        "python": platform.python_version(),
        "postgresql": postgres,
        "kernel": platform.release(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def print_table(title: str, header: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    rows = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    print()
    print(title)
    print(
        "  ".join(
            str(h).rjust(w) if i else str(h).ljust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True))
        )
    )
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))))


def _cell(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.3f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def record(benchmark: str, params: dict, results: dict) -> None:
    """Append one JSON line (benchmark, UTC time, machine, params, results) to benchmarks/out/results.jsonl."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    line = {
        "benchmark": benchmark,
        "at": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine(),
        "params": params,
        "results": results,
    }
    with RESULTS.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(_clean(line), default=_json_default, sort_keys=True) + "\n")
    print(f"\nresults appended to {RESULTS.relative_to(ROOT)}")


def _clean(value: object) -> object:
    """NaN is not JSON: null instead; floats rounded to what the measurement can tell."""
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _json_default(value: object) -> object:
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return str(value)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"
