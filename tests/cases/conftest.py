"""Cases, evidence and leads made through the services (the invariants hold), and small helpers."""

from __future__ import annotations

import json

import pytest

from audit.capture import SYSTEM_ACTOR
from audit.integrator import audit_integrate
from audit.models import AuditEntry
from cases import services
from cases.access import Access
from cases.models import CaseRole
from cases.selectors import case_context
from hashsets.services import hashset_import_run, import_job_create


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The personas' passwords are hashed with a fast hasher here: these tests are about cases."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def ctx(user, case, need=Access.READ):
    return case_context(user=user, case_id=case.pk, need=need)


@pytest.fixture
def case_a(alice, bob, agency_a):
    """NSP case led by alice, bob a member."""
    case = services.case_create(acting_user=alice, title="Operation Lantern", description="Secret description")
    services.case_member_set(
        acting_user=alice, context=ctx(alice, case, Access.MANAGE), username="bob", role=CaseRole.MEMBER
    )
    return case


@pytest.fixture
def case_b(charlie, agency_b):
    return services.case_create(acting_user=charlie, title="Operation Heron", description="Rivermark only")


def import_set(hashset, path):
    job = import_job_create(
        acting_user=None, hashset=hashset, file_name=path.name, total_bytes=path.stat().st_size, scheme=None
    )
    job = hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)
    assert job.status == "done", job.error
    return job


def entries(action: str | None = None) -> list[dict]:
    """Integrated audit entries (optionally of one action), oldest first, as dicts."""
    audit_integrate()
    rows = AuditEntry.objects.order_by("index")
    if action:
        rows = rows.filter(action=action)
    return [json.loads(row.canonical) for row in rows]
