"""Agency key sets, fingerprints, private-key wrapping at rest, and signed agency cards.

Pure module: no Django import. Every primitive comes from ``cryptography``; this module only
composes them and fixes the byte encodings (documented in docs/bundle-format.md).

An agency holds two key sets:

* a signing set, Ed25519 + ML-DSA-65. Everything it signs carries both signatures and a verifier
  requires both, so forging needs breaking both algorithms;
* an encryption set, the hybrid KEM MLKEM768-X25519 used through HPKE (RFC 9180) to wrap bundle
  data keys.

Encodings (all fixed length, so no length prefixes are needed):

=====================  ==========  ==================================================  =======
what                   tag         body                                                 total
=====================  ==========  ==================================================  =======
signing public set     ``cbsigpk1``  Ed25519 public (32) || ML-DSA-65 public (1952)    1992
encryption public set  ``cbencpk1``  ML-KEM-768 encaps. key (1184) || X25519 public (32)  1224
signing private set    ``cbsigsk1``  Ed25519 private (32) || ML-DSA-65 seed (32)          72
encryption private set ``cbencsk1``  ML-KEM-768 seed d||z (64) || X25519 private (32)    104
=====================  ==========  ==================================================  =======

The encryption public body is exactly the MLKEM768-X25519 (X-Wing) public key ``pk_M || pk_X``.
A key set's digest is SHA-256 over its public encoding (tag included); the key id is
``sig-``/``enc-`` followed by the first 32 lowercase hex digits of that digest, and the
human-comparable fingerprint is its first 20 hex digits, uppercase, in five groups of four.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric import ed25519, mldsa, mlkem, x25519

from casebridge.lib.canonical_json import CanonicalJSONError, canonical_json
from casebridge.lib.keywrap import (
    KeyWrapError,
    rewrap,
    unwrap_private_key,
    wrap_private_key,
)

__all__ = [
    "CARD_SIGNATURE_DOMAIN",
    "AgencyCard",
    "AuditLogId",
    "CardError",
    "EncryptionPrivateKeys",
    "EncryptionPublicKeys",
    "KeyFormatError",
    "KeyWrapError",
    "SigningPrivateKeys",
    "SigningPublicKeys",
    "b64decode",
    "b64encode",
    "card_sign",
    "card_verify",
    "format_timestamp",
    "parse_timestamp",
    "rewrap",
    "unwrap_private_key",
    "wrap_private_key",
]

SIGNING_PUBLIC_TAG = b"cbsigpk1"
ENCRYPTION_PUBLIC_TAG = b"cbencpk1"
SIGNING_PRIVATE_TAG = b"cbsigsk1"
ENCRYPTION_PRIVATE_TAG = b"cbencsk1"

ED25519_PUBLIC_LEN = 32
ED25519_PRIVATE_LEN = 32
ED25519_SIGNATURE_LEN = 64
MLDSA65_PUBLIC_LEN = 1952
MLDSA65_SEED_LEN = 32
MLDSA65_SIGNATURE_LEN = 3309
MLKEM768_PUBLIC_LEN = 1184
MLKEM768_SEED_LEN = 64
X25519_LEN = 32

SIGNING_PUBLIC_LEN = len(SIGNING_PUBLIC_TAG) + ED25519_PUBLIC_LEN + MLDSA65_PUBLIC_LEN
ENCRYPTION_PUBLIC_LEN = len(ENCRYPTION_PUBLIC_TAG) + MLKEM768_PUBLIC_LEN + X25519_LEN
SIGNING_PRIVATE_LEN = len(SIGNING_PRIVATE_TAG) + ED25519_PRIVATE_LEN + MLDSA65_SEED_LEN
ENCRYPTION_PRIVATE_LEN = len(ENCRYPTION_PRIVATE_TAG) + MLKEM768_SEED_LEN + X25519_LEN

#: The one HPKE suite of bundle format v1: MLKEM768-X25519, HKDF-SHA256, AES-256-GCM.
HPKE_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)

#: Prefix of the message both card signatures cover (the card's canonical JSON follows it).
CARD_SIGNATURE_DOMAIN = b"Casebridge agency card v1\x00"
CARD_TYPE = "casebridge.agency-card"
CARD_VERSION = 1


_KEY_ID_RE = re.compile(r"^(sig|enc)-[0-9a-f]{32}$")
_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class KeyFormatError(ValueError):
    """Key material that cannot be decoded (wrong length, wrong tag, invalid point)."""


class CardError(ValueError):
    """An agency card that does not verify. ``code`` is machine-readable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


# -- small helpers shared with envelope.py -------------------------------------------------------


def b64encode(data: bytes) -> str:
    """Standard base64 (RFC 4648 section 4) with padding."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str) -> bytes:
    """Strict standard base64: padding required, no whitespace, canonical (re-encodes equal)."""
    if not isinstance(text, str):
        raise ValueError("base64 value must be a string")
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError("invalid base64") from None
    if base64.b64encode(data).decode("ascii") != text:
        raise ValueError("non-canonical base64")
    return data


def format_timestamp(moment: datetime) -> str:
    """RFC 3339 UTC with second precision, the only form signed documents use."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> datetime:
    """Parse ``YYYY-MM-DDTHH:MM:SSZ``; anything else (offsets, fractions) is refused."""
    if not isinstance(text, str) or not _TIMESTAMP_RE.match(text):
        raise ValueError(f"not an RFC 3339 UTC timestamp of the form YYYY-MM-DDTHH:MM:SSZ: {text!r}")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise ValueError(f"invalid timestamp {text!r}") from None


def _digest_ids(prefix: str, encoded: bytes) -> tuple[str, str]:
    digest = hashlib.sha256(encoded).hexdigest()
    key_id = f"{prefix}-{digest[:32]}"
    head = digest[:20].upper()
    fingerprint = "-".join(head[i : i + 4] for i in range(0, 20, 4))
    return key_id, fingerprint


def _split(data: bytes, tag: bytes, expected_len: int, what: str) -> memoryview:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise KeyFormatError(f"{what} must be bytes")
    data = bytes(data)
    if len(data) != expected_len or not data.startswith(tag):
        raise KeyFormatError(f"{what}: expected {expected_len} bytes starting with {tag!r}")
    return memoryview(data)[len(tag) :]


# -- public key sets -----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SigningPublicKeys:
    """An agency's public signing keys: Ed25519 and ML-DSA-65, always used together."""

    ed25519: ed25519.Ed25519PublicKey
    ml_dsa_65: mldsa.MLDSA65PublicKey

    def to_bytes(self) -> bytes:
        return SIGNING_PUBLIC_TAG + self.ed25519.public_bytes_raw() + self.ml_dsa_65.public_bytes_raw()

    @classmethod
    def from_bytes(cls, data: bytes) -> SigningPublicKeys:
        body = _split(data, SIGNING_PUBLIC_TAG, SIGNING_PUBLIC_LEN, "signing public keys")
        try:
            return cls(
                ed25519.Ed25519PublicKey.from_public_bytes(bytes(body[:ED25519_PUBLIC_LEN])),
                mldsa.MLDSA65PublicKey.from_public_bytes(bytes(body[ED25519_PUBLIC_LEN:])),
            )
        except ValueError as exc:
            raise KeyFormatError(f"signing public keys: {exc}") from None

    def to_base64(self) -> str:
        return b64encode(self.to_bytes())

    @classmethod
    def from_base64(cls, text: str) -> SigningPublicKeys:
        try:
            return cls.from_bytes(b64decode(text))
        except ValueError as exc:
            raise KeyFormatError(f"signing public keys: {exc}") from None

    @property
    def key_id(self) -> str:
        return _digest_ids("sig", self.to_bytes())[0]

    @property
    def fingerprint(self) -> str:
        return _digest_ids("sig", self.to_bytes())[1]

    def verify(self, message: bytes, ed25519_signature: bytes, ml_dsa_65_signature: bytes) -> bool:
        """True only if BOTH signatures verify over ``message``."""
        try:
            self.ed25519.verify(ed25519_signature, message)
            self.ml_dsa_65.verify(ml_dsa_65_signature, message)
        except InvalidSignature:
            return False
        return True

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SigningPublicKeys) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"SigningPublicKeys({self.key_id}, {self.fingerprint})"


@dataclass(frozen=True, eq=False)
class EncryptionPublicKeys:
    """An agency's public encryption key: the two halves of an MLKEM768-X25519 HPKE key."""

    ml_kem_768: mlkem.MLKEM768PublicKey
    x25519: x25519.X25519PublicKey

    def to_bytes(self) -> bytes:
        return ENCRYPTION_PUBLIC_TAG + self.ml_kem_768.public_bytes_raw() + self.x25519.public_bytes_raw()

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptionPublicKeys:
        body = _split(data, ENCRYPTION_PUBLIC_TAG, ENCRYPTION_PUBLIC_LEN, "encryption public keys")
        try:
            return cls(
                mlkem.MLKEM768PublicKey.from_public_bytes(bytes(body[:MLKEM768_PUBLIC_LEN])),
                x25519.X25519PublicKey.from_public_bytes(bytes(body[MLKEM768_PUBLIC_LEN:])),
            )
        except ValueError as exc:
            raise KeyFormatError(f"encryption public keys: {exc}") from None

    def to_base64(self) -> str:
        return b64encode(self.to_bytes())

    @classmethod
    def from_base64(cls, text: str) -> EncryptionPublicKeys:
        try:
            return cls.from_bytes(b64decode(text))
        except ValueError as exc:
            raise KeyFormatError(f"encryption public keys: {exc}") from None

    def hpke_public_key(self) -> hpke.MLKEM768X25519PublicKey:
        return hpke.MLKEM768X25519PublicKey(self.ml_kem_768, self.x25519)

    @property
    def key_id(self) -> str:
        return _digest_ids("enc", self.to_bytes())[0]

    @property
    def fingerprint(self) -> str:
        return _digest_ids("enc", self.to_bytes())[1]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, EncryptionPublicKeys) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.to_bytes())

    def __repr__(self) -> str:
        return f"EncryptionPublicKeys({self.key_id}, {self.fingerprint})"


# -- private key sets ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False, repr=False)
class SigningPrivateKeys:
    """An agency's private signing keys. ``to_bytes`` is secret: wrap it before storing it."""

    ed25519: ed25519.Ed25519PrivateKey
    ml_dsa_65: mldsa.MLDSA65PrivateKey

    @classmethod
    def generate(cls) -> SigningPrivateKeys:
        return cls(ed25519.Ed25519PrivateKey.generate(), mldsa.MLDSA65PrivateKey.generate())

    def public_keys(self) -> SigningPublicKeys:
        return SigningPublicKeys(self.ed25519.public_key(), self.ml_dsa_65.public_key())

    @property
    def key_id(self) -> str:
        return self.public_keys().key_id

    def sign(self, message: bytes) -> tuple[bytes, bytes]:
        """(Ed25519 signature, ML-DSA-65 signature) over ``message``."""
        return self.ed25519.sign(message), self.ml_dsa_65.sign(message)

    def to_bytes(self) -> bytes:
        return SIGNING_PRIVATE_TAG + self.ed25519.private_bytes_raw() + self.ml_dsa_65.private_bytes_raw()

    @classmethod
    def from_bytes(cls, data: bytes) -> SigningPrivateKeys:
        body = _split(data, SIGNING_PRIVATE_TAG, SIGNING_PRIVATE_LEN, "signing private keys")
        try:
            return cls(
                ed25519.Ed25519PrivateKey.from_private_bytes(bytes(body[:ED25519_PRIVATE_LEN])),
                mldsa.MLDSA65PrivateKey.from_seed_bytes(bytes(body[ED25519_PRIVATE_LEN:])),
            )
        except ValueError as exc:
            raise KeyFormatError(f"signing private keys: {exc}") from None

    def __repr__(self) -> str:
        return f"SigningPrivateKeys({self.key_id})"


@dataclass(frozen=True, eq=False, repr=False)
class EncryptionPrivateKeys:
    """An agency's private encryption key. ``to_bytes`` is secret: wrap it before storing it."""

    ml_kem_768: mlkem.MLKEM768PrivateKey
    x25519: x25519.X25519PrivateKey

    @classmethod
    def generate(cls) -> EncryptionPrivateKeys:
        return cls(mlkem.MLKEM768PrivateKey.generate(), x25519.X25519PrivateKey.generate())

    def public_keys(self) -> EncryptionPublicKeys:
        return EncryptionPublicKeys(self.ml_kem_768.public_key(), self.x25519.public_key())

    @property
    def key_id(self) -> str:
        return self.public_keys().key_id

    def hpke_private_key(self) -> hpke.MLKEM768X25519PrivateKey:
        return hpke.MLKEM768X25519PrivateKey(self.ml_kem_768, self.x25519)

    def to_bytes(self) -> bytes:
        return ENCRYPTION_PRIVATE_TAG + self.ml_kem_768.private_bytes_raw() + self.x25519.private_bytes_raw()

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptionPrivateKeys:
        body = _split(data, ENCRYPTION_PRIVATE_TAG, ENCRYPTION_PRIVATE_LEN, "encryption private keys")
        try:
            return cls(
                mlkem.MLKEM768PrivateKey.from_seed_bytes(bytes(body[:MLKEM768_SEED_LEN])),
                x25519.X25519PrivateKey.from_private_bytes(bytes(body[MLKEM768_SEED_LEN:])),
            )
        except ValueError as exc:
            raise KeyFormatError(f"encryption private keys: {exc}") from None

    def __repr__(self) -> str:
        return f"EncryptionPrivateKeys({self.key_id})"


def is_key_id(value: object) -> bool:
    return isinstance(value, str) and bool(_KEY_ID_RE.match(value))


# -- private keys at rest ------------------------------------------------------------------------


# Moved to casebridge.lib.keywrap (TOTP seeds in agencies are wrapped the same way); imported
# above and re-exported here.


# -- agency cards --------------------------------------------------------------------------------

_AUDIT_ORIGIN_MAX = 200  # exchange.models.WitnessedLog.origin
_AUDIT_VKEY_MAX = 300  # exchange.models.WitnessedLog.vkey


@dataclass(frozen=True)
class AuditLogId:
    """The agency node's audit log, as its partners witness it: the checkpoint origin and the log's
    verifier key (a C2SP note vkey, type 0x01). In the card, so the out-of-band fingerprint
    comparison also vouches for which log (and which starting key) a partner witnesses (M3)."""

    origin: str
    vkey: str

    def to_json(self) -> dict[str, str]:
        return {"origin": self.origin, "vkey": self.vkey}

    def validate(self) -> None:
        from audit.note import NoteError, parse_vkey

        if not isinstance(self.origin, str) or not self.origin.strip() or len(self.origin) > _AUDIT_ORIGIN_MAX:
            raise CardError("malformed", f"audit_log.origin must be a non-empty string of at most {_AUDIT_ORIGIN_MAX}")
        if any(ch in self.origin for ch in "\n\r"):
            raise CardError("malformed", "audit_log.origin must be one line")
        if not isinstance(self.vkey, str) or len(self.vkey) > _AUDIT_VKEY_MAX:
            raise CardError("malformed", f"audit_log.vkey must be a string of at most {_AUDIT_VKEY_MAX}")
        try:
            parsed = parse_vkey(self.vkey)
        except (NoteError, ValueError, TypeError) as exc:
            raise CardError("malformed", f"audit_log.vkey: {exc}") from None
        if parsed.sig_type != 0x01:
            raise CardError("malformed", "audit_log.vkey must be a checkpoint signing key (type 0x01)")


@dataclass(frozen=True)
class AgencyCard:
    """What an agency publishes about itself. Verify the signing fingerprint out of band."""

    name: str
    code: str
    country: str
    node_url: str
    signing_keys: SigningPublicKeys
    encryption_keys: EncryptionPublicKeys
    valid_from: datetime
    valid_until: datetime
    # Optional: cards made before M3 have none (they stay importable; their agency is not witnessed).
    audit_log: AuditLogId | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``card`` member of a signed card document (the object the signatures cover)."""
        card: dict[str, Any] = {
            "type": CARD_TYPE,
            "version": CARD_VERSION,
            "agency": {
                "name": self.name,
                "code": self.code,
                "country": self.country,
                "node_url": self.node_url,
            },
            "signing_keys": {
                "public": self.signing_keys.to_base64(),
                "key_id": self.signing_keys.key_id,
                "fingerprint": self.signing_keys.fingerprint,
            },
            "encryption_keys": {
                "public": self.encryption_keys.to_base64(),
                "key_id": self.encryption_keys.key_id,
                "fingerprint": self.encryption_keys.fingerprint,
            },
            "valid_from": format_timestamp(self.valid_from),
            "valid_until": format_timestamp(self.valid_until),
        }
        if self.audit_log is not None:
            card["audit_log"] = self.audit_log.to_json()
        return card

    def validate(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 200:
            raise CardError("malformed", "agency name must be a non-empty string of at most 200 chars")
        if not isinstance(self.code, str) or not _CODE_RE.match(self.code):
            raise CardError("malformed", f"invalid agency code {self.code!r}")
        if not isinstance(self.country, str) or not _COUNTRY_RE.match(self.country):
            raise CardError("malformed", "country must be an ISO 3166-1 alpha-2 code, uppercase")
        if not isinstance(self.node_url, str) or not self.node_url.startswith(("https://", "http://")):
            raise CardError("malformed", "node_url must be an http(s):// URL")
        if len(self.node_url) > 2000:
            raise CardError("malformed", "node_url too long")
        if format_timestamp(self.valid_from) >= format_timestamp(self.valid_until):
            raise CardError("malformed", "valid_from must be before valid_until")
        if self.audit_log is not None:
            if not isinstance(self.audit_log, AuditLogId):
                raise CardError("malformed", "audit_log must be an object")
            self.audit_log.validate()


def _card_message(card_json: Mapping[str, Any]) -> bytes:
    return CARD_SIGNATURE_DOMAIN + canonical_json(card_json)


def card_sign(card: AgencyCard, signing_keys: SigningPrivateKeys) -> dict[str, Any]:
    """Sign ``card`` with both algorithms and return the card document.

    Usually self-signed (``signing_keys`` is the private half of ``card.signing_keys``); a card
    signed by another key set (e.g. the previous one during a rotation) records that key id in
    ``signer_key_id`` and must be verified with ``card_verify(..., signer_keys=...)``.
    Serialize the document with ``canonical_json`` for transport.
    """
    card.validate()
    card_json = card.to_json()
    ed_sig, ml_sig = signing_keys.sign(_card_message(card_json))
    return {
        "card": card_json,
        "signer_key_id": signing_keys.key_id,
        "signatures": {"ed25519": b64encode(ed_sig), "ml_dsa_65": b64encode(ml_sig)},
    }


def _expect(obj: Any, members: set[str], where: str) -> Mapping[str, Any]:
    if not isinstance(obj, dict) or set(obj) != members:
        raise CardError("malformed", f"{where} must be an object with exactly {sorted(members)}")
    return obj


def _strict_json(data: bytes | str) -> Any:
    def no_float(_: str) -> Any:
        raise ValueError("floats are not allowed")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise ValueError(f"duplicate member {key!r}")
            result[key] = value
        return result

    if isinstance(data, (bytes, bytearray)):
        data = bytes(data).decode("utf-8")
    return json.loads(data, object_pairs_hook=pairs, parse_float=no_float, parse_constant=no_constant)


def card_verify(
    document: Mapping[str, Any] | bytes | str,
    *,
    signer_keys: SigningPublicKeys | None = None,
    expected_fingerprint: str | None = None,
    now: datetime | None = None,
) -> AgencyCard:
    """Verify a card document and return the card. Raises :class:`CardError`.

    Both signatures must verify. Without ``signer_keys`` the card must be self-signed (its own
    signing keys). Embedded key ids and fingerprints must match the embedded public keys.
    ``expected_fingerprint`` (the signing fingerprint compared out of band) is checked when given;
    ``now`` (when given) must lie in [valid_from, valid_until).
    Codes: malformed, signature_invalid, fingerprint_mismatch, not_yet_valid, expired.
    """
    try:
        if isinstance(document, (bytes, bytearray, str)):
            document = _strict_json(document)
        doc = _expect(document, {"card", "signer_key_id", "signatures"}, "card document")
        members = {"type", "version", "agency", "signing_keys", "encryption_keys", "valid_from", "valid_until"}
        if isinstance(doc["card"], dict) and "audit_log" in doc["card"]:
            members |= {"audit_log"}  # optional (M3); a card without it is a pre-M3 card
        card_json = _expect(doc["card"], members, "card")
        if card_json["type"] != CARD_TYPE or card_json["version"] != CARD_VERSION:
            raise CardError("malformed", "unknown card type or version")
        agency = _expect(card_json["agency"], {"name", "code", "country", "node_url"}, "card.agency")
        sk = _expect(card_json["signing_keys"], {"public", "key_id", "fingerprint"}, "card.signing_keys")
        ek = _expect(card_json["encryption_keys"], {"public", "key_id", "fingerprint"}, "card.encryption_keys")
        audit_log = None
        if "audit_log" in card_json:
            log = _expect(card_json["audit_log"], {"origin", "vkey"}, "card.audit_log")
            audit_log = AuditLogId(origin=log["origin"], vkey=log["vkey"])
        sigs = _expect(doc["signatures"], {"ed25519", "ml_dsa_65"}, "card.signatures")
        signing = SigningPublicKeys.from_base64(sk["public"])
        encryption = EncryptionPublicKeys.from_base64(ek["public"])
        card = AgencyCard(
            name=agency["name"],
            code=agency["code"],
            country=agency["country"],
            node_url=agency["node_url"],
            signing_keys=signing,
            encryption_keys=encryption,
            valid_from=parse_timestamp(card_json["valid_from"]),
            valid_until=parse_timestamp(card_json["valid_until"]),
            audit_log=audit_log,
        )
        card.validate()
        ed_sig = b64decode(sigs["ed25519"])
        ml_sig = b64decode(sigs["ml_dsa_65"])
        message = _card_message(card_json)
    except CardError:
        raise
    except (ValueError, TypeError, KeyError, RecursionError, CanonicalJSONError) as exc:
        raise CardError("malformed", str(exc)) from None

    if (sk["key_id"], sk["fingerprint"]) != (signing.key_id, signing.fingerprint) or (
        ek["key_id"],
        ek["fingerprint"],
    ) != (encryption.key_id, encryption.fingerprint):
        raise CardError("fingerprint_mismatch", "embedded key ids/fingerprints do not match the keys")
    if expected_fingerprint is not None and expected_fingerprint.upper() != signing.fingerprint:
        raise CardError("fingerprint_mismatch", "signing key fingerprint differs from the expected one")
    verifier = signer_keys if signer_keys is not None else signing
    if doc["signer_key_id"] != verifier.key_id:
        raise CardError("signature_invalid", "card was signed by another key set")
    if not verifier.verify(message, ed_sig, ml_sig):
        raise CardError("signature_invalid", "card signature does not verify")
    if now is not None:
        if now < card.valid_from:
            raise CardError("not_yet_valid", "card is not valid yet")
        if now >= card.valid_until:
            raise CardError("expired", "card has expired")
    return card
