"""Regenerate the bundle format test vectors in tests/exchange/vectors/.

    .venv/bin/python -m exchange.make_vectors [--out DIR]

Keys are derived from fixed seeds, and bundle id, timestamps, payloads and chunk size are fixed,
so everything that is deterministic stays the same from run to run. HPKE encapsulation, the data
key and ML-DSA's hedged signing are randomized, so ``bundle``, ``header`` and the values derived
from the data key change on every run: the vector states "this bundle opens with this key to this
plaintext, and its header bytes are exactly these", plus the intermediate values (data key, HPKE
info, chunk nonces and AAD) a partner needs to debug an independent implementation.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, x25519

from audit.note import vkey_from_public_key
from casebridge.lib.canonical_json import canonical_json
from exchange.envelope import (
    HPKE_ENC_LEN,
    SIGNATURE_DOMAIN,
    TAG_LEN,
    bundle_read_header,
    bundle_seal,
    chunk_aad,
    chunk_count,
    chunk_nonce,
    data_key_info,
)
from exchange.keys import (
    HPKE_SUITE,
    AgencyCard,
    AuditLogId,
    EncryptionPrivateKeys,
    SigningPrivateKeys,
    b64decode,
    card_sign,
    wrap_private_key,
)

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "tests" / "exchange" / "vectors"
CREATED = datetime(2025, 1, 1, 0, 0, 0, tzinfo=UTC)
EXPIRES = datetime(2099, 1, 1, 0, 0, 0, tzinfo=UTC)
OPEN_AT = "2025-06-01T00:00:00Z"


def _seed(label: str, length: int) -> bytes:
    return hashlib.shake_256(b"casebridge test vector seed\x00" + label.encode()).digest(length)


def signing_keys(label: str) -> SigningPrivateKeys:
    return SigningPrivateKeys(
        ed25519.Ed25519PrivateKey.from_private_bytes(_seed(label + "/ed25519", 32)),
        mldsa.MLDSA65PrivateKey.from_seed_bytes(_seed(label + "/ml-dsa-65", 32)),
    )


def encryption_keys(label: str) -> EncryptionPrivateKeys:
    return EncryptionPrivateKeys(
        mlkem.MLKEM768PrivateKey.from_seed_bytes(_seed(label + "/ml-kem-768", 64)),
        x25519.X25519PrivateKey.from_private_bytes(_seed(label + "/x25519", 32)),
    )


def _bundle_vector(
    name: str,
    *,
    payload: bytes,
    chunk_size: int,
    recipients: list[tuple[str, EncryptionPrivateKeys, int]],
    sender_code: str,
    sender: SigningPrivateKeys,
    bundle_id: str,
    markings: dict[str, Any] | None,
) -> dict[str, Any]:
    out = io.BytesIO()
    header = bundle_seal(
        kind="hashset.delta",
        sender_code=sender_code,
        signing_keys=sender,
        recipients=[(code, keys.public_keys()) for code, keys, _seq in recipients],
        sequence={code: seq for code, _keys, seq in recipients},
        payload=io.BytesIO(payload),
        out=out,
        tlp="AMBER",
        expires=EXPIRES,
        created=CREATED,
        chunk_size=chunk_size,
        bundle_id=bundle_id,
        markings=markings,
    )
    bundle = out.getvalue()
    parsed, header_bytes, signatures = bundle_read_header(io.BytesIO(bundle))
    if parsed != header or header_bytes != canonical_json(header):
        raise SystemExit("the sealed header does not read back as written")

    # Intermediate values, recovered with the first recipient's key.
    code, keys, _seq = recipients[0]
    entry = header["recipients"][0]
    info = data_key_info(bundle_id, sender_code, sender.key_id, code, keys.key_id)
    data_key = HPKE_SUITE.decrypt(
        b64decode(entry["enc"]) + b64decode(entry["wrapped_key"]), keys.hpke_private_key(), info=info
    )
    offset = len(bundle) - len(payload) - TAG_LEN * chunk_count(len(payload), chunk_size)
    chunks = []
    for index in range(chunk_count(len(payload), chunk_size)):
        last = index == chunk_count(len(payload), chunk_size) - 1
        size = min(chunk_size, len(payload) - index * chunk_size) + TAG_LEN
        chunks.append({"nonce": chunk_nonce(index, last).hex(), "ciphertext": bundle[offset : offset + size].hex()})
        offset += size
    if offset != len(bundle):
        raise SystemExit(f"chunks cover {offset} of the bundle's {len(bundle)} bytes")

    return {
        "name": name,
        "sender": {"code": sender_code, "signing_key_id": sender.key_id},
        "recipients": [
            {
                "code": code,
                "encryption_key_id": keys.key_id,
                "sequence": seq,
                "hpke_info": data_key_info(bundle_id, sender_code, sender.key_id, code, keys.key_id).hex(),
            }
            for code, keys, seq in recipients
        ],
        "open_at": OPEN_AT,
        "plaintext": payload.hex(),
        "header": header_bytes.decode("utf-8"),
        "signed_message_sha256": hashlib.sha256(SIGNATURE_DOMAIN + header_bytes).hexdigest(),
        "ed25519_signature": signatures.ed25519.hex(),
        "ml_dsa_65_signature_sha256": hashlib.sha256(signatures.ml_dsa_65).hexdigest(),
        "hpke_enc_length": HPKE_ENC_LEN,
        "data_key": data_key.hex(),
        "chunk_aad": chunk_aad(bundle_id, "hashset.delta", sender_code).hex(),
        "chunks": chunks,
        "bundle": bundle.hex(),
    }


def build() -> dict[str, Any]:
    sender = signing_keys("DE-BKA")
    nl, fr = encryption_keys("NL-POL"), encryption_keys("FR-GN")
    kek = _seed("kek", 32)
    payload = b"".join(hashlib.sha256(b"block %d" % i).digest() for i in range(7))[:200]
    card = AgencyCard(
        name="Bundeskriminalamt (test vector)",
        code="DE-BKA",
        country="DE",
        node_url="https://casebridge.bka.example",
        signing_keys=sender.public_keys(),
        encryption_keys=encryption_keys("DE-BKA").public_keys(),
        valid_from=CREATED,
        valid_until=EXPIRES,
        audit_log=AuditLogId(
            origin="casebridge.bka.example/audit",
            vkey=vkey_from_public_key(
                "casebridge.bka.example/audit", ed25519.Ed25519PrivateKey.from_private_bytes(_seed("DE-BKA/audit", 32))
            ),
        ),
    )
    return {
        "format": "casebridge bundle test vectors, format version 1",
        "generator": "exchange/make_vectors.py",
        "keys": {
            "DE-BKA/signing": _key_record(sender),
            "NL-POL/encryption": _key_record(nl),
            "FR-GN/encryption": _key_record(fr),
        },
        "bundles": [
            _bundle_vector(
                "two recipients, four chunks of 64 (last one 8 bytes)",
                payload=payload,
                chunk_size=64,
                recipients=[("NL-POL", nl, 41), ("FR-GN", fr, 3)],
                sender_code="DE-BKA",
                sender=sender,
                bundle_id="0b6f2a64-3c1e-4f59-9a8d-1e2f3a4b5c6d",
                markings={"handling": "law-enforcement only", "case": "OP-2025-001"},
            ),
            _bundle_vector(
                "one recipient, empty payload (one empty final chunk)",
                payload=b"",
                chunk_size=1 << 20,
                recipients=[("NL-POL", nl, 0)],
                sender_code="DE-BKA",
                sender=sender,
                bundle_id="7d1c7f0e-5b8a-4c3d-8e2f-9a0b1c2d3e4f",
                markings=None,
            ),
        ],
        "wrapped_private_key": {
            "kek": kek.hex(),
            "key_id": nl.key_id,
            "blob": wrap_private_key(nl.to_bytes(), kek=kek, key_id=nl.key_id).hex(),
            "raw": nl.to_bytes().hex(),
        },
        "agency_card": {
            "document": canonical_json(card_sign(card, sender)).decode("utf-8"),
            "signing_fingerprint": sender.public_keys().fingerprint,
        },
    }


def _key_record(keys: SigningPrivateKeys | EncryptionPrivateKeys) -> dict[str, str]:
    public = keys.public_keys()
    return {
        "private": keys.to_bytes().hex(),
        "public": public.to_bytes().hex(),
        "key_id": public.key_id,
        "fingerprint": public.fingerprint,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "bundle_v1.json"
    path.write_text(json.dumps(build(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
