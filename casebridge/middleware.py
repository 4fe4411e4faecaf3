"""Request context: the node's own request id and the client's address, carried into audit entries."""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import unquote_plus

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

# A caller's X-Request-ID is only ever kept as a hint (details.client_request_id of audit
# entries), never as the entry's request id: a client must not be able to make two requests look
# like one, or one look like another's, in the log. Kept: these characters, at most this many.
CLIENT_REQUEST_ID_MAX_LENGTH = 64
_CLIENT_REQUEST_ID_JUNK = re.compile(r"[^A-Za-z0-9._:-]")

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    source_address: str
    client_request_id: str = ""


current_request: ContextVar[RequestContext | None] = ContextVar("current_request", default=None)


@lru_cache(maxsize=8)
def trusted_proxy_networks(cidrs: Sequence[str]) -> tuple[IPNetwork, ...]:
    """The networks of TRUSTED_PROXIES (validated in settings; parsed once per distinct value)."""
    return tuple(ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs)


def _parse_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443" or "[2001:db8::1]"
        text = text[1 : text.index("]")]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:192.0.2.1 is 192.0.2.1
    return mapped or address


def _is_trusted(address, networks: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in networks)


def client_address(request: HttpRequest) -> str:
    """The address of the client behind this request: the one value login throttles, rate limits
    and audit entries use for "where a request came from".

    `REMOTE_ADDR` (the TCP peer, or the address gunicorn took from a PROXY protocol header) unless
    that peer is one of TRUSTED_PROXIES: then `X-Forwarded-For` is read from the right, each hop
    appended by the proxy before it, and the first hop that is not itself a trusted proxy is the
    client. Everything left of it was written by the client and is ignored, so a forged header
    gains nothing; a malformed hop stops the walk at the last proxy that is known.
    """
    peer_text = request.META.get("REMOTE_ADDR", "") or ""
    networks = trusted_proxy_networks(tuple(getattr(settings, "TRUSTED_PROXIES", ()) or ()))
    peer = _parse_address(peer_text)
    if peer is None:
        return peer_text[:64]
    if not networks or not _is_trusted(peer, networks):
        return str(peer)
    hops = [hop for hop in (request.META.get("HTTP_X_FORWARDED_FOR", "") or "").split(",") if hop.strip()]
    client = peer
    for hop in reversed(hops):
        address = _parse_address(hop)
        if address is None:
            break
        client = address
        if not _is_trusted(address, networks):
            break
    return str(client)


def client_request_id(request: HttpRequest) -> str:
    """The caller's own X-Request-ID, reduced to harmless characters and bounded in length."""
    raw = request.headers.get("X-Request-ID", "") or ""
    return _CLIENT_REQUEST_ID_JUNK.sub("", raw[: CLIENT_REQUEST_ID_MAX_LENGTH * 4])[:CLIENT_REQUEST_ID_MAX_LENGTH]


class RequestIdMiddleware:
    """Tags each request with the node's own id (returned as X-Request-ID) for tracing and audit,
    and notes the caller's X-Request-ID apart from it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        context = RequestContext(
            request_id=request_id,
            source_address=client_address(request),
            client_request_id=client_request_id(request),
        )
        token = current_request.set(context)
        try:
            response = self.get_response(request)
        finally:
            current_request.reset(token)
        response["X-Request-ID"] = request_id
        return response


class NulCharacterRejectMiddleware:
    """Refuses (400) a URL whose path or query holds a NUL character.

    No legitimate request has one, and PostgreSQL text cannot hold one: left through, it ends as a
    500 deep inside whichever query first compares it (a search box, an agency code, a filter).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path or "\x00" in unquote_plus(request.META.get("QUERY_STRING", "")):
            detail = "A NUL character is not allowed in a URL."
            if request.path.startswith("/api/"):
                body = {"type": "about:blank", "title": "Bad request", "status": 400, "detail": detail}
                return JsonResponse(body, status=400, content_type="application/problem+json")
            return HttpResponseBadRequest(detail, content_type="text/plain; charset=utf-8")
        return self.get_response(request)
