"""The node's audit signing key (Ed25519), from AUDIT_SIGNING_KEY or a file under var/."""

from __future__ import annotations

import base64
import functools
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def _seed_from_setting(value: str) -> bytes:
    try:
        seed = base64.b64decode(value, validate=True)
    except ValueError:
        seed = b""
    if len(seed) != 32:
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY must be the base64 of a 32-byte Ed25519 seed.")
    return seed


def _seed_from_file(path: Path) -> bytes:
    if not path.exists():
        # First start of a development node: make a key and keep it. Production sets the variable.
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        raw = key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(raw).decode() + "\n")
    return _seed_from_setting(path.read_text().strip())


@functools.cache
def audit_signing_key() -> Ed25519PrivateKey:
    if settings.AUDIT_SIGNING_KEY:
        seed = _seed_from_setting(settings.AUDIT_SIGNING_KEY)
    elif not settings.DEBUG:
        # Containers of one node must share one key: a generated per-container key would fork the log.
        raise ImproperlyConfigured("AUDIT_SIGNING_KEY (or AUDIT_SIGNING_KEY_FILE) must be set when DEBUG is off.")
    else:
        seed = _seed_from_file(Path(settings.VAR_DIR) / "audit-signing.key")
    return Ed25519PrivateKey.from_private_bytes(seed)


def audit_public_key_bytes() -> bytes:
    return audit_signing_key().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def audit_key_name() -> str:
    """Key name in signed notes: the log's origin, as C2SP recommends."""
    return settings.AUDIT_ORIGIN
