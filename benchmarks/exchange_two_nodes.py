"""Two real nodes on loopback: small bundles delivered and applied per second, and a large hash set
snapshot sent and applied end to end, each against the raw work of the same bundles in the same run.

Uses the federation test harness (tests/federation/conftest.py): two PostgreSQL databases, gunicorn
and a Celery worker per node, keys, cards fetched over HTTP, verified partnership, node tokens.

Baselines (same run, same machine): for small bundles, sealing and opening the same number of
lead payloads in-process (the cryptography alone); for the snapshot, the receiving node's own
import of the same records from a file (the merge alone, no exchange).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/casebridge python benchmarks/exchange_two_nodes.py \
        [--small 100] [--records 100000]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "casebridge.settings")

BENCH_QUICK_ARGS = ["--small", "50", "--records", "20000"]
BENCH_FULL_ARGS = ["--small", "200", "--records", "1000000"]


def _raw_seal_open(count: int, payload: bytes) -> float:
    from exchange.envelope import bundle_open, bundle_seal
    from exchange.keys import EncryptionPrivateKeys, SigningPrivateKeys

    signing, encryption = SigningPrivateKeys.generate(), EncryptionPrivateKeys.generate()
    start = time.perf_counter()
    for sequence in range(1, count + 1):
        sealed = io.BytesIO()
        bundle_seal(
            kind="lead.share", sender_code="NSP", signing_keys=signing,
            recipients=[("RNP", encryption.public_keys())], sequence=sequence, payload=[payload], out=sealed,
            tlp="GREEN", expires=timedelta(days=1),
        )  # fmt: skip
        sealed.seek(0)
        bundle_open(
            src=sealed, recipient_code="RNP", encryption_private_keys=encryption,
            sender_public_keys=signing.public_keys(), out=io.BytesIO(),
        )  # fmt: skip
    return time.perf_counter() - start


def _applied(node, kind: str) -> int:
    return node.value(
        "SELECT count(*) AS n FROM exchange_bundle WHERE direction = 'in' AND state = 'applied' AND kind = %s",
        (kind,),
    )


def _wait(check, timeout: float) -> float:
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        if check():
            return time.perf_counter() - start
        time.sleep(0.2)
    raise TimeoutError("timed out")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=100, help="Small lead bundles to send.")
    parser.add_argument("--records", type=int, default=100_000, help="Records in the snapshot.")
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/casebridge")
    import psycopg

    from tests.federation.conftest import Federation, RedisServer

    with tempfile.TemporaryDirectory(prefix="cb-2nodes-") as scratch:
        redis_server = RedisServer(Path(scratch))  # the nodes' own broker, empty, stopped at the end
        redis_server.start()
        federation = Federation(Path(scratch), database_url=database_url, redis_base=redis_server.url)
        admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as admin:
            federation.databases_recreate(admin)
        started = time.perf_counter()
        federation.start()
        print(f"two nodes up and partnered in {time.perf_counter() - started:.1f} s")
        a, b = federation.a, federation.b
        try:
            # Small bundles: lead shares, each its own bundle, delivered by A's worker over HTTP.
            begin = time.perf_counter()
            for n in range(args.small):
                a.shell("lead_share", title=f"bench lead {n}", clue="Dutch", partner_codes=["RNP"])
            enqueue = time.perf_counter() - begin
            drain = _wait(lambda: _applied(b, "lead.share") >= args.small, timeout=600)
            total = time.perf_counter() - begin
            payload = b'{"format": "casebridge.lead/1", "title": "bench lead", "clues": [{"type": "language"}]}' * 4
            raw = statistics.median(_raw_seal_open(args.small, payload) for _ in range(3))
            print(
                f"small bundles: {args.small} lead shares enqueued in {enqueue:.1f} s, all applied on B after "
                f"{total:.1f} s ({args.small / total:.1f} bundles/s end to end; drain after enqueue {drain:.1f} s); "
                f"raw seal+open of {args.small} bundles in-process: {raw:.2f} s ({args.small / raw:.0f}/s); "
                f"ratio {total / raw:.1f}x"
            )
            # Large snapshot: A imports, publishes, B applies.
            imported = a.shell("hashset_import", name="bench snapshot", count=args.records, salt="bench", timeout=3600)
            assert imported["status"] == "done", imported
            begin = time.perf_counter()
            a.shell("hashset_publish", hashset_id=imported["hashset_id"], recipients=["RNP"], timeout=3600)
            sealed = time.perf_counter() - begin
            _wait(lambda: _applied(b, "hashset.snapshot") >= 1, timeout=7200)
            end_to_end = time.perf_counter() - begin
            begin = time.perf_counter()
            direct = b.shell("hashset_import", name="bench direct", count=args.records, salt="bench2", timeout=3600)
            baseline = time.perf_counter() - begin
            assert direct["status"] == "done", direct
            print(
                f"snapshot of {args.records:,} records: sealed into the outbox in {sealed:.1f} s, applied on B "
                f"{end_to_end:.1f} s after publishing; B importing the same number of records from a file: "
                f"{baseline:.1f} s; ratio {end_to_end / baseline:.2f}x"
            )
        finally:
            federation.stop()
            redis_server.proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
