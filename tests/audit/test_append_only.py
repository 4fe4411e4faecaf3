"""Raw SQL cannot rewrite the audit tables, even with session_replication_role = replica."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from audit.actions import Action
from audit.capture import SYSTEM_ACTOR, audit_record
from audit.db import APPEND_ONLY_TABLES
from audit.integrator import audit_checkpoint_now

pytestmark = pytest.mark.django_db

STATEMENTS = {
    "audit_entry": ["UPDATE audit_entry SET outcome = 'success'", "DELETE FROM audit_entry"],
    "audit_tree_node": ["UPDATE audit_tree_node SET level = level", "DELETE FROM audit_tree_node"],
    "audit_checkpoint": ["UPDATE audit_checkpoint SET note = ''", "DELETE FROM audit_checkpoint"],
    "audit_cosignature": ["UPDATE audit_cosignature SET line = ''", "DELETE FROM audit_cosignature"],
}


@pytest.fixture
def populated(db):
    for _ in range(3):
        audit_record(action=Action.CASE_VIEW, actor=SYSTEM_ACTOR)
    audit_checkpoint_now()
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_cosignature (checkpoint_size, witness, vkey, line, created_at) "
            "VALUES (3, 'w', 'v', 'l', CURRENT_TIMESTAMP)"
        )


def _refused(sql: str) -> bool:
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql)
    except DatabaseError as exc:
        assert "append-only" in str(exc)
        return True
    return False


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_update_and_delete_are_refused(populated, table):
    for sql in STATEMENTS[table]:
        assert _refused(sql), sql


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
def test_truncate_is_refused(populated, table):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has no TRUNCATE; DELETE is covered above")
    assert _refused(f"TRUNCATE {table}")


def test_replica_role_does_not_bypass_the_triggers(populated):
    if connection.vendor != "postgresql":
        pytest.skip("session_replication_role is PostgreSQL's")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            cursor.execute("DELETE FROM audit_entry")


def test_inserting_is_still_allowed(populated):
    from audit.models import AuditEntry

    assert AuditEntry.objects.count() == 3


# --- issue 14: the pending queue -------------------------------------------------------------


def _pending_row(db) -> int:
    from audit.models import AuditPending

    audit_record(action=Action.CASE_VIEW, actor=SYSTEM_ACTOR)
    return AuditPending.objects.order_by("-id").values_list("id", flat=True).first()


def test_c14_pending_entry_cannot_be_updated_before_integration(db):
    """A queued entry is what the tree will vouch for: raw SQL or the ORM cannot rewrite it first."""
    from audit.models import AuditPending

    row = _pending_row(db)
    body = AuditPending.objects.get(id=row).body
    with pytest.raises(DatabaseError, match="refuses UPDATE"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE audit_pending SET body = %s WHERE id = %s", ['{"forged": true}', row])
    with pytest.raises(DatabaseError, match="refuses UPDATE"), transaction.atomic():
        AuditPending.objects.filter(id=row).update(body="{}")
    assert AuditPending.objects.get(id=row).body == body
    if connection.vendor == "postgresql":
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SET LOCAL session_replication_role = replica")
            with pytest.raises(DatabaseError, match="refuses UPDATE"), transaction.atomic():
                cursor.execute("UPDATE audit_pending SET body = body")


def test_c14_integrator_still_moves_pending_rows_into_the_tree(db):
    from audit.models import AuditEntry, AuditPending

    _pending_row(db)
    audit_checkpoint_now()
    assert not AuditPending.objects.exists()
    assert AuditEntry.objects.count() >= 1
