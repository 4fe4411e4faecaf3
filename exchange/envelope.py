"""The Casebridge bundle: one signed, end-to-end encrypted file (format version 1).

Pure module: no Django import. The byte-level specification is docs/bundle-format.md; in short::

    magic (8) "\\x89CBB\\r\\n\\x1a\\n" | version u16be = 1 | header_len u32be | header (RFC 8785 JSON)
    | u32be 64   | Ed25519 signature   over "Casebridge bundle header v1\\0" || header
    | u32be 3309 | ML-DSA-65 signature over the same message
    | chunk_0 ... chunk_{n-1}          AES-256-GCM, each min(chunk_size, rest) + 16 bytes, then EOF

Sealing streams the payload through AES-GCM into a temporary spool file (the header needs the
ciphertext digest and payload length, known only at the end), then writes prelude, header,
signatures and copies the spool. Memory stays bounded by a few chunks, and a receiver can verify
the header and both signatures before it touches the payload, even on a non-seekable stream.

Callers of :func:`bundle_open` must write the plaintext to a temporary file and act on it only
after ``bundle_open`` returns: it streams plaintext out chunk by chunk as each chunk
authenticates, but the bundle as a whole (ciphertext digest, chunk count, trailing bytes) is known
good only at the end. On any :class:`BundleError` discard everything written to ``out``.

Replay, sequence numbers, unknown or revoked senders and sharing agreements are the Django
layer's job; it finds what it needs in the header (``sender``, ``recipients[].sequence``,
``bundle_id``, ``kind``, ``created``/``expires``, ``tlp``, ``markings``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import struct
import tempfile
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, NamedTuple

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from casebridge.lib.canonical_json import CanonicalJSONError, canonical_json
from exchange.keys import (
    ED25519_SIGNATURE_LEN,
    HPKE_SUITE,
    MLDSA65_SIGNATURE_LEN,
    EncryptionPrivateKeys,
    EncryptionPublicKeys,
    SigningPrivateKeys,
    SigningPublicKeys,
    b64decode,
    b64encode,
    format_timestamp,
    parse_timestamp,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MAX_PAYLOAD",
    "ERROR_CODES",
    "FORMAT_VERSION",
    "MAGIC",
    "MAX_HEADER_LEN",
    "TLP_LEVELS",
    "BundleError",
    "BundleSignatures",
    "bundle_open",
    "bundle_read_header",
    "bundle_seal",
    "bundle_verify_signatures",
    "chunk_aad",
    "chunk_count",
    "chunk_nonce",
    "data_key_info",
    "parse_header",
    "recipient_entry",
]

MAGIC = b"\x89CBB\r\n\x1a\n"
FORMAT_VERSION = 1
_PRELUDE = struct.Struct(">8sHI")  # magic, version, header length
_SIG_LEN = struct.Struct(">I")

MAX_HEADER_LEN = 1 << 20
MIN_CHUNK_SIZE = 1
MAX_CHUNK_SIZE = 16 << 20
DEFAULT_CHUNK_SIZE = 1 << 20
DEFAULT_MAX_PAYLOAD = 64 << 30
MAX_RECIPIENTS = 256
TAG_LEN = 16
DATA_KEY_LEN = 32
HPKE_ENC_LEN = hpke.KEM.MLKEM768_X25519.enc_length()  # 1120
WRAPPED_KEY_LEN = DATA_KEY_LEN + TAG_LEN

SIGNATURE_DOMAIN = b"Casebridge bundle header v1\x00"
DATA_KEY_INFO_DOMAIN = b"Casebridge bundle v1 data key\x00"
CHUNK_AAD_DOMAIN = b"Casebridge bundle v1 chunk\x00"

TLP_LEVELS = frozenset({"CLEAR", "GREEN", "AMBER", "AMBER+STRICT", "RED"})

ERROR_CODES = frozenset(
    {
        "malformed",
        "signature_invalid",
        "not_recipient",
        "expired",
        "payload_digest_mismatch",
        "chunk_auth_failed",
        "truncated",
        "trailing_data",
        "too_large",
        "key_unwrap_failed",
    }
)

# Below this chunk size hashing runs inline: the thread hand-off would cost more than it saves.
_THREAD_MIN_CHUNK = 64 << 10
_PIPELINE_DEPTH = 2
_COPY_BUFFER = 1 << 20

_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_KIND_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,7}$")
_SIG_KEY_ID_RE = re.compile(r"^sig-[0-9a-f]{32}$")
_ENC_KEY_ID_RE = re.compile(r"^enc-[0-9a-f]{32}$")
_HEX64_RE = re.compile(r"^[0-9a-f]{64}$")

_REQUIRED_MEMBERS = frozenset(
    {
        "version",
        "bundle_id",
        "kind",
        "sender",
        "recipients",
        "created",
        "expires",
        "tlp",
        "payload_length",
        "chunk_size",
        "ciphertext_sha256",
    }
)
_OPTIONAL_MEMBERS = frozenset({"markings"})
_SENDER_MEMBERS = frozenset({"agency", "signing_key_id"})
_RECIPIENT_MEMBERS = frozenset({"agency", "encryption_key_id", "sequence", "enc", "wrapped_key"})


class BundleError(Exception):
    """Any reason a bundle is refused. ``code`` is one of :data:`ERROR_CODES`."""

    def __init__(self, code: str, message: str) -> None:
        if code not in ERROR_CODES:
            raise ValueError(f"unknown bundle error code {code!r}")
        super().__init__(code, message)  # args stay (code, message): picklable, e.g. across Celery
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class BundleSignatures(NamedTuple):
    ed25519: bytes
    ml_dsa_65: bytes


# -- constructions shared by sender and receiver -------------------------------------------------


def chunk_count(payload_length: int, chunk_size: int) -> int:
    """Number of chunks: ceil(length / chunk_size), and one (empty, final) chunk for length 0."""
    return max(1, -(-payload_length // chunk_size))


def chunk_nonce(index: int, last: bool) -> bytes:
    """12-byte AES-GCM nonce: 11-byte big-endian chunk index || 0x01 if final chunk else 0x00."""
    return index.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


def chunk_aad(bundle_id: str, kind: str, sender_code: str) -> bytes:
    """Associated data of every chunk (fields are ASCII without NUL, so the join is unambiguous)."""
    return CHUNK_AAD_DOMAIN + "\x00".join((bundle_id, kind, sender_code)).encode("ascii")


def data_key_info(
    bundle_id: str, sender_code: str, sender_key_id: str, recipient_code: str, recipient_key_id: str
) -> bytes:
    """HPKE ``info`` for one recipient's wrapped data key."""
    fields = (bundle_id, sender_code, sender_key_id, recipient_code, recipient_key_id)
    return DATA_KEY_INFO_DOMAIN + "\x00".join(fields).encode("ascii")


def recipient_entry(header: Mapping[str, Any], agency_code: str) -> Mapping[str, Any] | None:
    """The header's recipient entry for ``agency_code``, or None."""
    for entry in header["recipients"]:
        if entry["agency"] == agency_code:
            return entry
    return None


# -- header parsing and validation ---------------------------------------------------------------


def _malformed(message: str) -> BundleError:
    return BundleError("malformed", message)


def _strict_loads(data: bytes) -> Any:
    def no_float(text: str) -> Any:
        raise ValueError(f"number {text} is not an integer")

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    def unique_pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in items:
            if key in result:
                raise ValueError(f"duplicate member {key!r}")
            result[key] = value
        return result

    return json.loads(
        data.decode("utf-8"), object_pairs_hook=unique_pairs, parse_float=no_float, parse_constant=no_constant
    )


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass and is not a number here


def _check_code(value: Any, what: str) -> None:
    if not isinstance(value, str) or not _CODE_RE.match(value):
        raise _malformed(f"{what} must match {_CODE_RE.pattern}")


def _validate_header(header: Any) -> None:
    if not isinstance(header, dict):
        raise _malformed("header is not a JSON object")
    members = set(header)
    if not _REQUIRED_MEMBERS <= members:
        raise _malformed(f"header lacks {sorted(_REQUIRED_MEMBERS - members)}")
    if not members <= _REQUIRED_MEMBERS | _OPTIONAL_MEMBERS:
        raise _malformed(f"unknown header members {sorted(members - _REQUIRED_MEMBERS - _OPTIONAL_MEMBERS)}")
    if header["version"] != FORMAT_VERSION or not _is_int(header["version"]):
        raise _malformed("header version differs from the framing version")
    bundle_id = header["bundle_id"]
    try:
        if not isinstance(bundle_id, str) or str(uuid.UUID(bundle_id)) != bundle_id:
            raise ValueError
    except ValueError:
        raise _malformed("bundle_id must be a lowercase hyphenated UUID") from None
    if not isinstance(header["kind"], str) or not _KIND_RE.match(header["kind"]) or len(header["kind"]) > 64:
        raise _malformed("kind must be dotted lowercase identifiers, at most 64 chars")

    sender = header["sender"]
    if not isinstance(sender, dict) or set(sender) != _SENDER_MEMBERS:
        raise _malformed(f"sender must have exactly {sorted(_SENDER_MEMBERS)}")
    _check_code(sender["agency"], "sender.agency")
    if not isinstance(sender["signing_key_id"], str) or not _SIG_KEY_ID_RE.match(sender["signing_key_id"]):
        raise _malformed("sender.signing_key_id must be sig-<32 hex>")

    recipients = header["recipients"]
    if not isinstance(recipients, list) or not recipients:
        raise _malformed("recipients must be a non-empty array")
    if len(recipients) > MAX_RECIPIENTS:
        raise BundleError("too_large", f"more than {MAX_RECIPIENTS} recipients")
    seen: set[str] = set()
    for entry in recipients:
        if not isinstance(entry, dict) or set(entry) != _RECIPIENT_MEMBERS:
            raise _malformed(f"each recipient must have exactly {sorted(_RECIPIENT_MEMBERS)}")
        _check_code(entry["agency"], "recipient agency")
        if entry["agency"] in seen:
            raise _malformed(f"recipient {entry['agency']} listed twice")
        seen.add(entry["agency"])
        key_id = entry["encryption_key_id"]
        if not isinstance(key_id, str) or not _ENC_KEY_ID_RE.match(key_id):
            raise _malformed("recipient encryption_key_id must be enc-<32 hex>")
        if not _is_int(entry["sequence"]) or entry["sequence"] < 0:
            raise _malformed("recipient sequence must be a non-negative integer")
        try:
            enc, wrapped = b64decode(entry["enc"]), b64decode(entry["wrapped_key"])
        except ValueError as exc:
            raise _malformed(f"recipient enc/wrapped_key: {exc}") from None
        if len(enc) != HPKE_ENC_LEN or len(wrapped) != WRAPPED_KEY_LEN:
            raise _malformed(f"recipient enc must be {HPKE_ENC_LEN} bytes, wrapped_key {WRAPPED_KEY_LEN}")

    try:
        created = parse_timestamp(header["created"])
        expires = parse_timestamp(header["expires"])
    except ValueError as exc:
        raise _malformed(str(exc)) from None
    if expires <= created:
        raise _malformed("expires must be after created")
    if not isinstance(header["tlp"], str) or header["tlp"] not in TLP_LEVELS:  # a list is unhashable
        raise _malformed(f"tlp must be one of {sorted(TLP_LEVELS)}")
    if not _is_int(header["payload_length"]) or header["payload_length"] < 0:
        raise _malformed("payload_length must be a non-negative integer")
    chunk_size = header["chunk_size"]
    if not _is_int(chunk_size) or chunk_size < MIN_CHUNK_SIZE:
        raise _malformed("chunk_size must be a positive integer")
    if chunk_size > MAX_CHUNK_SIZE:
        raise BundleError("too_large", f"chunk_size above {MAX_CHUNK_SIZE}")
    if not isinstance(header["ciphertext_sha256"], str) or not _HEX64_RE.match(header["ciphertext_sha256"]):
        raise _malformed("ciphertext_sha256 must be 64 lowercase hex digits")
    if "markings" in header and not isinstance(header["markings"], dict):
        raise _malformed("markings must be an object")


def parse_header(header_bytes: bytes) -> dict[str, Any]:
    """Parse and validate header bytes: strict JSON, exactly canonical (RFC 8785), schema v1."""
    try:
        header = _strict_loads(bytes(header_bytes))
        canonical = canonical_json(header)
    except (ValueError, UnicodeDecodeError, RecursionError, CanonicalJSONError) as exc:
        raise _malformed(f"header is not valid JSON: {exc}") from None
    if canonical != header_bytes:
        raise _malformed("header is not in RFC 8785 canonical form")
    _validate_header(header)
    return header


# -- reading -------------------------------------------------------------------------------------


def _read_exact(src: BinaryIO, n: int) -> bytes:
    data = src.read(n)
    if data is None:
        raise ValueError("non-blocking streams are not supported")
    if len(data) == n or not data:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = src.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read_or_truncated(src: BinaryIO, n: int, what: str) -> bytes:
    data = _read_exact(src, n)
    if len(data) != n:
        raise BundleError("truncated", f"stream ended inside the {what}")
    return data


def bundle_read_header(
    src: BinaryIO, *, max_header: int = MAX_HEADER_LEN
) -> tuple[dict[str, Any], bytes, BundleSignatures]:
    """Read and check the framing, header and signature block; needs no keys.

    Leaves ``src`` positioned at the first payload chunk. Verifies nothing cryptographic: call
    :func:`bundle_verify_signatures` (or :func:`bundle_open`) before trusting any field.
    """
    prelude = _read_exact(src, _PRELUDE.size)
    if prelude[: len(MAGIC)] != MAGIC[: len(prelude)]:
        raise _malformed("not a Casebridge bundle (bad magic)")
    if len(prelude) < _PRELUDE.size:
        raise BundleError("truncated", "stream ended inside the prelude")
    _magic, version, header_len = _PRELUDE.unpack(prelude)
    if version != FORMAT_VERSION:
        raise _malformed(f"unsupported bundle format version {version}")
    if header_len == 0:
        raise _malformed("empty header")
    if header_len > max_header:
        raise BundleError("too_large", f"header of {header_len} bytes exceeds {max_header}")
    header_bytes = _read_or_truncated(src, header_len, "header")
    signatures = []
    for name, expected in (("Ed25519", ED25519_SIGNATURE_LEN), ("ML-DSA-65", MLDSA65_SIGNATURE_LEN)):
        (length,) = _SIG_LEN.unpack(_read_or_truncated(src, _SIG_LEN.size, f"{name} signature length"))
        if length != expected:
            raise _malformed(f"{name} signature length {length}, expected {expected}")
        signatures.append(_read_or_truncated(src, length, f"{name} signature"))
    header = parse_header(header_bytes)
    return header, header_bytes, BundleSignatures(*signatures)


def bundle_verify_signatures(
    header_bytes: bytes, signatures: BundleSignatures, sender_public_keys: SigningPublicKeys
) -> None:
    """Raise ``signature_invalid`` unless BOTH signatures verify with ``sender_public_keys``.

    Also refuses keys whose id differs from the header's ``sender.signing_key_id``.
    """
    header = parse_header(header_bytes)
    if header["sender"]["signing_key_id"] != sender_public_keys.key_id:
        raise BundleError(
            "signature_invalid",
            f"header names signing key {header['sender']['signing_key_id']}, "
            f"verifier holds {sender_public_keys.key_id}",
        )
    message = SIGNATURE_DOMAIN + bytes(header_bytes)
    try:
        sender_public_keys.ed25519.verify(signatures.ed25519, message)
    except InvalidSignature:
        raise BundleError("signature_invalid", "Ed25519 signature does not verify") from None
    try:
        sender_public_keys.ml_dsa_65.verify(signatures.ml_dsa_65, message)
    except InvalidSignature:
        raise BundleError("signature_invalid", "ML-DSA-65 signature does not verify") from None


# -- a one-thread pipeline for hashing beside encryption -----------------------------------------


class _Sidecar:
    """Runs callables in submission order on one background thread, few in flight.

    AES-GCM (cryptography) and SHA-256 (hashlib) both release the GIL on large buffers, so hashing
    the ciphertext on a second core overlaps with encryption. With ``enabled`` false it runs
    everything inline, same semantics.
    """

    def __init__(self, enabled: bool) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="bundle-sidecar") if enabled else None
        self._pending: deque[Future[None]] = deque()

    def submit(self, fn: Callable[..., None], *args: Any) -> None:
        if self._pool is None:
            fn(*args)
            return
        while len(self._pending) >= _PIPELINE_DEPTH:
            self._pending.popleft().result()
        self._pending.append(self._pool.submit(fn, *args))

    def finish(self) -> None:
        while self._pending:
            self._pending.popleft().result()

    def __enter__(self) -> _Sidecar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)


# -- sealing -------------------------------------------------------------------------------------


def _blocks(payload: BinaryIO | Iterable[bytes], size: int) -> Iterable[bytes]:
    """Re-chunk ``payload`` into blocks of exactly ``size`` bytes (the last one may be shorter)."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        payload = [bytes(payload)]
    if hasattr(payload, "read"):
        while True:
            block = _read_exact(payload, size)  # type: ignore[arg-type]
            if not block:
                return
            yield block
            if len(block) < size:
                return
    else:
        buffer = bytearray()
        for piece in payload:
            buffer += piece
            while len(buffer) >= size:
                yield bytes(buffer[:size])
                del buffer[:size]
        if buffer:
            yield bytes(buffer)


def _chunks(payload: BinaryIO | Iterable[bytes], size: int) -> Iterable[tuple[bytes, bool]]:
    """(chunk, is_last) pairs; one lookahead block tells which chunk is final."""
    blocks = iter(_blocks(payload, size))
    previous = next(blocks, None)
    if previous is None:
        yield b"", True
        return
    for block in blocks:
        yield previous, False
        previous = block
    yield previous, True


def _copy(src: BinaryIO, dst: BinaryIO) -> None:
    buffer = bytearray(_COPY_BUFFER)
    view = memoryview(buffer)
    while True:
        n = src.readinto(buffer)  # type: ignore[attr-defined]
        if not n:
            return
        dst.write(view[:n])


def _as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(UTC).replace(microsecond=0)


def bundle_seal(
    *,
    kind: str,
    sender_code: str,
    signing_keys: SigningPrivateKeys,
    recipients: Sequence[tuple[str, EncryptionPublicKeys]],
    sequence: int | Mapping[str, int],
    payload: BinaryIO | Iterable[bytes],
    out: BinaryIO,
    tlp: str,
    expires: datetime | timedelta,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    bundle_id: str | None = None,
    created: datetime | None = None,
    markings: Mapping[str, Any] | None = None,
    spool_dir: str | None = None,
) -> dict[str, Any]:
    """Encrypt ``payload`` to ``recipients``, sign, and write one bundle to ``out``.

    ``recipients`` are (agency code, encryption public keys) pairs; ``sequence`` is an int when
    there is one recipient, else a mapping agency code -> sequence number of that sender->recipient
    stream. ``payload`` is a binary file object or an iterable of bytes; it is read once, in
    chunks. ``expires`` is an absolute aware datetime or a lifetime added to ``created`` (default:
    now). When the payload is seekable (its length known up front) and ``out`` is seekable, the
    ciphertext streams straight into ``out`` and the signed header is written over a reserved
    prefix at the end; otherwise it is spooled to a temporary file in ``spool_dir`` (default: the
    system's) first. Returns the header. Bad arguments raise ValueError/TypeError; on any
    exception ``out`` holds no valid bundle.
    """
    if not isinstance(signing_keys, SigningPrivateKeys):
        raise TypeError("signing_keys must be SigningPrivateKeys")
    if not isinstance(chunk_size, int) or not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk_size must lie in [{MIN_CHUNK_SIZE}, {MAX_CHUNK_SIZE}]")
    if not recipients:
        raise ValueError("at least one recipient is required")
    codes = [code for code, _keys in recipients]
    if len(set(codes)) != len(codes):
        raise ValueError("a recipient is listed twice")
    if isinstance(sequence, int):
        if len(recipients) != 1:
            raise ValueError("with several recipients, pass sequence as a mapping code -> int")
        sequences = {codes[0]: sequence}
    else:
        sequences = dict(sequence)
        if set(sequences) != set(codes):
            raise ValueError("sequence must give a number for every recipient and no one else")
    created_at = _as_utc(created or datetime.now(UTC))
    expires_at = created_at + expires if isinstance(expires, timedelta) else _as_utc(expires)
    bundle_id = bundle_id or str(uuid.uuid4())
    sender_key_id = signing_keys.key_id

    data_key = AESGCM.generate_key(bit_length=256)
    entries = []
    for code, public_keys in recipients:
        if not isinstance(public_keys, EncryptionPublicKeys):
            raise TypeError(f"recipient {code}: keys must be EncryptionPublicKeys")
        _check_code(code, "recipient code")
        info = data_key_info(bundle_id, sender_code, sender_key_id, code, public_keys.key_id)
        sealed = HPKE_SUITE.encrypt(data_key, public_keys.hpke_public_key(), info=info)
        entries.append(
            {
                "agency": code,
                "encryption_key_id": public_keys.key_id,
                "sequence": sequences[code],
                "enc": b64encode(sealed[:HPKE_ENC_LEN]),
                "wrapped_key": b64encode(sealed[HPKE_ENC_LEN:]),
            }
        )

    # Validate everything but the payload-dependent members before doing the expensive part.
    header: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "bundle_id": bundle_id,
        "kind": kind,
        "sender": {"agency": sender_code, "signing_key_id": sender_key_id},
        "recipients": entries,
        "created": format_timestamp(created_at),
        "expires": format_timestamp(expires_at),
        "tlp": tlp,
        "payload_length": 0,
        "chunk_size": chunk_size,
        "ciphertext_sha256": "0" * 64,
    }
    if markings is not None:
        header["markings"] = dict(markings)
    try:
        draft = canonical_json(header)
        _validate_header(_strict_loads(draft))
    except BundleError as exc:
        raise ValueError(exc.message) from None
    if len(draft) + 16 > MAX_HEADER_LEN:  # + room for the payload length's digits
        raise ValueError("header would exceed the 1 MiB limit (too many recipients or markings)")

    aead = AESGCM(data_key)
    aad = chunk_aad(bundle_id, kind, sender_code)
    digest = hashlib.sha256()

    def encrypt_to(sink: BinaryIO) -> int:
        """Encrypt the payload chunk by chunk into ``sink``, hashing beside; returns its length."""

        def absorb(ciphertext: bytes) -> None:
            digest.update(ciphertext)
            sink.write(ciphertext)

        length = 0
        with _Sidecar(chunk_size >= _THREAD_MIN_CHUNK) as sidecar:
            for index, (chunk, last) in enumerate(_chunks(payload, chunk_size)):
                length += len(chunk)
                sidecar.submit(absorb, aead.encrypt(chunk_nonce(index, last), chunk, aad))
            sidecar.finish()
        return length

    def signed_prefix() -> bytes:
        header["ciphertext_sha256"] = digest.hexdigest()
        header_bytes = canonical_json(header)
        return _frame(header_bytes, *signing_keys.sign(SIGNATURE_DOMAIN + header_bytes))

    declared = _remaining_length(payload)
    if declared is not None and _is_seekable(out) and "a" not in str(getattr(out, "mode", "")):
        # Direct: the length is known, so the header's size is too (the digest is fixed-width hex
        # and both signatures have fixed sizes). Reserve the prefix, stream the ciphertext straight
        # to ``out``, then seek back and write the signed prefix over the reservation.
        header["payload_length"] = declared
        start = out.tell()
        reserved = len(_frame(canonical_json(header), b"", b"")) + ED25519_SIGNATURE_LEN + MLDSA65_SIGNATURE_LEN
        out.write(bytes(reserved))
        if encrypt_to(out) != declared:
            raise ValueError("the payload changed size while it was being sealed; discard the output")
        end = out.tell()
        prefix = signed_prefix()
        if len(prefix) != reserved:  # pragma: no cover - fixed by construction
            raise AssertionError("signed prefix does not fit its reservation")
        out.seek(start)
        out.write(prefix)
        out.seek(end)
    else:
        # Spooled: length unknown (an iterable) or ``out`` cannot seek. Ciphertext goes to a
        # temporary file first, and is copied after the signed prefix.
        with tempfile.TemporaryFile(dir=spool_dir) as spool:
            header["payload_length"] = encrypt_to(spool)  # type: ignore[arg-type]
            out.write(signed_prefix())
            spool.seek(0)
            _copy(spool, out)  # type: ignore[arg-type]
    return header


def _frame(header_bytes: bytes, ed_sig: bytes, ml_sig: bytes) -> bytes:
    return (
        _PRELUDE.pack(MAGIC, FORMAT_VERSION, len(header_bytes))
        + header_bytes
        + _SIG_LEN.pack(len(ed_sig))
        + ed_sig
        + _SIG_LEN.pack(len(ml_sig))
        + ml_sig
    )


def _is_seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError, OSError):
        return False


def _remaining_length(payload: Any) -> int | None:
    """Bytes left in a seekable payload (or a bytes object); None when unknowable up front."""
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return len(payload)
    if not hasattr(payload, "read") or not _is_seekable(payload):
        return None
    current = payload.tell()
    end = payload.seek(0, 2)
    payload.seek(current)
    return end - current


# -- opening -------------------------------------------------------------------------------------


def bundle_open(
    *,
    src: BinaryIO,
    recipient_code: str,
    encryption_private_keys: EncryptionPrivateKeys,
    sender_public_keys: SigningPublicKeys | Callable[[dict[str, Any]], SigningPublicKeys],
    out: BinaryIO,
    now: datetime | None = None,
    max_payload: int = DEFAULT_MAX_PAYLOAD,
) -> dict[str, Any]:
    """Verify a bundle and stream its plaintext to ``out``; return the (verified) header.

    ``sender_public_keys`` is the sender's key set or a callable that receives the parsed, not yet
    verified header and returns it (raise from it to refuse an unknown sender). Order of checks:
    framing/header (malformed, too_large, truncated), payload_length <= max_payload (too_large),
    both signatures (signature_invalid), this agency and key among recipients (not_recipient),
    expiry (expired), data key (key_unwrap_failed), then the stream: premature end (truncated),
    bytes after the last chunk (trailing_data), ciphertext digest (payload_digest_mismatch), chunk
    tags (chunk_auth_failed, or truncated / trailing_data when the final-chunk flag shows the
    sender's chunk sequence was cut or extended). ``out`` receives plaintext as chunks
    authenticate: treat it as garbage unless this function returns.
    """
    header, header_bytes, signatures = bundle_read_header(src)
    if header["payload_length"] > max_payload:
        raise BundleError("too_large", f"payload of {header['payload_length']} bytes exceeds {max_payload}")
    if isinstance(sender_public_keys, SigningPublicKeys):
        sender_keys = sender_public_keys
    else:
        sender_keys = sender_public_keys(header)
    bundle_verify_signatures(header_bytes, signatures, sender_keys)

    entry = recipient_entry(header, recipient_code)
    if entry is None:
        raise BundleError("not_recipient", f"{recipient_code} is not among the recipients")
    own_key_id = encryption_private_keys.key_id
    if entry["encryption_key_id"] != own_key_id:
        raise BundleError(
            "not_recipient",
            f"bundle is sealed to {recipient_code} key {entry['encryption_key_id']}, not {own_key_id}",
        )
    moment = datetime.now(UTC) if now is None else now
    if moment >= parse_timestamp(header["expires"]):
        raise BundleError("expired", f"bundle expired at {header['expires']}")

    bundle_id, sender_code = header["bundle_id"], header["sender"]["agency"]
    info = data_key_info(bundle_id, sender_code, header["sender"]["signing_key_id"], recipient_code, own_key_id)
    try:
        data_key = HPKE_SUITE.decrypt(
            b64decode(entry["enc"]) + b64decode(entry["wrapped_key"]),
            encryption_private_keys.hpke_private_key(),
            info=info,
        )
    except (InvalidTag, ValueError):
        raise BundleError("key_unwrap_failed", "the data key does not unwrap with this key") from None
    if len(data_key) != DATA_KEY_LEN:
        raise BundleError("key_unwrap_failed", "the unwrapped data key has the wrong length")

    aead = AESGCM(data_key)
    aad = chunk_aad(bundle_id, header["kind"], sender_code)
    payload_length, chunk_size = header["payload_length"], header["chunk_size"]
    count = chunk_count(payload_length, chunk_size)
    digest = hashlib.sha256()
    failure: BundleError | None = None  # reported only once the digest proves what was signed
    with _Sidecar(chunk_size >= _THREAD_MIN_CHUNK) as sidecar:
        for index in range(count):
            last = index == count - 1
            plain_len = payload_length - index * chunk_size if last else chunk_size
            ciphertext = _read_or_truncated(src, plain_len + TAG_LEN, f"chunk {index}")
            sidecar.submit(digest.update, ciphertext)
            if failure is not None:
                continue
            try:
                plaintext = aead.decrypt(chunk_nonce(index, last), ciphertext, aad)
            except InvalidTag:
                failure = _classify_chunk_failure(aead, aad, index, last, ciphertext)
                continue
            out.write(plaintext)
        sidecar.finish()
    if src.read(1):
        raise BundleError("trailing_data", "bytes follow the last chunk")
    if not hmac.compare_digest(digest.hexdigest(), header["ciphertext_sha256"]):
        raise BundleError("payload_digest_mismatch", "the ciphertext differs from what the sender signed")
    if failure is not None:
        raise failure
    return header


def _classify_chunk_failure(aead: AESGCM, aad: bytes, index: int, last: bool, ciphertext: bytes) -> BundleError:
    """Name a chunk whose tag failed: a flipped final flag means the sender's sequence was cut/extended."""
    try:
        aead.decrypt(chunk_nonce(index, not last), ciphertext, aad)
    except InvalidTag:
        return BundleError("chunk_auth_failed", f"chunk {index} does not authenticate")
    if last:
        return BundleError("truncated", f"chunk {index} should be final but is not: chunks were dropped")
    return BundleError("trailing_data", f"chunk {index} is marked final but more chunks follow")
