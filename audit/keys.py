"""The node's audit signing key (Ed25519), from AUDIT_SIGNING_KEY or a file under var/, and its history.

Only the current private key is ever held, outside the database. The public keys of earlier ones
come from the log itself: each rotation (`audit.rotation`) appends an `audit.key_rotated` entry
naming the old and new vkeys, and the checkpoint that covers it is signed by both keys.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from audit.actions import Action
from audit.models import AuditEntry
from audit.note import vkey_from_public_key


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


def audit_vkey() -> str:
    """The vkey of the key this process signs with (after a rotation, maybe not the log's current one)."""
    return vkey_from_public_key(audit_key_name(), audit_public_key_bytes())


def signing_key_from_file(path: Path) -> Ed25519PrivateKey:
    """A key file in the AUDIT_SIGNING_KEY_FILE format (base64 seed); read, never created."""
    if not path.is_file():
        raise ImproperlyConfigured(f"{path} is not a file.")
    return Ed25519PrivateKey.from_private_bytes(_seed_from_setting(path.read_text().strip()))


@dataclass(frozen=True)
class KeyPeriod:
    """A key of the log and the checkpoint sizes it signs: ``first_size`` to ``last_size`` inclusive.

    Consecutive periods share their boundary: the hand-over checkpoint of that size carries both
    keys' signatures. ``last_size`` is None for the current key.
    """

    vkey: str
    first_size: int
    last_size: int | None

    def as_record(self) -> dict:
        return {"vkey": self.vkey, "first_size": self.first_size, "last_size": self.last_size}


def _rotations(below: int | None = None) -> list[tuple[int, dict]]:
    """(index, details) of each `audit.key_rotated` entry, oldest first."""
    rows = AuditEntry.objects.filter(action=Action.AUDIT_KEY_ROTATED.value)
    if below is not None:
        rows = rows.filter(index__lt=below)
    return [
        (index, json.loads(text)["details"]) for index, text in rows.order_by("index").values_list("index", "canonical")
    ]


def audit_key_history(*, below: int | None = None) -> list[KeyPeriod]:
    """Every key of the log, oldest first, as the log's rotation entries (below ``below``) record them.

    A log never rotated has one key, this process's. A rotation entry at index i hands the log over
    at size i + 1: the old key signs sizes up to i + 1, the new one from i + 1.
    """
    rotations = _rotations(below)
    if not rotations:
        return [KeyPeriod(audit_vkey(), 0, None)]
    periods, first = [], 0
    for index, details in rotations:
        periods.append(KeyPeriod(details["old_key"], first, index + 1))
        first = index + 1
    periods.append(KeyPeriod(rotations[-1][1]["new_key"], first, None))
    return periods


def audit_vkeys_to_pin() -> list[str]:
    """This node's log keys, for the verifier to pin: the configured key and, after rotations, its predecessors.

    The predecessors come from the log's own rotation entries; each is covered by a hand-over checkpoint
    that its successor cross-signs, so the chain of trust starts at the configured key, not at an export.
    """
    return [period.vkey for period in audit_key_history()]


def audit_signing_key_problem() -> str | None:
    """Why this process must not sign checkpoints now, or None.

    After a rotation, processes still configured with the old key would sign checkpoints past the
    hand-over with it, which every verifier refuses: they integrate entries but sign nothing until
    restarted with the new key.
    """
    rotation = AuditEntry.objects.filter(action=Action.AUDIT_KEY_ROTATED.value).order_by("-index").first()
    if rotation is None:
        return None
    current = json.loads(rotation.canonical)["details"]["new_key"]
    if current == audit_vkey():
        return None
    return (
        f"the audit log was handed over to {current} at size {rotation.index + 1}, but this process signs with "
        f"{audit_vkey()}: set AUDIT_SIGNING_KEY(_FILE) to the new key and restart it"
    )
