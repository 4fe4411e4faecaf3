"""Secrets at rest wrapped under the node's key-encryption key (KEK): AES-256-GCM from
`cryptography`, bound to the row they belong to. Pure: no Django, so the exchange key code and the
offline tools can use it; `casebridge.lib.kek` finds the node's KEK.

Used for agency private keys and partner tokens (exchange) and TOTP seeds (agencies).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

WRAP_VERSION = 1
WRAP_NONCE_LEN = 12
WRAP_AAD_DOMAIN = b"Casebridge private key v1\x00"
KEK_LEN = 32


class KeyWrapError(ValueError):
    """A wrapped private key that cannot be unwrapped (wrong KEK, wrong key id, corrupted)."""


def _wrap_aad(key_id: str) -> bytes:
    if not isinstance(key_id, str) or not key_id:
        raise KeyWrapError("key_id must be a non-empty string")
    return WRAP_AAD_DOMAIN + bytes([WRAP_VERSION]) + key_id.encode("utf-8")


def _check_kek(kek: bytes, name: str = "kek") -> AESGCM:
    if not isinstance(kek, (bytes, bytearray)) or len(kek) != KEK_LEN:
        raise KeyWrapError(f"{name} must be {KEK_LEN} bytes")
    return AESGCM(bytes(kek))


def wrap_private_key(raw: bytes, *, kek: bytes, key_id: str) -> bytes:
    """Encrypt a private key encoding for storage.

    Blob = version (1 byte, 0x01) || nonce (12 random bytes) || AES-256-GCM(kek, nonce, raw, aad)
    with aad = "Casebridge private key v1" || 0x00 || version || key_id (UTF-8), so a blob moved
    to another key's row, or downgraded to another version, fails to unwrap.
    """
    aead = _check_kek(kek)
    nonce = os.urandom(WRAP_NONCE_LEN)
    return bytes([WRAP_VERSION]) + nonce + aead.encrypt(nonce, bytes(raw), _wrap_aad(key_id))


def unwrap_private_key(blob: bytes, *, kek: bytes, key_id: str) -> bytes:
    """Inverse of :func:`wrap_private_key`; raises :class:`KeyWrapError` on any mismatch."""
    aead = _check_kek(kek)
    blob = bytes(blob)
    if len(blob) < 1 + WRAP_NONCE_LEN + 16 or blob[0] != WRAP_VERSION:
        raise KeyWrapError("not a version 1 wrapped key")
    nonce = blob[1 : 1 + WRAP_NONCE_LEN]
    try:
        return aead.decrypt(nonce, blob[1 + WRAP_NONCE_LEN :], _wrap_aad(key_id))
    except InvalidTag:
        raise KeyWrapError("wrong key-encryption key, wrong key id, or corrupted blob") from None


def rewrap(blob: bytes, old_kek: bytes, new_kek: bytes, *, key_id: str) -> bytes:
    """Re-encrypt a wrapped key under a new KEK (KEK rotation), with a fresh nonce."""
    _check_kek(new_kek, "new_kek")
    return wrap_private_key(unwrap_private_key(blob, kek=old_kek, key_id=key_id), kek=new_kek, key_id=key_id)
