"""A large import that hits a database limit rolls back whole and says why.

The limits are the real PostgreSQL ones, hit on purpose: `statement_timeout` (the import's own
setting, HASHSET_IMPORT_STATEMENT_TIMEOUT_MS) and `temp_file_limit` (the server's cap on temporary
disk a session may use, which is what a full or quota-limited disk looks like to the import: the
merge has to spill its sort to disk and may not).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection

from audit.actions import Action, Outcome
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from hashsets.models import Classification, HashSetImport, Media
from tests.hashsets.factories import vics2_file, vics2_records
from tests.hashsets.test_import_service import _import

pytestmark = [pytest.mark.faults, pytest.mark.django_db]

RECORDS = 20_000


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("these limits are PostgreSQL's")


@pytest.fixture
def big_file(tmp_path):
    return vics2_file(tmp_path / "big.json", vics2_records(RECORDS, salt="limits", series="Series Limits"))


@pytest.fixture
def nsp_set(agency_a):
    from hashsets.models import HashSet

    return HashSet.objects.create(owner=agency_a, name="NSP limits", scheme="vic_us")


def _assert_nothing_imported_and_failure_audited(job, hashset, pattern: str):
    assert job.status == HashSetImport.Status.FAILED
    assert job.error.startswith("nothing was imported: ")
    assert pattern in job.error, job.error
    assert "Traceback" not in job.error and "psycopg" not in job.error
    assert Classification.objects.filter(hashset=hashset).count() == 0
    assert Media.objects.count() == 0
    audit_integrate()
    failure = AuditEntry.objects.get(action=Action.HASHSET_IMPORT, object_id=str(hashset.pk))
    assert failure.outcome == Outcome.FAILURE and pattern in json.loads(failure.canonical)["reason"]


def _import_still_works(tmp_path, hashset):
    """The connection and its settings are back to normal: a small import right after succeeds."""
    job = _import(hashset, vics2_file(tmp_path / "small.json", vics2_records(10, salt="after")))
    assert job.status == HashSetImport.Status.DONE, job.error
    assert Classification.objects.filter(hashset=hashset).count() == 10


def test_statement_timeout_rolls_the_import_back_and_says_why(settings, tmp_path, big_file, nsp_set):
    settings.HASHSET_IMPORT_STATEMENT_TIMEOUT_MS = 1
    job = _import(nsp_set, big_file)
    _assert_nothing_imported_and_failure_audited(job, nsp_set, "statement timeout 1 ms")

    settings.HASHSET_IMPORT_STATEMENT_TIMEOUT_MS = 60_000
    _import_still_works(tmp_path, nsp_set)


def test_disk_limit_during_the_merge_rolls_the_import_back_and_says_why(tmp_path, big_file, nsp_set):
    with connection.cursor() as cursor:
        # Little memory for sorts, and almost no temporary disk: the merge must spill and cannot.
        cursor.execute("SET work_mem = '64kB'")
        cursor.execute("SET temp_file_limit = '64kB'")
    try:
        job = _import(nsp_set, big_file)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET work_mem")
            cursor.execute("RESET temp_file_limit")
    _assert_nothing_imported_and_failure_audited(job, nsp_set, "database resource limit")
    assert "temp_file_limit" in job.error  # PostgreSQL's own words name the limit

    _import_still_works(tmp_path, nsp_set)
