"""RFC 9162 Merkle tree: hashes, roots, stored-node proofs and their verification."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle
from audit.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    consistency_proof,
    consistency_proof_from_nodes,
    consistency_proof_nodes,
    inclusion_proof,
    inclusion_proof_from_nodes,
    inclusion_proof_nodes,
    leaf_hash,
    mth,
    node_hash,
    root_from_leaf_hashes,
    root_from_nodes,
    subtree_hash,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
)


def sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [sha(b"\x00" + salt + i.to_bytes(4, "big")) for i in range(n)]


def perfect_nodes(hashes: list[bytes]) -> dict[tuple[int, int], bytes]:
    """Every perfect node by its definition: node(l, i) = MTH(leaves[i*2^l:(i+1)*2^l])."""
    nodes = {}
    level = 0
    while 1 << level <= len(hashes):
        width = 1 << level
        for index in range(len(hashes) // width):
            nodes[(level, index)] = mth(hashes[index * width : (index + 1) * width])
        level += 1
    return nodes


# Reference PATH and PROOF, transcribed from RFC 9162 2.1.3.1 and 2.1.4.1 over lists of leaf hashes.


def k_of(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, d: list[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = k_of(n)
    if m < k:
        return [*ref_path(m, d[:k]), mth(d[k:])]
    return [*ref_path(m - k, d[k:]), mth(d[:k])]


def ref_subproof(m: int, d: list[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [mth(d)]
    k = k_of(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), mth(d[:k])]


def ref_proof(m: int, d: list[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


# --------------------------------------------------------------------------- hashing


def test_hash_primitives_match_hashlib():
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"abc") == sha(b"\x00abc")
    assert node_hash(b"L" * 32, b"R" * 32) == sha(b"\x01" + b"L" * 32 + b"R" * 32)


def test_hand_computed_small_trees():
    d0, d1, d2 = b"first entry", b"second entry", b"third entry"
    h0, h1, h2 = sha(b"\x00" + d0), sha(b"\x00" + d1), sha(b"\x00" + d2)
    expected = {
        0: hashlib.sha256(b"").hexdigest(),
        1: h0.hex(),
        2: sha(b"\x01" + h0 + h1).hex(),
        3: sha(b"\x01" + sha(b"\x01" + h0 + h1) + h2).hex(),
    }
    hashes = [leaf_hash(d) for d in (d0, d1, d2)]
    assert hashes == [h0, h1, h2]
    for size, root in expected.items():
        assert mth(hashes[:size]).hex() == root
        assert root_from_leaf_hashes(hashes[:size]).hex() == root
        assert MemoryTree(hashes[:size]).root().hex() == root
        compact = CompactRange()
        for h in hashes[:size]:
            compact.append(h)
        assert compact.root().hex() == root
    # Literal values for the three-leaf tree, so a change to the primitives cannot go unnoticed.
    assert expected[2] == sha(b"\x01" + sha(b"\x00first entry") + sha(b"\x00second entry")).hex()


# Published Certificate Transparency reference vectors (RFC 6962 test tree): interoperability.
CT_LEAVES = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def test_certificate_transparency_reference_vectors():
    hashes = [leaf_hash(bytes.fromhex(x)) for x in CT_LEAVES]
    tree = MemoryTree(hashes)
    for size, root in enumerate(CT_ROOTS, 1):
        assert tree.root(size).hex() == root
    assert [p.hex() for p in tree.inclusion_proof(0, 8)] == [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]
    assert [p.hex() for p in tree.inclusion_proof(5, 8)] == [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ]
    assert [p.hex() for p in tree.consistency_proof(2, 8)] == [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ]


# --------------------------------------------------------------------------- roots and storage


@pytest.mark.parametrize("n", range(1, 65))
def test_roots_and_frontier_agree_with_reference(n):
    hashes = leaves(n)
    expected = mth(hashes)
    assert root_from_leaf_hashes(hashes) == expected
    nodes = perfect_nodes(hashes)
    assert root_from_nodes(n, lambda level, index: nodes[(level, index)]) == expected
    assert subtree_hash(0, n, lambda level, index: nodes[(level, index)]) == expected

    compact = CompactRange()
    created = {}
    for i, h in enumerate(hashes):
        new = compact.append(h)
        assert new[0] == (0, i, h)
        for level, index, value in new:
            assert (level, index) not in created
            created[(level, index)] = value
        assert compact.size == i + 1
        assert compact.root() == mth(hashes[: i + 1])
    # append() reported exactly the perfect nodes of the tree, with the right hashes.
    assert created == nodes
    assert len(compact.hashes) == n.bit_count()
    assert CompactRange.from_nodes(n, lambda level, index: nodes[(level, index)]) == compact
    assert CompactRange.node_ids(n) == subtree_nodes(0, n)

    tree = MemoryTree(hashes)
    assert tree.root() == expected
    assert all(tree.get_node(level, index) == value for (level, index), value in nodes.items())
    assert tree.leaf_hashes() == b"".join(hashes)


def test_subtree_hash_for_every_range_of_the_recursion():
    hashes = leaves(37)
    tree = MemoryTree(hashes)
    for start in range(37):
        for end in range(start + 1, 38):
            n = end - start
            aligned = start % (1 << (n.bit_length() - 1)) == 0
            if aligned:
                assert subtree_hash(start, end, tree.get_node) == mth(hashes[start:end])
            else:
                with pytest.raises(ValueError, match="not a subtree"):
                    subtree_nodes(start, end)


# --------------------------------------------------------------------------- proofs

MAX = 64
HASHES = leaves(MAX, b"proofs")
TREE = MemoryTree(HASHES)
ROOTS = [mth(HASHES[:n]) for n in range(MAX + 1)]


def test_every_inclusion_proof_matches_rfc_path_and_verifies():
    for n in range(1, MAX + 1):
        for i in range(n):
            proof = inclusion_proof(i, n, TREE.get_node)
            assert proof == ref_path(i, HASHES[:n]), (i, n)
            assert verify_inclusion(HASHES[i], i, n, proof, ROOTS[n])
            ids = inclusion_proof_nodes(i, n)
            assert len(ids) <= 2 * max(1, (n - 1).bit_length())
            fetched = {node: TREE.get_node(*node) for node in ids}
            assert inclusion_proof_from_nodes(i, n, fetched) == proof


def test_every_consistency_proof_matches_rfc_proof_and_verifies():
    for n in range(1, MAX + 1):
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, TREE.get_node)
            assert proof == ref_proof(m, HASHES[:n]), (m, n)
            assert verify_consistency(m, n, ROOTS[m], ROOTS[n], proof)
            ids = consistency_proof_nodes(m, n)
            assert len(ids) <= 2 * max(1, (n - 1).bit_length())
            fetched = {node: TREE.get_node(*node) for node in ids}
            assert consistency_proof_from_nodes(m, n, fetched) == proof


def flip(value: bytes, position: int = 0) -> bytes:
    return value[:position] + bytes([value[position] ^ 0x01]) + value[position + 1 :]


def test_tampered_inclusion_proofs_fail():
    for n in range(1, 40):
        for i in range(n):
            proof = inclusion_proof(i, n, TREE.get_node)
            root = ROOTS[n]
            for position in range(len(proof)):
                tampered = list(proof)
                tampered[position] = flip(tampered[position], position % 32)
                assert not verify_inclusion(HASHES[i], i, n, tampered, root)
            if proof:
                assert not verify_inclusion(HASHES[i], i, n, proof[:-1], root)
                assert not verify_inclusion(HASHES[i], i, n, proof[1:], root)
            assert not verify_inclusion(HASHES[i], i, n, [*proof, HASHES[0]], root)
            assert not verify_inclusion(flip(HASHES[i]), i, n, proof, root)
            assert not verify_inclusion(HASHES[i], i, n, proof, flip(root))
            for wrong in {i - 1, i + 1, i ^ 2, n}:
                if 0 <= wrong != i:
                    assert not verify_inclusion(HASHES[i], wrong, n, proof, root), (i, wrong, n)
            # (A wrong size with the right root may still verify when both trees have the same shape
            # along the path; that is harmless, since a signed checkpoint binds size and root.)


def test_tampered_consistency_proofs_fail():
    for n in range(2, 40):
        for m in range(1, n):
            proof = consistency_proof(m, n, TREE.get_node)
            for position in range(len(proof)):
                tampered = list(proof)
                tampered[position] = flip(tampered[position], 7)
                assert not verify_consistency(m, n, ROOTS[m], ROOTS[n], tampered)
            assert not verify_consistency(m, n, ROOTS[m], ROOTS[n], proof[:-1])
            assert not verify_consistency(m, n, ROOTS[m], ROOTS[n], [*proof, HASHES[0]])
            assert not verify_consistency(m, n, flip(ROOTS[m]), ROOTS[n], proof)
            assert not verify_consistency(m, n, ROOTS[m], flip(ROOTS[n]), proof)
            assert not verify_consistency(m, n, ROOTS[n], ROOTS[n], proof)
            if m > 1:
                assert not verify_consistency(m - 1, n, ROOTS[m], ROOTS[n], proof)


def test_consistency_edge_cases():
    assert verify_consistency(5, 5, ROOTS[5], ROOTS[5], [])
    assert not verify_consistency(5, 5, ROOTS[5], ROOTS[6], [])
    assert not verify_consistency(5, 5, ROOTS[5], ROOTS[5], [ROOTS[5]])
    assert verify_consistency(0, 9, EMPTY_ROOT, ROOTS[9], [])
    assert not verify_consistency(0, 9, ROOTS[1], ROOTS[9], [])
    assert not verify_consistency(0, 9, EMPTY_ROOT, ROOTS[9], [ROOTS[1]])
    assert not verify_consistency(6, 5, ROOTS[6], ROOTS[5], consistency_proof(5, 6, TREE.get_node))
    assert consistency_proof(0, 9, TREE.get_node) == []
    assert consistency_proof(9, 9, TREE.get_node) == []
    assert not verify_consistency(3, 9, ROOTS[3], ROOTS[9], [b"short"])


def test_out_of_range_arguments_raise():
    with pytest.raises(ValueError, match="outside a tree of size 4"):
        inclusion_proof(4, 4, TREE.get_node)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof_nodes(0, 0)
    with pytest.raises(ValueError, match="larger than new size"):
        consistency_proof(5, 4, TREE.get_node)
    with pytest.raises(ValueError, match="negative"):
        consistency_proof_nodes(-1, 4)
    with pytest.raises(ValueError, match="negative"):
        verify_inclusion(HASHES[0], -1, 4, [], ROOTS[4])
    with pytest.raises(ValueError, match="empty or reversed"):
        subtree_nodes(3, 3)
    with pytest.raises(ValueError, match="frontier hashes"):
        CompactRange(3, [HASHES[0]])
    with pytest.raises(ValueError, match="32 bytes"):
        CompactRange().append(b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        root_from_leaf_hashes([HASHES[0], b"short"])
    with pytest.raises(ValueError, match="beyond"):
        TREE.root(MAX + 1)
    with pytest.raises(ValueError, match="no perfect node"):
        TREE.get_node(0, MAX)
    with pytest.raises(ValueError, match="missing"):
        inclusion_proof_from_nodes(3, 9, {})
    with pytest.raises(ValueError, match="not be negative"):
        MemoryTree().root(-1)
    # A stored node of the wrong length is reported, not silently used.
    with pytest.raises(ValueError, match="stored node"):
        inclusion_proof(0, 2, lambda level, index: b"x")
    assert verify_inclusion(HASHES[0], 4, 4, [], ROOTS[4]) is False  # RFC: index >= size fails


def test_proofs_read_logarithmically_many_stored_nodes():
    calls = []

    def get_node(level, index):
        calls.append((level, index))
        return sha(b"%d,%d" % (level, index))

    for size in (2**40 + 12345, 10**12 + 7, 2**50 - 1):
        calls.clear()
        inclusion_proof(size // 3, size, get_node)
        assert len(calls) <= 2 * size.bit_length()
        calls.clear()
        consistency_proof(size // 3 + 1, size, get_node)
        assert len(calls) <= 2 * size.bit_length()
        calls.clear()
        root_from_nodes(size, get_node)
        assert len(calls) == size.bit_count()


# --------------------------------------------------------------------------- properties

leaf_lists = st.lists(st.binary(max_size=12), min_size=1, max_size=300)


@settings(max_examples=60, deadline=None)
@given(data=leaf_lists, choice=st.data())
def test_property_inclusion(data, choice):
    hashes = [leaf_hash(d) for d in data]
    n = len(hashes)
    tree = MemoryTree(hashes)
    size = choice.draw(st.integers(1, n))
    index = choice.draw(st.integers(0, size - 1))
    root = root_from_leaf_hashes(hashes[:size])
    assert root == mth(hashes[:size]) == tree.root(size)
    proof = tree.inclusion_proof(index, size)
    assert verify_inclusion(hashes[index], index, size, proof, root)
    if proof:
        position = choice.draw(st.integers(0, len(proof) - 1))
        bit = choice.draw(st.integers(0, 255))
        tampered = list(proof)
        tampered[position] = bytearray(tampered[position])
        tampered[position][bit // 8] ^= 1 << (bit % 8)
        assert not verify_inclusion(hashes[index], index, size, [bytes(t) for t in tampered], root)


@settings(max_examples=60, deadline=None)
@given(data=leaf_lists, choice=st.data())
def test_property_consistency(data, choice):
    hashes = [leaf_hash(d) for d in data]
    tree = MemoryTree(hashes)
    new = choice.draw(st.integers(1, len(hashes)))
    old = choice.draw(st.integers(1, new))
    proof = tree.consistency_proof(old, new)
    assert proof == ref_proof(old, hashes[:new])
    assert verify_consistency(old, new, tree.root(old), tree.root(new), proof)
    # A different history of the same size is not consistent with the new tree.
    other = [*hashes[: old - 1], leaf_hash(b"forged")]
    if old < new:
        assert not verify_consistency(old, new, mth(other), tree.root(new), proof)


@settings(max_examples=40, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6))
def test_property_compact_range_restart(sizes):
    """Appending in several sessions, reloading the frontier from storage each time, is seamless."""
    stored: dict[tuple[int, int], bytes] = {}
    hashes: list[bytes] = []
    for session, count in enumerate(sizes):
        compact = CompactRange.from_nodes(len(hashes), lambda level, index: stored[(level, index)])
        for i in range(count):
            h = leaf_hash(b"%d/%d" % (session, i))
            hashes.append(h)
            for level, index, value in compact.append(h):
                stored[(level, index)] = value
        assert compact.root() == mth(hashes)
    assert stored == perfect_nodes(hashes)


def test_module_is_pure():
    assert merkle.__name__ == "audit.merkle"
    import sys

    assert "django" not in {name.split(".")[0] for name in vars(merkle) if not name.startswith("_")}
    assert "hashlib" in sys.modules
