"""Exchange between two real nodes over HTTP, through real workers: A (NSP) publishes, B (RNP) applies.

The nodes are started by the `federation` fixture (conftest.py); steps.py has what the tests do to
them and how they observe them. The tests share the nodes and run in file order, but each one only relies on
what it set up itself (or on `published_set`, which publishes the first snapshot if no test has).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.federation.conftest import http, wait_until
from tests.federation.steps import (
    DELIVERY_TIMEOUT,
    LEASE_LEFT,
    SET_NAME,
    applied_imports,
    audit_entries,
    classifications,
    import_on_a,
    inbox,
    lookup_on_b,
    outbox,
    publish_on_a,
    recorded_attempt,
    wait_applied_on_b,
    wait_outbox,
)  # fmt: skip
from tests.hashsets.factories import digests

pytestmark = pytest.mark.federation

# --- 1. a hash set crosses from A to B --------------------------------------------------------------


def test_hashset_published_on_a_is_applied_on_b_over_http(federation):
    a, b = federation.a, federation.b
    hashset_id = import_on_a(federation, count=30, salt="snap", series="S-FED")
    bundle = publish_on_a(federation, hashset_id)
    assert bundle["kind"] == "hashset.snapshot" and bundle["sequence"] == 1

    # A's worker posts it to B's inbox; B checks, decrypts and applies it. Nothing here calls either.
    [received] = wait_applied_on_b(federation, [bundle["bundle_id"]])
    assert received["sequence"] == 1 and received["kind"] == "hashset.snapshot"
    assert "30 items" in received["summary"]
    [sent] = wait_outbox(federation, [bundle["bundle_id"]], {"applied"})
    assert sent["attempts"] == 1 and sent["last_error"] == ""

    # B's lookup API shows NSP's classification to an RNP investigator (the mirror is shared with RNP).
    hit = lookup_on_b(federation, digests(7, "snap")["MD5"])
    assert hit["known"] is True, hit
    [classification] = hit["classifications"]
    assert classification["agency"] == "NSP" and classification["hashset"] == SET_NAME
    assert classification["series"] == ["S-FED"] and classification["distributed"] is True
    assert lookup_on_b(federation, digests(7, "never-shared")["MD5"])["known"] is False
    assert classifications(b) == classifications(a) == 30

    # Both sides audited their half (the beat on each node integrates the log every second).
    wait_until(lambda: audit_entries(a, "bundle.send"), what="bundle.send in A's audit log")
    wait_until(lambda: audit_entries(b, "bundle.apply"), what="bundle.apply in B's audit log")
    assert {e["object_id"] for e in audit_entries(b, "bundle.receive")} >= {bundle["bundle_id"]}


# --- 2. the partner is down for a while -------------------------------------------------------------


def test_partner_down_then_back_nothing_lost_and_in_order(federation, published_set):
    a, b = federation.a, federation.b
    before = outbox(a)
    b.stop_web()
    try:
        import_on_a(federation, count=10, salt="down", series="S-FED")
        started = datetime.now(UTC)
        bundle = publish_on_a(federation, published_set)
        assert bundle["kind"] == "hashset.delta" and bundle["sequence"] == before[-1]["sequence"] + 1

        # First attempt fails (connection refused): still pending, next try after the first backoff step.
        [first] = wait_until(lambda: recorded_attempt(a, bundle["bundle_id"]), what="a failed first attempt")
        assert first["state"] == "pending" and "unreachable" in first["last_error"], first
        assert 9.5 <= (first["next_attempt_at"] - started).total_seconds() <= 40, first

        # "Retry now" while B is still down: fails again, and the wait before the next try grows.
        retried = datetime.now(UTC)
        a.shell("bundle_retry", pk=bundle["pk"])
        [second] = wait_until(
            lambda: recorded_attempt(a, bundle["bundle_id"], more_than=first["attempts"]),
            what="a failed second attempt",
        )
        assert second["state"] == "pending" and second["next_attempt_at"] > first["next_attempt_at"], second
        assert 19.5 <= (second["next_attempt_at"] - retried).total_seconds() <= 90, (first, second)
        assert bundle["bundle_id"] not in {r["bundle_id"] for r in inbox(b, include_quarantined=True)}
    finally:
        if not b.web.alive:
            b.start_web(same_port=True)

    # B is back on the same URL. Make the bundle due (the UI's "retry now"; the sweep would, later).
    a.shell("bundle_retry", pk=bundle["pk"])
    wait_applied_on_b(federation, [bundle["bundle_id"]])
    [sent] = wait_outbox(federation, [bundle["bundle_id"]], {"applied"})
    assert sent["attempts"] >= 3

    # Nothing lost, nothing twice, in order: the NSP -> RNP stream on B is 1..n, each applied once, in sequence.
    received = inbox(b)
    assert sorted(r["sequence"] for r in received) == list(range(1, len(received) + 1))
    applied_order = [r["sequence"] for r in sorted(received, key=lambda r: r["applied_at"])]
    assert applied_order == sorted(applied_order)
    hashset_bundles = [r for r in received if r["kind"].startswith("hashset.")]
    assert len(set(applied_imports(b))) == len(applied_imports(b)) == len(hashset_bundles)
    assert classifications(b) == classifications(a)
    assert lookup_on_b(federation, digests(3, "down")["MD5"])["known"] is True


# --- 3. the sender's worker dies in the middle of a delivery ----------------------------------------


def test_worker_killed_mid_delivery_every_bundle_applied_exactly_once(federation, published_set):
    a, b = federation.a, federation.b
    bundles = []
    # B hangs (SIGSTOP): A's worker connects, sends the bundle and waits for an answer that never comes.
    b.pause_web()
    try:
        for n in range(3):
            import_on_a(federation, count=5, salt=f"kill-{n}", series="S-FED")
            bundles.append(publish_on_a(federation, published_set))
        wait_until(
            lambda: outbox(a, [bundles[0]["bundle_id"]])[0]["attempts"] >= 1,
            what="A's worker to claim the first bundle",
        )
        time.sleep(1)  # the request is on its way to B, the worker blocked on the answer
        a.kill_worker()  # SIGKILL, whole process group: no cleanup, no acknowledgement, lease still held
    finally:
        b.resume_web()
    claimed = outbox(a, [bundles[0]["bundle_id"]])[0]
    assert claimed["state"] == "pending" and claimed["attempts"] == 1, claimed
    assert claimed["next_attempt_at"] > datetime.now(UTC) + LEASE_LEFT, claimed  # leased: nobody else takes it

    a.start_worker()  # takes the queued deliveries of the other bundles
    # The dead worker's lease runs for minutes; let it run out now instead of waiting, then sweep.
    a.sql(
        "UPDATE exchange_bundle SET next_attempt_at = now() WHERE id = %s AND state = 'pending'",
        (claimed["id"],),
    )
    a.shell("sweep")
    ids = [x["bundle_id"] for x in bundles]
    wait_applied_on_b(federation, ids)
    wait_outbox(federation, ids, {"applied", "delivered"})

    # Exactly once on B: one inbox row per bundle id, one apply each, the stream contiguous, no extra data.
    received = inbox(b)
    assert sorted(r["bundle_id"] for r in received if r["bundle_id"] in ids) == sorted(ids)
    assert len({r["bundle_id"] for r in received}) == len(received)
    assert sorted(r["sequence"] for r in received) == list(range(1, len(received) + 1))
    hashset_bundles = [r for r in received if r["kind"].startswith("hashset.")]
    imports = applied_imports(b)
    assert len(imports) == len(set(imports)) == len(hashset_bundles) and set(ids) <= set(imports)
    assert classifications(b) == classifications(a)

    def applies():
        entries = [e for e in audit_entries(b, "bundle.apply") if e["object_id"] in ids]
        return entries if len(entries) >= len(ids) else None

    assert sorted(e["object_id"] for e in wait_until(applies, what="bundle.apply audited on B")) == sorted(ids)


# --- 4. a bundle altered in transit -----------------------------------------------------------------


def test_tampered_bundle_is_rejected_quarantined_and_audited(federation, published_set):
    a, b = federation.a, federation.b
    original = outbox(a)[-1]
    data = Path(original["path"]).read_bytes()
    header_length = int.from_bytes(data[10:14], "big")
    payload_start = 14 + header_length + 4 + 64 + 4 + 3309  # framing, header, both signatures
    assert len(data) > payload_start
    position = payload_start + (len(data) - payload_start) // 2
    tampered = data[:position] + bytes([data[position] ^ 0x01]) + data[position + 1 :]
    applied_before = len(applied_imports(b))
    quarantined_before = {r["id"] for r in inbox(b, include_quarantined=True) if r["state"] == "quarantined"}
    inbox_url = b.url("/api/v1/exchange/inbox")
    headers = {"Content-Type": "application/octet-stream"}

    status, body = http("POST", inbox_url, data=tampered, headers=headers)
    assert status in (401, 403), body  # no partner token: not even looked at
    assert {r["id"] for r in inbox(b, include_quarantined=True) if r["state"] == "quarantined"} == quarantined_before

    status, body = http(
        "POST",
        inbox_url,
        data=tampered,
        headers={**headers, "Authorization": f"Partner {federation.token_a_presents_to_b}"},
    )
    assert status == 422, body
    assert body["code"] == "payload_digest_mismatch" and body["bundle_id"] == original["bundle_id"], body

    [kept] = [
        r
        for r in inbox(b, include_quarantined=True)
        if r["state"] == "quarantined" and r["id"] not in quarantined_before
    ]
    assert kept["reject_code"] == "payload_digest_mismatch" and kept["header"]["bundle_id"] == original["bundle_id"]
    assert Path(kept["path"]).read_bytes() == tampered  # kept as received, for the investigation
    assert len(applied_imports(b)) == applied_before  # nothing applied

    def rejected():
        return [e for e in audit_entries(b, "bundle.reject") if e["object_id"] == original["bundle_id"]]

    [entry] = wait_until(rejected, what="bundle.reject in B's audit log")
    assert entry["outcome"] == "failure" and entry["agency_code"] == "RNP" and entry["actor_type"] == "partner"


# --- 5. a victim-identification lead goes to B, and B's findings come back to A -------------------


def lead_copies(node, share_uid: str) -> list[dict]:
    return node.sql(
        "SELECT l.status, l.received, l.origin_agency_code, l.title, a.code AS holder FROM cases_lead l "
        "JOIN agencies_agency a ON a.id = l.agency_id WHERE l.share_uid = %s",
        (share_uid,),
    )


def lead_clues(node, share_uid: str) -> list[tuple[str, str, str]]:
    rows = node.sql(
        "SELECT c.type, c.text, c.origin_agency_code FROM cases_leadclue c JOIN cases_lead l ON l.id = c.lead_id "
        "WHERE l.share_uid = %s ORDER BY c.id",
        (share_uid,),
    )
    return [(r["type"], r["text"], r["origin_agency_code"]) for r in rows]


def lead_bundles(node, direction: str, kind: str) -> list[dict]:
    return node.sql(
        "SELECT bundle_id::text AS bundle_id, sender_code, recipient_code, sequence, state, summary "
        "FROM exchange_bundle WHERE direction = %s AND kind = %s ORDER BY sequence",
        (direction, kind),
    )


def test_lead_shared_from_a_reaches_b_and_b_update_flows_back(federation):
    a, b = federation.a, federation.b
    if "lead.share" not in a.shell("kinds"):
        pytest.skip("lead.share is not a registered bundle kind in this build")
    shared = a.shell(
        "lead_share", title="Child in a blue room", clue="Dutch spoken in the background", partner_codes=["RNP"]
    )
    assert shared["share_state"] == "sent", shared
    uid = shared["share_uid"]

    def arrived(node, direction, kind, count):
        rows = lead_bundles(node, direction, kind)
        return rows if len(rows) == count and all(r["state"] == "applied" for r in rows) else None

    wait_until(lambda: arrived(b, "in", "lead.share", 1), timeout=DELIVERY_TIMEOUT, what="lead.share applied on B")
    [copy] = lead_copies(b, uid)
    assert copy == {
        "status": "open", "received": True, "origin_agency_code": "NSP", "holder": "RNP",
        "title": "Child in a blue room",
    }  # fmt: skip
    assert lead_clues(b, uid) == [("language", "Dutch spoken in the background", "NSP")]
    wait_until(lambda: arrived(a, "out", "lead.share", 1), what="A's lead.share outbox row applied")

    # RNP identifies the victim and adds what it found: two lead.update bundles on the RNP -> NSP stream.
    b.shell("lead_update", share_uid=uid, status="identified", clue="School crest seen in Rivermark")
    updates = wait_until(lambda: arrived(a, "in", "lead.update", 2), timeout=DELIVERY_TIMEOUT, what="updates on A")
    assert [r["sequence"] for r in updates] == [1, 2] and {r["sender_code"] for r in updates} == {"RNP"}
    [original] = lead_copies(a, uid)
    assert original["status"] == "identified" and original["received"] is False and original["holder"] == "NSP"
    assert lead_clues(a, uid) == [
        ("language", "Dutch spoken in the background", "NSP"),
        ("location", "School crest seen in Rivermark", "RNP"),
    ]
    wait_until(lambda: arrived(b, "out", "lead.update", 2), what="B's lead.update outbox rows applied")


# --- witnessing: each node cosigns the other's log, as named in the card it verified (M3) -------------


def test_m3_b_cosigns_as_log_the_origin_and_key_of_its_card_over_http(federation):
    a, b = federation.a, federation.b
    cosigned = a.shell("witness", partner_code=b.code)
    assert cosigned["size"] > 0 and cosigned["witness"].endswith("/witness")
    [log] = b.sql("SELECT origin, vkey, last_size FROM exchange_witnessedlog")
    assert log["origin"] == "node-a.federation.test/audit" and log["last_size"] == cosigned["size"]
