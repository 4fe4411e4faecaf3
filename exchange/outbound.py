"""Every HTTP request this node makes to a partner's node, through one guarded opener.

A partner's node URL comes from its signed card, and an admin may fetch a card from a URL they
were given: both are addresses someone else chose. Without a guard they would let a card point the
node at its own network (server-side request forgery: the database, the broker, a cloud metadata
service). So a request goes out only to a public address, or to a network the operator listed in
EXCHANGE_PARTNER_NETWORKS (a private interconnect between agencies); redirects are not followed
(each hop would need the same check), and answers are read up to a limit.

The check resolves the host just before the request; a DNS answer that changes between the check
and the connection (rebinding) is not caught here. The partner listener's mutual TLS and the
egress firewall of the deployment (docs/deploy.md) are the controls for that.
"""

from __future__ import annotations

import ipaddress
import socket
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from django.conf import settings

from casebridge.errors import CasebridgeError


class OutboundRefused(CasebridgeError):
    """The URL may not be called from this node (scheme, or an address outside the allowed ones)."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise urllib.error.HTTPError(req.full_url, code, f"redirect to {newurl} not followed", headers, fp)


_OPENER = urllib.request.build_opener(_NoRedirects)


def _allowed_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n.strip(), strict=False) for n in settings.EXCHANGE_PARTNER_NETWORKS if n.strip()]


def url_check(url: str) -> None:
    """Raise OutboundRefused unless every address `url`'s host resolves to may be called."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused("Only http(s) URLs with a host name can be called.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundRefused(f"The host {parts.hostname} could not be resolved ({exc}).") from None
    allowed = _allowed_networks()
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%", 1)[0])
        if any(address in network for network in allowed):
            continue
        if not address.is_global or address.is_multicast:
            raise OutboundRefused(
                f"{parts.hostname} resolves to {address}, an address inside a private or reserved network; "
                "a partner node on such a network must be listed in EXCHANGE_PARTNER_NETWORKS by the operator."
            )


def call(request: urllib.request.Request | str, *, timeout: float, limit: int) -> bytes:
    """Send `request` after url_check; the body of the answer, refused beyond `limit` bytes.
    HTTP errors raise urllib.error.HTTPError as usual (with redirects among them)."""
    url = request.full_url if isinstance(request, urllib.request.Request) else request
    url_check(url)
    with _OPENER.open(request, timeout=timeout) as response:
        body = response.read(limit + 1)
    if len(body) > limit:
        raise OutboundRefused(f"The answer from {urlsplit(url).hostname} is larger than {limit:,} bytes.")
    return body
