"""Benchmark inclusion proofs through the API on a large audit log, against raw baselines.

    .venv/bin/python benchmarks/audit_proof_api.py [--entries 1000000] [--requests 2000] [--runs 3]

Creates the database ``casebridge_bench_audit_proof_api`` (``--keep`` reuses it when it already
holds the log) and builds a log of ``--entries`` entries fast: pending rows (bodies shaped as
``audit_record`` writes them) are COPY'd into ``audit_pending``, then ``audit_integrate(batch_size=
--batch-size)`` indexes them, stores leaves and tree nodes and signs checkpoints; both steps are
timed. ``audit_checkpoint_now()`` then signs a checkpoint covering the whole tree.

Each run then draws ``--requests`` random indices and measures, per proof:

* ``API``: ``GET /api/v1/audit/proof/inclusion?index=&tree_size=`` through the real URL
  conf, middleware and view (DRF ``APIClient``, a member of an agency with a verified MFA
  session, as tests/conftest.py ``login_verified``);
* ``selector``: ``audit.selectors.inclusion_proof`` called in-process (no HTTP layer);
* ``raw SQL`` (baseline): the same node rows fetched with one plain psycopg query, the proof
  assembled with ``audit.merkle.inclusion_proof_from_nodes``;
* ``in memory`` (baseline): ``audit.merkle.MemoryTree`` over all leaf hashes (no database).

Every API proof is verified against the checkpoint's root. Reported: p50/p99 per method (medians
over runs), API/raw-SQL ratios.
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402

NAME = "audit_proof_api"
BENCH_QUICK_ARGS = ["--entries", "200000", "--requests", "1000", "--runs", "3"]
BENCH_FULL_ARGS = ["--entries", "1000000", "--requests", "2000", "--runs", "3"]

ACTIONS = [
    ("case.view", "case"),
    ("case.update", "case"),
    ("evidence.view", "evidence"),
    ("hash.lookup", "hash_batch"),
    ("hashset.import", "hashset"),
    ("auth.login", "user"),
    ("lead.view", "lead"),
]
AGENCIES = ["NSP", "RNP", "NCA-UK", "BKA"]
_encode = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), sort_keys=True).encode


def body(rng: random.Random, n: int, base: float) -> str:
    """A pending body as audit_record writes it (sorted keys, ASCII: the same as RFC 8785 here)."""
    action, kind = ACTIONS[n % len(ACTIONS)]
    agency = AGENCIES[n % len(AGENCIES)]
    when = datetime.fromtimestamp(base + n * 0.05, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    entry = {
        "time": when,
        "actor": {
            "type": "user",
            "id": str(1 + n % 500),
            "name": f"officer{n % 500:03d}",
            "role": "investigator",
            "auth": "session",
        },
        "agency": agency,
        "action": action,
        "object": {"type": kind, "id": str(n)},
        "outcome": "success",
        "reason": "",
        "request_id": f"{rng.getrandbits(128):032x}",
        "source": f"10.{n % 256}.{(n >> 8) % 256}.{rng.randrange(256)}",
        "purpose": {"code": "investigation", "case": f"CB-2025-{n % 9999:04d}"},
        "recipients": [],
        "details": {"via": "web", "section": "summary"},
        "commitments": {},
    }
    return _encode(entry)


def load_pending(url: str, entries: int, seed: int) -> float:
    """COPY `entries` bodies into audit_pending; returns seconds."""
    import psycopg

    rng = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC).timestamp()
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            with cursor.copy("COPY audit_pending (body) FROM STDIN") as copy:
                chunk: list[str] = []
                for n in range(entries):
                    chunk.append(body(rng, n, base))  # no tab, newline or backslash: COPY text as is
                    if len(chunk) == 20000:
                        copy.write("\n".join(chunk) + "\n")
                        chunk = []
                if chunk:
                    copy.write("\n".join(chunk) + "\n")
        conn.commit()
    return time.perf_counter() - started


def raw_proof(cursor, merkle, index: int, size: int):
    nodes_wanted = [*merkle.inclusion_proof_nodes(index, size), (0, index)]
    leaves = [i for level, i in nodes_wanted if level == 0]
    levels = [level for level, _ in nodes_wanted if level > 0]
    indices = [i for level, i in nodes_wanted if level > 0]
    cursor.execute(
        "SELECT 0, index, leaf_hash FROM audit_entry WHERE index = ANY(%s) "
        "UNION ALL SELECT n.level, n.index, n.hash FROM audit_tree_node n "
        "JOIN unnest(%s::smallint[], %s::bigint[]) AS w(level, index) ON n.level = w.level AND n.index = w.index",
        (leaves, levels, indices),
    )
    nodes = {(level, i): bytes(h) for level, i, h in cursor.fetchall()}
    return nodes[(0, index)], merkle.inclusion_proof_from_nodes(index, size, nodes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch-size", type=int, default=50_000, help="audit_integrate batch size (default 50000)")
    parser.add_argument("--requests", type=int, default=2000, help="proofs per method per run (default 2000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--keep", action="store_true", help="reuse the database if it already holds the log")
    args = parser.parse_args(argv)

    with _common.BenchDatabase(NAME, keep=args.keep) as db:
        db.setup_django()
        import psycopg
        from django.db import connection

        from audit import merkle
        from audit.integrator import audit_checkpoint_now, audit_integrate, tree_size
        from audit.selectors import inclusion_proof

        _common.limit_query_log()

        build: dict[str, float] = {}
        size = tree_size()
        if size < args.entries:
            if size:
                raise SystemExit(f"the kept database holds {size} entries; run without --keep to rebuild")
            seconds = load_pending(db.url, args.entries, args.seed)
            build["copy_pending_s"] = seconds
            print(f"COPY {args.entries:,} pending rows: {seconds:.1f}s ({args.entries / seconds:,.0f} rows/s)")
            seconds, added = _common.timed(audit_integrate, batch_size=args.batch_size)
            assert added == args.entries, added
            build["integrate_s"] = seconds
            build["integrate_rate"] = args.entries / seconds
            print(
                f"audit_integrate(batch_size={args.batch_size}): {seconds:.1f}s "
                f"({args.entries / seconds:,.0f} entries/s)"
            )
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE audit_entry")
                cursor.execute("VACUUM ANALYZE audit_tree_node")
        checkpoint = audit_checkpoint_now()
        size = checkpoint.size
        root = bytes(checkpoint.root_hash)
        print(f"tree size {size:,}, root {root.hex()[:16]}...")

        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute("SELECT leaf_hash FROM audit_entry ORDER BY index")
            memory_tree = merkle.MemoryTree(bytes(h) for (h,) in cursor.fetchall())
        build["memory_tree_s"] = time.perf_counter() - started
        assert memory_tree.root() == root, "the stored tree does not match an in-memory rebuild"
        print(f"in-memory baseline tree from {size:,} leaf hashes: {build['memory_tree_s']:.1f}s (root matches)")

        agency = _common.bench_agency()
        user = _common.bench_user(agency)
        client = _common.verified_api_client(user)
        raw = psycopg.connect(db.url, autocommit=True)
        raw_cursor = raw.cursor()

        def api(index: int) -> None:
            response = client.get(f"/api/v1/audit/proof/inclusion?index={index}&tree_size={size}")
            assert response.status_code == 200, response.content[:300]
            data = response.json()
            leaf = base64.b64decode(data["leaf_hash"])
            path = [base64.b64decode(h) for h in data["inclusion_path"]]
            assert merkle.verify_inclusion(leaf, index, size, path, root), index

        def selector(index: int) -> None:
            inclusion_proof(index=index, size=size)

        def sql(index: int) -> None:
            raw_proof(raw_cursor, merkle, index, size)

        def memory(index: int) -> None:
            memory_tree.inclusion_proof(index, size)

        methods = {"API": api, "selector": selector, "raw SQL": sql, "in memory": memory}
        # Same answers from all four, on a few indices.
        rng = random.Random(args.seed)
        for index in [0, size - 1, *rng.sample(range(size), 20)]:
            expected = memory_tree.inclusion_proof(index, size)
            assert inclusion_proof(index=index, size=size)["inclusion_path"] == expected
            assert raw_proof(raw_cursor, merkle, index, size)[1] == expected
        for index in rng.sample(range(size), 50):  # warm-up (connections, caches)
            for method in methods.values():
                method(index)

        runs: dict[str, list[dict]] = {name: [] for name in methods}
        for run in range(args.runs):
            indices = [rng.randrange(size) for _ in range(args.requests)]
            names = list(methods)
            names = names[run % len(names) :] + names[: run % len(names)]
            line = []
            for name in names:
                method = methods[name]
                samples = []
                for index in indices:
                    started = time.perf_counter()
                    method(index)
                    samples.append(time.perf_counter() - started)
                stats = _common.summary(samples)
                runs[name].append(stats)
                line.append(f"{name} p50 {stats['p50'] * 1000:.2f} ms p99 {stats['p99'] * 1000:.2f} ms")
            print(f"run {run + 1}: " + "; ".join(line))
        raw.close()

        summary = {
            name: {
                "p50_ms": _common.median(r["p50"] for r in rs) * 1000,
                "p99_ms": _common.median(r["p99"] for r in rs) * 1000,
                "max_ms": max(r["max"] for r in rs) * 1000,
            }
            for name, rs in runs.items()
        }
        _common.print_table(
            f"inclusion proofs in a tree of {size:,} entries, {args.requests} random indices x {args.runs} runs "
            "(p50/p99 medians over runs)",
            ["method", "p50 ms", "p99 ms", "max ms", "p50 / raw SQL"],
            [
                [name, s["p50_ms"], s["p99_ms"], s["max_ms"], s["p50_ms"] / summary["raw SQL"]["p50_ms"]]
                for name, s in summary.items()
            ],
        )
        ratio50 = summary["API"]["p50_ms"] / summary["raw SQL"]["p50_ms"]
        ratio99 = summary["API"]["p99_ms"] / summary["raw SQL"]["p99_ms"]
        print(f"ratio API / raw SQL: p50 {ratio50:.1f}x, p99 {ratio99:.1f}x")
        if "integrate_s" in build:
            print(
                f"build: COPY {build['copy_pending_s']:.1f}s, integrate {build['integrate_s']:.1f}s "
                f"({build['integrate_rate']:,.0f} entries/s)"
            )
        _common.record(
            NAME,
            {**vars(args), "tree_size": size},
            {"build": build, "summary": summary, "ratio_p50": ratio50, "ratio_p99": ratio99, "runs": runs},
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
