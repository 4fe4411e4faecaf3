"""The offline verifier: a valid export passes, every kind of tampering is named precisely."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from audit.merkle import MemoryTree, leaf_hash
from audit.note import (
    Checkpoint,
    SignatureLine,
    checkpoint_sign,
    cosignature_sign,
    cosigner_vkey,
    split_note,
    vkey_from_public_key,
)
from audit.verify import entries as verify
from audit.verify import verify_export as _verify_export
from audit.verify import write_manifest
from casebridge.lib.canonical_json import CanonicalJSONError, canonical_json

ROOT_DIR = Path(__file__).resolve().parents[2]
ORIGIN = "casebridge.test/audit"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
WITNESS_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64)))
WITNESS = "witness.test/w1"
VKEY = vkey_from_public_key(ORIGIN, KEY.public_key())
WITNESS_VKEY = cosigner_vkey(WITNESS, WITNESS_KEY)
N = 40
SIZES = (10, 25, 40)


def make_entry(i: int) -> dict:
    entry = {
        "index": i,
        "action": ["case.view", "case.update", "evidence.download"][i % 3],
        "actor": {"id": 100 + i % 7, "username": f"officer{i % 7}"},
        "at": f"2025-03-01T12:{i // 60:02d}:{i % 60:02d}.000000Z",
        "object": {"type": "case", "id": f"case-{i // 4}"},
    }
    if i % 5 == 0:
        entry["details"] = {"reason": "routine review", "fields": ["status", "assignee"]}
    if i % 6 == 1:
        entry["details"] = {"note": 'quoted "text"\nwith a newline and a backslash \\'}
    if i % 7 == 2:
        entry["details"] = {"name": "Zoë Ångström, 東京", "emoji": "\U0001f600", "\U0001f511": True}
    return entry


def write_lines(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def refresh_manifest(path: Path, **overrides) -> dict:
    """The manifest, built independently of audit.verify.write_manifest."""
    files = {}
    for name in ("entries.jsonl", "leaf-hashes.txt", "checkpoints.jsonl", "cosignatures.jsonl", "public-key.vkey"):
        if (path / name).exists():
            files[name] = hashlib.sha256((path / name).read_bytes()).hexdigest()
    manifest = {
        "format": "casebridge-audit-export/1",
        "origin": ORIGIN,
        "entries": (path / "entries.jsonl").read_bytes().count(b"\n"),
        "checkpoints": (path / "checkpoints.jsonl").read_bytes().count(b"\n"),
        "files": files,
    }
    manifest.update(overrides)
    (path / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def signed_checkpoints(tree: MemoryTree, sizes, key=KEY) -> list[tuple[int, str]]:
    return [(s, checkpoint_sign(Checkpoint(ORIGIN, s, tree.root(s)), name=ORIGIN, private_key=key)) for s in sizes]


def write_checkpoints(path: Path, checkpoints: list[tuple[int, str]]) -> None:
    write_lines(path / "checkpoints.jsonl", [canonical_json({"size": s, "note": text}) for s, text in checkpoints])


def build_export(path: Path, n: int = N, sizes=SIZES, *, leaf_hashes: bool = True, cosign: bool = True) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    lines = [canonical_json(make_entry(i)) for i in range(n)]
    write_lines(path / "entries.jsonl", lines)
    tree = MemoryTree(leaf_hash(line) for line in lines)
    if leaf_hashes:
        (path / "leaf-hashes.txt").write_text("".join(leaf_hash(line).hex() + "\n" for line in lines))
    write_checkpoints(path, signed_checkpoints(tree, sizes))
    if cosign and sizes:
        last = Checkpoint(ORIGIN, sizes[-1], tree.root(sizes[-1]))
        record = {
            "size": sizes[-1],
            "witness": WITNESS,
            "vkey": cosigner_vkey(WITNESS, WITNESS_KEY),
            "line": cosignature_sign(last, name=WITNESS, private_key=WITNESS_KEY, timestamp=1_740_000_000),
        }
        write_lines(path / "cosignatures.jsonl", [canonical_json(record)])
    (path / "public-key.vkey").write_text(VKEY + "\n")
    refresh_manifest(path)
    return path


def verify_export(path, **kwargs):
    """The node's key pinned unless a test says otherwise: the fail-closed default has its own tests."""
    kwargs.setdefault("key", VKEY)
    return _verify_export(path, **kwargs)


def entry_lines(path: Path) -> list[bytes]:
    return (path / "entries.jsonl").read_bytes().split(b"\n")[:-1]


def failure(path: Path, **kwargs) -> dict:
    result = verify_export(path, **kwargs)
    assert not result.ok, "verification should have failed"
    assert set(result.failure) == {"check", "index", "checkpoint_size", "message"}
    return result.failure


@pytest.fixture
def export(tmp_path) -> Path:
    return build_export(tmp_path / "export")


# --------------------------------------------------------------------------- the happy path


def test_valid_export_verifies(export):
    result = verify_export(export, witness_keys=[WITNESS_VKEY])
    assert result.ok, result.failure
    assert (result.entries, result.checkpoints, result.covered, result.cosignatures) == (N, 3, N, 1)
    assert result.failure is None and result.warnings == [] and result.key_pinned
    assert (result.witnessed, result.witnessed_by) == (N, [WITNESS_VKEY])
    assert "verified only against the witness keys the export ships" in verify_export(export).warnings[0]
    assert result.origin == ORIGIN and result.key == VKEY
    assert verify_export(export, key=VKEY, require_complete=True).ok
    assert json.loads(json.dumps(result.to_dict()))["ok"] is True


def test_write_manifest_matches_the_documented_layout(export):
    expected = json.loads((export / "manifest.json").read_text())
    assert write_manifest(export, origin=ORIGIN) == expected
    assert (export / "manifest.json").read_bytes() == canonical_json(expected) + b"\n"
    assert verify_export(export).ok


def test_minimal_and_empty_exports(tmp_path):
    minimal = build_export(tmp_path / "minimal", leaf_hashes=False, cosign=False)
    assert verify_export(minimal).ok
    empty = build_export(tmp_path / "empty", n=0, sizes=(0,), cosign=False)
    result = verify_export(empty)
    assert result.ok and result.entries == 0 and result.checkpoints == 1


def test_export_written_like_the_django_exporter(export):
    """Non-canonical JSON in the small files, an indented manifest, cosignature line sans newline."""
    checkpoints = [json.loads(line) for line in (export / "checkpoints.jsonl").read_text().splitlines()]
    (export / "checkpoints.jsonl").write_text(
        "".join(json.dumps({"size": c["size"], "note": c["note"]}, ensure_ascii=False) + "\n" for c in checkpoints)
    )
    [cosig] = [json.loads(line) for line in (export / "cosignatures.jsonl").read_text().splitlines()]
    cosig["line"] = cosig["line"].rstrip("\n")
    (export / "cosignatures.jsonl").write_text(json.dumps(cosig) + "\n")
    refresh_manifest(export)
    assert verify_export(export).ok


# --------------------------------------------------------------------------- entries


def replace_entry(path: Path, index: int, new: bytes, *, refresh: bool = True) -> None:
    lines = entry_lines(path)
    lines[index] = new
    write_lines(path / "entries.jsonl", lines)
    if refresh:
        refresh_manifest(path)


def test_altered_entry_is_named_by_index(export):
    altered = make_entry(17) | {"action": "case.delete"}
    replace_entry(export, 17, canonical_json(altered))
    f = failure(export)
    assert f["check"] == "checkpoint_root"
    assert (f["index"], f["checkpoint_size"]) == (17, 25)
    assert "[10, 25)" in f["message"] and "entry 17" in f["message"]
    assert "stored leaf hashes reproduce the signed root" in f["message"]


def test_altered_entry_without_leaf_hashes_is_located_by_range(tmp_path):
    export = build_export(tmp_path / "e", leaf_hashes=False)
    replace_entry(export, 3, canonical_json(make_entry(3) | {"actor": {"id": 1, "username": "mallory"}}))
    f = failure(export)
    assert (f["check"], f["index"], f["checkpoint_size"]) == ("checkpoint_root", None, 10)
    assert "[0, 10)" in f["message"]


def test_stale_manifest_is_reported_first(export):
    replace_entry(export, 17, canonical_json(make_entry(17) | {"action": "x"}), refresh=False)
    f = failure(export)
    assert f["check"] == "manifest" and "entries.jsonl" in f["message"]


def test_altered_entry_after_the_last_checkpoint(tmp_path):
    export = build_export(tmp_path / "e", sizes=(10, 25))
    f = failure(export)  # fail closed: uncovered entries are a failure, --require-complete or not
    assert (f["check"], f["index"], f["checkpoint_size"]) == ("coverage", 25, 25)
    assert failure(export, require_complete=True)["check"] == "coverage"
    replace_entry(export, 33, canonical_json(make_entry(33) | {"action": "x"}))
    f = failure(export)
    assert (f["check"], f["index"]) == ("leaf_hash", 33)
    assert "no checkpoint covers it" in f["message"]


def test_corrupted_leaf_hashes_file_is_blamed(export):
    lines = (export / "leaf-hashes.txt").read_text().splitlines()
    lines[12] = "0" * 64
    (export / "leaf-hashes.txt").write_text("\n".join(lines) + "\n")
    refresh_manifest(export)
    f = failure(export)
    assert (f["check"], f["index"]) == ("leaf_hash", 12)
    assert "leaf-hashes.txt is wrong" in f["message"]


def test_malformed_leaf_hashes_file(export):
    text = (export / "leaf-hashes.txt").read_text()
    (export / "leaf-hashes.txt").write_text(text.upper())
    refresh_manifest(export)
    assert failure(export)["check"] == "leaf_hashes_format"
    (export / "leaf-hashes.txt").write_text(text[:-65])
    refresh_manifest(export)
    assert "39 lines" in failure(export)["message"]


def test_reordered_lines(export):
    lines = entry_lines(export)
    lines[5], lines[6] = lines[6], lines[5]
    write_lines(export / "entries.jsonl", lines)
    refresh_manifest(export)
    f = failure(export)
    assert (f["check"], f["index"]) == ("entry_index", 5)
    assert "has index 6, expected 5" in f["message"]


def test_removed_line(export):
    lines = entry_lines(export)
    del lines[30]
    write_lines(export / "entries.jsonl", lines)
    refresh_manifest(export)
    assert (failure(export)["check"], failure(export)["index"]) == ("entry_index", 30)


@pytest.mark.parametrize(
    ("line", "check"),
    [
        (b'{"index": 7}', "entry_canonical"),  # insignificant whitespace
        (b'{"index":7,"action":"a"}', "entry_canonical"),  # members out of order
        (b'{"a":"\\/","index":7}', "entry_canonical"),  # needless escape
        (b'{"a":"\\u0041","index":7}', "entry_canonical"),  # needless escape
        (b'{"a":"\\u001F","index":7}', "entry_canonical"),  # uppercase hex escape
        (b'{"a":-0,"index":7}', "entry_canonical"),
        (b'{"a":1.0,"index":7}', "entry_canonical"),  # floats have no canonical form here
        (b'{"a":1e3,"index":7}', "entry_canonical"),
        (b'{"a":NaN,"index":7}', "entry_canonical"),
        (b'{"a":9007199254740992,"index":7}', "entry_canonical"),  # beyond 2**53 - 1
        (b'{"a":1,"a":1,"index":7}', "entry_canonical"),  # duplicate member
        (b'{"a":"\\ud800","index":7}', "entry_canonical"),  # lone surrogate
        (b'{"\xef\xbf\xbf":1,"\xf0\x9f\x98\x80":2,"index":7}', "entry_canonical"),  # code-point order, not UTF-16
        (b'{"index":7} ', "entry_canonical"),
        (b'\xef\xbb\xbf{"index":7}', "entry_format"),  # byte order mark
        (b'{"index":7', "entry_format"),
        (b'{"a":"\xff","index":7}', "entry_format"),  # invalid UTF-8
        (b'{"a":"\xed\xa0\x80","index":7}', "entry_format"),  # encoded surrogate
        (b'{"a":"tab\there","index":7}', "entry_format"),  # raw control character
        (b"[7]", "entry_format"),
        (b"", "entry_format"),
        (b'{"index":"7"}', "entry_index"),
        (b'{"index":true}', "entry_index"),
        (b'{"idx":7}', "entry_index"),
        (b'{"index":8}', "entry_index"),
    ],
)
def test_each_non_conforming_line_is_named(export, line, check):
    replace_entry(export, 7, line)
    f = failure(export)
    assert (f["check"], f["index"]) == (check, 7), f


def test_canonical_tricky_lines_are_accepted(tmp_path):
    """Escapes, non-BMP names in UTF-16 order, 15-digit integers: all canonical, all accepted."""
    tricky = [
        {"index": 0, "a": 'x"y\\z\n\u001f\u007f', "b": 10**15 - 1, "c": -(2**53 - 1)},
        {"index": 1, "\U0001f600": 1, "\uffff": 2},  # U+1F600 sorts before U+FFFF in UTF-16
        {"index": 2, "": {"": []}, "z": [{}, [], None, True, False, "-0"]},
    ]
    lines = [canonical_json(value) for value in tricky]
    assert verify._check_lines(lines, 0) == [leaf_hash(line) for line in lines]


def test_missing_final_newline(export):
    (export / "entries.jsonl").write_bytes((export / "entries.jsonl").read_bytes()[:-1])
    refresh_manifest(export, entries=N)
    f = failure(export)
    assert (f["check"], f["index"]) == ("entry_format", N - 1)
    assert "not terminated by a newline" in f["message"]


# --------------------------------------------------------------------------- checkpoints


def test_bad_signature(export):
    records = [json.loads(line) for line in (export / "checkpoints.jsonl").read_text().splitlines()]
    body, [sig] = split_note(records[1]["note"])
    forged = SignatureLine(sig.name, sig.key_id, bytes([sig.signature[0] ^ 1]) + sig.signature[1:])
    records[1]["note"] = body.decode() + "\n" + forged.line()
    write_checkpoints(export, [(r["size"], r["note"]) for r in records])
    refresh_manifest(export)
    f = failure(export)
    assert (f["check"], f["checkpoint_size"]) == ("checkpoint_signature", 25)
    assert "does not verify" in f["message"]


def test_checkpoint_signed_by_another_key(tmp_path):
    export = build_export(tmp_path / "e")
    tree = MemoryTree(leaf_hash(line) for line in entry_lines(export))
    write_checkpoints(export, signed_checkpoints(tree, SIZES, key=OTHER_KEY))
    refresh_manifest(export)
    f = failure(export)
    assert (f["check"], f["checkpoint_size"]) == ("checkpoint_signature", 10)
    assert "no signature from" in f["message"]


def test_replaced_public_key_is_caught_by_pinning(tmp_path):
    export = build_export(tmp_path / "e")
    tree = MemoryTree(leaf_hash(line) for line in entry_lines(export))
    write_checkpoints(export, signed_checkpoints(tree, SIZES, key=OTHER_KEY))
    (export / "public-key.vkey").write_text(vkey_from_public_key(ORIGIN, OTHER_KEY.public_key()) + "\n")
    (export / "cosignatures.jsonl").unlink()
    refresh_manifest(export)
    assert verify_export(export, key=None, trust_export_key=True).ok  # self-consistent...
    f = failure(export, key=VKEY)  # ...but not signed by the node's published key
    assert f["check"] == "public_key" and "not by the expected key" in f["message"]


def test_tree_shrank(export):
    tree = MemoryTree(leaf_hash(line) for line in entry_lines(export))
    write_checkpoints(export, signed_checkpoints(tree, (10, 25, 20)))
    (export / "cosignatures.jsonl").unlink()
    refresh_manifest(export)
    f = failure(export)
    assert (f["check"], f["checkpoint_size"]) == ("checkpoint_order", 20)
    assert "tree shrank" in f["message"]


def test_checkpoint_beyond_export(export):
    lines = entry_lines(export)
    write_lines(export / "entries.jsonl", lines[:35])
    (export / "leaf-hashes.txt").unlink()
    refresh_manifest(export)
    f = failure(export)
    assert (f["check"], f["checkpoint_size"]) == ("checkpoint_beyond_export", 40)
    assert "checkpoint beyond export" in f["message"] and "holds 35" in f["message"]


def test_fork_at_the_same_size(export):
    tree = MemoryTree(leaf_hash(line) for line in entry_lines(export))
    forged = Checkpoint(ORIGIN, 25, hashlib.sha256(b"another history").digest())
    checkpoints = [*signed_checkpoints(tree, (10, 25)), (25, checkpoint_sign(forged, name=ORIGIN, private_key=KEY))]
    write_checkpoints(export, checkpoints)
    (export / "cosignatures.jsonl").unlink()
    refresh_manifest(export)
    f = failure(export)
    assert (f["check"], f["checkpoint_size"]) == ("checkpoint_root", 25)
    assert "two different trees of size 25" in f["message"]


def test_checkpoint_record_must_match_its_note(export):
    records = (export / "checkpoints.jsonl").read_text().splitlines()
    record = json.loads(records[0])
    records[0] = json.dumps({"size": 11, "note": record["note"]})
    (export / "checkpoints.jsonl").write_text("\n".join(records) + "\n")
    refresh_manifest(export)
    f = failure(export)
    assert f["check"] == "checkpoint_format" and "says size 11" in f["message"]


def test_origin_mismatch(export):
    refresh_manifest(export, origin="elsewhere.test/audit")
    f = failure(export)
    assert f["check"] == "checkpoint_origin"


# --------------------------------------------------------------------------- manifest, key, cosignatures


def test_altered_manifest_digest(export):
    manifest = json.loads((export / "manifest.json").read_text())
    manifest["files"]["checkpoints.jsonl"] = "0" * 64
    (export / "manifest.json").write_text(json.dumps(manifest))
    f = failure(export)
    assert f["check"] == "manifest" and "checkpoints.jsonl" in f["message"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: (p / "manifest.json").unlink(), "manifest.json is missing"),
        (lambda p: (p / "manifest.json").write_text("{"), "not valid"),
        (lambda p: refresh_manifest(p, format="other/1"), "unsupported export format"),
        (lambda p: refresh_manifest(p, entries=N + 1), "announces 41 entries"),
        (lambda p: refresh_manifest(p, checkpoints=2), "announces 2 checkpoints"),
        (lambda p: (p / "leaf-hashes.txt").unlink(), "listed in the manifest but missing"),
        (lambda p: (p / "public-key.vkey").unlink() or refresh_manifest(p), "required file public-key.vkey"),
    ],
)
def test_manifest_problems(export, change, message):
    change(export)
    f = failure(export)
    assert f["check"] == "manifest" and message in f["message"], f


def test_unlisted_file_is_refused(export):
    manifest = json.loads((export / "manifest.json").read_text())
    del manifest["files"]["leaf-hashes.txt"]
    (export / "manifest.json").write_text(json.dumps(manifest))
    assert "present but not listed" in failure(export)["message"]


def test_malformed_public_key(export):
    (export / "public-key.vkey").write_text(cosigner_vkey(ORIGIN, KEY) + "\n")
    refresh_manifest(export)
    assert failure(export)["check"] == "public_key"


def test_tampered_cosignature(export):
    record = json.loads((export / "cosignatures.jsonl").read_text())
    line = cosignature_sign(
        Checkpoint(ORIGIN, 40, b"\x00" * 32), name=WITNESS, private_key=WITNESS_KEY, timestamp=1_740_000_000
    )
    (export / "cosignatures.jsonl").write_bytes(canonical_json(record | {"line": line}) + b"\n")
    refresh_manifest(export)
    f = failure(export)
    assert (f["check"], f["checkpoint_size"]) == ("cosignature", 40) and "does not verify" in f["message"]
    (export / "cosignatures.jsonl").write_bytes(canonical_json(record | {"size": 11}) + b"\n")
    refresh_manifest(export)
    assert "which no checkpoint has" in failure(export)["message"]
    (export / "cosignatures.jsonl").write_bytes(canonical_json(record | {"witness": "someone.else"}) + b"\n")
    refresh_manifest(export)
    assert "does not match its vkey name" in failure(export)["message"]


def test_missing_directory_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        verify_export(tmp_path / "nope")


# --------------------------------------------------------------------------- the fast tiers equal the definition


def literal_verdict(line: bytes) -> bool:
    """The definition: a UTF-8 JSON object whose canonical form is the line, with integer index 0."""
    try:
        value = json.loads(line.decode("utf-8"), object_pairs_hook=verify.no_duplicates)
        if not isinstance(value, dict) or canonical_json(value) != line:
            return False
    except (ValueError, CanonicalJSONError):
        return False
    return type(value.get("index")) is int and value["index"] == 0


def literal_canonical(line: bytes) -> bool:
    try:
        return canonical_json(json.loads(line.decode("utf-8"), object_pairs_hook=verify.no_duplicates)) == line
    except (ValueError, CanonicalJSONError):
        return False


class Deferred(Exception):
    pass


def verdicts(line: bytes, monkeypatch) -> tuple[bool, bool]:
    """(accepted by _check_lines, accepted by tier 1 alone without deferring)."""
    verify._SHAPES.clear()
    try:
        verify._check_lines([line], 0)
        accepted = True
    except verify.Failure:
        accepted = False
    with monkeypatch.context() as patch:

        def defer(*args):
            raise Deferred

        patch.setattr(verify, "_tier2", defer)
        patch.setattr(verify, "_slow_entry", defer)
        try:
            verify._check_lines([line], 0)
            tier1 = True
        except (Deferred, verify.Failure):
            tier1 = False
    return accepted, tier1


def simple_text(alphabet_max: int):
    return st.text(
        st.characters(min_codepoint=0x20, max_codepoint=alphabet_max, exclude_categories=("Cs",)), max_size=4
    )


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.sampled_from([0, -1, 1, 10, 100, 10**15 - 1, 10**15, 2**53 - 1, 2**53])
    | st.floats(allow_nan=True, allow_infinity=False)
    | simple_text(0x7E)
    | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(simple_text(0x7E) | st.text(max_size=3), children, max_size=4)
    ),
    max_leaves=10,
)

MUTATIONS = [
    lambda b: b,
    lambda b: b.replace(b":", b": ", 1),
    lambda b: b.replace(b",", b" ,", 1),
    lambda b: b.replace(b":0", b":-0", 1),
    lambda b: b.replace(b":1", b":01", 1),
    lambda b: b.replace(b"[1", b"[00", 1),
    lambda b: b.replace(b"1", b"1.0", 1),
    lambda b: b.replace(b"1", b"1E1", 1),
    lambda b: b.replace(b"0", b"0000000000000000", 1),
    lambda b: b.replace(b"true", b"True", 1),
    lambda b: b.replace(b'"index":0', b'"index":"0"', 1),
    lambda b: b.replace(b'"index":0', b'"index":false', 1),
    lambda b: b.replace(b'"index":0', b'"index":0,"index":0', 1),
    lambda b: b.replace(b'"index"', b'"indeks"', 1),
    lambda b: b.replace(b'"', b"'", 1),
    lambda b: b.replace(b'"', b'""', 1),
    lambda b: b.replace(b"a", b"\\u0061", 1),
    lambda b: b.replace(b"a", b"\t", 1),
    lambda b: b.replace(b"{", b"[{", 1) + b"]",
    lambda b: b + b" ",
    lambda b: b + b'"',
    lambda b: b[:-1],
    lambda b: b"\xef\xbb\xbf" + b,
]


@settings(max_examples=500, deadline=None)
@given(
    value=st.dictionaries(simple_text(0x7E) | simple_text(0xFFFF) | st.text(max_size=3), json_values, max_size=5),
    sort=st.booleans(),
    ascii_only=st.booleans(),
    mutation=st.sampled_from(range(len(MUTATIONS))),
)
def test_fast_tiers_agree_with_the_literal_check(value, sort, ascii_only, mutation):
    value["index"] = 0
    try:
        text = json.dumps(value, ensure_ascii=ascii_only, separators=(",", ":"), sort_keys=sort)
        line = MUTATIONS[mutation](text.encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        return
    with pytest.MonkeyPatch.context() as monkeypatch:
        accepted, tier1 = verdicts(line, monkeypatch)
    expected = literal_verdict(line)
    assert accepted == expected, line
    assert not tier1 or expected, line
    tier2 = verify._tier2(line) is not None
    assert not tier2 or literal_canonical(line), line
    event(f"literal={expected} tier1={tier1} tier2={tier2}")


def test_tier1_handles_ordinary_entries(monkeypatch):
    for i in range(50):
        line = canonical_json(make_entry(0) | {"n": i * 1001, "zero": 0, "neg": -i, "x": [i, {"b": 1, "a": 2}]})
        line = canonical_json(json.loads(line))
        accepted, tier1 = verdicts(line, monkeypatch)
        assert accepted and (tier1 or b"\\" in line or not line.isascii()), line


def test_tier2_agrees_with_canonical_json():
    for value in [{"index": 0, "a": 'x"y\\z\n\u001f'}, {"index": 0, "b": "\u00e9\u2028"}, {"index": 0, "c": [1, -2]}]:
        line = canonical_json(value)
        assert verify._tier2(line) == value
    for line in [b'{"a":1.0,"index":0}', b'{"a":9007199254740993,"index":0}', b'{"\xf0\x9f\x98\x80":1,"index":0}']:
        assert verify._tier2(line) is None


# --------------------------------------------------------------------------- any single-byte change fails

_PRISTINE: dict[str, bytes] = {}


def pristine_files() -> dict[str, bytes]:
    if not _PRISTINE:
        with tempfile.TemporaryDirectory() as scratch:
            path = build_export(Path(scratch) / "e", n=24, sizes=(8, 13, 24))
            _PRISTINE.update({p.name: p.read_bytes() for p in path.iterdir()})
    return _PRISTINE


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(["entries.jsonl", "checkpoints.jsonl"]), position=st.integers(0), delta=st.integers(1, 255))
def test_any_single_byte_change_fails(name, position, delta):
    files = pristine_files()
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch)
        for file_name, data in files.items():
            (path / file_name).write_bytes(data)
        data = bytearray(files[name])
        position %= len(data)
        data[position] ^= delta
        (path / name).write_bytes(bytes(data))
        stale = verify_export(path)
        assert not stale.ok and stale.failure["check"] == "manifest"
        # An attacker who also rewrites the (unsigned) manifest is still caught.
        manifest = json.loads(files["manifest.json"])
        manifest["files"][name] = hashlib.sha256(bytes(data)).hexdigest()
        (path / "manifest.json").write_text(json.dumps(manifest))
        result = verify_export(path)
        assert not result.ok, (name, position, delta)


# --------------------------------------------------------------------------- command line, without Django


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    return subprocess.run(
        [sys.executable, "-m", "audit.verify", *args], cwd=ROOT_DIR, env=env, capture_output=True, text=True, timeout=60
    )


def test_cli_exit_codes(export, tmp_path):
    ok = run_cli(str(export), "--key", VKEY)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[-1].startswith("OK: every one of the 40 entries") and VKEY in ok.stdout

    as_json = run_cli(str(export), "--json", "--key", VKEY)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout)["entries"] == N

    tampered = build_export(tmp_path / "tampered")
    replace_entry(tampered, 2, canonical_json(make_entry(2) | {"action": "x"}))
    bad = run_cli(str(tampered), "--json", "--key", VKEY)
    assert bad.returncode == 1
    assert json.loads(bad.stdout)["failure"]["index"] == 2
    assert "FAILED [checkpoint_root]" in run_cli(str(tampered), "--key", VKEY).stdout

    assert run_cli(str(tmp_path / "missing")).returncode == 2
    assert run_cli().returncode == 2
    assert run_cli(str(export), "--key", "not-a-vkey").returncode == 2


def test_verifier_imports_no_django(export):
    code = (
        "import sys, audit.verify as v; rc = v.main([sys.argv[1], '--trust-export-key']); "
        "assert not any(m.split('.')[0] in ('django', 'celery') for m in sys.modules), 'Django imported'; "
        "sys.exit(rc)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO")}
    result = subprocess.run(
        [sys.executable, "-c", code, str(export)], cwd=ROOT_DIR, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_copy_of_export_still_verifies(export, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(export, copy)
    assert verify_export(copy).ok
