"""Benchmark batch hash lookups on large hash sets against a raw SQL join, and the lookup API.

    .venv/bin/python benchmarks/hashsets_lookup.py [--sizes 1000000,10000000] [--runs 15] [--api-requests 30]

Creates the database ``casebridge_bench_hashsets_lookup`` (``--keep`` reuses it) and, for each
size in ascending order, tops ``hashsets_media`` and ``hashsets_classification`` up to that many
rows (one classification per media item, in one hash set of the user's agency) with set-based
``INSERT ... SELECT generate_series`` straight into the tables, their secondary indexes,
unique constraints and foreign keys dropped during the load and rebuilt afterwards (the fastest
bulk load PostgreSQL offers; the load is timed and reported). Item i has MD5 = md5("bench-<i>").

Then, per size, ``--runs`` times with a fresh batch of 10,000 MD5 digests (half known, half not),
in alternating order:

* ``hash_lookup``: ``hashsets.selectors.hash_lookup`` (what the API calls: digests joined to the
  md5 index, then the visible classifications with agency, set and series);
* ``raw SQL join`` (baseline): one psycopg query, ``unnest`` of the batch joined to the md5 index,
  the classifications, their set and agency, restricted to the sets the user may see: the same
  answer in one statement;
* ``raw md5 only`` (reference): ``unnest`` joined to the md5 index alone.

And ``--api-requests`` times ``POST /api/v1/hashes/lookup`` with 10,000 digests through the real
URL conf, middleware and view (DRF APIClient, verified MFA session, budget set high): p50/p95/p99.
Targets: hash_lookup <= 1.5x the raw join; API p99 < 1 s.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import _common  # noqa: E402

NAME = "hashsets_lookup"
BENCH_QUICK_ARGS = ["--sizes", "1000000", "--runs", "9", "--api-requests", "15"]
BENCH_FULL_ARGS = ["--sizes", "1000000,10000000", "--runs", "15", "--api-requests", "30"]
TABLES = ("hashsets_media", "hashsets_classification")
CATEGORIES = "ARRAY['non_pertinent','csam_ungraded','exploitive','cgi','comparison']"

RAW_JOIN = """
SELECT b.digest, m.id, a.code, h.name, h.id, c.scheme, c.category_code, c.category,
       c.victim_identified, c.offender_identified, c.distributed
FROM unnest(%(digests)s::bytea[]) AS b(digest)
JOIN hashsets_media m ON m.md5 = b.digest
JOIN hashsets_classification c ON c.media_id = m.id AND c.retracted_at IS NULL
JOIN hashsets_hashset h ON h.id = c.hashset_id
JOIN agencies_agency a ON a.id = c.agency_id
WHERE h.owner_id = %(agency)s
   OR h.id IN (SELECT hashset_id FROM hashsets_hashset_shared_with WHERE agency_id = %(agency)s)
"""
RAW_MD5 = "SELECT m.md5, m.id FROM hashsets_media m JOIN unnest(%(digests)s::bytea[]) AS b(digest) ON m.md5 = b.digest"


# --------------------------------------------------------------------------- loading


class DroppedConstraints:
    """Drop the secondary indexes, unique constraints and foreign keys on/into TABLES; put them back."""

    def __init__(self, conn) -> None:
        self.conn = conn
        tables = ", ".join(f"'{t}'::regclass" for t in TABLES)
        self.foreign = conn.execute(
            f"SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            f"WHERE contype = 'f' AND (conrelid IN ({tables}) OR confrelid IN ({tables}))"
        ).fetchall()
        self.unique = conn.execute(
            f"SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            f"WHERE contype = 'u' AND conrelid IN ({tables})"
        ).fetchall()
        self.indexes = conn.execute(
            f"SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
            f"WHERE indrelid IN ({tables}) AND NOT indisprimary "
            "AND indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE contype IN ('u', 'p'))"
        ).fetchall()

    def drop(self) -> None:
        for table, name, _ in self.foreign:
            self.conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for table, name, _ in self.unique:
            self.conn.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, _ in self.indexes:
            self.conn.execute(f"DROP INDEX {name}")

    def restore(self) -> None:
        self.conn.execute("SET maintenance_work_mem = '1GB'")
        for table, name, definition in self.unique:
            self.conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        for _, definition in self.indexes:
            self.conn.execute(definition)
        for table, name, definition in self.foreign:
            self.conn.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')


def top_up(url: str, size: int, hashset_id: int, agency_id: int) -> dict | None:
    """Grow media and classifications to `size` rows. Returns timings, or None if already there."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        have = conn.execute("SELECT count(*) FROM hashsets_media").fetchone()[0]
        if have >= size:
            return None
        timings: dict[str, float] = {}
        started = time.perf_counter()
        constraints = DroppedConstraints(conn)
        constraints.drop()
        timings["drop_s"] = time.perf_counter() - started
        step = time.perf_counter()
        before = conn.execute("SELECT COALESCE(max(id), 0) FROM hashsets_media").fetchone()[0]
        for low in range(have + 1, size + 1, 2_000_000):
            high = min(low + 2_000_000 - 1, size)
            conn.execute(
                "INSERT INTO hashsets_media (md5, sha1, pdq_hasher, media_type, created_at) "
                "SELECT decode(md5('bench-' || i), 'hex'), "
                "substring(sha256(convert_to('bench-' || i, 'UTF8')) FROM 1 FOR 20), '', 'image', now() "
                "FROM generate_series(%s::bigint, %s::bigint) AS i",
                (low, high),
            )
        timings["insert_media_s"] = time.perf_counter() - step
        step = time.perf_counter()
        conn.execute(
            "INSERT INTO hashsets_classification (media_id, hashset_id, agency_id, scheme, category_code, category, "
            "victim_identified, distributed, tags, comments, created_at, updated_at) "
            f"SELECT m.id, %s, %s, 'vic_us', (m.id %% 5)::text, ({CATEGORIES})[m.id %% 5 + 1], "
            "m.id %% 7 = 0, m.id %% 3 = 0, '[]'::jsonb, '', now(), now() FROM hashsets_media m WHERE m.id > %s",
            (hashset_id, agency_id, before),
        )
        timings["insert_classification_s"] = time.perf_counter() - step
        step = time.perf_counter()
        constraints.restore()
        timings["indexes_and_constraints_s"] = time.perf_counter() - step
        step = time.perf_counter()
        for table in TABLES:
            conn.execute(f"VACUUM ANALYZE {table}")
        timings["vacuum_analyze_s"] = time.perf_counter() - step
        timings["total_s"] = time.perf_counter() - started
        timings["rows_added"] = size - have
        return timings


def table_sizes(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return {
            table: conn.execute("SELECT pg_size_pretty(pg_total_relation_size(%s))", (table,)).fetchone()[0]
            for table in TABLES
        }


# --------------------------------------------------------------------------- measuring


def batch(rng: random.Random, size: int, count: int = 10_000) -> list[bytes]:
    known = [hashlib.md5(f"bench-{i}".encode()).digest() for i in rng.sample(range(1, size + 1), count // 2)]
    unknown = [hashlib.md5(f"unknown-{rng.getrandbits(64)}".encode()).digest() for _ in range(count - count // 2)]
    digests = known + unknown
    rng.shuffle(digests)
    return digests


def measure_size(size: int, args, db, user, agency, rng: random.Random) -> dict:
    import psycopg

    from hashsets.selectors import hash_lookup

    raw = psycopg.connect(db.url, autocommit=True)
    client = _common.verified_api_client(user)

    def ours(digests):
        hits = hash_lookup(user=user, items=[("md5", d) for d in digests])
        return sum(1 for h in hits if h.known)

    def raw_join(digests):
        rows = raw.execute(RAW_JOIN, {"digests": digests, "agency": agency.pk}).fetchall()
        return len({row[0] for row in rows})

    def raw_md5(digests):
        return len(raw.execute(RAW_MD5, {"digests": digests}).fetchall())

    def api(digests):
        payload = {"hashes": [{"algorithm": "md5", "hex": d.hex()} for d in digests]}
        response = client.post("/api/v1/hashes/lookup", payload, format="json")
        assert response.status_code == 200, response.content[:300]
        return response.json()["known"]

    methods = {"hash_lookup": ours, "raw SQL join": raw_join, "raw md5 only": raw_md5}
    # Same answer, and warm-up.
    for _ in range(3):
        counts = {name: method(batch(rng, size)) for name, method in methods.items()}
        assert set(counts.values()) == {5000}, counts
    api(batch(rng, size))

    samples: dict[str, list[float]] = {name: [] for name in methods}
    known_counts = []
    for run in range(args.runs):
        digests = batch(rng, size)
        names = list(methods)
        names = names[run % len(names) :] + names[: run % len(names)]
        for name in names:
            started = time.perf_counter()
            known = methods[name](digests)
            samples[name].append(time.perf_counter() - started)
            known_counts.append(known)
    api_samples = []
    for _ in range(args.api_requests):
        digests = batch(rng, size)
        started = time.perf_counter()
        known = api(digests)
        api_samples.append(time.perf_counter() - started)
        known_counts.append(known)
    raw.close()
    result = {name: _common.summary(values) for name, values in samples.items()}
    result["API"] = _common.summary(api_samples)
    result["known_per_batch"] = {"min": min(known_counts), "max": max(known_counts)}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,10000000", help="comma-separated row counts, ascending")
    parser.add_argument("--runs", type=int, default=15, help="10,000-digest batches per method and size")
    parser.add_argument("--api-requests", type=int, default=30, help="API requests of 10,000 digests per size")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="reuse the database and the rows it already holds")
    args = parser.parse_args(argv)
    sizes = sorted(int(s.replace("_", "")) for s in args.sizes.split(","))

    extra = {"HASH_LOOKUP_DIGESTS_PER_HOUR": str(10**12), "HASH_LOOKUP_RATE": "100000/min"}
    with _common.BenchDatabase(NAME, keep=args.keep, **extra) as db:
        db.setup_django()
        _common.limit_query_log()
        from hashsets.models import HashSet

        agency = _common.bench_agency()
        user = _common.bench_user(agency)
        hashset, _ = HashSet.objects.get_or_create(owner=agency, name="bench lookup")
        rng = random.Random(args.seed)
        results: dict[str, dict] = {}
        loads: dict[str, dict] = {}
        for size in sizes:
            timings = top_up(db.url, size, hashset.pk, agency.pk)
            if timings:
                loads[str(size)] = timings
                print(
                    f"loaded {timings['rows_added']:,} media + classifications up to {size:,} "
                    f"in {timings['total_s']:.0f}s (media {timings['insert_media_s']:.0f}s, "
                    f"classifications {timings['insert_classification_s']:.0f}s, "
                    f"indexes+constraints {timings['indexes_and_constraints_s']:.0f}s, "
                    f"vacuum analyze {timings['vacuum_analyze_s']:.0f}s)"
                )
            print(f"table sizes at {size:,}: {table_sizes(db.url)}")
            result = measure_size(size, args, db, user, agency, rng)
            results[str(size)] = result
            ours, raw = result["hash_lookup"]["p50"], result["raw SQL join"]["p50"]
            _common.print_table(
                f"{size:,} media + classifications: 10,000 MD5 digests per batch (half known), "
                f"{args.runs} batches per method, {args.api_requests} API requests",
                ["method", "p50 ms", "p95 ms", "p99 ms", "max ms", "p50 / raw join"],
                [
                    [
                        name,
                        result[name]["p50"] * 1000,
                        result[name]["p95"] * 1000,
                        result[name]["p99"] * 1000,
                        result[name]["max"] * 1000,
                        result[name]["p50"] / raw,
                    ]
                    for name in ("hash_lookup", "raw SQL join", "raw md5 only", "API")
                ],
            )
            print(
                f"ratio hash_lookup / raw SQL join (medians): {ours / raw:.2f}x "
                f"(target <= 1.5x: {_common.verdict(ours / raw <= 1.5)}); "
                f"API p99 {result['API']['p99'] * 1000:.0f} ms "
                f"(target < 1 s: {_common.verdict(result['API']['p99'] < 1)})"
            )
        _common.record(NAME, {**vars(args), "sizes": sizes}, {"loads": loads, "results": results})
    return 0


if __name__ == "__main__":
    sys.exit(main())
