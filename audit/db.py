"""Append-only enforcement for the audit tables, as database triggers.

PostgreSQL: a BEFORE UPDATE OR DELETE row trigger and a BEFORE TRUNCATE statement trigger on each
table, set to ENABLE ALWAYS so that `session_replication_role = replica` does not switch them off.
SQLite: BEFORE UPDATE / BEFORE DELETE triggers (SQLite has no TRUNCATE; `DELETE FROM t` fires them).
Only the table owner can drop these triggers; the production role owns nothing (docs/deploy.md).

`audit_pending`, the writers' queue, cannot be append-only: the integrator moves each row into the
tree by INSERT into `audit_entry` and DELETE from the queue. What it never needs is UPDATE, and an
UPDATE is the one change that would alter an entry before the tree (and so every checkpoint)
vouches for it, so UPDATE alone is refused there (TRUNCATE stays: it is a DELETE of every row).
"""

from __future__ import annotations

APPEND_ONLY_TABLES = ("audit_entry", "audit_tree_node", "audit_checkpoint", "audit_cosignature")
# Tables whose rows may be inserted and deleted but never changed in place.
NO_UPDATE_TABLES = ("audit_pending",)

_PG_FUNCTION = """
CREATE OR REPLACE FUNCTION casebridge_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
"""

_PG_NO_UPDATE_FUNCTION = """
CREATE OR REPLACE FUNCTION casebridge_audit_no_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit table % refuses UPDATE: its rows are only inserted and, once integrated, deleted',
        TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END
$$;
"""


def _pg_statements(table: str) -> list[str]:
    return [
        f"CREATE OR REPLACE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION casebridge_audit_append_only()",
        f"CREATE OR REPLACE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION casebridge_audit_append_only()",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_change",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_truncate",
    ]


def _sqlite_statements(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: UPDATE refused'); END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_delete BEFORE DELETE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'audit table {table} is append-only: DELETE refused'); END",
    ]


def _pg_no_update_statements(table: str) -> list[str]:
    return [
        f"CREATE OR REPLACE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION casebridge_audit_no_update()",
        f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER {table}_no_update",
    ]


def _sqlite_no_update_statements(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER IF NOT EXISTS {table}_no_update BEFORE UPDATE ON {table} "
        f"BEGIN SELECT RAISE(ABORT, 'audit table {table} refuses UPDATE: its rows are only inserted and, "
        "once integrated, deleted'); END",
    ]


def append_only_install(connection) -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_PG_FUNCTION)
            cursor.execute(_PG_NO_UPDATE_FUNCTION)
            for table in APPEND_ONLY_TABLES:
                for statement in _pg_statements(table):
                    cursor.execute(statement)
            for table in NO_UPDATE_TABLES:
                for statement in _pg_no_update_statements(table):
                    cursor.execute(statement)
        elif connection.vendor == "sqlite":
            for table in APPEND_ONLY_TABLES:
                for statement in _sqlite_statements(table):
                    cursor.execute(statement)
            for table in NO_UPDATE_TABLES:
                for statement in _sqlite_no_update_statements(table):
                    cursor.execute(statement)
        else:  # pragma: no cover - only the two supported databases
            raise NotImplementedError(f"no append-only triggers for {connection.vendor}")


def append_only_remove(connection) -> None:
    """Drop the triggers. Used by the migration's reverse and by test teardown that flushes tables."""
    with connection.cursor() as cursor:
        for table in APPEND_ONLY_TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_change ON {table}")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        for table in NO_UPDATE_TABLES:
            if connection.vendor == "postgresql":
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update ON {table}")
            else:
                cursor.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
