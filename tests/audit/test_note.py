"""C2SP signed notes, checkpoints and cosignatures (Ed25519)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import note
from audit.note import (
    BadSignatureError,
    Checkpoint,
    MalformedNoteError,
    NoteError,
    SignatureLine,
    UnknownKeyError,
    add_signature,
    checkpoint_sign,
    checkpoint_verify,
    cosignature_message,
    cosignature_sign,
    cosignature_verify,
    cosigner_vkey,
    note_open,
    note_sign,
    note_verify,
    parse_vkey,
    split_note,
    verify_cosignatures,
    vkey_from_public_key,
)

ORIGIN = "casebridge.test/audit"
LOG_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
WITNESS = "witness.test/w1"
ROOT = hashlib.sha256(b"some root").digest()
CHECKPOINT = Checkpoint(ORIGIN, 1234, ROOT)


def raw(key) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


VKEY = vkey_from_public_key(ORIGIN, LOG_KEY.public_key())
WITNESS_VKEY = cosigner_vkey(WITNESS, WITNESS_KEY)
SIGNED = checkpoint_sign(CHECKPOINT, name=ORIGIN, private_key=LOG_KEY)


# --------------------------------------------------------------------------- reference vector

# The example key and signed note of the Go reference implementation (golang.org/x/mod/sumdb/note).
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
GO_TEXT = "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
GO_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"


def test_reference_note_is_reproduced_byte_for_byte():
    seed = base64.b64decode(GO_SKEY.split("+", 4)[4])
    assert seed[0] == 0x01
    key = Ed25519PrivateKey.from_private_bytes(seed[1:])
    assert vkey_from_public_key("PeterNeumann", key.public_key()) == GO_VKEY
    signed = note_sign(GO_TEXT, name="PeterNeumann", private_key=key)
    assert signed == GO_TEXT + "\n" + GO_SIG
    assert note_verify(signed, vkey=GO_VKEY) == GO_TEXT.encode()
    with pytest.raises(BadSignatureError):
        note_verify(signed.replace("cryptography", "cryptographY"), vkey=GO_VKEY)


# --------------------------------------------------------------------------- keys


def test_key_ids_follow_the_spec():
    expected = sha(ORIGIN.encode() + b"\n" + b"\x01" + raw(LOG_KEY))[:4]
    assert note.key_id(ORIGIN, 0x01, LOG_KEY.public_key()) == expected
    name, hex_id, b64 = VKEY.split("+", 2)
    assert name == ORIGIN and hex_id == expected.hex()
    assert base64.b64decode(b64) == b"\x01" + raw(LOG_KEY)
    witness_id = sha(WITNESS.encode() + b"\n" + b"\x04" + raw(WITNESS_KEY))[:4]
    assert WITNESS_VKEY.split("+")[1] == witness_id.hex()
    assert base64.b64decode(WITNESS_VKEY.split("+", 2)[2])[0] == 0x04


def test_vkey_round_trip():
    parsed = parse_vkey(VKEY)
    assert parsed.name == ORIGIN and parsed.sig_type == 0x01 and parsed.public_key == raw(LOG_KEY)
    assert parsed.vkey == VKEY and str(parsed) == VKEY
    assert parse_vkey(parsed) is parsed
    assert vkey_from_public_key(ORIGIN, raw(LOG_KEY)) == VKEY
    assert vkey_from_public_key(ORIGIN, LOG_KEY) == VKEY


def test_mangled_vkeys_are_rejected():
    # Every proper substring and every single-byte increment (Go's own robustness test).
    data = GO_VKEY.encode()
    for i in range(len(data) + 1):
        for j in range(i + 1, len(data) + 1):
            if (i, j) != (0, len(data)):
                with pytest.raises(NoteError):
                    parse_vkey(data[i:j].decode())
    for i in range(len(data)):
        mangled = bytearray(data)
        mangled[i] += 1
        with pytest.raises(NoteError):
            parse_vkey(mangled.decode())
    with pytest.raises(MalformedNoteError, match="lowercase"):
        parse_vkey(GO_VKEY.replace("c74f20a3", "C74F20A3"))
    with pytest.raises(MalformedNoteError, match="does not match"):
        parse_vkey(GO_VKEY.replace("PeterNeumann", "PeterNeuman"))
    with pytest.raises(MalformedNoteError, match="name"):
        vkey_from_public_key("has space", LOG_KEY.public_key())
    with pytest.raises(MalformedNoteError, match="name"):
        vkey_from_public_key("has+plus", LOG_KEY.public_key())


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_body_and_signed_note_layout():
    body = CHECKPOINT.body()
    assert body == f"{ORIGIN}\n1234\n{base64.b64encode(ROOT).decode()}\n".encode()
    assert Checkpoint.parse(body) == CHECKPOINT
    text, signature_block = SIGNED.split("\n\n")
    assert (text + "\n").encode() == body
    assert signature_block.startswith("\u2014 " + ORIGIN + " ") and signature_block.endswith("\n")
    payload = base64.b64decode(signature_block.split(" ")[2])
    assert len(payload) == 4 + 64
    assert payload[:4] == sha(ORIGIN.encode() + b"\n\x01" + raw(LOG_KEY))[:4]
    LOG_KEY.public_key().verify(payload[4:], body)  # the signature covers exactly the note text


def test_checkpoint_round_trip_with_extensions():
    checkpoint = Checkpoint(ORIGIN, 0, ROOT, ("ext one", "ext two"))
    signed = checkpoint_sign(checkpoint, name=ORIGIN, private_key=LOG_KEY)
    assert checkpoint_verify(signed, vkey=VKEY) == checkpoint
    assert checkpoint_verify(signed.encode(), vkey=VKEY) == checkpoint
    opened, signatures = note_open(signed)
    assert opened == checkpoint and [s.name for s in signatures] == [ORIGIN]


def test_unknown_and_bad_signatures():
    other_vkey = vkey_from_public_key(ORIGIN, OTHER_KEY.public_key())
    with pytest.raises(UnknownKeyError, match="no signature"):
        checkpoint_verify(SIGNED, vkey=other_vkey)
    # A signature by another key alongside the right one is ignored.
    both = add_signature(
        SIGNED, checkpoint_sign(CHECKPOINT, name="other.test/key", private_key=OTHER_KEY).split("\n\n")[1]
    )
    assert checkpoint_verify(both, vkey=VKEY) == CHECKPOINT
    # Right name and key ID, wrong signature bytes.
    _body, [sig] = split_note(SIGNED)
    forged = SignatureLine(sig.name, sig.key_id, bytes(64)).line()
    with pytest.raises(BadSignatureError, match="does not verify"):
        checkpoint_verify(SIGNED.split("\n\n")[0] + "\n\n" + forged, vkey=VKEY)
    # Signed by the right key but for another checkpoint.
    other = checkpoint_sign(Checkpoint(ORIGIN, 1235, ROOT), name=ORIGIN, private_key=LOG_KEY)
    spliced = CHECKPOINT.body().decode() + "\n" + other.split("\n\n")[1]
    with pytest.raises(BadSignatureError):
        checkpoint_verify(spliced, vkey=VKEY)
    with pytest.raises(ValueError, match="0x01"):
        checkpoint_verify(SIGNED, vkey=WITNESS_VKEY)


def resign(body: str) -> str:
    """Sign arbitrary text, bypassing the checkpoint constructor's own checks."""
    signature = LOG_KEY.sign(body.encode())
    return body + "\n" + SignatureLine(ORIGIN, note.key_id(ORIGIN, 1, LOG_KEY.public_key()), signature).line()


ROOT64 = base64.b64encode(ROOT).decode()
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (f"{ORIGIN}\n01\n{ROOT64}\n", "canonical decimal"),
        (f"{ORIGIN}\n+1\n{ROOT64}\n", "canonical decimal"),
        (f"{ORIGIN}\n 1\n{ROOT64}\n", "canonical decimal"),
        (f"{ORIGIN}\n\u0661\n{ROOT64}\n", "canonical decimal"),
        (f"{ORIGIN}\n\n{ROOT64}\n", "canonical decimal"),
        (f"{ORIGIN}\n1\n{ROOT64[:-2]}\n", "base64"),
        (f"{ORIGIN}\n1\n{base64.b64encode(ROOT[:31]).decode()}\n", "31 bytes"),
        (f"{ORIGIN}\n1\n{ROOT64[:-2]}B=\n", "canonical base64"),  # non-zero padding bits
        (f"{ORIGIN}\n1\n{ROOT64.replace('=', '')}\n", "base64"),
        (f"\n1\n{ROOT64}\n", "origin is empty"),
        (f"{ORIGIN}\n1\n", "fewer than three lines"),
        (f"{ORIGIN}\n1\n{ROOT64}\next\n\n", "blank line|empty extension"),
        (f"{ORIGIN}\n1\n{ROOT64}\n\text\n", "control character"),
    ],
)
def test_malformed_checkpoints_are_rejected(body, message):
    with pytest.raises(MalformedNoteError, match=message):
        checkpoint_verify(resign(body), vkey=VKEY)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SIGNED[:-1], "end with a newline"),
        (SIGNED.replace("\n\n", "\n"), "no blank line"),
        (CHECKPOINT.body().decode() + "\n", "no signature lines"),
        (SIGNED.replace("\u2014 ", "- "), "em dash"),
        (SIGNED.replace(f"\u2014 {ORIGIN} ", f"\u2014 {ORIGIN}"), "base64|space"),
        (SIGNED.replace(f"\u2014 {ORIGIN} ", "\u2014  "), "key name is empty"),
        (SIGNED.replace("\n\n", "\n\r\n"), "control character"),
        (SIGNED[:-3] + B64[B64.index(SIGNED[-3]) | 1] + "=\n", "canonical base64"),  # padding bits set
        (SIGNED + "\u2014 x AAAA\n", "too short"),
        (SIGNED + "\u2014 x not-base64!\n", "base64"),
        (SIGNED + "".join(f"\u2014 k{i} AAAAAAAA\n" for i in range(100)), "more than 100"),
    ],
)
def test_malformed_notes_are_rejected(text, message):
    with pytest.raises(MalformedNoteError, match=message):
        checkpoint_verify(text, vkey=VKEY)


def test_invalid_utf8_and_checkpoint_constructor_checks():
    with pytest.raises(MalformedNoteError, match="UTF-8"):
        checkpoint_verify(SIGNED.encode()[:-2] + b"\xff\n", vkey=VKEY)
    with pytest.raises(MalformedNoteError, match="empty"):
        Checkpoint("", 1, ROOT)
    with pytest.raises(MalformedNoteError, match="32 bytes"):
        Checkpoint(ORIGIN, 1, ROOT[:31])
    with pytest.raises(MalformedNoteError, match="out of range"):
        Checkpoint(ORIGIN, -1, ROOT)
    with pytest.raises(MalformedNoteError, match="newline"):
        Checkpoint("a\nb", 1, ROOT)
    with pytest.raises(MalformedNoteError, match="empty"):
        Checkpoint(ORIGIN, 1, ROOT, ("",))
    with pytest.raises(TypeError):
        Checkpoint(ORIGIN, True, ROOT)


@settings(max_examples=150, deadline=None)
@given(position=st.integers(min_value=0), delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_is_rejected(position, delta):
    data = bytearray(SIGNED.encode())
    position %= len(data)
    data[position] ^= delta
    with pytest.raises(NoteError):
        checkpoint_verify(bytes(data), vkey=VKEY)


@settings(max_examples=50, deadline=None)
@given(
    origin=st.text(st.characters(min_codepoint=0x21, codec="utf-8"), min_size=1, max_size=30),
    size=st.integers(min_value=0, max_value=2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(st.text(st.characters(min_codepoint=0x20, codec="utf-8"), min_size=1, max_size=10), max_size=3),
)
def test_property_checkpoint_round_trip(origin, size, root, extensions):
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    signed = checkpoint_sign(checkpoint, name=ORIGIN, private_key=LOG_KEY)
    assert checkpoint_verify(signed, vkey=VKEY) == checkpoint
    assert Checkpoint.parse(checkpoint.body()) == checkpoint


# --------------------------------------------------------------------------- cosignatures


def test_cosignature_round_trip_and_layout():
    timestamp = 1_700_000_000
    line = cosignature_sign(CHECKPOINT, name=WITNESS, private_key=WITNESS_KEY, timestamp=timestamp)
    assert line.startswith("\u2014 " + WITNESS + " ") and line.endswith("\n")
    payload = base64.b64decode(line.split(" ")[2])
    assert len(payload) == 4 + 8 + 64
    assert payload[:4] == sha(WITNESS.encode() + b"\n\x04" + raw(WITNESS_KEY))[:4]
    assert int.from_bytes(payload[4:12], "big") == timestamp
    message = b"cosignature/v1\ntime 1700000000\n" + CHECKPOINT.body()
    assert cosignature_message(CHECKPOINT, timestamp) == message
    WITNESS_KEY.public_key().verify(payload[12:], message)
    assert cosignature_verify(CHECKPOINT, line, vkey=WITNESS_VKEY) == timestamp
    assert cosignature_verify(CHECKPOINT.body(), line, vkey=WITNESS_VKEY) == timestamp

    cosigned = add_signature(SIGNED, line)
    assert cosigned == SIGNED + line
    assert checkpoint_verify(cosigned, vkey=VKEY) == CHECKPOINT
    assert verify_cosignatures(cosigned, vkeys=[WITNESS_VKEY]) == {WITNESS: timestamp}
    assert verify_cosignatures(SIGNED, vkeys=[WITNESS_VKEY]) == {}
    with pytest.raises(NoteError, match="already carries"):
        add_signature(cosigned, line)


def test_cosignature_tampering_is_rejected():
    line = cosignature_sign(CHECKPOINT, name=WITNESS, private_key=WITNESS_KEY, timestamp=42)
    with pytest.raises(BadSignatureError):
        cosignature_verify(Checkpoint(ORIGIN, 1235, ROOT), line, vkey=WITNESS_VKEY)
    payload = bytearray(base64.b64decode(line.split(" ")[2]))
    payload[11] ^= 1  # the timestamp
    retimed = f"\u2014 {WITNESS} {base64.b64encode(payload).decode()}\n"
    with pytest.raises(BadSignatureError):
        cosignature_verify(CHECKPOINT, retimed, vkey=WITNESS_VKEY)
    other = cosigner_vkey(WITNESS, OTHER_KEY)
    with pytest.raises(UnknownKeyError):
        cosignature_verify(CHECKPOINT, line, vkey=other)
    with pytest.raises(ValueError, match="0x04"):
        cosignature_verify(CHECKPOINT, line, vkey=VKEY)
    with pytest.raises(BadSignatureError):
        verify_cosignatures(SIGNED + retimed, vkeys=[WITNESS_VKEY])
    # The log's own key type cannot be confused with a cosigner's: the key IDs differ.
    assert cosigner_vkey(ORIGIN, LOG_KEY).split("+")[1] != VKEY.split("+")[1]
    with pytest.raises(ValueError):
        cosignature_sign(CHECKPOINT, name=WITNESS, private_key=WITNESS_KEY, timestamp=2**63)


@settings(max_examples=60, deadline=None)
@given(position=st.integers(min_value=0), delta=st.integers(min_value=1, max_value=255))
def test_any_single_byte_change_of_a_cosignature_is_rejected(position, delta):
    line = cosignature_sign(CHECKPOINT, name=WITNESS, private_key=WITNESS_KEY, timestamp=1_700_000_000)
    data = bytearray(line.encode())
    position %= len(data)
    data[position] ^= delta
    with pytest.raises(NoteError):
        cosignature_verify(CHECKPOINT, bytes(data), vkey=WITNESS_VKEY)
