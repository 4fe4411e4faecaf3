"""Regression tests for the findings of the insider-proof trust review (issue 13), one module per
finding or group, each test named after its finding (test_c1_..., test_h2_..., test_m4_...).

Fixtures shared by several modules live here; a fixture that one module uses stays in that module.

* `remote_agency` makes a remote agency's key sets and signed cards as its node would (or as an
  attacker would, for a card of someone else's code): nothing is stored, the test imports them.
* `trio_federation` runs the attacker's setting across real nodes: node A hosts two agencies (NSP,
  its first, and RNP), node B a third agency (DE-BKA), each with its own gunicorn, worker and
  database (tests/federation/conftest.py). NSP and DE-BKA are genuine, verified partners both ways
  with node tokens; RNP and NSP are partners on A; RNP's admin is the insider who attacks.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from exchange.envelope import bundle_seal
from exchange.keys import AgencyCard, EncryptionPrivateKeys, EncryptionPublicKeys, SigningPrivateKeys, card_sign


@dataclass
class CardKeys:
    """One key generation of an agency (its private halves) and the card that publishes it."""

    code: str
    node_url: str
    signing: SigningPrivateKeys
    encryption: EncryptionPrivateKeys
    card: dict

    @property
    def signing_fingerprint(self) -> str:
        return self.signing.public_keys().fingerprint

    @property
    def signing_key_id(self) -> str:
        return self.signing.key_id

    @property
    def encryption_key_id(self) -> str:
        return self.encryption.key_id

    def seal(
        self,
        *,
        recipient_code: str,
        recipient_keys: EncryptionPublicKeys,
        kind: str = "hashset.delta",
        payload: bytes = b'{"hashset": {"name": "forged", "version": 1, "scheme": "vic_us"}}\n',
        sequence: int = 1,
        tlp: str = "GREEN",
    ) -> bytes:
        """A bundle this agency signs (with these keys) for `recipient_code`."""
        out = io.BytesIO()
        bundle_seal(
            kind=kind,
            sender_code=self.code,
            signing_keys=self.signing,
            recipients=[(recipient_code, recipient_keys)],
            sequence=sequence,
            payload=[payload],
            out=out,
            tlp=tlp,
            expires=timedelta(days=1),
        )
        return out.getvalue()


def make_card(
    *,
    code: str,
    node_url: str,
    name: str = "Bundeskriminalamt",
    country: str = "DE",
    valid_from: datetime | None = None,
) -> CardKeys:
    """Fresh keys and a self-signed card for `code`: genuine when its node makes it, forged otherwise."""
    signing = SigningPrivateKeys.generate()
    encryption = EncryptionPrivateKeys.generate()
    valid_from = (valid_from or datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    card = AgencyCard(
        name=name,
        code=code,
        country=country,
        node_url=node_url,
        signing_keys=signing.public_keys(),
        encryption_keys=encryption.public_keys(),
        valid_from=valid_from,
        valid_until=valid_from + timedelta(days=365),
    )
    return CardKeys(code=code, node_url=node_url, signing=signing, encryption=encryption, card=card_sign(card, signing))


@pytest.fixture
def remote_agency():
    """`remote_agency(code=..., node_url=..., valid_from=...)` -> CardKeys (see make_card)."""
    return make_card


@pytest.fixture(autouse=True)
def _bundle_dir(settings, tmp_path):
    settings.EXCHANGE_BUNDLE_DIR = tmp_path / "bundles"


# --- two hosted agencies and a remote partner, on real nodes -----------------------------------


@pytest.fixture(scope="package")
def trio_federation(tmp_path_factory):
    """Node A: NSP (first) and RNP; node B: DE-BKA. NSP <-> DE-BKA verified across the nodes with
    tokens both ways; NSP <-> RNP verified on A. Yields the `Federation` (a = A, b = B)."""
    from tests.federation.conftest import federation_started

    def remote_partner_on_b(cluster) -> None:
        # Node B hosts the remote partner agency of the C1 story instead of the default RNP.
        cluster.b.code, cluster.b.agency_name, cluster.b.country = "DE-BKA", "Bundeskriminalamt", "DE"

    with federation_started(tmp_path_factory, "trio", configure=remote_partner_on_b) as cluster:
        cluster.a.shell("local_partner", code="RNP", name="Rivermark Police", country="NL", data_types=["lead"])
        yield cluster
