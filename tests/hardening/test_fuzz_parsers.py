"""Property-based fuzzing of the parsers that take bytes from outside the node.

Each parser has a documented way to refuse input; anything else it raises (TypeError, KeyError,
IndexError, RecursionError...) is a bug that turns bad input into a 500 or a stuck job:

- exchange.envelope.bundle_read_header / bundle_open: only BundleError;
- audit.verify.verify_export: a failed VerificationResult, never an exception (it raises only for
  a path that is not a directory, which the fuzzer never gives it);
- hashsets.formats.detect_format / iter_records: only ParseError.

Inputs are random bytes and mutations of valid inputs (a sealed bundle, a signed export, VICS and
CSV files), so the fuzzer reaches the checks behind the framing. Bounded: 200 examples each.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit.merkle import MemoryTree, leaf_hash
from audit.note import Checkpoint, checkpoint_sign, vkey_from_public_key
from audit.verify import VerificationResult, verify_export
from casebridge.lib.canonical_json import canonical_json
from exchange.envelope import MAGIC, BundleError, bundle_open, bundle_read_header, bundle_seal
from exchange.keys import EncryptionPrivateKeys, SigningPrivateKeys
from hashsets.formats import ParseError, ParseReport, detect_format, iter_records
from tests.hashsets.factories import VICS2_CONTEXT, digests, vics2_records

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=False)

# --- mutations ------------------------------------------------------------------------------------


@st.composite
def mutated(draw, original: bytes) -> bytes:
    """`original` with one to four byte-level edits: flips, overwrites, inserts, deletions, cuts."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "splice"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete" and data:
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "splice" and data:
            start = draw(st.integers(0, len(data) - 1))
            data[at:at] = data[start : start + draw(st.integers(1, 32))]
    return bytes(data)


# --- bundles --------------------------------------------------------------------------------------

SENDER = SigningPrivateKeys.generate()
RECIPIENT = EncryptionPrivateKeys.generate()
NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _seal(payload: bytes, chunk_size: int = 64) -> bytes:
    out = io.BytesIO()
    bundle_seal(
        kind="hashset.delta", sender_code="NSP", signing_keys=SENDER, recipients=[("RNP", RECIPIENT.public_keys())],
        sequence=1, payload=io.BytesIO(payload), out=out, tlp="AMBER", expires=timedelta(days=7),
        created=NOW - timedelta(hours=1), chunk_size=chunk_size,
    )  # fmt: skip
    return out.getvalue()


VALID_BUNDLE = _seal(b'{"hashset": {"name": "fuzz", "version": 1}}\n' * 8)


def _open(data: bytes) -> bytes:
    out = io.BytesIO()
    bundle_open(
        src=io.BytesIO(data), recipient_code="RNP", encryption_private_keys=RECIPIENT,
        sender_public_keys=SENDER.public_keys(), out=out, now=NOW,
    )  # fmt: skip
    return out.getvalue()


def test_the_valid_bundle_opens():
    assert _open(VALID_BUNDLE).startswith(b'{"hashset"')


@FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_are_refused_with_bundle_error(data):
    with pytest.raises(BundleError):
        bundle_read_header(io.BytesIO(data))
    with pytest.raises(BundleError):
        _open(data)


@FUZZ
@given(st.binary(max_size=2048), st.integers(0, 1 << 32 - 1))
def test_random_after_the_magic_is_refused_with_bundle_error(rest, header_len):
    data = MAGIC + b"\x00\x01" + header_len.to_bytes(4, "big") + rest
    with pytest.raises(BundleError):
        _open(data)


@FUZZ
@given(mutated(VALID_BUNDLE))
def test_mutated_bundles_are_refused_with_bundle_error(data):
    if data == VALID_BUNDLE:
        return
    with pytest.raises(BundleError):
        _open(data)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(st.data())
def test_headers_with_fields_of_any_shape_are_refused_with_bundle_error(data):
    """Valid framing around a canonical header whose members were replaced by arbitrary JSON."""
    _, header_bytes, signatures = bundle_read_header(io.BytesIO(VALID_BUNDLE))
    forged = json.loads(header_bytes)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(_HEADER_PATHS))
        target = forged
        for step in path[:-1]:
            target = target[step] if isinstance(target, dict | list) and _has(target, step) else None
            if target is None:
                break
        if isinstance(target, dict | list) and _has(target, path[-1]):
            target[path[-1]] = data.draw(_JSON)
    try:
        body = canonical_json(forged)
    except Exception:  # a value canonical JSON cannot hold (huge int): not a bundle
        return
    frame = MAGIC + b"\x00\x01" + len(body).to_bytes(4, "big") + body
    sigs = b"".join(len(s).to_bytes(4, "big") + s for s in signatures)
    with pytest.raises(BundleError):
        _open(frame + sigs + VALID_BUNDLE[len(MAGIC) + 6 + len(header_bytes) + len(sigs) :])


def _has(container, step) -> bool:
    return step in container if isinstance(container, dict) else isinstance(step, int) and step < len(container)


_HEADER_PATHS = [
    ("version",), ("bundle_id",), ("kind",), ("sender",), ("sender", "agency"), ("sender", "signing_key_id"),
    ("recipients",), ("recipients", 0), ("recipients", 0, "agency"), ("recipients", 0, "enc"),
    ("recipients", 0, "wrapped_key"), ("recipients", 0, "sequence"), ("recipients", 0, "encryption_key_id"),
    ("created",), ("expires",), ("tlp",), ("payload_length",), ("chunk_size",), ("ciphertext_sha256",),
]  # fmt: skip


# --- audit exports --------------------------------------------------------------------------------

ORIGIN = "casebridge.fuzz/audit"
AUDIT_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
AUDIT_VKEY = vkey_from_public_key(ORIGIN, AUDIT_KEY.public_key())
EXPORT_FILES = ("entries.jsonl", "leaf-hashes.txt", "checkpoints.jsonl", "public-key.vkey", "manifest.json")


def _manifest(path: Path) -> None:
    files = {
        name: hashlib.sha256((path / name).read_bytes()).hexdigest()
        for name in EXPORT_FILES[:-1]
        if (path / name).exists()
    }
    manifest = {
        "format": "casebridge-audit-export/1",
        "origin": ORIGIN,
        "entries": (path / "entries.jsonl").read_bytes().count(b"\n"),
        "checkpoints": (path / "checkpoints.jsonl").read_bytes().count(b"\n"),
        "files": files,
    }
    (path / "manifest.json").write_bytes(canonical_json(manifest) + b"\n")


def _build_export(path: Path, n: int = 12) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    lines = [
        canonical_json({"index": i, "action": "case.view", "actor": {"name": f"officer{i % 3}"}, "details": {"n": i}})
        for i in range(n)
    ]
    (path / "entries.jsonl").write_bytes(b"".join(line + b"\n" for line in lines))
    (path / "leaf-hashes.txt").write_text("".join(leaf_hash(line).hex() + "\n" for line in lines))
    tree = MemoryTree(leaf_hash(line) for line in lines)
    notes = [
        canonical_json(
            {
                "size": size,
                "note": checkpoint_sign(Checkpoint(ORIGIN, size, tree.root(size)), name=ORIGIN, private_key=AUDIT_KEY),
            }
        )
        for size in (5, n)
    ]
    (path / "checkpoints.jsonl").write_bytes(b"".join(note + b"\n" for note in notes))
    (path / "public-key.vkey").write_text(vkey_from_public_key(ORIGIN, AUDIT_KEY.public_key()) + "\n")
    _manifest(path)
    return path


@pytest.fixture(scope="module")
def good_export(tmp_path_factory) -> Path:
    path = _build_export(tmp_path_factory.mktemp("export") / "good")
    assert verify_export(path, key=AUDIT_VKEY).ok
    return path


def _fresh_copy(good: Path, tmp_root: Path) -> Path:
    target = tmp_root / f"case-{hashlib.sha256(str(id(object())).encode()).hexdigest()[:12]}"
    shutil.copytree(good, target)
    return target


@FUZZ
@given(st.sampled_from(EXPORT_FILES), st.data(), st.booleans())
def test_mutated_exports_fail_verification_without_raising(good_export, tmp_path_factory, name, data, refresh):
    """One file mutated; with `refresh`, the manifest is rewritten to match so deeper checks run."""
    path = _fresh_copy(good_export, tmp_path_factory.getbasetemp())
    try:
        original = (path / name).read_bytes()
        changed = data.draw(mutated(original))
        (path / name).write_bytes(changed)
        if refresh and name != "manifest.json":
            _manifest(path)
        result = verify_export(path, key=AUDIT_VKEY)
        assert isinstance(result, VerificationResult)
        if changed != original and name in ("entries.jsonl", "checkpoints.jsonl") and result.ok:
            # nothing changed in them passes: entries past the last checkpoint fail closed (issue 14)
            raise AssertionError(f"a changed {name} verified")
        if not result.ok:
            assert set(result.failure) == {"check", "index", "checkpoint_size", "message"}
    finally:
        shutil.rmtree(path)


@FUZZ
@given(st.dictionaries(st.sampled_from(EXPORT_FILES), st.binary(max_size=512), min_size=1))
def test_random_export_files_fail_verification_without_raising(good_export, tmp_path_factory, replaced):
    path = _fresh_copy(good_export, tmp_path_factory.getbasetemp())
    try:
        for name, content in replaced.items():
            (path / name).write_bytes(content)
        result = verify_export(path, key=AUDIT_VKEY)
        assert isinstance(result, VerificationResult) and not result.ok
    finally:
        shutil.rmtree(path)


# --- hash-set files -------------------------------------------------------------------------------

VALID_VICS = json.dumps({"@odata.context": VICS2_CONTEXT, "value": vics2_records(6, series="S")}).encode()
VALID_CSV = (
    "md5,sha1,category,series,comments\n"
    + "".join(f"{digests(i)['MD5']},{digests(i)['SHA1']},1,S,c{i}\n" for i in range(6))
).encode()
VALID_LIST = "".join(f"{digests(i)['MD5'].lower()}  file{i}.jpg\n" for i in range(6)).encode()


def _parse_all(data: bytes, *, skip_invalid: bool) -> None:
    fmt = detect_format(io.BytesIO(data))
    for _ in iter_records(io.BytesIO(data), fmt=fmt, skip_invalid=skip_invalid, report=ParseReport()):
        pass


def test_the_valid_files_parse():
    for data in (VALID_VICS, VALID_CSV, VALID_LIST):
        _parse_all(data, skip_invalid=False)


@FUZZ
@given(st.binary(max_size=4096), st.booleans())
def test_random_bytes_raise_only_parse_error(data, skip_invalid):
    try:
        _parse_all(data, skip_invalid=skip_invalid)
    except ParseError:
        pass


@FUZZ
@given(st.sampled_from([VALID_VICS, VALID_CSV, VALID_LIST]).flatmap(mutated), st.booleans())
def test_mutated_hash_set_files_raise_only_parse_error(data, skip_invalid):
    try:
        _parse_all(data, skip_invalid=skip_invalid)
    except ParseError:
        pass


# --- hostile payloads in validly signed bundles -----------------------------------------------------

HOSTILE_PAYLOADS = {
    "line_not_an_object": b"5\n",
    "retraction_not_hex": b'{"retract": {"md5": "zz"}}\n',
    "nested_too_deep": b"[" * 100_000 + b"\n",
    "nul_in_text": b'{"item": {"md5": "d41d8cd98f00b204e9800998ecf8427f", "media_type": "a\\u0000b"}}\n',
}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(HOSTILE_PAYLOADS))
def test_hostile_payload_from_a_verified_partner_is_quarantined(world, agency_a, agency_b, name):
    from exchange import keystore
    from exchange.inbox import inbox_receive
    from exchange.models import Bundle, Stream

    payload = b'{"hashset": {"name": "hostile", "version": 1, "scheme": "vic_us"}}\n' + HOSTILE_PAYLOADS[name]
    sealed = io.BytesIO()
    rnp_keys, nsp_keys = keystore.key_set_current(agency_b), keystore.key_set_current(agency_a)
    bundle_seal(  # signed with RNP's real keys, to NSP, under the agreement: only the content is hostile
        kind="hashset.delta", sender_code="RNP", signing_keys=keystore.signing_private(rnp_keys),
        recipients=[("NSP", keystore.encryption_public(nsp_keys))], sequence=1,
        payload=[payload], out=sealed, tlp="GREEN", expires=timedelta(days=1), created=datetime.now(UTC),
    )  # fmt: skip
    result = inbox_receive(src=io.BytesIO(sealed.getvalue()), via="push")
    assert (result.state, result.code) == ("rejected", "apply_refused")
    assert Bundle.objects.get(direction="in").state == Bundle.State.QUARANTINED
    assert Stream.objects.get(sender_code="RNP", recipient_code="NSP").next_in == 2  # the stream moves on


# --- the API's own parsing of hex, base64 and URLs (found by test_schemathesis.py) --------------------


@pytest.mark.django_db
def test_odd_characters_in_api_input_are_400_not_500(world):
    alice, partner = world.api_client("alice"), world.api_client("partner")
    assert alice.get("/api/v1/hashes/md5/" + "é" * 32).status_code == 400
    lookup = {"hashes": [{"algorithm": "md5", "hex": "é" * 32}]}
    assert alice.post("/api/v1/hashes/lookup", lookup, content_type="application/json").status_code == 400
    pdq = {"hashes": [{"hex": "é" * 64, "quality": 90}]}
    assert alice.post("/api/v1/hashes/match/pdq", pdq, content_type="application/json").status_code == 400
    evidence = {"hashes": "é" * 32}
    url = f"/api/v1/cases/{world.kwargs['case_id']}/evidence"
    assert alice.post(url, evidence, content_type="application/json").status_code == 400
    witness = {"note": "x", "old_size": 0, "proof": ["é"], "log_vkey": "v"}
    assert partner.post("/api/v1/exchange/witness", witness, content_type="application/json").status_code == 400
    for url in ("/api/v1/hashsets?q=a%00", "/api/v1/exchange/agencies/N%00/card", "/hashsets/?q=a%00"):
        client = alice if url.startswith("/api/v1/hashsets") else world.client("alice")
        assert client.get(url).status_code == 400, url
