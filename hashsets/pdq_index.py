"""In-memory PDQ near-duplicate index with exact recall (pure numpy + faiss, no Django).

PDQ hashes are 256-bit codes, stored here as ``uint8`` arrays of shape ``(n, 32)`` in the byte order of
their 64-char hex form (byte 0 = the first two hex digits).  :class:`PDQIndex` answers *range* queries:
for each query code it returns every stored code whose Hamming distance is ``<= radius`` (inclusive).

Design (multi-index hashing, Norouzi et al., "Fast Exact Search in Hamming Space with Multi-Index
Hashing", with the generalised pigeonhole principle):

* The 256 bits are cut into ``m`` contiguous chunks of ``w`` (~16-24) bits.  Each chunk has a dense
  bucket table: ``order_c`` lists the row positions sorted by the chunk value and ``offsets_c[v]`` is
  where bucket ``v`` starts (a CSR layout, 4 bytes per row per chunk plus ``2**w`` offsets).
* For radius ``r`` each chunk ``c`` is probed with every key within ``t_c`` bit flips of the query's
  chunk value, where ``sum(t_c + 1) >= r + 1``.  If a stored code were missed, every chunk would differ
  in at least ``t_c + 1`` bits, so the total distance would be ``>= r + 1``: recall is exact by
  construction.  The ``t_c`` are allocated greedily by expected cost (probes + expected candidates).
* Candidates are verified with an exact popcount on the full 256 bits; duplicates (a code that
  collides in several chunks) are removed; results are sorted by (distance, id).
* When the expected candidate count makes MIH no better than a scan (large radius, tiny index) the
  search falls back to brute force with ``faiss.hamming_range_search`` (C++, popcount) over the same
  code array -- still exact.  FAISS range search is *strict* (``d < radius``) so it is called with
  ``radius + 1``.
* Ids are caller-supplied int64 (database primary keys).  Adding an id that is already present
  replaces its code (upsert).
* Updates: new codes go to *delta* parts searched by brute force; removals set tombstones in the
  main segment (delta rows are dropped at once).  Adding an id that is already present replaces its
  code (upsert; the check is skipped for ids above every id seen, e.g. streamed primary keys).  The
  main segment is rebuilt (delta merged, tombstones compacted) when a search finds the delta above
  ``max(50_000, n/32)`` rows or tombstones above ``max(50_000, n/4)``: synchronously when the delta is
  larger than the main segment (cold start: one build after all the adds), otherwise in a background
  thread while searches continue on the current state.
* Thread safety: every mutation holds ``self._lock``.  Searches take no lock: they read one
  immutable state tuple (replaced atomically on rebuild/add, copy-on-write) and the tombstone mask
  (flipped in place, element-wise atomic), so a search concurrent with an update sees the index
  either before or after each individual change.

The index is built from streamed batches (:meth:`PDQIndex.from_batches`) and is never pickled.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import faiss
import numpy as np

__all__ = ["CODE_BITS", "CODE_BYTES", "DEFAULT_RADIUS", "PDQIndex", "hamming", "pdq_from_hex", "pdq_to_hex"]

CODE_BITS = 256
CODE_BYTES = 32
DEFAULT_RADIUS = 31

# Rebuild policy.
_DELTA_MIN = 50_000  # the delta may always hold this many rows before a merge
_DELTA_FRACTION = 32  # ... or n / 32 rows, whichever is larger
_DEAD_FRACTION = 4  # compact when tombstones exceed n / 4 (and _DELTA_MIN)

# Cost model, calibrated with benchmarks/hashsets_pdq.py (--extra-radii) on a 2-core x86 box: one unit of
# the plan's cost (a probe or an expected candidate: random gathers + popcount in numpy) takes about
# _SCAN_RATIO times as long as faiss' brute force takes per stored row (~2.8 ns), and a multi-index
# search has a fixed overhead of about _MIH_OVERHEAD_ROWS rows of scanning (~0.1 ms of numpy calls).
_SCAN_RATIO = 14.0
_MIH_OVERHEAD_ROWS = 36_000
_MAX_PROBES = 200_000  # never enumerate more flip masks than this per query

_QUERY_BLOCK = 128  # queries processed together (bounds temporary memory)
_OMP_MIN_WORK = 1 << 24  # query x row pairs below which brute force runs single-threaded


# --------------------------------------------------------------------------------------------------
# helpers


def pdq_from_hex(s: str) -> bytes:
    """Decode a 64-hex-digit PDQ hash (Meta's ``Hash256::format`` text form) to 32 bytes."""
    if not isinstance(s, str):
        raise TypeError("PDQ hex must be str")
    s = s.strip()
    if len(s) != 2 * CODE_BYTES:
        raise ValueError(f"PDQ hex must have {2 * CODE_BYTES} hex digits, got {len(s)}")
    try:
        return bytes.fromhex(s)
    except ValueError:
        raise ValueError("PDQ hex contains non-hex characters") from None


def pdq_to_hex(code: bytes | bytearray | memoryview | np.ndarray) -> str:
    """Inverse of :func:`pdq_from_hex` (lower-case hex)."""
    b = _code_bytes(code)
    return b.hex()


def _code_bytes(code) -> bytes:
    if isinstance(code, str):
        return pdq_from_hex(code)
    if isinstance(code, np.ndarray):
        b = np.ascontiguousarray(code, dtype=np.uint8).tobytes()
    else:
        b = bytes(code)
    if len(b) != CODE_BYTES:
        raise ValueError(f"PDQ code must be {CODE_BYTES} bytes, got {len(b)}")
    return b


def hamming(a, b) -> int:
    """Hamming distance between two PDQ codes (32 bytes each; hex strings are accepted too)."""
    return (int.from_bytes(_code_bytes(a), "big") ^ int.from_bytes(_code_bytes(b), "big")).bit_count()


def _as_codes(codes) -> np.ndarray:
    arr = np.asarray(codes)
    if arr.ndim == 1 and arr.shape[0] == CODE_BYTES:
        arr = arr.reshape(1, CODE_BYTES)
    if arr.ndim != 2 or arr.shape[1] != CODE_BYTES:
        raise ValueError(f"codes must have shape (n, {CODE_BYTES}), got {arr.shape}")
    if arr.dtype != np.uint8:
        raise TypeError(f"codes must be uint8, got {arr.dtype}")
    return np.ascontiguousarray(arr)


def _as_ids(ids) -> np.ndarray:
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError("ids must be one-dimensional")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"ids must be integers, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _chunk_keys(codes: np.ndarray, start: int, width: int) -> np.ndarray:
    """Value of bits [start, start+width) (MSB-first over the byte string) for each row, as uint32."""
    be = codes.view(">u8")  # (n, 4) big-endian 64-bit words, no copy
    word, off = divmod(start, 64)
    hi = be[:, word].astype(np.uint64)
    if off + width <= 64:
        v = hi >> np.uint64(64 - off - width)
    else:
        lo = be[:, word + 1].astype(np.uint64)
        v = (hi << np.uint64(off + width - 64)) | (lo >> np.uint64(128 - off - width))
    v &= np.uint64((1 << width) - 1)
    return v.astype(np.uint32)


def _chunk_widths(n: int, chunk_bits: int | None) -> tuple[int, ...]:
    """Chunk layout: ~log2(n) bits per chunk (about one row per bucket), within [16, 24]."""
    if chunk_bits is None:
        chunk_bits = min(24, max(16, round(math.log2(max(n, 2)))))
    if not 8 <= chunk_bits <= 24:
        raise ValueError("chunk_bits must be within 8..24")
    m = max(1, round(CODE_BITS / chunk_bits))
    base, extra = divmod(CODE_BITS, m)
    return tuple(base + 1 if i < extra else base for i in range(m))


def _argsort_keys(keys: np.ndarray, width: int) -> np.ndarray:
    """Stable argsort of `width`-bit keys with one or two 16-bit radix passes (numpy's radix sort)."""
    if width <= 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    o = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
    hi = (keys >> 16).astype(np.uint16)[o]
    return o[np.argsort(hi, kind="stable")]


def _flip_masks(width: int, max_flips: int) -> np.ndarray:
    masks = [0]
    for k in range(1, max_flips + 1):
        for bits in itertools.combinations(range(width), k):
            mm = 0
            for b in bits:
                mm |= 1 << b
            masks.append(mm)
    return np.asarray(masks, dtype=np.uint32)


def _range_search_bruteforce(queries: np.ndarray, codes: np.ndarray, radius: int):
    """Exact ``d <= radius`` search with faiss' C++ popcount scan. Returns (lims, positions, dists)."""
    nq, nb = queries.shape[0], codes.shape[0]
    if nb == 0 or nq == 0:
        return np.zeros(nq + 1, dtype=np.int64), np.zeros(0, np.int64), np.zeros(0, np.int32)
    res = faiss.RangeSearchResult(nq)
    # faiss parallelises over queries only; for one query (or little work) its OpenMP team just spins,
    # which is very slow when the cores are busy.  omp_set_num_threads is per calling thread.
    serial = nq == 1 or nq * nb < _OMP_MIN_WORK
    prev = faiss.omp_get_max_threads()
    if serial:
        faiss.omp_set_num_threads(1)
    try:
        # faiss keeps d < radius (strict): ask for radius + 1 to get d <= radius.
        faiss.hamming_range_search(faiss.swig_ptr(queries), faiss.swig_ptr(codes), nq, nb, radius + 1, CODE_BYTES, res)
    finally:
        if serial:
            faiss.omp_set_num_threads(prev)
    lims = faiss.rev_swig_ptr(res.lims, nq + 1).astype(np.int64)
    nres = int(lims[-1])
    pos = faiss.rev_swig_ptr(res.labels, nres).astype(np.int64) if nres else np.zeros(0, np.int64)
    dist = faiss.rev_swig_ptr(res.distances, nres).astype(np.int32) if nres else np.zeros(0, np.int32)
    return lims, pos, dist


# --------------------------------------------------------------------------------------------------
# segments


@dataclass(eq=False)
class _Plan:
    mih: bool
    chunk: np.ndarray | None = None  # (P,) chunk index of each probe
    mask: np.ndarray | None = None  # (P,) xor mask applied to the query's chunk key
    base: np.ndarray | None = None  # (P,) start of the chunk's table in `offsets`
    flips: tuple[int, ...] = ()


class _Main:
    """Immutable multi-index over positions 0..n-1 (only `alive` changes, in place, under the lock)."""

    def __init__(self, ids: np.ndarray, codes: np.ndarray, chunk_bits: int | None):
        n = ids.shape[0]
        self.n = n
        self.ids = ids
        self.codes = codes
        self.codes64 = codes.view(np.uint64)
        self.alive = np.ones(n, dtype=bool)
        self.n_dead = 0
        sort = np.argsort(ids, kind="stable")
        self.id_sorted = ids[sort]
        self.id_pos = sort.astype(np.int32 if n < 2**31 else np.int64)
        self.widths = _chunk_widths(n, chunk_bits)
        self.starts = tuple(int(s) for s in np.cumsum((0, *self.widths[:-1])))
        m = len(self.widths)
        pos_dtype = np.int32 if n < 2**31 else np.int64
        off_dtype = np.uint32 if m * n < 2**32 else np.int64
        self.order = np.empty(m * n, dtype=pos_dtype)
        self.table_base = np.zeros(m, dtype=np.int64)
        sizes = [(1 << w) + 1 for w in self.widths]
        self.table_base[1:] = np.cumsum(sizes[:-1])
        self.offsets = np.empty(int(sum(sizes)), dtype=off_dtype)

        def build_chunk(c: int) -> None:
            s, w = self.starts[c], self.widths[c]
            keys = _chunk_keys(codes, s, w)
            self.order[c * n : (c + 1) * n] = _argsort_keys(keys, w)
            counts = np.bincount(keys, minlength=1 << w)
            b = int(self.table_base[c])
            self.offsets[b] = c * n
            self.offsets[b + 1 : b + sizes[c]] = np.cumsum(counts) + c * n

        # numpy sorts release the GIL: build the chunk tables on all cores.
        with ThreadPoolExecutor(max_workers=min(m, os.cpu_count() or 1)) as pool:
            list(pool.map(build_chunk, range(m)))
        self._plans: dict[int, _Plan] = {}
        self._plan_lock = threading.Lock()

    # -- ids
    def positions_of(self, ids: np.ndarray) -> np.ndarray:
        """Positions of the live rows holding `ids` (ids not present are skipped)."""
        if self.n == 0 or ids.size == 0:
            return np.zeros(0, dtype=np.int64)
        i = np.searchsorted(self.id_sorted, ids)
        i = np.minimum(i, self.n - 1)
        hit = self.id_sorted[i] == ids
        pos = self.id_pos[i[hit]].astype(np.int64)
        return pos[self.alive[pos]]

    def nbytes(self) -> int:
        arrays = (self.ids, self.codes, self.alive, self.id_sorted, self.id_pos, self.order, self.offsets)
        plans = sum(p.chunk.nbytes + p.mask.nbytes + p.base.nbytes for p in self._plans.values() if p.mih)
        return int(sum(a.nbytes for a in arrays) + plans)

    # -- planning
    def plan(self, radius: int) -> _Plan:
        p = self._plans.get(radius)
        if p is None:
            with self._plan_lock:
                p = self._plans.get(radius)
                if p is None:
                    p = self._make_plan(radius)
                    self._plans[radius] = p
        return p

    def _make_plan(self, radius: int) -> _Plan:
        n, widths = self.n, self.widths
        m = len(widths)
        # Allocate radius+1 "units" (t_c + 1 per chunk) greedily by marginal expected cost.
        flips = [-1] * m
        probes = [0] * m
        cost = 0.0
        for _ in range(radius + 1):
            best, best_cost = -1, math.inf
            for c, w in enumerate(widths):
                t = flips[c] + 1
                if t > w:
                    continue
                extra = math.comb(w, t)
                mc = extra * (1.0 + n / float(1 << w))
                if mc < best_cost:
                    best, best_cost = c, mc
            if best < 0:  # cannot reach the radius with flips alone (radius >= 256)
                return _Plan(mih=False)
            flips[best] += 1
            probes[best] += math.comb(widths[best], flips[best])
            cost += best_cost
        total_probes = sum(probes)
        # MIH cost ~ probes + expected candidates, each ~_SCAN_RATIO x the cost of scanning one row.
        if total_probes > _MAX_PROBES or cost * _SCAN_RATIO + _MIH_OVERHEAD_ROWS >= n:
            return _Plan(mih=False, flips=tuple(flips))
        chunk, mask, base = [], [], []
        for c, (w, t) in enumerate(zip(widths, flips, strict=True)):
            if t < 0:
                continue
            fm = _flip_masks(w, t).astype(np.int64)
            chunk.append(np.full(fm.shape[0], c, dtype=np.intp))
            mask.append(fm)
            base.append(np.full(fm.shape[0], self.table_base[c], dtype=np.int64))
        return _Plan(
            mih=True,
            chunk=np.concatenate(chunk),
            mask=np.concatenate(mask),
            base=np.concatenate(base),
            flips=tuple(flips),
        )

    # -- search
    def search(self, queries: np.ndarray, radius: int):
        """Returns (query_index, position, distance) arrays of live matches, deduplicated."""
        if self.n == 0:
            z = np.zeros(0, np.int64)
            return z, z, z.astype(np.int32)
        plan = self.plan(radius)
        if not plan.mih:
            lims, pos, dist = _range_search_bruteforce(queries, self.codes, radius)
            qi = np.repeat(np.arange(queries.shape[0], dtype=np.int64), np.diff(lims))
            keep = self.alive[pos]
            return qi[keep], pos[keep], dist[keep]
        q = queries.shape[0]
        tidx = self._query_keys(queries)[:, plan.chunk]
        tidx ^= plan.mask
        tidx += plan.base  # (q, P) positions in `offsets`
        starts = np.take(self.offsets, tidx).ravel().astype(np.int64)
        tidx += 1
        counts = np.take(self.offsets, tidx).ravel().astype(np.int64)
        counts -= starts
        csum = np.cumsum(counts)
        total = int(csum[-1])
        if total == 0:
            z = np.zeros(0, np.int64)
            return z, z, z.astype(np.int32)
        shift = starts
        shift -= csum
        shift += counts
        flat = np.repeat(shift, counts)
        flat += np.arange(total, dtype=np.int64)
        cand = np.take(self.order, flat)
        x = np.take(self.codes64, cand, axis=0)
        if q == 1:
            x ^= queries.view(np.uint64)[0]
            cand_q = None
        else:
            per_query = csum[tidx.shape[1] - 1 :: tidx.shape[1]]
            cand_q = np.repeat(np.arange(q, dtype=np.int64), np.diff(per_query, prepend=0))
            x ^= np.take(queries.view(np.uint64), cand_q, axis=0)
        pc = np.bitwise_count(x)
        dist = pc[:, 0].astype(np.int32)
        dist += pc[:, 1]
        dist += pc[:, 2]
        dist += pc[:, 3]
        keep = dist <= radius
        keep &= self.alive[cand]
        cand, dist = cand[keep].astype(np.int64), dist[keep]
        cand_q = np.zeros(cand.size, np.int64) if cand_q is None else cand_q[keep]
        if cand.size > 1:
            _, first = np.unique(cand_q * self.n + cand, return_index=True)
            cand, cand_q, dist = cand[first], cand_q[first], dist[first]
        return cand_q, cand, dist

    def _query_keys(self, queries: np.ndarray) -> np.ndarray:
        """(q, m) int64 chunk keys of the queries."""
        q = queries.shape[0]
        if q <= 4:  # plain integers are much cheaper than a dozen numpy calls for one query
            out = np.empty((q, len(self.widths)), dtype=np.int64)
            for i in range(q):
                v = int.from_bytes(queries[i].tobytes(), "big")
                out[i] = [
                    (v >> (CODE_BITS - s - w)) & ((1 << w) - 1) for s, w in zip(self.starts, self.widths, strict=True)
                ]
            return out
        return np.stack(
            [_chunk_keys(queries, s, w) for s, w in zip(self.starts, self.widths, strict=True)], axis=1
        ).astype(np.int64)


_EMPTY_IDS = np.zeros(0, dtype=np.int64)
_EMPTY_CODES = np.zeros((0, CODE_BYTES), dtype=np.uint8)


@dataclass(frozen=True, eq=False)
class _State:
    """One consistent, immutable view: the multi-indexed main segment and the delta parts."""

    main: _Main | None
    delta: tuple[tuple[np.ndarray, np.ndarray], ...] = ()  # (ids, codes) parts, brute-force searched

    @property
    def delta_rows(self) -> int:
        return sum(int(ids.size) for ids, _ in self.delta)


# --------------------------------------------------------------------------------------------------


class PDQIndex:
    """Exact Hamming range search over 256-bit PDQ codes, keyed by int64 ids. See the module docstring."""

    def __init__(self, *, chunk_bits: int | None = None):
        """`chunk_bits` overrides the automatic chunk width (~log2(n), within 16..24)."""
        self._chunk_bits = chunk_bits
        self._lock = threading.RLock()
        self._state = _State(None)
        self._max_id: int | None = None  # largest id ever added: ids above it cannot be upserts
        self._rebuilder: threading.Thread | None = None

    def __getstate__(self):
        raise TypeError("PDQIndex is not picklable: rebuild it with PDQIndex.from_batches()")

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def from_batches(cls, batches: Iterable, *, chunk_bits: int | None = None) -> PDQIndex:
        """Build from streamed batches, e.g. successive ``cursor.fetchmany()`` results.

        Each batch is either a pair of arrays ``(ids, codes)`` (int64 ``(k,)`` and uint8 ``(k, 32)``) or a
        sequence of ``(id, code)`` rows where ``code`` is 32 bytes (``bytes``/``memoryview`` as
        returned for a ``bytea`` column) or a 64-char hex string.  Later rows win for repeated ids.
        The multi-index is built once, at the end.
        """
        id_parts: list[np.ndarray] = []
        code_parts: list[np.ndarray] = []
        for batch in batches:
            ids, codes = _batch_arrays(batch)
            if ids.size:
                id_parts.append(ids)
                code_parts.append(codes)
        index = cls(chunk_bits=chunk_bits)
        if not id_parts:
            return index
        ids = np.concatenate(id_parts)
        codes = np.concatenate(code_parts)
        del id_parts, code_parts
        ids, codes = _dedupe_last(ids, codes)
        with index._lock:
            index._state = _State(_Main(ids, codes, chunk_bits))
            index._max_id = int(ids.max())
        return index

    # -- mutation ----------------------------------------------------------------------------------
    def add(self, ids, codes) -> None:
        """Add (or replace: upsert) codes under `ids`. Ids must be unique within one call.

        New codes are searchable at once (delta segment); the multi-index absorbs them later."""
        ids = _as_ids(ids)
        codes = _as_codes(codes) if ids.size else _EMPTY_CODES
        if ids.shape[0] != codes.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {codes.shape[0]} codes")
        if ids.size == 0:
            return
        if np.unique(ids).size != ids.size:
            raise ValueError("duplicate ids in one add() call")
        codes = codes.copy()  # the caller keeps its buffer
        with self._lock:
            if self._max_id is not None and int(ids.min()) <= self._max_id:
                self._remove_locked(ids)  # upsert (skipped for ever-growing ids, e.g. streamed pks)
            st = self._state
            self._state = _State(st.main, (*st.delta, (ids, codes)))
            top = int(ids.max())
            self._max_id = top if self._max_id is None else max(self._max_id, top)

    def remove(self, ids) -> int:
        """Remove `ids` (retractions). Unknown ids are ignored. Returns how many codes were removed."""
        ids = _as_ids(ids)
        if ids.size == 0:
            return 0
        with self._lock:
            return self._remove_locked(np.unique(ids))

    def rebuild(self) -> None:
        """Merge the delta and drop tombstones now, synchronously (otherwise done automatically)."""
        self.wait_for_rebuild()
        with self._lock:
            self._rebuild_locked()

    def wait_for_rebuild(self, timeout: float | None = None) -> None:
        """Wait for a background rebuild, if one is running."""
        t = self._rebuilder
        if t is not None:
            t.join(timeout)

    def _remove_locked(self, ids: np.ndarray) -> int:
        st = self._state
        removed = 0
        if st.main is not None:
            pos = st.main.positions_of(ids)
            if pos.size:
                st.main.alive[pos] = False
                st.main.n_dead += int(pos.size)
                removed += int(pos.size)
        if st.delta:
            parts = []
            for d_ids, d_codes in st.delta:
                gone = np.isin(d_ids, ids)
                if gone.any():
                    removed += int(gone.sum())
                    if not gone.all():
                        parts.append((d_ids[~gone], d_codes[~gone]))
                else:
                    parts.append((d_ids, d_codes))
            self._state = _State(st.main, tuple(parts))
        return removed

    def _needs_rebuild(self, st: _State) -> bool:
        n_main = st.main.n if st.main is not None else 0
        dead = st.main.n_dead if st.main is not None else 0
        return st.delta_rows > max(_DELTA_MIN, n_main // _DELTA_FRACTION) or dead > max(
            _DELTA_MIN, n_main // _DEAD_FRACTION
        )

    def _maybe_rebuild(self, st: _State) -> None:
        """Called by searches.  A cold index (delta larger than the main segment) is built right away;
        otherwise a background thread rebuilds while searches go on with the current state (mutations
        wait for the lock meanwhile)."""
        if not self._needs_rebuild(st):
            return
        n_main = st.main.n if st.main is not None else 0
        if st.delta_rows > n_main:
            with self._lock:
                if self._needs_rebuild(self._state):
                    self._rebuild_locked()
            return
        if self._rebuilder is not None and self._rebuilder.is_alive():
            return
        if not self._lock.acquire(blocking=False):  # a mutation is running: never block a search
            return
        try:
            if self._rebuilder is None or not self._rebuilder.is_alive():
                self._rebuilder = threading.Thread(
                    target=self._background_rebuild, name="pdq-index-rebuild", daemon=True
                )
                self._rebuilder.start()
        finally:
            self._lock.release()

    def _background_rebuild(self) -> None:
        with self._lock:
            if self._needs_rebuild(self._state):
                self._rebuild_locked()

    def _rebuild_locked(self) -> None:
        st = self._state
        id_parts = [ids for ids, _ in st.delta]
        code_parts = [codes for _, codes in st.delta]
        if st.main is not None:
            live = st.main.alive.copy()
            id_parts.insert(0, st.main.ids[live])
            code_parts.insert(0, st.main.codes[live])
        if not id_parts or sum(p.size for p in id_parts) == 0:
            self._state = _State(None)
            return
        ids = np.concatenate(id_parts)
        codes = np.ascontiguousarray(np.concatenate(code_parts))
        self._state = _State(_Main(ids, codes, self._chunk_bits))

    # -- queries -----------------------------------------------------------------------------------
    def search(self, codes, radius: int = DEFAULT_RADIUS) -> list[list[tuple[int, int]]]:
        """For each query code, every stored ``(id, distance)`` with ``distance <= radius``.

        `codes` is uint8 ``(q, 32)`` (a single ``(32,)`` code is accepted as one query).  Each result
        list is sorted by (distance, id).  Exact for any radius in 0..256.
        """
        radius = int(radius)
        if not 0 <= radius <= CODE_BITS:
            raise ValueError("radius must be within 0..256")
        queries = _as_codes(codes)
        self._maybe_rebuild(self._state)
        st = self._state  # one consistent snapshot for the whole call
        out: list[list[tuple[int, int]]] = [[] for _ in range(queries.shape[0])]
        for q0 in range(0, queries.shape[0], _QUERY_BLOCK):
            block = queries[q0 : q0 + _QUERY_BLOCK]
            parts_q, parts_id, parts_d = [], [], []
            if st.main is not None:
                qi, pos, dist = st.main.search(block, radius)
                parts_q.append(qi)
                parts_id.append(st.main.ids[pos])
                parts_d.append(dist)
            for d_ids, d_codes in st.delta:
                lims, pos, dist = _range_search_bruteforce(block, d_codes, radius)
                parts_q.append(np.repeat(np.arange(block.shape[0], dtype=np.int64), np.diff(lims)))
                parts_id.append(d_ids[pos])
                parts_d.append(dist)
            if not parts_q:
                continue
            qi = np.concatenate(parts_q)
            if qi.size == 0:
                continue
            rid = np.concatenate(parts_id)
            dist = np.concatenate(parts_d)
            o = np.lexsort((rid, dist, qi))
            for a, i, d in zip(qi[o].tolist(), rid[o].tolist(), dist[o].tolist(), strict=True):
                out[q0 + a].append((i, d))
        return out

    def __len__(self) -> int:
        st = self._state
        n = st.delta_rows
        if st.main is not None:
            n += st.main.n - st.main.n_dead
        return int(n)

    def __contains__(self, id_: int) -> bool:
        st = self._state
        ids = np.asarray([id_], dtype=np.int64)
        if st.main is not None and st.main.positions_of(ids).size:
            return True
        return any(bool(np.isin(ids, d_ids).any()) for d_ids, _ in st.delta)

    def memory_bytes(self) -> int:
        """Bytes held by the index arrays (codes, ids, bucket tables, delta, tombstones)."""
        st = self._state
        n = sum(ids.nbytes + codes.nbytes for ids, codes in st.delta)
        if st.main is not None:
            n += st.main.nbytes()
        return int(n)

    def describe(self) -> dict:
        """Layout and counters, for logs and benchmarks."""
        st = self._state
        m = st.main
        return {
            "live": len(self),
            "main_rows": m.n if m else 0,
            "tombstones": m.n_dead if m else 0,
            "delta_rows": st.delta_rows,
            "chunk_widths": list(m.widths) if m else [],
            "flips_r31": list(m.plan(DEFAULT_RADIUS).flips) if m else [],
            "memory_bytes": self.memory_bytes(),
        }


def _batch_arrays(batch) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(batch, tuple) and len(batch) == 2 and isinstance(batch[0], np.ndarray):
        ids = _as_ids(batch[0])
        codes = _as_codes(batch[1]) if ids.size else _EMPTY_CODES
        if ids.shape[0] != codes.shape[0]:
            raise ValueError(f"{ids.shape[0]} ids for {codes.shape[0]} codes")
        return ids, codes
    rows: Sequence = list(batch)
    ids = np.empty(len(rows), dtype=np.int64)
    buf = bytearray(len(rows) * CODE_BYTES)
    for i, (id_, code) in enumerate(rows):
        ids[i] = int(id_)
        buf[i * CODE_BYTES : (i + 1) * CODE_BYTES] = _code_bytes(code)
    return ids, np.frombuffer(bytes(buf), dtype=np.uint8).reshape(-1, CODE_BYTES).copy()


def _dedupe_last(ids: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep the last occurrence of each id."""
    rev = ids[::-1]
    _, first_in_rev = np.unique(rev, return_index=True)
    if first_in_rev.size == ids.size:
        return ids, np.ascontiguousarray(codes)
    keep = np.sort(ids.size - 1 - first_in_rev)
    return ids[keep], np.ascontiguousarray(codes[keep])
