"""API fuzzing from the node's own OpenAPI schema (/api/v1/schema/) with schemathesis.

Every GET and POST operation under /api/v1 is called with generated parameters and bodies through
the WSGI application, as agency A's investigator (alice, who owns the objects the fuzzer sometimes
names by their real ids) and as an outsider (charlie of agency B). Partner-only operations are
called with the partner token NSP issued to RNP's node. For every response:

- no 5xx;
- where the schema documents the status code, the body and content type conform to it;
- the outsider never receives agency A's data.

Bounded: 10 examples per operation and persona; each call runs in a savepoint that is rolled back.
"""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import content_type_conformance, not_a_server_error, response_schema_conformance

from tests.hardening.test_idor import SECRETS

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 10
PARTNER_PATHS = (
    "/api/v1/exchange/inbox",
    "/api/v1/exchange/feed",
    "/api/v1/exchange/bundles/",
    "/api/v1/exchange/witness",
)
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _operations(schema):
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() in {"GET", "POST"} and operation.path.startswith("/api/v1/"):
            yield operation


def _fuzz(operation, *, headers: dict[str, str], real_ids: dict, failures: list, bodies: list) -> int:
    calls = [0]

    @settings(
        max_examples=MAX_EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    @given(case=operation.as_strategy(), use_real=st.booleans())
    def run(case, use_real):
        if use_real and case.path_parameters:
            # half the time, name agency A's real objects: the owner reaches them, the outsider must not
            for name in case.path_parameters:
                if name in real_ids:
                    case.path_parameters[name] = real_ids[name]
        with transaction.atomic():
            response = case.call(headers=headers)
            transaction.set_rollback(True)
        calls[0] += 1
        bodies.append((f"{case.method} {case.formatted_path}", response.status_code, response.content or b""))
        try:
            case.validate_response(response, checks=CHECKS)
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis raises its findings
            where = f"{case.method} {case.formatted_path} -> {response.status_code}: {str(exc)[:400]}"
            failures.append(where)

    run()
    return calls[0]


@pytest.fixture
def schema(world):
    # The real WSGI handler closes the database connection after each request, which would end the
    # test's transaction; Django's own test client keeps it open the same way.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/", get_wsgi_application())
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.mark.parametrize("persona", ["alice", "charlie"])
def test_api_conforms_and_never_fails(schema, world, persona):
    world.api_client(persona)  # issues the persona's bearer token
    failures: list[str] = []
    bodies: list[tuple[str, int, bytes]] = []
    calls = 0
    for operation in _operations(schema):
        partner = operation.path.startswith(PARTNER_PATHS)
        headers = {"Authorization": world.tokens["partner" if partner else persona]}
        calls += _fuzz(operation, headers=headers, real_ids=world.kwargs, failures=failures, bodies=bodies)
    assert calls >= 100, f"only {calls} calls: the schema lost its operations"
    assert not failures, f"{len(failures)} responses break the schema or the node:\n" + "\n".join(failures[:40])
    if persona == "charlie":
        leaked = [
            f"{where} -> {status}: {secret}"
            for where, status, body in bodies
            for secret in SECRETS
            if secret.encode() in body
        ]
        assert not leaked, "the outsider received agency A's data:\n" + "\n".join(leaked[:20])


PAGINATED = [
    "/api/v1/cases/", "/api/v1/cases/{case_id}/members", "/api/v1/cases/{case_id}/notes",
    "/api/v1/cases/{case_id}/tasks", "/api/v1/cases/{case_id}/evidence", "/api/v1/cases/{case_id}/deconfliction",
    "/api/v1/cases/{case_id}/leads", "/api/v1/leads/", "/api/v1/hashsets",
]  # fmt: skip


# Pages too, for retention officers (alice may not read them, so only their description is checked).
PAGINATED_RETENTION = [
    "/api/v1/retention/rules", "/api/v1/retention/queue", "/api/v1/retention/tombstones",
    "/api/v1/retention/legal-holds",
]  # fmt: skip


def _not_described_as_pages(schema: dict, paths: list[str]) -> list[str]:
    wrong = []
    for path in paths:
        operation = schema["paths"][path]["get"]
        ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
        if "$ref" in ok:
            ok = schema["components"]["schemas"][ok["$ref"].rsplit("/", 1)[1]]
        properties = ok.get("properties", {})
        parameters = {p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"}
        if (
            properties.get("results", {}).get("type") != "array"
            or properties.get("count", {}).get("type") != "integer"
            or not {"next", "previous"} <= set(properties)
            or not {"page", "page_size"} <= parameters
        ):
            wrong.append(path)
    return wrong


def test_paginated_lists_are_described_as_pages(world):
    """Each list answers {count, next, previous, results}; the schema says so, with its page parameters."""
    schema = world.client("alice").get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    wrong = _not_described_as_pages(schema, PAGINATED + PAGINATED_RETENTION)
    assert not wrong, f"not documented as pages (with page and page_size), answered as pages: {wrong}"


def test_paginated_lists_answer_as_documented(world):
    """The other half: every PAGINATED list really answers a page, so the schema is not just words."""
    client = world.api_client("alice")
    for path in PAGINATED:
        url = path.format(**world.kwargs) + "?page_size=1"
        response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert set(response.json()) == {"count", "next", "previous", "results"}, url
