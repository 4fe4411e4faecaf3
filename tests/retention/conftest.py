"""Retention tests: cases made through the services, rules set by adam, time injected (`now=`)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from cases import services as case_services
from cases.access import Access
from cases.models import Case, CaseRole
from cases.selectors import case_context
from retention import services

# A fixed clock: every record below is made "now" and then moved to a known last-change date.
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def days(n: int) -> datetime:
    return T0 + timedelta(days=n)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "uploads"
    settings.EXCHANGE_BUNDLE_DIR = tmp_path / "bundles"


def ctx(user, case, need=Access.READ):
    return case_context(user=user, case_id=case.pk, need=need)


def entries(action: str | None = None) -> list[dict]:
    audit_integrate()
    rows = AuditEntry.objects.order_by("index")
    if action:
        rows = rows.filter(action=action)
    return [json.loads(row.canonical) for row in rows]


def make_case(user, title: str, *, closed_at: datetime | None = None, updated_at: datetime | None = None) -> Case:
    """A case led by `user`, optionally closed, with its last change set to a known date."""
    case = case_services.case_create(acting_user=user, title=title, description=f"{title} description")
    if closed_at is not None:
        case_services.case_status_change(
            acting_user=user, context=ctx(user, case, Access.MANAGE), status="closed", reason="done"
        )
    when = closed_at or updated_at
    if when is not None:
        Case.objects.filter(pk=case.pk).update(updated_at=when)
        case.refresh_from_db()
    return case


@pytest.fixture
def closed_rule(adam):
    """NSP: closed cases reviewed 30 days after closing, erased after 90."""
    return services.retention_rule_set(
        acting_user=adam, kind="case", status="closed", review_after_days=30, erase_after_days=90
    )


@pytest.fixture
def case_a(alice, bob, agency_a):
    """NSP case led by alice (bob a member), closed at T0 with a note."""
    case = case_services.case_create(acting_user=alice, title="Operation Lantern", description="Secret description")
    case_services.case_member_set(
        acting_user=alice, context=ctx(alice, case, Access.MANAGE), username="bob", role=CaseRole.MEMBER
    )
    case_services.note_create(acting_user=alice, context=ctx(alice, case, Access.WRITE), body="Note about Lantern")
    case_services.case_status_change(
        acting_user=alice, context=ctx(alice, case, Access.MANAGE), status="closed", reason="finished"
    )
    Case.objects.filter(pk=case.pk).update(updated_at=T0)
    case.refresh_from_db()
    return case
