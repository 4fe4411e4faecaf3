"""L6: identifier deconfliction was an oracle without a budget.

Every identifier added to a case answers "does another case on this node hold it?". Now each user
may check DECONFLICTION_IDENTIFIERS_PER_DAY identifiers in any 24 hours; beyond it the check is
refused (429 problem details on the API, a page message on the web), audited, and supervisors see
who used deconfliction how often.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from audit.integrator import audit_integrate
from audit.models import AuditEntry
from casebridge.errors import CasebridgeError
from cases.access import Access
from cases.deconfliction import DeconflictionBudgetSpent
from cases.models import CaseIdentifier
from cases.selectors import case_context
from cases.services.cases import case_create
from cases.services.leads import identifier_add
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def budget(settings):
    settings.DECONFLICTION_IDENTIFIERS_PER_DAY = 3
    return 3


def _entries(action: str) -> list[dict]:
    audit_integrate()
    return [json.loads(row.canonical) for row in AuditEntry.objects.filter(action=action).order_by("index")]


def _write(user, title: str = "Operation Probe"):
    case = case_create(acting_user=user, title=title)
    return case, case_context(user=user, case_id=case.pk, need=Access.WRITE)


def test_l6_checks_beyond_the_budget_are_refused_and_audited(alice, bob, charlie, budget):
    _charlies_case, charlies = _write(charlie, "Operation Heron")
    identifier_add(acting_user=charlie, context=charlies, kind="email", value="target-2@example.org")
    _case, write = _write(alice)
    for n in range(budget):
        identifier_add(acting_user=alice, context=write, kind="email", value=f"target-{n}@example.org")
    # The probe that would tell alice whether RNP's case holds this address is refused.
    with pytest.raises(DeconflictionBudgetSpent, match="3 identifiers per 24 hours") as refused:
        identifier_add(acting_user=alice, context=write, kind="phone", value="+44 20 7946 0000")
    assert refused.value.status_code == 429
    assert CaseIdentifier.objects.filter(added_by=alice).count() == budget
    denied = _entries("access.denied")
    assert len(denied) == 1 and denied[0]["outcome"] == "denied" and "deconfliction budget" in denied[0]["reason"]
    assert denied[0]["actor"]["name"] == "alice" and "+44" not in json.dumps(denied[0])
    # A duplicate in one's own case reveals nothing and costs nothing; others keep their own budget.
    with pytest.raises(CasebridgeError, match="already holds"):
        identifier_add(acting_user=alice, context=write, kind="email", value="target-0@example.org")
    identifier_add(acting_user=bob, context=_write(bob, "Bob's case")[1], kind="ip", value="192.0.2.7")

    # The budget renews as checks age out of the 24 hours.
    oldest = CaseIdentifier.objects.filter(added_by=alice).order_by("added_at").first()
    CaseIdentifier.objects.filter(pk=oldest.pk).update(added_at=oldest.added_at - timedelta(hours=25))
    identifier_add(acting_user=alice, context=write, kind="phone", value="+44 20 7946 0000")


def test_l6_api_answers_429_problem_details_and_the_page_says_why(client, api_client, alice, budget):
    case, write = _write(alice)
    for n in range(budget):
        identifier_add(acting_user=alice, context=write, kind="username", value=f"probe{n}")
    login_verified(api_client, alice)
    response = api_client.post(
        f"/api/v1/cases/{case.pk}/identifiers", {"kind": "username", "value": "another"}, format="json"
    )
    assert response.status_code == 429 and response["Content-Type"] == "application/problem+json"
    assert "Deconfliction budget used up" in response.json()["detail"] and int(response["Retry-After"]) > 0

    login_verified(client, alice)
    page = client.post(f"/cases/{case.pk}/identifiers/", {"kind": "username", "value": "another"}, follow=True)
    assert page.status_code == 200 and "Deconfliction budget used up" in page.content.decode()
    assert CaseIdentifier.objects.filter(case=case).count() == budget
    assert len(_entries("access.denied")) == 2  # API and page refusals, both kept


def test_l6_supervisors_see_who_used_deconfliction_how_often(client, alice, bob, sam, charlie, budget):
    _case, write = _write(alice)
    for n in range(budget):
        identifier_add(acting_user=alice, context=write, kind="username", value=f"probe{n}")
    identifier_add(acting_user=bob, context=_write(bob, "Bob's case")[1], kind="username", value="someone")
    identifier_add(acting_user=charlie, context=_write(charlie, "RNP case")[1], kind="username", value="rnp-only")

    login_verified(client, sam)
    page = client.get("/cases/deconfliction/usage/")
    assert page.status_code == 200
    rows = {u.username: u for u in page.context["usage"]}
    assert set(rows) == {"alice", "bob"}  # charlie is another agency's
    assert rows["alice"].last_day == budget and rows["alice"].budget_spent and not rows["bob"].budget_spent
    body = page.content.decode()
    assert "budget used up" in body and "probe0" not in body  # counts, never the identifiers
    viewed = _entries("deconfliction.usage_view")
    assert len(viewed) == 1 and viewed[0]["actor"]["name"] == "sam" and viewed[0]["details"]["users"] == 2

    for outsider in (alice, charlie):
        login_verified(client, outsider)
        assert client.get("/cases/deconfliction/usage/").status_code == 403
