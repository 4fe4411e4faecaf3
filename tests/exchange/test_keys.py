"""exchange.keys: key encodings, ids and fingerprints, wrapping at rest, agency cards."""

from __future__ import annotations

import base64
import copy
import re
from datetime import UTC, datetime, timedelta

import pytest

from casebridge.lib.canonical_json import canonical_json
from exchange.keys import (
    ENCRYPTION_PRIVATE_LEN,
    ENCRYPTION_PUBLIC_LEN,
    SIGNING_PRIVATE_LEN,
    SIGNING_PUBLIC_LEN,
    AgencyCard,
    CardError,
    EncryptionPrivateKeys,
    EncryptionPublicKeys,
    KeyFormatError,
    KeyWrapError,
    SigningPrivateKeys,
    SigningPublicKeys,
    card_sign,
    card_verify,
    format_timestamp,
    parse_timestamp,
    rewrap,
    unwrap_private_key,
    wrap_private_key,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def signing() -> SigningPrivateKeys:
    return SigningPrivateKeys.generate()


@pytest.fixture(scope="module")
def encryption() -> EncryptionPrivateKeys:
    return EncryptionPrivateKeys.generate()


def test_public_encodings_round_trip(signing, encryption):
    spub, epub = signing.public_keys(), encryption.public_keys()
    assert len(spub.to_bytes()) == SIGNING_PUBLIC_LEN == 1992
    assert len(epub.to_bytes()) == ENCRYPTION_PUBLIC_LEN == 1224
    assert SigningPublicKeys.from_bytes(spub.to_bytes()) == spub
    assert EncryptionPublicKeys.from_bytes(epub.to_bytes()) == epub
    assert SigningPublicKeys.from_base64(spub.to_base64()) == spub
    assert EncryptionPublicKeys.from_base64(epub.to_base64()) == epub
    assert spub != SigningPrivateKeys.generate().public_keys()


def test_private_encodings_round_trip(signing, encryption):
    raw = signing.to_bytes()
    assert len(raw) == SIGNING_PRIVATE_LEN == 72
    assert SigningPrivateKeys.from_bytes(raw).public_keys() == signing.public_keys()
    raw = encryption.to_bytes()
    assert len(raw) == ENCRYPTION_PRIVATE_LEN == 104
    assert EncryptionPrivateKeys.from_bytes(raw).public_keys() == encryption.public_keys()
    assert "sig-" in repr(signing) and raw.hex() not in repr(encryption)


@pytest.mark.parametrize(
    "decode",
    [
        SigningPublicKeys.from_bytes,
        EncryptionPublicKeys.from_bytes,
        SigningPrivateKeys.from_bytes,
        EncryptionPrivateKeys.from_bytes,
    ],
)
def test_decoders_refuse_wrong_length_or_tag(decode, signing, encryption):
    for blob in (b"", b"cbsigpk1" + b"\x00" * 10, signing.public_keys().to_bytes()[:-1] + b"", b"x" * 1992):
        with pytest.raises(KeyFormatError):
            decode(blob)
    # a valid encoding of one kind is refused by the decoder of another
    others = [signing.public_keys().to_bytes(), encryption.public_keys().to_bytes()]
    others += [signing.to_bytes(), encryption.to_bytes()]
    accepted = 0
    for blob in others:
        try:
            decode(blob)
            accepted += 1
        except KeyFormatError:
            pass
    assert accepted == 1


def test_base64_decoding_is_strict(signing):
    text = signing.public_keys().to_base64()
    for bad in (text[:-1], text + "\n", " " + text, text.rstrip("=") if "=" in text else text + "="):
        with pytest.raises(KeyFormatError):
            SigningPublicKeys.from_base64(bad)


def test_key_id_and_fingerprint_format_and_stability(signing, encryption):
    spub = signing.public_keys()
    assert re.fullmatch(r"sig-[0-9a-f]{32}", spub.key_id)
    assert re.fullmatch(r"enc-[0-9a-f]{32}", encryption.public_keys().key_id)
    assert re.fullmatch(r"([0-9A-F]{4}-){4}[0-9A-F]{4}", spub.fingerprint)
    again = SigningPublicKeys.from_bytes(spub.to_bytes())
    assert (again.key_id, again.fingerprint) == (spub.key_id, spub.fingerprint)
    assert spub.fingerprint.replace("-", "").lower() == spub.key_id[4:24]
    assert SigningPrivateKeys.generate().key_id != spub.key_id


def test_fingerprint_of_fixed_keys_is_pinned():
    """The encoding is part of the format: pin it for keys derived from fixed seeds."""
    from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa

    keys = SigningPrivateKeys(
        ed25519.Ed25519PrivateKey.from_private_bytes(bytes(range(32))),
        mldsa.MLDSA65PrivateKey.from_seed_bytes(bytes(range(32, 64))),
    )
    spub = keys.public_keys()
    import hashlib

    digest = hashlib.sha256(
        b"cbsigpk1" + keys.ed25519.public_key().public_bytes_raw() + keys.ml_dsa_65.public_key().public_bytes_raw()
    ).hexdigest()
    assert spub.key_id == "sig-" + digest[:32]
    assert spub.fingerprint == "-".join(digest[i : i + 4].upper() for i in range(0, 20, 4))


def test_dual_signature_requires_both(signing):
    spub = signing.public_keys()
    ed_sig, ml_sig = signing.sign(b"message")
    assert spub.verify(b"message", ed_sig, ml_sig)
    assert not spub.verify(b"messagE", ed_sig, ml_sig)
    assert not spub.verify(b"message", bytes([ed_sig[0] ^ 1]) + ed_sig[1:], ml_sig)
    assert not spub.verify(b"message", ed_sig, ml_sig[:-1] + bytes([ml_sig[-1] ^ 1]))


# -- wrapping ------------------------------------------------------------------------------------

KEK = bytes(range(32))
KEK2 = bytes(range(100, 132))


def test_wrap_unwrap_round_trip(encryption):
    raw = encryption.to_bytes()
    blob = wrap_private_key(raw, kek=KEK, key_id=encryption.key_id)
    assert blob[0] == 1 and len(blob) == 1 + 12 + len(raw) + 16
    assert raw not in blob
    assert unwrap_private_key(blob, kek=KEK, key_id=encryption.key_id) == raw
    assert wrap_private_key(raw, kek=KEK, key_id=encryption.key_id) != blob  # fresh nonce


def test_unwrap_with_wrong_kek_key_id_or_tampering_fails(encryption):
    raw = encryption.to_bytes()
    blob = wrap_private_key(raw, kek=KEK, key_id="enc-a")
    with pytest.raises(KeyWrapError):
        unwrap_private_key(blob, kek=KEK2, key_id="enc-a")
    with pytest.raises(KeyWrapError):
        unwrap_private_key(blob, kek=KEK, key_id="enc-b")
    with pytest.raises(KeyWrapError):
        unwrap_private_key(blob[:-1] + bytes([blob[-1] ^ 1]), kek=KEK, key_id="enc-a")
    with pytest.raises(KeyWrapError):  # unknown version byte
        unwrap_private_key(b"\x02" + blob[1:], kek=KEK, key_id="enc-a")
    with pytest.raises(KeyWrapError):
        unwrap_private_key(blob[:20], kek=KEK, key_id="enc-a")
    with pytest.raises(KeyWrapError):
        wrap_private_key(raw, kek=b"short", key_id="enc-a")


def test_rewrap_rotates_kek(signing):
    raw = signing.to_bytes()
    blob = wrap_private_key(raw, kek=KEK, key_id=signing.key_id)
    rotated = rewrap(blob, KEK, KEK2, key_id=signing.key_id)
    assert unwrap_private_key(rotated, kek=KEK2, key_id=signing.key_id) == raw
    with pytest.raises(KeyWrapError):
        unwrap_private_key(rotated, kek=KEK, key_id=signing.key_id)
    with pytest.raises(KeyWrapError):
        rewrap(blob, KEK2, KEK, key_id=signing.key_id)


# -- cards ---------------------------------------------------------------------------------------


def _card(signing, encryption, **overrides) -> AgencyCard:
    fields = {
        "name": "Bundeskriminalamt",
        "code": "DE-BKA",
        "country": "DE",
        "node_url": "https://casebridge.bka.example",
        "signing_keys": signing.public_keys(),
        "encryption_keys": encryption.public_keys(),
        "valid_from": NOW - timedelta(days=1),
        "valid_until": NOW + timedelta(days=365),
    }
    fields.update(overrides)
    return AgencyCard(**fields)


def test_card_sign_verify_round_trip(signing, encryption):
    card = _card(signing, encryption)
    document = card_sign(card, signing)
    assert document["signer_key_id"] == signing.key_id
    assert document["card"]["signing_keys"]["fingerprint"] == signing.public_keys().fingerprint
    assert card_verify(document, now=NOW) == card
    serialized = canonical_json(document)
    assert card_verify(serialized, expected_fingerprint=signing.public_keys().fingerprint) == card
    assert card_verify(serialized.decode()) == card


def _code(exc_info) -> str:
    return exc_info.value.code


def test_card_tampering_is_detected(signing, encryption):
    document = card_sign(_card(signing, encryption), signing)
    tampered = copy.deepcopy(document)
    tampered["card"]["agency"]["node_url"] = "https://evil.example"
    with pytest.raises(CardError) as exc:
        card_verify(tampered)
    assert _code(exc) == "signature_invalid"

    for algorithm in ("ed25519", "ml_dsa_65"):
        tampered = copy.deepcopy(document)
        sig = bytearray(base64.b64decode(tampered["signatures"][algorithm]))
        sig[5] ^= 0x10
        tampered["signatures"][algorithm] = base64.b64encode(bytes(sig)).decode()
        with pytest.raises(CardError) as exc:
            card_verify(tampered)
        assert _code(exc) == "signature_invalid"


def test_card_with_swapped_encryption_key_fails(signing, encryption):
    document = card_sign(_card(signing, encryption), signing)
    other = EncryptionPrivateKeys.generate().public_keys()
    tampered = copy.deepcopy(document)
    tampered["card"]["encryption_keys"] = {
        "public": other.to_base64(),
        "key_id": other.key_id,
        "fingerprint": other.fingerprint,
    }
    with pytest.raises(CardError) as exc:
        card_verify(tampered)
    assert _code(exc) == "signature_invalid"
    tampered["card"]["encryption_keys"]["fingerprint"] = "0000-0000-0000-0000-0000"
    with pytest.raises(CardError) as exc:
        card_verify(tampered)
    assert _code(exc) == "fingerprint_mismatch"


def test_card_signed_by_someone_else(signing, encryption):
    impostor = SigningPrivateKeys.generate()
    document = card_sign(_card(signing, encryption), impostor)
    with pytest.raises(CardError) as exc:
        card_verify(document)  # must be self-signed unless a signer is given
    assert _code(exc) == "signature_invalid"
    # rotation: the new card endorsed by the previous key set verifies with that key set
    assert card_verify(document, signer_keys=impostor.public_keys()).code == "DE-BKA"


def test_card_fingerprint_validity_and_shape(signing, encryption):
    document = card_sign(_card(signing, encryption), signing)
    with pytest.raises(CardError) as exc:
        card_verify(document, expected_fingerprint="0000-0000-0000-0000-0000")
    assert _code(exc) == "fingerprint_mismatch"
    with pytest.raises(CardError) as exc:
        card_verify(document, now=NOW - timedelta(days=2))
    assert _code(exc) == "not_yet_valid"
    with pytest.raises(CardError) as exc:
        card_verify(document, now=NOW + timedelta(days=366))
    assert _code(exc) == "expired"
    for broken in ({**document, "extra": 1}, {"card": document["card"]}, b"{not json", b'{"a":1.5}'):
        with pytest.raises(CardError) as exc:
            card_verify(broken)
        assert _code(exc) == "malformed"
    with pytest.raises(CardError):
        card_sign(_card(signing, encryption, country="Germany"), signing)
    with pytest.raises(CardError):
        card_sign(_card(signing, encryption, valid_until=NOW - timedelta(days=2)), signing)


def test_timestamps():
    assert format_timestamp(datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC)) == "2026-01-02T03:04:05Z"
    assert parse_timestamp("2026-01-02T03:04:05Z") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for bad in ("2026-01-02T03:04:05+00:00", "2026-01-02 03:04:05Z", "2026-01-02T03:04:05.1Z", "2026-13-02T03:04:05Z"):
        with pytest.raises(ValueError):
            parse_timestamp(bad)
    with pytest.raises(ValueError):
        format_timestamp(datetime(2026, 1, 2))
