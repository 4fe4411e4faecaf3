# ruff: noqa: F811 - `world` is the hardening fixture, imported to be used as one
"""L7 (issue 13): one role policy for pages and API, one role guard that audits its refusals.

Auditors were refused the hash-set pages but could list sets and look hashes up in the API; the
role check was written seven times, and retention's copies audited no refusal. Now every guarded
route names a key of `agencies.policy.POLICY` (the page decorator `member_required(key)` and the
DRF `role_permission(key)` carry it), and each role gets, on every route, what the table says.
"""

from __future__ import annotations

import json

import pytest
from django.db import transaction
from django.urls import resolve

from agencies.models import Role
from agencies.policy import POLICY
from audit.actions import Action
from audit.models import AuditPending
from tests.hardening.conftest import _fast_and_isolated, world  # noqa: F401 - the populated node
from tests.hardening.test_url_matrix import MATRIX, _url

pytestmark = pytest.mark.django_db

ROLE_PERSONAS = {Role.INVESTIGATOR: "alice", Role.SUPERVISOR: "sam", Role.AGENCY_ADMIN: "adam", Role.AUDITOR: "audrey"}

# A page and the API endpoint that serve the same thing. (One case's page and API differ on purpose
# below the role level: the API answers 404 to anyone outside the case's need-to-know, the page 403
# to a role that never sees cases; both refuse, audited.)
PAGE_AND_API = [
    ("hashsets", "api-hashsets"),
    ("hashset-detail", "api-hash-one"),
    ("hashset-detail", "api-hash-lookup"),
    ("audit-entry", "api-audit-entry"),
    ("cases", "api-cases"),
    ("leads", "api-leads"),
    ("retention-queue", "api-retention-queue"),
    ("retention-rules", "api-retention-rules"),
    ("retention-holds", "api-retention-legal-holds"),
    ("retention-tombstones", "api-retention-tombstones"),
    ("retention-report", "api-retention-report"),
    ("retention-erase", "api-retention-erasures"),
    ("retention-review", "api-retention-reviews"),
    ("retention-rule-delete", "api-retention-rule"),
]


def policy_key(url: str, method: str) -> str | None:
    """The policy key the route's guard enforces for `method` (None: the route has no role guard)."""
    callback = resolve(url).func
    key = getattr(callback, "policy_key", None)
    if key is not None:
        return key
    view_class = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    for permission in getattr(view_class, "permission_classes", ()):
        if hasattr(permission, "policy_key"):
            return permission.policy_key if method in ("GET", "HEAD") else permission.policy_write_key
    return None


def _refused_by_role(world, persona: str, name: str) -> tuple[int, bool, list[str]]:
    row = MATRIX[name]
    url = _url(name, world)
    path = f"{url}?{row.query}" if row.query else url
    client = world.client(persona)
    with transaction.atomic():
        before = AuditPending.objects.order_by("-id").values_list("id", flat=True).first() or 0
        if row.body is not None:
            response = client.generic(row.method, path, row.body, content_type="application/json")
        else:
            response = getattr(client, row.method.lower())(path)
        entries = [json.loads(b) for b in AuditPending.objects.filter(id__gt=before).values_list("body", flat=True)]
        transaction.set_rollback(True)
    key = policy_key(url, row.method)
    refusals = [
        e for e in entries if e["action"] == Action.ACCESS_DENIED and e["details"].get("policy") == key and e["reason"]
    ]
    return response.status_code, bool(refusals), [e["reason"] for e in refusals]


def test_l7_every_guarded_route_follows_the_one_table(world):
    """For every route with a role guard and every role: refused (403, audited with the policy key)
    exactly when the table says so. Pages and API endpoints alike."""
    wrong = []
    guarded = 0
    for name, row in MATRIX.items():
        key = policy_key(_url(name, world), row.method)
        if key is None:
            continue
        guarded += 1
        for role, persona in ROLE_PERSONAS.items():
            status, refused, _reasons = _refused_by_role(world, persona, name)
            should_refuse = role not in POLICY[key]
            if refused != should_refuse or (should_refuse and status != 403):
                wrong.append(f"  {name} ({key}) as {persona} ({role}): {status}, refused by role: {refused}")
    assert guarded > 80, "most routes carry a role guard"
    assert not wrong, "Routes that do not follow agencies.policy.POLICY:\n" + "\n".join(wrong)


def test_l7_page_and_api_agree_for_each_role(world):
    disagree = []
    for page, api in PAGE_AND_API:
        page_key = policy_key(_url(page, world), MATRIX[page].method)
        api_key = policy_key(_url(api, world), MATRIX[api].method)
        assert page_key and page_key == api_key, (page, page_key, api, api_key)
        for role, persona in ROLE_PERSONAS.items():
            page_refused = _refused_by_role(world, persona, page)[1]
            api_refused = _refused_by_role(world, persona, api)[1]
            if page_refused != api_refused:
                disagree.append(f"  {role}: {page} refused={page_refused}, {api} refused={api_refused}")
    assert not disagree, "Page and API disagree:\n" + "\n".join(disagree)


def test_l7_auditors_are_refused_hash_data_in_pages_and_api(world):
    """The reproduced finding: the auditor is refused both, and each refusal is in the log."""
    for name in ("hashsets", "api-hashsets", "api-hash-one", "api-hash-lookup", "api-hash-match-pdq"):
        status, refused, reasons = _refused_by_role(world, "audrey", name)
        assert status == 403 and refused, (name, status)
        assert reasons == ["role auditor may not hashsets.view"], (name, reasons)
    for name in ("hashsets", "api-hashsets", "api-hash-one"):
        status, refused, _ = _refused_by_role(world, "adam", name)
        assert status == 200 and not refused, (name, status)


def test_l7_retention_api_role_refusals_are_audited(world):
    """Retention's own role checks audited nothing; they are now the one guard."""
    for name, persona in (("api-retention-rules", "alice"), ("api-retention-legal-holds", "adam"),
                          ("api-retention-report", "sam"), ("api-retention-erasures", "alice")):  # fmt: skip
        status, refused, reasons = _refused_by_role(world, persona, name)
        assert status == 403 and refused and reasons[0].startswith("role "), (name, persona, status, reasons)


def test_l7_no_copies_of_the_role_check_remain():
    """The guards are `member_required` and `role_permission`, both `agencies.policy.role_check`."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in ["agencies/permissions.py", "agencies/decorators.py", "retention/api.py", "retention/views.py"]:
        text = (root / path).read_text()
        if "membership.role not in" in text or "role in roles" in text:
            offenders.append(path)
    assert not offenders, offenders
