"""Issue 14, capture cost: an entry is one prepared INSERT in the caller's transaction, with the
same guarantees as before (lives or dies with the caller, a failure dooms it, DEBUG query log and
execute wrappers still see it)."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test.utils import CaptureQueriesContext

from audit import capture
from audit.actions import Action
from audit.capture import actor_for_user, audit_record
from audit.integrator import audit_integrate
from audit.models import AuditEntry, AuditPending, AuditSensitiveValue

pytestmark = pytest.mark.django_db


def _record(user, **extra):
    audit_record(action=Action.CASE_VIEW, actor=actor_for_user(user), object_type="case", object_id=1, **extra)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the server-bound INSERT is PostgreSQL's path")
def test_14_capture_is_one_server_bound_insert_without_returning(alice):
    with CaptureQueriesContext(connection) as queries, transaction.atomic():
        _record(alice)
    statements = [q["sql"] for q in queries.captured_queries]
    inserts = [sql for sql in statements if "audit_pending" in sql]
    # the old path: INSERT ... VALUES ('<the whole entry as a literal>') RETURNING "audit_pending"."id"
    assert inserts == ["INSERT INTO audit_pending (body) VALUES ($1)"]
    wrapped = []

    def wrapper(execute, sql, params, many, context):
        wrapped.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper), transaction.atomic():
        _record(alice)
    # execute wrappers (request checks) still see it
    assert [sql for sql in wrapped if "audit_pending" in sql] == ["INSERT INTO audit_pending (body) VALUES (%s)"]
    audit_integrate()
    assert AuditEntry.objects.count() == 2


def test_14_capture_failure_dooms_the_callers_transaction(alice, monkeypatch):
    monkeypatch.setattr(capture, "_PENDING_INSERT", "INSERT INTO audit_pending_missing (body) VALUES (%s)")
    with pytest.raises(DatabaseError), transaction.atomic():
        _record(alice)
        pytest.fail("not reached")  # pragma: no cover
    with transaction.atomic():
        try:
            _record(alice)
        except DatabaseError:
            pass  # a caller that swallows the error ...
        assert connection.needs_rollback  # ... still cannot commit its change without the entry
        transaction.set_rollback(True)
    assert AuditPending.objects.count() == 0


def test_14_capture_outside_a_transaction_and_with_sensitive_values(alice):
    _record(alice)  # autocommit: the INSERT commits alone
    with transaction.atomic():
        _record(alice, sensitive={"query": "lantern"})
    assert AuditPending.objects.count() == 2 and AuditSensitiveValue.objects.count() == 1
    with pytest.raises(RuntimeError), transaction.atomic():
        _record(alice, sensitive={"query": "harbour"})
        raise RuntimeError("rolled back")
    assert AuditPending.objects.count() == 2 and AuditSensitiveValue.objects.count() == 1
