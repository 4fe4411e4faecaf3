"""Faults between two real nodes: the broker crashes while shares are made, the receiving node dies
in the middle of applying a bundle. Nothing is lost, nothing is applied twice, streams stay in order.

(Runs after test_two_nodes.py on the same nodes; see steps.py for the helpers.)
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from tests.federation.conftest import http, wait_until
from tests.federation.steps import (
    applied_imports,
    audit_entries,
    classifications,
    import_on_a,
    inbox,
    outbox,
    publish_on_a,
    wait_applied_on_b,
    wait_outbox,
)

pytestmark = [pytest.mark.federation, pytest.mark.faults]

RECOVERY_TIMEOUT = 120  # a worker's reconnect back-off plus a delivery back-off or two


def assert_stream_whole_and_applied_once(federation, ids: list[str]) -> None:
    """On B: each bundle once, the NSP -> RNP stream 1..n without gaps, one import per hash-set bundle,
    and the same live classifications as A."""
    a, b = federation.a, federation.b
    received = inbox(b)
    assert sorted(r["bundle_id"] for r in received if r["bundle_id"] in ids) == sorted(ids)
    assert len({r["bundle_id"] for r in received}) == len(received)
    assert sorted(r["sequence"] for r in received) == list(range(1, len(received) + 1))
    applied_order = [r["sequence"] for r in sorted(received, key=lambda r: r["applied_at"])]
    assert applied_order == sorted(applied_order)
    imports = applied_imports(b)
    hashset_bundles = [r for r in received if r["kind"].startswith("hashset.")]
    assert len(imports) == len(set(imports)) == len(hashset_bundles) and set(ids) <= set(imports)
    assert classifications(b) == classifications(a)


# --- 1. Redis crashes while shares are being made -----------------------------------------------


def test_broker_crash_while_sharing_every_bundle_is_delivered_after_restart(federation, published_set):
    a = federation.a
    federation.redis.crash()  # SIGKILL; it keeps nothing on disk, so every queued message is gone too
    try:
        bundles = []
        for n in range(3):
            import_on_a(federation, count=5, salt=f"broker-{n}", series="S-FED")
            bundles.append(publish_on_a(federation, published_set))  # the share itself succeeds
        ids = [x["bundle_id"] for x in bundles]
        time.sleep(6)  # a sweep falls due (every 5 s here) and its message is lost as well
        rows = outbox(a, ids)
        assert [(r["state"], r["attempts"]) for r in rows] == [("pending", 0)] * 3, rows
    finally:
        federation.redis.start()  # same port, empty: the worker and beat reconnect by themselves

    # Nobody pokes the node: the worker reconnects and the periodic sweep finds the pending rows.
    wait_applied_on_b(federation, ids, timeout=RECOVERY_TIMEOUT)
    wait_outbox(federation, ids, {"applied", "delivered"}, timeout=RECOVERY_TIMEOUT)
    assert_stream_whole_and_applied_once(federation, ids)
    worker_log = a.worker.output()
    assert "Cannot connect to redis" in worker_log or "Connection to broker lost" in worker_log


# --- 2. the receiving node dies in the middle of applying a bundle --------------------------------

BIG = 20_000  # records in the delta: long enough to apply that the test can kill B in the middle


def applying_on_b(federation) -> int:
    """B's database sessions busy merging a hash-set bundle (the import's staging table), not ours."""
    b = federation.b
    return b.value(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND state = 'active' AND query ILIKE '%%hashset_import_stage%%'",
        (b.db_name,),
    )


def test_receiver_killed_mid_apply_bundle_is_applied_exactly_once(federation, published_set):
    b = federation.b
    before = classifications(b)
    import_on_a(federation, count=BIG, salt="mid-apply", series="S-FED")
    bundle = publish_on_a(federation, published_set)
    wait_until(lambda: applying_on_b(federation), timeout=RECOVERY_TIMEOUT, interval=0.05, what="B applying")
    b.web.kill()  # SIGKILL to gunicorn and its workers while the apply transaction is open

    # The apply never committed: once PostgreSQL has rolled it back, B holds the received bundle
    # (its receive committed before the apply began) and none of its records.
    wait_until(lambda: applying_on_b(federation) == 0, timeout=60, what="B's dead session to end")
    assert [r["state"] for r in inbox(b) if r["bundle_id"] == bundle["bundle_id"]] == ["held"]
    assert classifications(b) == before
    assert bundle["bundle_id"] not in applied_imports(b)

    b.start_web(same_port=True)  # A's worker retries on its own back-off; B's sweep would also resume it
    wait_applied_on_b(federation, [bundle["bundle_id"]], timeout=RECOVERY_TIMEOUT)
    [sent] = wait_outbox(federation, [bundle["bundle_id"]], {"applied"}, timeout=RECOVERY_TIMEOUT)
    assert sent["attempts"] >= 2
    assert_stream_whole_and_applied_once(federation, [bundle["bundle_id"]])
    assert classifications(b) == before + BIG
    applies = [e for e in audit_entries(b, "bundle.apply") if e["object_id"] == bundle["bundle_id"]]
    assert len(applies) <= 1  # the audit log may lag the integrator, but never says twice


# --- 3. a worker dies in the middle of applying a bundle for an agency on its own node ---------------

LOCAL_SET = "NSP set for the unit next door"


def applying_on(node) -> int:
    return node.value(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid() "
        "AND state = 'active' AND query ILIKE '%%hashset_import_stage%%'",
        (node.db_name,),
    )


def test_worker_killed_mid_local_apply_bundle_is_applied_exactly_once(federation):
    """NSC is a second agency on A: A's own worker delivers to it and applies the bundle, in-process."""
    a = federation.a
    a.shell("local_partner", code="NSC", name="Northshire Cyber Unit", country="GB", data_types=["hashset"])
    result = a.shell("hashset_import", name=LOCAL_SET, count=BIG, salt="local-apply", series="S-LOCAL")
    [bundle] = a.shell("hashset_publish", hashset_id=result["hashset_id"], recipients=["NSC"])
    wait_until(lambda: applying_on(a), timeout=RECOVERY_TIMEOUT, interval=0.05, what="A's worker applying")
    a.kill_worker()  # SIGKILL mid-apply: no cleanup, no acknowledgement, the outbox lease still held

    wait_until(lambda: applying_on(a) == 0, timeout=60, what="the dead worker's session to end")
    local_inbox = "SELECT state, sequence FROM exchange_bundle WHERE direction = 'in' AND recipient_code = 'NSC'"
    assert a.sql(local_inbox) == [{"state": "held", "sequence": 1}]  # received (committed), not applied

    a.start_worker()  # its sweep (every 5 s here) resumes the held bundle at once
    wait_until(lambda: a.sql(local_inbox) == [{"state": "applied", "sequence": 1}], timeout=RECOVERY_TIMEOUT,
               what="the held bundle applied after the restart")  # fmt: skip
    # The sender's side: the dead worker's lease runs for minutes; let it run out now, then the sweep
    # re-delivers, and the receiver answers "already applied": nothing is applied twice.
    a.sql("UPDATE exchange_bundle SET next_attempt_at = now() WHERE bundle_id = %s AND direction = 'out'",
          (bundle["bundle_id"],))  # fmt: skip
    wait_until(
        lambda: a.value("SELECT state FROM exchange_bundle WHERE bundle_id = %s AND direction = 'out'",
                        (bundle["bundle_id"],)) == "applied",
        timeout=RECOVERY_TIMEOUT, what="A's outbox row for NSC applied",
    )  # fmt: skip
    assert a.sql(local_inbox) == [{"state": "applied", "sequence": 1}]
    imports = a.value(
        "SELECT count(*) FROM hashsets_hashsetimport WHERE format = 'bundle' AND file_name = %s",
        (f"bundle {bundle['bundle_id']}",),
    )
    assert imports == 1

    def applies() -> list[dict]:
        return [e for e in audit_entries(a, "bundle.apply") if e["object_id"] == bundle["bundle_id"]]

    assert len(wait_until(applies, timeout=30, what="bundle.apply audited on A")) == 1


# --- 3. a partner node pushes bundles one byte at a time ------------------------------------------

DRIPPERS = 3  # more connections than B has gunicorn workers (2)


def _drip(sock: socket.socket, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            sock.sendall(b"\x00")
        except OSError:
            return
        time.sleep(0.2)  # 5 bytes/s, far under the node's minimum (1,024 bytes/s here)


def test_slow_drip_pushes_are_cut_and_the_node_keeps_answering(federation):
    b = federation.b
    head = (
        "POST /api/v1/exchange/inbox HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Partner {federation.token_a_presents_to_b}\r\n"
        "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    stop = threading.Event()
    socks, threads = [], []
    try:
        for _ in range(DRIPPERS):
            sock = socket.create_connection(("127.0.0.1", b.port), timeout=30)
            sock.sendall(head + b"\x89CBB")
            socks.append(sock)
            threads.append(threading.Thread(target=_drip, args=(sock, stop), daemon=True))
            threads[-1].start()
        # Every worker of B is now reading a body that hardly moves; B must still answer others.
        started = time.monotonic()
        status, _ = http("GET", b.url("/healthz"), timeout=60)
        assert status == 200 and time.monotonic() - started < 20
        answers = []
        for sock in socks:
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(4096)
                if not chunk:
                    break
                answer += chunk
            answers.append(answer.split(b"\r\n", 1)[0])
    finally:
        stop.set()
        for sock in socks:
            sock.close()
    assert answers == [b"HTTP/1.1 408 Request Timeout"] * DRIPPERS, answers

    def refusals() -> int:
        return b.value(
            "SELECT count(*) FROM audit_entry WHERE action = 'bundle.reject' AND canonical LIKE '%%too_slow%%'"
        )

    assert wait_until(lambda: refusals() >= DRIPPERS, timeout=30, what="the refusals audited on B")
