"""RFC 9162 (Certificate Transparency 2.0) Merkle tree, section 2.1.

Pure module: standard library only, no Django. Used by the application to maintain the audit
tree and by the offline verifier (``audit.verify``).

Vocabulary
----------
* Leaves are hashed with :func:`leaf_hash` (``SHA-256(0x00 || data)``), interior nodes with
  :func:`node_hash` (``SHA-256(0x01 || left || right)``); the empty tree's root is
  :data:`EMPTY_ROOT` (``SHA-256("")``). Every function below that takes "hashes" takes *leaf
  hashes*, never raw leaf data.
* A *perfect node* ``(level, index)`` is the root of the perfect subtree covering leaves
  ``[index * 2**level, (index + 1) * 2**level)``; level 0 holds the leaf hashes themselves.
  Perfect nodes never change once the tree has grown past them, so they are what gets stored.
  Every other hash the RFC needs (the root of a tree whose size is not a power of two, the
  right-hand siblings on a proof's path) is recomputed from O(log n) stored perfect nodes.
* ``get_node(level, index) -> bytes`` is how callers hand stored nodes to this module (a dict
  lookup, a database query...). The ``*_nodes`` functions return the coordinates a computation
  needs, so a caller can fetch them all in one query and pass a mapping to the matching
  ``*_from_nodes`` function.

Argument errors (negative sizes, an index outside the tree, an old size larger than the new one
when building a proof) raise :class:`ValueError`. The two ``verify_*`` functions follow the RFC:
a proof that does not check out, whatever the reason, makes them return ``False``; only
arguments that can never describe a tree (negative numbers) raise.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "MemoryTree",
    "consistency_proof",
    "consistency_proof_from_nodes",
    "consistency_proof_nodes",
    "inclusion_proof",
    "inclusion_proof_from_nodes",
    "inclusion_proof_nodes",
    "leaf_hash",
    "mth",
    "node_hash",
    "root_from_leaf_hashes",
    "root_from_nodes",
    "subtree_hash",
    "subtree_nodes",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
_sha256 = hashlib.sha256
EMPTY_ROOT: bytes = _sha256(b"").digest()
_NODE_PREFIX = _sha256(b"\x01")

NodeId = tuple[int, int]
GetNode = Callable[[int, int], bytes]


# --------------------------------------------------------------------------- hashing


def leaf_hash(data: bytes) -> bytes:
    """``SHA-256(0x00 || data)``: the hash of one leaf."""
    return _sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (``n >= 2``): RFC 9162's ``k``."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise ValueError(f"{what} must be bytes, not {type(value).__name__}")
    value = bytes(value)
    if len(value) != HASH_SIZE:
        raise ValueError(f"{what} must be {HASH_SIZE} bytes long, got {len(value)}")
    return value


def _check_size(value: int, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer, not {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must not be negative (got {value})")


def mth(hashes: Sequence[bytes]) -> bytes:
    """Reference Merkle Tree Hash, written straight from the recursive definition of RFC 9162.

    ``hashes`` are the leaf hashes ``MTH({d(i)})`` of the leaves. Recursion depth is
    ``log2(len(hashes))``, but every call slices: O(n log n). Meant for tests and small trees;
    use :func:`root_from_leaf_hashes` for large ones.
    """
    n = len(hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return hashes[0]
    k = _split(n)
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def root_from_leaf_hashes(hashes: Iterable[bytes]) -> bytes:
    """The root hash of the tree whose leaf hashes are ``hashes``, computed level by level.

    Pairing neighbours level by level and carrying an unpaired last node up unchanged yields
    exactly RFC 9162's tree (its left subtrees are always perfect). One hash per interior node,
    no recursion: suitable for millions of leaves.
    """
    level = list(hashes)
    if not level:
        return EMPTY_ROOT
    if any(length != HASH_SIZE for length in set(map(len, level))):
        raise ValueError(f"every leaf hash must be {HASH_SIZE} bytes long")
    sha256 = _sha256
    while len(level) > 1:
        pairs = iter(level)
        upper = [sha256(b"\x01" + left + right).digest() for left, right in zip(pairs, pairs, strict=False)]
        if len(level) & 1:
            upper.append(level[-1])
        level = upper
    return bytes(level[0])


# --------------------------------------------------------------------------- stored perfect nodes


def subtree_nodes(start: int, end: int) -> list[NodeId]:
    """Coordinates of the perfect nodes whose fold is ``MTH(D[start:end])``, left to right.

    The range must be one that occurs in RFC 9162's recursion, i.e. ``start`` is a multiple of
    the largest power of two not larger than ``end - start`` (all prefixes ``[0, n)`` qualify,
    as does every range a proof refers to). Such a range is a run of perfect subtrees, one per
    set bit of its length, largest first.
    """
    _check_size(start, "start")
    _check_size(end, "end")
    n = end - start
    if n <= 0:
        raise ValueError(f"empty or reversed range [{start}, {end})")
    top = n.bit_length() - 1
    if start & ((1 << top) - 1):
        raise ValueError(
            f"range [{start}, {end}) is not a subtree of RFC 9162's recursion: its start must be "
            f"a multiple of {1 << top}"
        )
    nodes = []
    position = start
    for level in range(top, -1, -1):
        if n >> level & 1:
            nodes.append((level, position >> level))
            position += 1 << level
    return nodes


def _fold(hashes: Sequence[bytes]) -> bytes:
    """Combine perfect subtree hashes (left to right, decreasing sizes) into their MTH."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _fetch(get_node: GetNode, level: int, index: int) -> bytes:
    return _check_hash(get_node(level, index), f"stored node ({level}, {index})")


def _lookup(nodes: Mapping[NodeId, bytes], node: NodeId) -> bytes:
    try:
        value = nodes[node]
    except KeyError:
        raise ValueError(f"node {node} is missing from the fetched nodes") from None
    return _check_hash(value, f"stored node {node}")


def subtree_hash(start: int, end: int, get_node: GetNode) -> bytes:
    """``MTH(D[start:end])`` from stored perfect nodes (see :func:`subtree_nodes` for valid ranges).

    ``subtree_hash(0, n, get_node)`` is the root of the tree of size ``n``; an empty range
    ``[0, 0)`` gives :data:`EMPTY_ROOT`.
    """
    if start == end == 0:
        return EMPTY_ROOT
    return _fold([_fetch(get_node, level, index) for level, index in subtree_nodes(start, end)])


def root_from_nodes(size: int, get_node: GetNode) -> bytes:
    """The root hash of the tree of ``size`` leaves, from at most log2(size)+1 stored nodes."""
    _check_size(size, "size")
    return subtree_hash(0, size, get_node)


# --------------------------------------------------------------------------- proofs


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PATH(index, D[size]), bottom-up (RFC 9162 2.1.3.1)."""
    _check_size(index, "index")
    _check_size(size, "size")
    if index >= size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    siblings = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:  # PATH(m, D[0:k]) : MTH(D[k:n])
            siblings.append((start + k, end))
            end = start + k
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            siblings.append((start, start + k))
            start += k
    siblings.reverse()
    return siblings


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose MTHs form PROOF(old_size, D[new_size]) (RFC 9162 2.1.4.1)."""
    _check_size(old_size, "old_size")
    _check_size(new_size, "new_size")
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []
    ranges = []
    start, end, m, complete = 0, new_size, old_size, True
    while True:  # SUBPROOF(m, D[start:end], complete)
        n = end - start
        if m == n:
            if not complete:
                ranges.append((start, end))
            break
        k = _split(n)
        if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((start + k, end))
            end = start + k
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((start, start + k))
            start += k
            m -= k
            complete = False
    ranges.reverse()
    return ranges


def _nodes_for(ranges: list[tuple[int, int]]) -> list[NodeId]:
    seen: dict[NodeId, None] = {}
    for start, end in ranges:
        for node in subtree_nodes(start, end):
            seen[node] = None
    return list(seen)


def _assemble(ranges: list[tuple[int, int]], nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    return [_fold([_lookup(nodes, node) for node in subtree_nodes(s, e)]) for s, e in ranges]


def inclusion_proof_nodes(index: int, size: int) -> list[NodeId]:
    """The stored nodes (at most 2*log2(size)) that :func:`inclusion_proof` reads."""
    return _nodes_for(_inclusion_ranges(index, size))


def inclusion_proof_from_nodes(index: int, size: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Assemble the inclusion proof from a mapping holding the :func:`inclusion_proof_nodes`."""
    return _assemble(_inclusion_ranges(index, size), nodes)


def inclusion_proof(index: int, size: int, get_node: GetNode) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 2.1.3.1: the audit path of leaf ``index``, leaf upward."""
    ranges = _inclusion_ranges(index, size)
    fetched = {node: _fetch(get_node, *node) for node in _nodes_for(ranges)}
    return _assemble(ranges, fetched)


def consistency_proof_nodes(old_size: int, new_size: int) -> list[NodeId]:
    """The stored nodes (at most 2*log2(new_size)) that :func:`consistency_proof` reads."""
    return _nodes_for(_consistency_ranges(old_size, new_size))


def consistency_proof_from_nodes(old_size: int, new_size: int, nodes: Mapping[NodeId, bytes]) -> list[bytes]:
    """Assemble the consistency proof from a mapping holding the :func:`consistency_proof_nodes`."""
    return _assemble(_consistency_ranges(old_size, new_size), nodes)


def consistency_proof(old_size: int, new_size: int, get_node: GetNode) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 2.1.4.1.

    Empty when ``old_size`` is 0 or equals ``new_size`` (the RFC defines proofs for
    ``0 < old_size < new_size``; those two cases need no proof).
    """
    ranges = _consistency_ranges(old_size, new_size)
    fetched = {node: _fetch(get_node, *node) for node in _nodes_for(ranges)}
    return _assemble(ranges, fetched)


def _all_hashes(values: Iterable[object]) -> list[bytes] | None:
    out = []
    for value in values:
        if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) != HASH_SIZE:
            return None
        out.append(bytes(value))
    return out


def verify_inclusion(leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2: does ``proof`` show that ``leaf_hash`` is leaf ``index`` of ``root``?"""
    _check_size(index, "index")
    _check_size(size, "size")
    checked = _all_hashes([leaf_hash, root, *proof])
    if checked is None or index >= size:
        return False
    leaf, root, path = checked[0], checked[1], checked[2:]
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """RFC 9162 2.1.4.2: does ``proof`` show the tree ``new_root`` extends the tree ``old_root``?

    Beyond the RFC's ``0 < old_size < new_size``: equal sizes need an empty proof and equal
    roots; an old size of 0 needs an empty proof and ``old_root == EMPTY_ROOT``.
    """
    _check_size(old_size, "old_size")
    _check_size(new_size, "new_size")
    checked = _all_hashes([old_root, new_root, *proof])
    if checked is None or old_size > new_size:
        return False
    old_root, new_root, path = checked[0], checked[1], checked[2:]
    if old_size == new_size:
        return not path and old_root == new_root
    if old_size == 0:
        return not path and old_root == EMPTY_ROOT
    if not path:
        return False
    if old_size & (old_size - 1) == 0:  # an exact power of two: the old root is a proof node
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --------------------------------------------------------------------------- growing a tree


class CompactRange:
    """The frontier of a tree: the roots of the perfect subtrees that make up its ``size`` leaves.

    There is one hash per set bit of ``size``, largest subtree (leftmost) first. This is all the
    state needed to append leaves and to compute the root; the application keeps one in memory
    (rebuilt with :meth:`from_nodes` at start-up) and stores the nodes :meth:`append` returns.
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Iterable[bytes] = ()) -> None:
        _check_size(size, "size")
        checked = [_check_hash(h, "frontier hash") for h in hashes]
        if len(checked) != size.bit_count():
            raise ValueError(f"a tree of size {size} has {size.bit_count()} frontier hashes, got {len(checked)}")
        self._size = size
        self._hashes = checked

    @classmethod
    def from_nodes(cls, size: int, get_node: GetNode) -> CompactRange:
        """Load the frontier of an existing tree of ``size`` leaves from stored perfect nodes."""
        _check_size(size, "size")
        if size == 0:
            return cls()
        return cls(size, [_fetch(get_node, level, index) for level, index in subtree_nodes(0, size)])

    @staticmethod
    def node_ids(size: int) -> list[NodeId]:
        """Coordinates of the frontier nodes of a tree of ``size`` leaves (to fetch in one query)."""
        _check_size(size, "size")
        return subtree_nodes(0, size) if size else []

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes) -> list[tuple[int, int, bytes]]:
        """Append one leaf hash; return every perfect node it completes as (level, index, hash).

        The first element is always the leaf itself, ``(0, old_size, leaf_hash)``, followed by the
        parents it completed, lowest first. Store all of them.
        """
        h = _check_hash(leaf_hash, "leaf hash")
        index = self._size
        created = [(0, index, h)]
        level = 0
        hashes = self._hashes
        while index & 1:
            h = node_hash(hashes.pop(), h)
            index >>= 1
            level += 1
            created.append((level, index, h))
        hashes.append(h)
        self._size += 1
        return created

    def root(self) -> bytes:
        """The current root hash (:data:`EMPTY_ROOT` for an empty tree)."""
        return _fold(self._hashes) if self._hashes else EMPTY_ROOT

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CompactRange):
            return NotImplemented
        return self._size == other._size and self._hashes == other._hashes

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


class MemoryTree:
    """Every perfect node of a tree, in memory: one ``bytearray`` per level, 32 bytes per node.

    Twice the size of the leaf hashes in total. Serves as ``get_node`` for the functions above;
    the offline verifier uses it to recompute roots and proofs for any earlier tree size.
    """

    __slots__ = ("_levels", "_size")

    def __init__(self, leaf_hashes: Iterable[bytes] = ()) -> None:
        self._levels: list[bytearray] = [bytearray()]
        self._size = 0
        self.extend(leaf_hashes)

    @property
    def size(self) -> int:
        return self._size

    def append(self, leaf_hash: bytes) -> None:
        self.extend([leaf_hash])

    def extend(self, leaf_hashes: Iterable[bytes]) -> None:
        """Append leaf hashes (each exactly 32 bytes) in order, then complete the levels above."""
        hashes = leaf_hashes if isinstance(leaf_hashes, list) else list(leaf_hashes)
        if not hashes:
            return
        if any(length != HASH_SIZE for length in set(map(len, hashes))):
            raise ValueError(f"every leaf hash must be {HASH_SIZE} bytes long")
        levels = self._levels
        levels[0] += b"".join(hashes)
        self._size += len(hashes)
        new_node = _NODE_PREFIX.copy  # copying a primed context is cheaper than a new one
        pair = 2 * HASH_SIZE
        level = 0
        # Level by level, hash every pair of nodes that has no parent yet.
        while len(levels[level]) >= pair:
            if level + 1 == len(levels):
                levels.append(bytearray())
            lower, upper = levels[level], levels[level + 1]
            start, stop = len(upper) * 2, len(lower) // pair * pair
            if start < stop:
                parents = []
                append = parents.append
                with memoryview(lower) as view:
                    for i in range(start, stop, pair):
                        h = new_node()
                        h.update(view[i : i + pair])
                        append(h.digest())
                upper += b"".join(parents)
            level += 1

    def get_node(self, level: int, index: int) -> bytes:
        """The stored perfect node ``(level, index)``; ``ValueError`` if it does not exist yet."""
        if level < 0 or index < 0 or level >= len(self._levels):
            raise ValueError(f"no perfect node ({level}, {index}) in a tree of size {self._size}")
        start = index * HASH_SIZE
        node = bytes(self._levels[level][start : start + HASH_SIZE])
        if len(node) != HASH_SIZE:
            raise ValueError(f"no perfect node ({level}, {index}) in a tree of size {self._size}")
        return node

    def leaf_hashes(self) -> bytes:
        """All leaf hashes concatenated (32 bytes each), a copy."""
        return bytes(self._levels[0])

    def root(self, size: int | None = None) -> bytes:
        """The root of the tree's first ``size`` leaves (default: all of them)."""
        if size is None:
            size = self._size
        _check_size(size, "size")
        if size > self._size:
            raise ValueError(f"size {size} is beyond the {self._size} leaves held")
        return subtree_hash(0, size, self.get_node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = self._size if size is None else size
        if size > self._size:
            raise ValueError(f"size {size} is beyond the {self._size} leaves held")
        return inclusion_proof(index, size, self.get_node)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        new_size = self._size if new_size is None else new_size
        if new_size > self._size:
            raise ValueError(f"size {new_size} is beyond the {self._size} leaves held")
        return consistency_proof(old_size, new_size, self.get_node)
