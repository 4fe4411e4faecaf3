"""Typed readers for settings taken from the environment.

Each reader refuses a bad value with a message naming the variable, so a misconfigured node
stops at start-up instead of misbehaving later. `env_secret` also reads `NAME_FILE`, the path of
a file holding the value (Docker and Kubernetes secrets).
"""

from __future__ import annotations

import ipaddress
import math
import os
import zlib
from collections import Counter
from pathlib import Path

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ImproperlyConfiguredEnv(Exception):
    """An environment variable holds a value the node cannot use."""


def env_str(name: str, default: str | None = None) -> str | None:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfiguredEnv(f"{name} must be one of true/false/1/0/yes/no/on/off, got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfiguredEnv(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfiguredEnv(f"{name} must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ImproperlyConfiguredEnv(f"{name} must be at most {maximum}, got {value}")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_secret(name: str, default: str | None = None) -> str | None:
    """Value of NAME, or the contents of the file named by NAME_FILE (never both)."""
    direct = os.environ.get(name)
    file_name = os.environ.get(f"{name}_FILE")
    if direct is not None and file_name is not None:
        raise ImproperlyConfiguredEnv(f"set either {name} or {name}_FILE, not both")
    if file_name is not None:
        path = Path(file_name)
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ImproperlyConfiguredEnv(f"{name}_FILE={file_name!r} cannot be read: {exc.strerror}") from None
    return direct if direct is not None else default


def env_networks(name: str) -> list[str]:
    """Comma-separated CIDR networks (a bare address is a /32 or /128), each checked."""
    networks = []
    for item in env_list(name):
        try:
            network = ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ImproperlyConfiguredEnv(f"{name} must list CIDR networks such as 10.0.0.0/8, got {item!r}") from None
        if network.prefixlen == 0:
            raise ImproperlyConfiguredEnv(
                f"{name} must not contain {item!r}: trusting every address lets any client choose its own address"
            )
        networks.append(str(network))
    return networks


# A secret key is only as strong as what an attacker cannot guess. Length and Django's "5 distinct
# characters" let through keys such as 59 times "a" and "bcde"; two estimates catch those: the
# character distribution's Shannon entropy over the whole key, and how far zlib can compress it
# (runs and repeated patterns compress; random text does not). Keys from secrets.token_urlsafe,
# secrets.token_hex(25+) or Django's get_random_secret_key pass both by a wide margin.
SECRET_KEY_MIN_LENGTH = 50
SECRET_KEY_MIN_BITS = 128
_SECRET_KEY_MIN_INCOMPRESSIBLE = 0.6  # random keys measure 0.78 or more
_ZLIB_OVERHEAD_BYTES = 8


def secret_key_weakness(key: str) -> str | None:
    """Why `key` is too weak to sign sessions in production, or None when it is fine."""
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"it has {len(key)} characters, at least {SECRET_KEY_MIN_LENGTH} are needed"
    if key.startswith("django-insecure"):
        return "it is a development key (django-insecure...)"
    counts = Counter(key)
    if len(counts) < 5:
        return "it has fewer than 5 distinct characters"
    bits = -sum(n * math.log2(n / len(key)) for n in counts.values())
    if bits < SECRET_KEY_MIN_BITS:
        return f"its characters carry about {bits:.0f} bits of entropy, at least {SECRET_KEY_MIN_BITS} are needed"
    incompressible = (len(zlib.compress(key.encode("utf-8"), 9)) - _ZLIB_OVERHEAD_BYTES) / len(key.encode("utf-8"))
    if incompressible < _SECRET_KEY_MIN_INCOMPRESSIBLE:
        return "it is made of long runs or repeated patterns"
    return None


# Public suffixes under which a leading-dot ALLOWED_HOSTS entry would accept other people's domains
# (".co.uk" allows every UK company). Not the whole Public Suffix List: every one-label suffix, and
# the common second-level registries of country codes.
_SECOND_LEVEL_REGISTRIES = {"ac", "co", "com", "edu", "gob", "gov", "govt", "gv", "ltd", "net", "nic", "or", "org"}


def allowed_host_weakness(host: str) -> str | None:
    """Why an ALLOWED_HOSTS entry would let a forged Host header through, or None."""
    if "*" in host:
        return "a wildcard accepts any Host header (password-reset links, absolute URLs, cache keys)"
    if host.startswith("."):
        labels = [label for label in host.strip(".").split(".") if label]
        if len(labels) < 2 or (len(labels) == 2 and labels[0] in _SECOND_LEVEL_REGISTRIES and len(labels[1]) == 2):
            return "a leading dot before a public suffix accepts every domain registered under it"
    return None
