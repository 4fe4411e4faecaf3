"""The node's key-encryption key (KEK), from settings, and unwrapping during a KEK rotation.

One place for every app that keeps secrets wrapped at rest (exchange keys and partner tokens,
TOTP seeds): apps below `exchange` must not import it, so it lives at the lowest layer.
"""

from __future__ import annotations

import base64
import functools
import os
from pathlib import Path

from casebridge.lib.keywrap import KeyWrapError, unwrap_private_key


def _decode_kek(value: str, name: str) -> bytes:
    from django.core.exceptions import ImproperlyConfigured

    try:
        kek = base64.b64decode(value, validate=True)
    except ValueError:
        kek = b""
    if len(kek) != 32:
        raise ImproperlyConfigured(f"{name} must be the base64 of 32 random bytes.")
    return kek


@functools.cache
def node_kek() -> bytes:
    """The key-encryption key. Development nodes (DEBUG) keep a generated one under var/."""
    from django.conf import settings
    from django.core.exceptions import ImproperlyConfigured

    if settings.KEY_ENCRYPTION_KEY:
        return _decode_kek(settings.KEY_ENCRYPTION_KEY, "KEY_ENCRYPTION_KEY")
    if not settings.DEBUG and not os.environ.get("CASEBRIDGE_ALLOW_GENERATED_KEK"):
        raise ImproperlyConfigured(
            "KEY_ENCRYPTION_KEY (or KEY_ENCRYPTION_KEY_FILE) must be set to create or use agency keys."
        )
    path = Path(settings.VAR_DIR) / "key-encryption.key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(base64.b64encode(os.urandom(32)).decode() + "\n")
    return _decode_kek(path.read_text().strip(), str(path))


def previous_kek() -> bytes | None:
    """The KEK being rotated away from, if a rotation is in progress (KEY_ENCRYPTION_KEY_PREVIOUS)."""
    from django.conf import settings

    if not settings.KEY_ENCRYPTION_KEY_PREVIOUS:
        return None
    return _decode_kek(settings.KEY_ENCRYPTION_KEY_PREVIOUS, "KEY_ENCRYPTION_KEY_PREVIOUS")


def kek_unwrap(blob: bytes, *, key_id: str) -> bytes:
    """Unwrap under the current KEK, or the previous one while a KEK rotation is under way."""
    try:
        return unwrap_private_key(blob, kek=node_kek(), key_id=key_id)
    except KeyWrapError:
        old = previous_kek()
        if old is None:
            raise
        return unwrap_private_key(blob, kek=old, key_id=key_id)
