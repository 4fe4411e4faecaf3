"""What the federation tests do to the nodes and how they observe them (shared by the test files).

Tests act on a node through its shell (real services in the node's own environment) and observe it
through SQL on its database and through its HTTP API.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.federation.conftest import http, wait_until

SET_NAME = "NSP federation set"
DELIVERY_TIMEOUT = 60
LEASE_LEFT = timedelta(minutes=2)  # a pending row due later than this is leased (exchange.delivery.LEASE: 5 min)


# --- observations ----------------------------------------------------------------------------------


def outbox(node, bundle_ids=None) -> list[dict]:
    rows = node.sql(
        "SELECT id, bundle_id::text AS bundle_id, kind, sequence, state, attempts, next_attempt_at, last_error, path "
        "FROM exchange_bundle WHERE direction = 'out' AND recipient_code = 'RNP' ORDER BY sequence"
    )
    return [r for r in rows if bundle_ids is None or r["bundle_id"] in bundle_ids]


def inbox(node, *, include_quarantined: bool = False) -> list[dict]:
    rows = node.sql(
        "SELECT id, bundle_id::text AS bundle_id, kind, sequence, state, reject_code, summary, applied_at, path, "
        "header FROM exchange_bundle WHERE direction = 'in' ORDER BY id"
    )
    return [r for r in rows if include_quarantined or r["state"] != "quarantined"]


def classifications(node, *, owner: str = "NSP", name: str = SET_NAME) -> int:
    return node.value(
        "SELECT count(*) FROM hashsets_classification c JOIN hashsets_hashset h ON h.id = c.hashset_id "
        "JOIN agencies_agency o ON o.id = h.owner_id WHERE o.code = %s AND h.name = %s AND c.retracted_at IS NULL",
        (owner, name),
    )


def applied_imports(node, *, name: str = SET_NAME) -> list[str]:
    """On B, every applied hash-set bundle leaves one import row named after the bundle id."""
    rows = node.sql(
        "SELECT i.file_name FROM hashsets_hashsetimport i JOIN hashsets_hashset h ON h.id = i.hashset_id "
        "WHERE h.name = %s AND i.format = 'bundle' ORDER BY i.id",
        (name,),
    )
    return [r["file_name"].removeprefix("bundle ") for r in rows]


def audit_entries(node, action: str) -> list[dict]:
    return node.sql(
        "SELECT action, object_id, outcome, agency_code, actor_type FROM audit_entry WHERE action = %s ORDER BY index",
        (action,),
    )


def wait_applied_on_b(federation, bundle_ids: list[str], *, timeout: float = DELIVERY_TIMEOUT) -> list[dict]:
    def done():
        rows = [r for r in inbox(federation.b) if r["bundle_id"] in bundle_ids]
        return rows if len(rows) == len(bundle_ids) and all(r["state"] == "applied" for r in rows) else None

    return wait_until(done, timeout=timeout, what=f"bundles {bundle_ids} applied on B")


def wait_outbox(federation, bundle_ids: list[str], states: set[str], *, timeout: float = DELIVERY_TIMEOUT):
    def done():
        rows = outbox(federation.a, bundle_ids)
        return rows if len(rows) == len(bundle_ids) and all(r["state"] in states for r in rows) else None

    return wait_until(done, timeout=timeout, what=f"A's outbox rows {bundle_ids} in {sorted(states)}")


def recorded_attempt(node, bundle_id: str, *, more_than: int = 0) -> list[dict]:
    """The outbox row once an attempt beyond `more_than` is recorded: not merely claimed (a claim
    sets a lease of minutes), but failed with a backoff of seconds, or finished."""
    now = datetime.now(UTC)
    return [
        r
        for r in outbox(node, [bundle_id])
        if r["attempts"] > more_than
        and (r["state"] != "pending" or (r["last_error"] and r["next_attempt_at"] - now < LEASE_LEFT))
    ]


def import_on_a(federation, *, count: int, salt: str, series: str = "") -> int:
    result = federation.a.shell("hashset_import", name=SET_NAME, count=count, salt=salt, series=series)
    assert result["status"] == "done" and result["records"] == count, result
    return result["hashset_id"]


def publish_on_a(federation, hashset_id: int) -> dict:
    bundles = federation.a.shell("hashset_publish", hashset_id=hashset_id, recipients=["RNP"])
    assert len(bundles) == 1, bundles
    return bundles[0]


def lookup_on_b(federation, md5_hex: str) -> dict:
    status, body = http(
        "GET",
        federation.b.url(f"/api/v1/hashes/md5/{md5_hex}"),
        headers={"Authorization": f"Bearer {federation.b.info['api_token']}"},
    )
    assert status == 200, body
    return body
