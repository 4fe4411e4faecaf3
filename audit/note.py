"""C2SP signed notes, transparency-log checkpoints and cosignatures, Ed25519 only.

Implements, strictly:

* c2sp.org/signed-note (v1.0.0): note text, blank line, signature lines
  ``— <key name> <base64(4-byte key ID || signature)>``; Ed25519 signatures (type 0x01) over the
  note text; verifier keys ("vkeys") ``<name>+<8 hex key ID>+<base64(type || public key)>``.
* c2sp.org/tlog-checkpoint (v1.0.0): the note text is ``<origin>\\n<size>\\n<base64 root>\\n``
  followed by optional non-empty extension lines.
* c2sp.org/tlog-cosignature, Ed25519 ``cosignature/v1`` (type 0x04): the signature is
  ``u64 timestamp || Ed25519 signature`` over ``cosignature/v1\\ntime <timestamp>\\n`` followed
  by the checkpoint's whole note text.

Everything that is parsed is checked for its single canonical encoding (base64 included: padding
bits must be zero), so that a signed note has exactly one byte representation.

Pure module: standard library and ``cryptography`` only, no Django.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

__all__ = [
    "MAX_SIGNATURES",
    "SIG_TYPE_COSIGNATURE_V1",
    "SIG_TYPE_ED25519",
    "BadSignatureError",
    "Checkpoint",
    "MalformedNoteError",
    "NoteError",
    "SignatureLine",
    "UnknownKeyError",
    "VerifierKey",
    "add_signature",
    "checkpoint_sign",
    "checkpoint_verify",
    "cosignature_message",
    "cosignature_sign",
    "cosignature_verify",
    "cosigner_vkey",
    "key_id",
    "note_cosign",
    "note_open",
    "note_sign",
    "note_verify",
    "parse_vkey",
    "split_note",
    "verify_cosignatures",
    "vkey_from_public_key",
]

SIG_TYPE_ED25519 = 0x01
SIG_TYPE_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100  # the spec requires accepting at least 16
MAX_TIMESTAMP = 2**63 - 1
MAX_TREE_SIZE = 2**63 - 1
_ROOT_HASH_SIZE = 32
_ED25519_KEY_SIZE = 32
_ED25519_SIG_SIZE = 64
_SIG_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_KEY_ID_HEX = re.compile(r"[0-9a-f]{8}", re.ASCII)


class NoteError(ValueError):
    """A note, checkpoint, vkey or signature line was rejected."""


class MalformedNoteError(NoteError):
    """The text does not follow the format (note, checkpoint, signature line, vkey)."""


class UnknownKeyError(NoteError):
    """No signature line comes from the expected key."""


class BadSignatureError(NoteError):
    """A signature line from the expected key does not verify."""


# --------------------------------------------------------------------------- encodings


def _b64decode(text: str, what: str) -> bytes:
    """Strict standard base64: alphabet, padding and zero padding bits (one encoding per value)."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise MalformedNoteError(f"{what} is not valid base64") from None
    if base64.b64encode(raw).decode("ascii") != text:
        raise MalformedNoteError(f"{what} is not canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _as_text(text: str | bytes, what: str = "note") -> str:
    if isinstance(text, (bytes, bytearray, memoryview)):
        try:
            return bytes(text).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedNoteError(f"{what} is not valid UTF-8") from None
    if not isinstance(text, str):
        raise TypeError(f"{what} must be str or bytes, not {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNoteError(f"{what} is not valid UTF-8 (lone surrogate)") from None
    return text


def _check_key_name(name: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"key name must be str, not {type(name).__name__}")
    if not name:
        raise MalformedNoteError("key name is empty")
    if "+" in name or any(c.isspace() for c in name) or _CONTROL.search(name):
        raise MalformedNoteError(f"key name {name!r} contains a space, '+' or control character")
    return name


def _public_key_bytes(key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> bytes:
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    if isinstance(key, Ed25519PublicKey):
        return key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    if isinstance(key, (bytes, bytearray)) and len(key) == _ED25519_KEY_SIZE:
        return bytes(key)
    raise ValueError("public key must be an Ed25519 key or its 32 raw bytes")


def key_id(name: str, sig_type: int, public_key: Ed25519PublicKey | bytes) -> bytes:
    """``SHA-256(name || 0x0A || sig_type || public key)[:4]``: the 4-byte key ID."""
    _check_key_name(name)
    raw = _public_key_bytes(public_key)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([sig_type]) + raw).digest()[:4]


# --------------------------------------------------------------------------- verifier keys


@dataclass(frozen=True)
class VerifierKey:
    """A parsed vkey: key name, key ID, signature type (0x01 or 0x04) and raw Ed25519 key."""

    name: str
    key_id: bytes
    sig_type: int
    public_key: bytes

    @property
    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.sig_type]) + self.public_key)}"

    def __str__(self) -> str:
        return self.vkey


def vkey_from_public_key(
    name: str, public_key: Ed25519PublicKey | Ed25519PrivateKey | bytes, *, sig_type: int = SIG_TYPE_ED25519
) -> str:
    """The vkey string ``<name>+<hex key ID>+<base64(sig_type || key)>`` of an Ed25519 key.

    ``sig_type`` is 0x01 for note (checkpoint) signing keys, 0x04 for cosigners.
    """
    if sig_type not in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1):
        raise ValueError(f"unsupported signature type 0x{sig_type:02x}")
    raw = _public_key_bytes(public_key)
    return VerifierKey(_check_key_name(name), key_id(name, sig_type, raw), sig_type, raw).vkey


def cosigner_vkey(name: str, public_key: Ed25519PublicKey | Ed25519PrivateKey | bytes) -> str:
    """The vkey of a cosigner (witness) key: signature type 0x04."""
    return vkey_from_public_key(name, public_key, sig_type=SIG_TYPE_COSIGNATURE_V1)


def parse_vkey(vkey: str | VerifierKey) -> VerifierKey:
    """Parse and check a vkey; its key ID must match the one computed from name and key."""
    if isinstance(vkey, VerifierKey):
        return vkey
    if not isinstance(vkey, str):
        raise TypeError(f"vkey must be str, not {type(vkey).__name__}")
    fields = vkey.split("+", 2)
    if len(fields) != 3:
        raise MalformedNoteError("vkey must be <name>+<key id>+<base64 key>")
    name, hex_id, b64 = fields
    _check_key_name(name)
    if not _KEY_ID_HEX.fullmatch(hex_id):
        raise MalformedNoteError(f"vkey key ID {hex_id!r} is not 8 lowercase hex digits")
    raw = _b64decode(b64, "vkey public key")
    if len(raw) != 1 + _ED25519_KEY_SIZE or raw[0] not in (SIG_TYPE_ED25519, SIG_TYPE_COSIGNATURE_V1):
        raise MalformedNoteError("vkey is not an Ed25519 (type 0x01) or cosignature/v1 (type 0x04) key")
    try:
        Ed25519PublicKey.from_public_bytes(raw[1:])
    except ValueError:
        raise MalformedNoteError("vkey public key is not a valid Ed25519 key") from None
    parsed = VerifierKey(name, bytes.fromhex(hex_id), raw[0], raw[1:])
    if key_id(name, raw[0], raw[1:]) != parsed.key_id:
        raise MalformedNoteError(f"vkey key ID {hex_id} does not match its name and public key")
    return parsed


# --------------------------------------------------------------------------- signed notes


@dataclass(frozen=True)
class SignatureLine:
    """One ``— <name> <base64(key ID || signature)>`` line of a signed note."""

    name: str
    key_id: bytes
    signature: bytes

    def line(self) -> str:
        """The line as it appears in a note, final newline included."""
        return f"{_SIG_PREFIX}{self.name} {_b64(self.key_id + self.signature)}\n"

    @classmethod
    def parse(cls, line: str | bytes) -> SignatureLine:
        """Parse one signature line; it must end with its newline."""
        line = _as_text(line, "signature line")
        if not line.endswith("\n") or "\n" in line[:-1]:
            raise MalformedNoteError("a signature line must be exactly one newline-terminated line")
        return _parse_signature_line(line[:-1])


def _parse_signature_line(line: str) -> SignatureLine:
    if _CONTROL.search(line):
        raise MalformedNoteError("signature line contains a control character")
    if not line.startswith(_SIG_PREFIX):
        raise MalformedNoteError("signature line does not start with an em dash and a space")
    name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
    if not sep:
        raise MalformedNoteError("signature line has no space between key name and signature")
    _check_key_name(name)
    raw = _b64decode(b64, f"signature of {name!r}")
    if len(raw) < 5:
        raise MalformedNoteError(f"signature of {name!r} is too short")
    return SignatureLine(name, raw[:4], raw[4:])


def split_note(text: str | bytes) -> tuple[bytes, list[SignatureLine]]:
    """Split a signed note into its text (bytes, final newline included) and signature lines.

    Checks the signed-note format only; verifies nothing.
    """
    text = _as_text(text)
    if _CONTROL.search(text):
        raise MalformedNoteError("note contains a control character other than newline")
    if not text.endswith("\n"):
        raise MalformedNoteError("note does not end with a newline")
    split = text.rfind("\n\n")
    if split < 0:
        raise MalformedNoteError("note has no blank line before its signatures")
    body, signature_block = text[: split + 1], text[split + 2 :]
    if not signature_block:
        raise MalformedNoteError("note has no signature lines")
    lines = signature_block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise MalformedNoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return body.encode("utf-8"), [_parse_signature_line(line) for line in lines]


def note_sign(body: str | bytes, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """Sign note text (which must end with a newline) with Ed25519; return the signed note."""
    body_text = _as_text(body, "note text")
    if not body_text.endswith("\n") or _CONTROL.search(body_text):
        raise MalformedNoteError("note text must end with a newline and contain no control characters")
    raw = body_text.encode("utf-8")
    kid = key_id(name, SIG_TYPE_ED25519, private_key.public_key())
    line = SignatureLine(name, kid, private_key.sign(raw)).line()
    return body_text + "\n" + line


def note_cosign(note: str, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """Add one more Ed25519 (type 0x01) signature over an already signed note's text.

    A signed note may carry signatures from several keys; Casebridge uses this to have the audit
    log's old and new keys both sign the checkpoint that hands the log over from one to the other.
    """
    body, _ = split_note(note)
    line = SignatureLine(name, key_id(name, SIG_TYPE_ED25519, private_key.public_key()), private_key.sign(body))
    return add_signature(note, line.line())


def note_verify(text: str | bytes, *, vkey: str | VerifierKey) -> bytes:
    """Verify a signed note against one Ed25519 (type 0x01) key; return the note text.

    Per the spec, signatures from other keys are ignored (but must be well-formed), every
    signature from the key must verify, and at least one must be present.
    """
    key = parse_vkey(vkey)
    if key.sig_type != SIG_TYPE_ED25519:
        raise ValueError("note signatures need a type 0x01 (Ed25519) vkey, not a cosigner key")
    body, signatures = split_note(text)
    verified = 0
    for sig in signatures:
        if sig.name != key.name or sig.key_id != key.key_id:
            continue
        if len(sig.signature) != _ED25519_SIG_SIZE:
            raise BadSignatureError(f"signature by {key.name} is not {_ED25519_SIG_SIZE} bytes long")
        try:
            key.ed25519.verify(sig.signature, body)
        except InvalidSignature:
            raise BadSignatureError(f"signature by {key.name}+{key.key_id.hex()} does not verify") from None
        verified += 1
    if not verified:
        raise UnknownKeyError(f"note carries no signature from {key.name}+{key.key_id.hex()}")
    return body


def add_signature(note: str, line: str) -> str:
    """Append a signature line (e.g. a cosignature) to a signed note; refuse duplicates."""
    _, signatures = split_note(note)
    new = SignatureLine.parse(line)
    if any(sig.name == new.name and sig.key_id == new.key_id for sig in signatures):
        raise NoteError(f"note already carries a signature from {new.name}+{new.key_id.hex()}")
    return _as_text(note) + new.line()


# --------------------------------------------------------------------------- checkpoints


def _check_line_text(value: str, what: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{what} must be str, not {type(value).__name__}")
    if not value:
        raise MalformedNoteError(f"{what} is empty")
    if "\n" in value or _CONTROL.search(value):
        raise MalformedNoteError(f"{what} contains a newline or control character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedNoteError(f"{what} is not valid UTF-8 (lone surrogate)") from None


@dataclass(frozen=True)
class Checkpoint:
    """The note text of a tlog-checkpoint: origin, tree size, root hash, extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line_text(self.origin, "checkpoint origin")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise TypeError("checkpoint size must be an int")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise MalformedNoteError(f"checkpoint size {self.size} is out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != _ROOT_HASH_SIZE:
            raise MalformedNoteError(f"checkpoint root hash must be {_ROOT_HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            object.__setattr__(self, "extensions", tuple(self.extensions))
        for extension in self.extensions:
            _check_line_text(extension, "checkpoint extension line")

    def body(self) -> bytes:
        """The note text: ``origin\\nsize\\nbase64(root)\\n`` plus one line per extension."""
        lines = [self.origin, str(self.size), _b64(self.root_hash), *self.extensions]
        return ("\n".join(lines) + "\n").encode("utf-8")

    @classmethod
    def parse(cls, body: str | bytes) -> Checkpoint:
        """Parse checkpoint note text strictly (final newline required)."""
        text = _as_text(body, "checkpoint")
        if _CONTROL.search(text):
            raise MalformedNoteError("checkpoint contains a control character other than newline")
        if not text.endswith("\n"):
            raise MalformedNoteError("checkpoint text does not end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise MalformedNoteError("checkpoint has fewer than three lines (origin, size, root hash)")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise MalformedNoteError("checkpoint origin is empty")
        if not _TREE_SIZE.fullmatch(size_text):
            raise MalformedNoteError(f"checkpoint tree size {size_text!r} is not a canonical decimal")
        size = int(size_text)
        if size > MAX_TREE_SIZE:
            raise MalformedNoteError(f"checkpoint tree size {size} is out of range")
        root_hash = _b64decode(root_text, "checkpoint root hash")
        if len(root_hash) != _ROOT_HASH_SIZE:
            raise MalformedNoteError(f"checkpoint root hash is {len(root_hash)} bytes, not {_ROOT_HASH_SIZE}")
        if any(not line for line in extensions):
            raise MalformedNoteError("checkpoint has an empty extension line")
        return cls(origin, size, root_hash, tuple(extensions))


def checkpoint_sign(checkpoint: Checkpoint, *, name: str, private_key: Ed25519PrivateKey) -> str:
    """The signed checkpoint note (text, blank line, one signature line)."""
    return note_sign(checkpoint.body(), name=name, private_key=private_key)


def note_open(text: str | bytes) -> tuple[Checkpoint, list[SignatureLine]]:
    """Parse a signed checkpoint WITHOUT verifying it (for display, or to pick a key)."""
    body, signatures = split_note(text)
    return Checkpoint.parse(body), signatures


def checkpoint_verify(text: str | bytes, *, vkey: str | VerifierKey) -> Checkpoint:
    """Verify a signed checkpoint with the log's vkey and return it.

    Raises :class:`MalformedNoteError`, :class:`UnknownKeyError` (no signature by that key) or
    :class:`BadSignatureError`; all are :class:`NoteError`, a ``ValueError``.
    """
    return Checkpoint.parse(note_verify(text, vkey=vkey))


# --------------------------------------------------------------------------- cosignatures


def _checkpoint_body(checkpoint: Checkpoint | str | bytes) -> bytes:
    if isinstance(checkpoint, Checkpoint):
        return checkpoint.body()
    return Checkpoint.parse(checkpoint).body()


def _check_timestamp(timestamp: int) -> None:
    if isinstance(timestamp, bool) or not isinstance(timestamp, int):
        raise TypeError("timestamp must be an int")
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp {timestamp} is outside [0, 2**63 - 1]")


def cosignature_message(checkpoint: Checkpoint | str | bytes, timestamp: int) -> bytes:
    """``cosignature/v1\\ntime <timestamp>\\n`` followed by the checkpoint's note text."""
    _check_timestamp(timestamp)
    return b"cosignature/v1\ntime %d\n" % timestamp + _checkpoint_body(checkpoint)


def cosignature_sign(
    checkpoint: Checkpoint | str | bytes, *, name: str, private_key: Ed25519PrivateKey, timestamp: int
) -> str:
    """A cosignature/v1 signature line (newline included) for the checkpoint's note text."""
    message = cosignature_message(checkpoint, timestamp)
    kid = key_id(name, SIG_TYPE_COSIGNATURE_V1, private_key.public_key())
    payload = timestamp.to_bytes(8, "big") + private_key.sign(message)
    return SignatureLine(name, kid, payload).line()


def cosignature_verify(
    checkpoint: Checkpoint | str | bytes, line: str | SignatureLine, *, vkey: str | VerifierKey
) -> int:
    """Verify one cosignature line from the cosigner ``vkey``; return its timestamp."""
    key = parse_vkey(vkey)
    if key.sig_type != SIG_TYPE_COSIGNATURE_V1:
        raise ValueError("cosignatures need a type 0x04 (cosignature/v1) vkey")
    sig = line if isinstance(line, SignatureLine) else SignatureLine.parse(line)
    if sig.name != key.name or sig.key_id != key.key_id:
        raise UnknownKeyError(f"cosignature is from {sig.name}+{sig.key_id.hex()}, not {key.name}+{key.key_id.hex()}")
    if len(sig.signature) != 8 + _ED25519_SIG_SIZE:
        raise MalformedNoteError("a cosignature/v1 signature is an 8-byte timestamp and 64 bytes")
    timestamp = int.from_bytes(sig.signature[:8], "big")
    if timestamp > MAX_TIMESTAMP:
        raise MalformedNoteError("cosignature timestamp exceeds 2**63 - 1")
    try:
        key.ed25519.verify(sig.signature[8:], cosignature_message(checkpoint, timestamp))
    except InvalidSignature:
        raise BadSignatureError(f"cosignature by {key.name}+{key.key_id.hex()} does not verify") from None
    return timestamp


def verify_cosignatures(note: str | bytes, *, vkeys: Iterable[str | VerifierKey]) -> dict[str, int]:
    """Verify the cosignatures a signed checkpoint carries from the given cosigner keys.

    Returns ``{cosigner name: timestamp}`` for those present; lines from other keys are ignored,
    a line from one of the keys that fails raises. Checks nothing about the log's own signature:
    call :func:`checkpoint_verify` for that.
    """
    body, signatures = split_note(note)
    keys = {(k.name, k.key_id): k for k in map(parse_vkey, vkeys)}
    found: dict[str, int] = {}
    for sig in signatures:
        key = keys.get((sig.name, sig.key_id))
        if key is None or key.sig_type != SIG_TYPE_COSIGNATURE_V1:
            continue
        found[key.name] = cosignature_verify(body, sig, vkey=key)
    return found
