"""Coverage-guided fuzzing of the bundle reader with atheris (optional; not collected by pytest).

    .venv/bin/pip install atheris
    .venv/bin/python tests/hardening/atheris_bundle.py -atheris_runs=200000 [corpus_dir]

The seed is a valid sealed bundle; libFuzzer mutates it. Any exception other than BundleError is
a finding (atheris prints the input and stops). The pytest suite runs the bounded hypothesis
version of the same property (tests/hardening/test_fuzz_parsers.py).
"""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    from exchange.envelope import BundleError, bundle_open, bundle_seal
    from exchange.keys import EncryptionPrivateKeys, SigningPrivateKeys

SENDER = SigningPrivateKeys.generate()
RECIPIENT = EncryptionPrivateKeys.generate()
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def seed_bundle() -> bytes:
    out = io.BytesIO()
    bundle_seal(
        kind="hashset.delta", sender_code="NSP", signing_keys=SENDER, recipients=[("RNP", RECIPIENT.public_keys())],
        sequence=1, payload=io.BytesIO(b'{"hashset": {"name": "seed", "version": 1}}\n' * 4), out=out, tlp="AMBER",
        expires=timedelta(days=7), created=NOW - timedelta(hours=1), chunk_size=64,
    )  # fmt: skip
    return out.getvalue()


def one_input(data: bytes) -> None:
    try:
        bundle_open(
            src=io.BytesIO(data), recipient_code="RNP", encryption_private_keys=RECIPIENT,
            sender_public_keys=SENDER.public_keys(), out=io.BytesIO(), now=NOW,
        )  # fmt: skip
    except BundleError:
        pass


def main() -> None:
    args = list(sys.argv)
    corpus = next((Path(a) for a in args[1:] if not a.startswith("-")), None)
    if corpus is not None:
        corpus.mkdir(parents=True, exist_ok=True)
        (corpus / "seed.bundle").write_bytes(seed_bundle())
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
