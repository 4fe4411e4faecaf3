"""Two agencies on this node that are verified partners of each other, with agreements."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest

from exchange import keystore
from exchange.envelope import bundle_seal
from exchange.services import agreement_set, keys_ensure, partner_add_from_card, partner_verify


@pytest.fixture(autouse=True)
def _bundle_dir(settings, tmp_path):
    settings.EXCHANGE_BUNDLE_DIR = tmp_path / "bundles"


@pytest.fixture
def partnership(adam, carl, agency_a, agency_b):
    """NSP (admin adam) and RNP (admin carl): verified both ways, hash sets and leads up to AMBER."""
    keys_a = keys_ensure(agency=agency_a)
    keys_b = keys_ensure(agency=agency_b)
    a_to_b = partner_add_from_card(acting_user=adam, card_document=keys_b.card)
    partner_verify(acting_user=adam, partner=a_to_b, signing_fingerprint=keys_b.signing_fingerprint)
    agreement_set(
        acting_user=adam, partner=a_to_b, data_types=["hashset", "lead"], max_tlp="AMBER", requires_approval=False
    )
    b_to_a = partner_add_from_card(acting_user=carl, card_document=keys_a.card)
    partner_verify(acting_user=carl, partner=b_to_a, signing_fingerprint=keys_a.signing_fingerprint)
    agreement_set(
        acting_user=carl, partner=b_to_a, data_types=["hashset", "lead"], max_tlp="AMBER", requires_approval=False
    )
    return a_to_b, b_to_a


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
