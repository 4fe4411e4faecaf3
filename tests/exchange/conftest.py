"""Crafting bundles for the exchange tests (the `partnership` fixture lives in tests/conftest.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from exchange import keystore
from exchange.envelope import bundle_seal


@pytest.fixture(autouse=True)
def _bundle_dir(settings, tmp_path):
    settings.EXCHANGE_BUNDLE_DIR = tmp_path / "bundles"


def craft(
    *,
    sender,
    recipient,
    kind="hashset.delta",
    payload=b'{"hashset": {"name": "crafted", "version": 1, "scheme": "vic_us"}}\n',
    sequence=1,
    tlp="GREEN",
    created=None,
    expires=timedelta(days=1),
    signing_keys=None,
    chunk_size=64,
) -> bytes:
    """A bundle sealed with the sender's real keys (tests then break exactly one thing)."""
    sender_keys = keystore.key_set_current(sender)
    recipient_keys = keystore.key_set_current(recipient)
    out = io.BytesIO()
    bundle_seal(
        kind=kind,
        sender_code=sender.code,
        signing_keys=signing_keys or keystore.signing_private(sender_keys),
        recipients=[(recipient.code, keystore.encryption_public(recipient_keys))],
        sequence=sequence,
        payload=[payload],
        out=out,
        tlp=tlp,
        expires=expires,
        created=created or datetime.now(UTC),
        chunk_size=chunk_size,
    )
    return out.getvalue()
