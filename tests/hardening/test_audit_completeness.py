"""Issue 14: the audit log is complete by construction.

Every URL of the resolver (pages, API and the Django admin under /operator/) has a row in
`audit/routes.py` saying what it reads or changes, and every answer of every route, for every
persona, leaves its entry: a read one entry with the object or the query and the purpose; a
refusal (401, 403, 404, a redirect to a login page) `access.denied` with the reason. The
requests are the ones of `tests/hardening/test_url_matrix.py` (one per URL and persona).
"""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.http import HttpResponse, HttpResponseForbidden
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from audit.actions import Action, Outcome
from audit.capture import SYSTEM_ACTOR, audit_record
from audit.middleware import RouteAuditMiddleware
from audit.models import AuditPending
from audit.routes import FAMILIES, ROUTES, SAFE_METHODS, Kind, route_for
from tests.hardening.conftest import PERSONAS
from tests.hardening.test_url_matrix import MATRIX, L, Row, _outcome, _url

pytestmark = pytest.mark.django_db

HOW_TO_DECLARE = (
    "Declare each in audit/routes.py ROUTES, keyed by URL name, e.g.\n"
    '    "thing-detail": read(Action.THING_VIEW, "thing", "thing_id", purpose=INVESTIGATION),\n'
    '    "thing-edit": change(Action.THING_UPDATE, "thing", "thing_id"),\n'
    '    "thing-probe": public("why it reads no agency\'s data"),\n'
    "(a URL namespace answered as one family goes in FAMILIES)."
)


def resolver_urls(patterns=None, prefix: str = "", namespaces: tuple[str, ...] = ()):
    """(url name, namespaces, route) of every URL pattern in the resolver, admin included."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespaces + ((pattern.namespace,) if pattern.namespace else ())
            found += resolver_urls(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            found.append((pattern.name, namespaces, prefix + str(pattern.pattern)))
    return found


def test_i14_every_url_declares_what_it_reads_or_changes():
    urls = resolver_urls()
    undeclared = sorted(f"  {name or '<unnamed>'}: /{route}" for name, ns, route in urls if route_for(name, ns) is None)
    assert not undeclared, (
        "These URLs declare nothing for the audit log:\n" + "\n".join(undeclared) + "\n" + HOW_TO_DECLARE
    )
    named = {name for name, ns, _route in urls if not set(ns) & set(FAMILIES)}
    stale = sorted(set(ROUTES) - named)
    assert not stale, f"audit/routes.py rows for URLs that no longer exist: {stale}"
    for name, row in ROUTES.items():
        if row.kind == Kind.PUBLIC:
            assert row.why, f"{name}: a public route says why it logs nothing"
        else:
            assert row.action is not None and row.object_type, f"{name}: names no action or object type"
            assert row.purpose, f"{name}: names no purpose"


def _entries_since(last_id: int, request_id: str) -> list[dict]:
    rows = AuditPending.objects.filter(id__gt=last_id).order_by("id").values_list("body", flat=True)
    return [entry for entry in map(json.loads, rows) if entry["request_id"] == request_id]


def _last_id() -> int:
    last = AuditPending.objects.order_by("-id").values_list("id", flat=True).first()
    return last or 0


def _audited_request(client: Client, row: Row, path: str):
    """The response and the entries the request left, inside a savepoint rolled back after."""
    with transaction.atomic():
        before = _last_id()
        if row.body is not None:
            response = client.generic(row.method, path, row.body, content_type="application/json")
        else:
            response = getattr(client, row.method.lower())(path)
        entries = _entries_since(before, response["X-Request-ID"])
        transaction.set_rollback(True)
    return response, entries


def _problem(name: str, row: Row, url: str, persona: str, response, entries: list[dict]) -> str | None:
    route = ROUTES[name]
    if route.kind == Kind.PUBLIC:
        return None
    if route.budgeted and row.method in SAFE_METHODS:
        # The sign-in form shows no one's data; its attempts are audited by the views, anonymous
        # ones within a budget per source (security/test_l5_login_flood.py).
        return None
    outcome = _outcome(response)
    where = f"{row.method} {url} ({name}) as {persona} -> {outcome}"
    if not entries:
        return f"{where}: no audit entry"
    if name == "logout" and any(entry["action"] == Action.LOGOUT for entry in entries):
        return None  # signing out ends at the login page: that is no refusal
    if outcome == L or response.status_code in (401, 403, 404):
        denied = [entry for entry in entries if entry["outcome"] == Outcome.DENIED]
        if not denied and name.startswith("login"):
            return None  # the sign-in pages send a signed-in user on, and audit each attempt
        if not denied:
            return f"{where}: refused without an access.denied entry: {[e['action'] for e in entries]}"
        if not all(entry["reason"] for entry in denied):
            return f"{where}: access.denied without a reason"
        if route.object_kwarg and response.status_code == 404 and not any(e["object"]["id"] for e in denied):
            return f"{where}: a 404 on an object route names no object"
        return None
    if response.status_code < 400 and row.method in SAFE_METHODS:
        reads = [entry for entry in entries if entry["outcome"] == Outcome.SUCCESS]
        if not reads:
            return f"{where}: a read without a success entry: {[(e['action'], e['outcome']) for e in entries]}"
        if not any(entry["purpose"] for entry in reads):
            return f"{where}: a read without a purpose: {[e['action'] for e in reads]}"
        if route.object_kwarg and not any(entry["object"]["id"] for entry in reads):
            return f"{where}: a read of an object route names no object"
    return None


def test_i14_every_route_every_persona_leaves_its_entry(world):
    """Reads, refusals (401, 403, 404, login redirects) and changes: each answer is logged."""
    problems = []
    for name, row in MATRIX.items():
        url = _url(name, world)
        path = f"{url}?{row.query}" if row.query else url
        for persona in PERSONAS:
            response, entries = _audited_request(world.client(persona), row, path)
            problem = _problem(name, row, url, persona, response, entries)
            if problem:
                problems.append("  " + problem)
    assert not problems, "Requests that left no proper audit entry:\n" + "\n".join(problems)


def test_i14_reads_that_wrote_nothing_now_leave_one_entry(world):
    """The reads found missing: each now writes exactly one success entry, with the object or the
    query and the purpose (and views that audit themselves keep their own entry only)."""
    found_missing = {
        "api-case-tasks": "alice",
        "api-case-members": "alice",
        "case-edit": "alice",
        "dashboard": "alice",
        "hashsets": "alice",
        "users": "adam",
        "exchange-partner": "adam",
        "api-retention-legal-holds": "sam",
        "api-retention-tombstones": "sam",
        "api-retention-rules": "adam",
        "api-audit-inclusion": "audrey",
        "api-audit-consistency": "audrey",
        "api-audit-checkpoint": "audrey",
    }
    for name, persona in found_missing.items():
        row = MATRIX[name]
        url = _url(name, world)
        path = f"{url}?{row.query}" if row.query else url
        response, entries = _audited_request(world.client(persona), row, path)
        assert response.status_code == 200, (name, response.status_code)
        assert len(entries) == 1, (name, [e["action"] for e in entries])
        (entry,) = entries
        declared = ROUTES[name]
        assert entry["action"] == declared.action_for("GET").value, name
        assert entry["outcome"] == Outcome.SUCCESS and entry["purpose"]["code"], name
        assert entry["actor"]["name"] == persona
        if declared.object_kwarg:
            assert entry["object"]["id"] == str(world.kwargs[declared.object_kwarg]), name
    # audit proofs: the action that no code path wrote
    response, entries = _audited_request(world.client("audrey"), MATRIX["api-audit-inclusion"], _url(
        "api-audit-inclusion", world) + "?index=0")  # fmt: skip
    assert [e["action"] for e in entries] == [Action.AUDIT_PROOF]
    assert entries[0]["details"]["query"] == "index=0"


def test_i14_refusals_that_wrote_nothing_now_leave_access_denied(world):
    """DRF role refusals, the retention API's role check, cross-agency ids answered 404."""
    cases = [
        ("api-audit-entry", "alice", 403),  # DRF role permission
        ("api-retention-rules", "alice", 403),  # the retention API's own role check
        ("api-retention-legal-holds", "adam", 403),
        ("api-case-tasks", "charlie", 404),  # another agency's case id
        ("api-lead", "charlie", 404),
        ("exchange-partner", "charlie", 404),
        ("api-case", "anon", 401),
    ]
    for name, persona, status in cases:
        row = MATRIX[name]
        url = _url(name, world)
        path = f"{url}?{row.query}" if row.query else url
        response, entries = _audited_request(world.client(persona), row, path)
        assert response.status_code == status, (name, persona, response.status_code)
        denied = [e for e in entries if e["action"] == Action.ACCESS_DENIED]
        assert len(denied) == 1, (name, persona, entries)
        assert denied[0]["outcome"] == Outcome.DENIED and denied[0]["reason"], (name, persona)
        declared = ROUTES[name]
        if declared.object_kwarg:
            assert denied[0]["object"]["id"] == str(world.kwargs[declared.object_kwarg]), (name, persona)


def test_i14_specific_entries_are_not_doubled(world):
    """A view that audits itself (case.view with the case's purpose) gets no second, generic entry."""
    response, entries = _audited_request(world.client("alice"), MATRIX["api-case"], _url("api-case", world))
    assert response.status_code == 200
    assert [e["action"] for e in entries] == [Action.CASE_VIEW]


def test_i14_generic_read_costs_one_insert(world):
    client = world.client("alice")
    url = _url("api-case-tasks", world)
    client.get(url)  # warm caches (session, membership)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    inserts = [q["sql"] for q in queries.captured_queries if q["sql"].lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 1 and "audit_pending" in inserts[0], inserts


def test_i14_search_terms_in_a_query_are_committed_not_logged(world):
    client = world.client("alice")
    with transaction.atomic():
        before = _last_id()
        response = client.get(_url("api-case-tasks", world) + "?q=NSP-SECRET-SEARCH&page=1")
        entries = _entries_since(before, response["X-Request-ID"])
        transaction.set_rollback(True)
    assert len(entries) == 1
    assert "NSP-SECRET-SEARCH" not in json.dumps(entries[0])
    assert entries[0]["commitments"]["query"] and entries[0]["details"]["query_keys"] == "page,q"


def _refusing_view(request):
    """A refusal audited inside a transaction that the same refusal then rolls back."""
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(
            action=Action.ACCESS_DENIED,
            actor=SYSTEM_ACTOR,
            outcome=Outcome.DENIED,
            object_type="case",
            object_id="7",
            reason="the specific reason",
        )
        raise RuntimeError("refused: roll back")
    return HttpResponseForbidden("no")


def test_i14_a_refusal_entry_survives_its_rolled_back_transaction():
    request = RequestFactory().get("/api/v1/cases/7")
    request.resolver_match = get_resolver().resolve("/api/v1/cases/7")
    middleware = RouteAuditMiddleware(_refusing_view)
    with transaction.atomic():
        before = _last_id()
        response = middleware(request)
        bodies = [json.loads(b) for b in AuditPending.objects.filter(id__gt=before).values_list("body", flat=True)]
        transaction.set_rollback(True)
    assert response.status_code == 403
    assert [(b["action"], b["reason"], b["object"]["id"]) for b in bodies] == [
        ("access.denied", "the specific reason", "7")
    ], "the refusal's own entry, written again after the rollback, and no generic one besides"


def test_i14_a_change_that_committed_its_entry_gets_no_generic_one():
    def view(request):
        with transaction.atomic():
            audit_record(action=Action.CASE_UPDATE, actor=SYSTEM_ACTOR, object_type="case", object_id="7")
        return HttpResponse(status=204)

    request = RequestFactory().post("/api/v1/cases/7/status")
    request.resolver_match = get_resolver().resolve("/api/v1/cases/7/status")
    with transaction.atomic():
        before = _last_id()
        RouteAuditMiddleware(view)(request)
        actions = [
            json.loads(b)["action"] for b in AuditPending.objects.filter(id__gt=before).values_list("body", flat=True)
        ]
        transaction.set_rollback(True)
    assert actions == ["case.update"]


def test_i14_operator_routes_are_declared_and_audited(world):
    """/operator/ (Django admin) answers as one declared family: refusals and reads are logged."""
    User = get_user_model()
    operator = User.objects.create_superuser("operator", "op@example.org", "an-operator-passphrase-long")
    device = TOTPDevice.objects.create(user=operator, name="op", confirmed=True)
    verified = Client()
    verified.force_login(operator)
    session = verified.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    get = Row("GET", ())
    for path in ("/operator/", "/operator/agencies/agency/", "/operator/auth/user/"):
        response, entries = _audited_request(world.client("adam"), get, path)
        assert response.status_code == 302 and entries, path
        assert any(e["action"] == Action.ACCESS_DENIED and e["reason"] for e in entries), (path, entries)
        response, entries = _audited_request(verified, get, path)
        assert response.status_code == 200, path
        assert entries and all(e["actor"]["name"] == "operator" for e in entries), (path, entries)
