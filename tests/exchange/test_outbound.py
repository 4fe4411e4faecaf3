"""Requests this node makes to partner nodes go only where they may (exchange/outbound.py)."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from exchange import outbound

LOOPBACK = ["127.0.0.0/8"]


@contextmanager
def server(answer):
    """A tiny HTTP server on loopback; `answer(handler)` writes the response. Yields (url, requests seen)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            answer(self)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def _json(handler, body: bytes = b'{"ok": true}', status: int = 200, headers: dict | None = None):
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/api/v1/exchange/inbox",
        "http://localhost/",
        "http://10.1.2.3/",
        "http://192.168.0.10/",
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
        "http://[::1]:8000/",
        "http://[fd00::1]/",
        "http://0.0.0.0/",
    ],
)
def test_private_and_reserved_addresses_are_refused(url, settings):
    settings.EXCHANGE_PARTNER_NETWORKS = []
    with pytest.raises(outbound.OutboundRefused, match=r"private or reserved network.*EXCHANGE_PARTNER_NETWORKS"):
        outbound.url_check(url)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/card.json", "http:///no-host", "gopher://x"])
def test_other_schemes_are_refused(url):
    with pytest.raises(outbound.OutboundRefused, match="Only http"):
        outbound.url_check(url)


def test_a_listed_network_may_be_called_and_nothing_else_is(settings):
    with server(_json) as (url, seen):
        settings.EXCHANGE_PARTNER_NETWORKS = []
        with pytest.raises(outbound.OutboundRefused):
            outbound.call(url + "/card", timeout=5, limit=1024)
        assert seen == []  # refused before any connection
        settings.EXCHANGE_PARTNER_NETWORKS = LOOPBACK
        assert outbound.call(url + "/card", timeout=5, limit=1024) == b'{"ok": true}'
        assert seen == ["/card"]


def test_redirects_are_not_followed(settings):
    import urllib.error

    settings.EXCHANGE_PARTNER_NETWORKS = LOOPBACK
    with server(_json) as (inner, inner_seen):

        def redirect(handler):
            _json(handler, b"", status=302, headers={"Location": inner + "/internal"})

        with server(redirect) as (url, _seen):
            with pytest.raises(urllib.error.HTTPError, match=r"redirect to .* not followed"):
                outbound.call(url + "/card", timeout=5, limit=1024)
    assert inner_seen == []


def test_an_answer_over_the_limit_is_refused(settings):
    settings.EXCHANGE_PARTNER_NETWORKS = LOOPBACK
    with server(lambda handler: _json(handler, b"x" * 5000)) as (url, _seen):
        with pytest.raises(outbound.OutboundRefused, match="larger than 4,096 bytes"):
            outbound.call(url, timeout=5, limit=4096)


@pytest.mark.django_db
def test_fetching_a_card_from_an_internal_address_is_refused_with_a_clear_error(client, as_user, adam, settings):
    settings.EXCHANGE_PARTNER_NETWORKS = []
    with server(_json) as (url, seen):
        as_user(adam)
        response = client.post("/exchange/partners/add/", {"card": "", "card_url": url + "/card"})
    assert response.status_code == 200
    assert "private or reserved network" in response.content.decode()
    assert seen == []  # the node never called its own network
