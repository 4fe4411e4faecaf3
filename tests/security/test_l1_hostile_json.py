"""L1: hostile JSON bodies (deep nesting, over the upload limit) answer 400 / 413 problem details, never 500.

Every JSON-taking API endpoint comes from the resolver (a DRF view with POST, PUT or PATCH whose
parsers take application/json), so a new endpoint is covered without a list to keep. Each is tried
without credentials and with the persona that reaches its body (from the URL matrix: the first one
that gets past authentication and permissions), on the populated node of tests/hardening.
"""

from __future__ import annotations

import io
import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.exceptions import ParseError
from rest_framework.views import APIView

from casebridge.errors import TooLargeError
from casebridge.parsers import API_JSON_MAX_DEPTH, JSONParser
from tests.hardening.conftest import PERSONAS, World
from tests.hardening.conftest import _fast_and_isolated as _fast_and_isolated
from tests.hardening.conftest import world as world
from tests.hardening.test_url_matrix import MATRIX

pytestmark = pytest.mark.django_db

DEPTH = 1_000  # the report's body: about a thousand nested arrays
LIMIT = 64 << 10  # DATA_UPLOAD_MAX_MEMORY_SIZE for these tests, so the big body stays small
REFUSED = {401, 403, 404}


def _json_views(patterns=None, prefix: str = "") -> list[tuple[str, str, str]]:
    """(URL name, route, method) of every API view that takes a JSON body, from the resolver."""
    found = []
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue
            found += _json_views(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            cls = getattr(pattern.callback, "cls", None)
            if cls is None or not issubclass(cls, APIView):
                continue
            if not any(parser.media_type == "application/json" for parser in cls.parser_classes):
                continue
            for method in ("post", "put", "patch"):
                if hasattr(cls, method):
                    found.append((pattern.name, prefix + str(pattern.pattern), method.upper()))
    return found


JSON_VIEWS = _json_views()


def test_l1_the_resolver_yields_the_json_endpoints():
    names = {name for name, _, _ in JSON_VIEWS}
    assert "api-exchange-witness" in names, JSON_VIEWS
    assert len(JSON_VIEWS) >= 5, JSON_VIEWS
    assert all(name in MATRIX for name in names), "every JSON endpoint has a row in the URL matrix"


def _url(world: World, name: str, route: str) -> str:
    kwargs = {key: value for key, value in world.kwargs.items() if f":{key}>" in route}
    return reverse(name, kwargs=kwargs)


def _check(world: World, method: str, url: str, body: bytes, status: int, words: str) -> None:
    """Without credentials: a problem, never a 500. With them: the first persona that gets past
    authentication and permissions (401/403/404 are the view refusing before the body) gets `status`."""
    _assert_problem(_send(world.api_client("anon"), method, url, body), status, reached=False, words=words)
    for persona in PERSONAS[1:]:
        response = _send(world.api_client(persona), method, url, body)
        _assert_problem(response, status, reached=False, words=words)
        if response.status_code not in REFUSED:
            _assert_problem(response, status, reached=True, words=words)
            return
    pytest.fail(f"no persona reached the body of {method} {url}")


def _send(client, method: str, url: str, body: bytes):
    return client.generic(method, url, body, content_type="application/json")


def _assert_problem(response, status: int, *, reached: bool, words: str) -> None:
    assert response.status_code != 500
    assert response["Content-Type"].startswith("application/problem+json"), response.content[:300]
    problem = response.json()
    assert problem["status"] == response.status_code
    assert "Traceback" not in response.content.decode()
    if reached:
        assert response.status_code == status, problem
        assert words in problem["detail"], problem


def _deep(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


@pytest.mark.parametrize(("name", "route", "method"), JSON_VIEWS, ids=[f"{m} {n}" for n, _, m in JSON_VIEWS])
def test_l1_deeply_nested_json_is_400_on_every_json_endpoint(world, name, route, method):
    url = _url(world, name, route)
    for body in (b"[" * DEPTH + b"]" * DEPTH, _deep(DEPTH)):
        _check(world, method, url, body, 400, "nested deeper than")


@pytest.mark.parametrize(("name", "route", "method"), JSON_VIEWS, ids=[f"{m} {n}" for n, _, m in JSON_VIEWS])
def test_l1_a_body_over_the_upload_limit_is_413_on_every_json_endpoint(world, settings, name, route, method):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    url = _url(world, name, route)
    body = json.dumps({"note": "x" * (LIMIT + 1)}).encode()
    _check(world, method, url, body, 413, "larger than")


def test_l1_the_witness_endpoint_answers_problem_details_to_a_partner(world):
    """The report's partner-facing case: the witness view, with the partner's token."""
    client = world.api_client("partner")
    response = _send(client, "POST", reverse("api-exchange-witness"), b"[" * DEPTH + b"]" * DEPTH)
    _assert_problem(response, 400, reached=True, words="nested deeper than")


class _Stream(io.BytesIO):
    """A body whose length nobody declared (chunked transfer, or a Content-Length that lied)."""


def test_l1_parser_stops_reading_at_the_limit_whatever_content_length_said(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = LIMIT
    stream = _Stream(b'["' + b"x" * (4 * LIMIT) + b'"]')
    with pytest.raises(TooLargeError):
        JSONParser().parse(stream, "application/json", {})
    assert stream.tell() <= LIMIT + (1 << 16), "read far past the limit"


def test_l1_parser_accepts_ordinary_bodies_and_refuses_just_too_deep(settings):
    parser = JSONParser()
    ok = _deep(API_JSON_MAX_DEPTH - 1)
    assert parser.parse(io.BytesIO(ok), "application/json", {})["a"]
    with pytest.raises(ParseError, match="nested deeper than"):
        parser.parse(io.BytesIO(_deep(API_JSON_MAX_DEPTH + 1)), "application/json", {})
    with pytest.raises(ParseError):
        parser.parse(io.BytesIO(b'{"a": NaN}'), "application/json", {})
    with pytest.raises(ParseError):
        parser.parse(io.BytesIO(b'{"a": "\xff"}'), "application/json", {})
    assert parser.parse(io.BytesIO('{"a": "é"}'.encode()), "application/json", {}) == {"a": "é"}
