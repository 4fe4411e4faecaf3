"""PDQIndex: exact range search (recall and precision) against numpy and FAISS brute force."""

from __future__ import annotations

import pickle
import threading

import faiss
import numpy as np
import pytest

from hashsets.pdq_index import PDQIndex, hamming, pdq_from_hex, pdq_to_hex


def random_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 32), dtype=np.uint8)


def flip_bits(rng: np.random.Generator, code: np.ndarray, d: int) -> np.ndarray:
    bits = np.unpackbits(code)
    bits[rng.choice(256, size=d, replace=False)] ^= 1
    return np.packbits(bits)


def brute_force(base: np.ndarray, ids: np.ndarray, queries: np.ndarray, radius: int) -> list[list[tuple[int, int]]]:
    """Ground truth with numpy popcounts."""
    b64 = base.view(np.uint64)
    out = []
    for q in queries.view(np.uint64):
        d = np.bitwise_count(b64 ^ q).sum(axis=1, dtype=np.int64)
        hit = np.flatnonzero(d <= radius)
        out.append(sorted((int(d[i]), int(ids[i])) for i in hit))
    return [[(i, d) for d, i in row] for row in out]


def flat_range_search(flat, queries, radius):
    """FAISS brute force (single-threaded: its OpenMP team only spins on a busy machine)."""
    prev = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return flat.range_search(queries, radius + 1)  # FAISS keeps d < radius: +1 for d <= radius
    finally:
        faiss.omp_set_num_threads(prev)


@pytest.fixture(params=["multi-index", "auto"])
def mode(request, monkeypatch):
    """ "multi-index" forces the MIH path even for these small test sets (the cost model would
    otherwise brute-force them); "auto" keeps the cost model's choice."""
    import hashsets.pdq_index as mod

    if request.param == "multi-index":
        monkeypatch.setattr(mod, "_SCAN_RATIO", 0.0)
        monkeypatch.setattr(mod, "_MIH_OVERHEAD_ROWS", 0)
        monkeypatch.setattr(mod, "_MAX_PROBES", 10**7)
    return request.param


def assert_mode(index: PDQIndex, mode: str, radius: int) -> None:
    if mode == "multi-index":
        assert index._state.main.plan(radius).mih


@pytest.fixture(scope="module")
def planted():
    """2,000 random codes plus, for each distance 0..64, near-duplicates at exactly that distance."""
    rng = np.random.default_rng(1234)
    n_random = 2000
    base = random_codes(rng, n_random)
    anchors = base[:40]
    planted_codes, planted_dist, planted_anchor = [], [], []
    for d in range(65):
        for a in range(len(anchors)):
            planted_codes.append(flip_bits(rng, anchors[a], d))
            planted_dist.append(d)
            planted_anchor.append(a)
    codes = np.concatenate([base, np.stack(planted_codes)])
    ids = np.arange(10_000, 10_000 + codes.shape[0], dtype=np.int64)
    return {
        "codes": codes,
        "ids": ids,
        "anchors": anchors,
        "planted_ids": ids[n_random:],
        "planted_dist": np.asarray(planted_dist),
        "planted_anchor": np.asarray(planted_anchor),
    }


def planted_index(planted) -> PDQIndex:
    codes, ids = planted["codes"], planted["ids"]
    return PDQIndex.from_batches([(ids[:1000], codes[:1000]), (ids[1000:], codes[1000:])])


def test_hex_helpers_and_hamming():
    h = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"
    b = pdq_from_hex(h)
    assert len(b) == 32 and pdq_to_hex(b) == h
    assert pdq_from_hex(h.upper()) == b
    assert hamming(b, b) == 0
    other = bytes(x ^ 0xFF for x in b)
    assert hamming(b, other) == 256
    assert hamming(h, pdq_to_hex(other)) == 256
    assert hamming(b, b[:-1] + bytes([b[-1] ^ 0b101])) == 2
    with pytest.raises(ValueError):
        pdq_from_hex("abc")
    with pytest.raises(ValueError):
        pdq_from_hex("z" * 64)


@pytest.mark.parametrize("radius", [31, 0, 10, 32, 48, 64])
def test_planted_near_duplicates_exact(planted, radius, mode):
    index, anchors = planted_index(planted), planted["anchors"]
    results = index.search(anchors, radius=radius)
    assert_mode(index, mode, radius)
    truth = brute_force(planted["codes"], planted["ids"], anchors, radius)
    assert results == truth  # same pairs, same distances, same (distance, id) order
    pid, pdist, panchor = planted["planted_ids"], planted["planted_dist"], planted["planted_anchor"]
    for a, row in enumerate(results):
        found = dict(row)
        mine = panchor == a
        for i, d in zip(pid[mine], pdist[mine]):
            if d <= radius:
                assert found.get(int(i)) == d, (a, int(i), int(d))  # found, at exactly distance d
            else:
                assert int(i) not in found  # beyond the radius: never returned
        # anything else returned is genuinely close (verified by numpy distances)
        for i, d in row:
            code = planted["codes"][int(i) - 10_000]
            assert d == hamming(code, anchors[a]) <= radius


def test_radius_is_inclusive(planted, mode):
    index, anchors = planted_index(planted), planted["anchors"]
    pid, pdist, panchor = planted["planted_ids"], planted["planted_dist"], planted["planted_anchor"]
    for d in (31, 32, 64):
        target = int(pid[(panchor == 0) & (pdist == d)][0])
        assert (target, d) in index.search(anchors[:1], radius=d)[0]
        assert target not in dict(index.search(anchors[:1], radius=d - 1)[0])


def test_matches_faiss_flat_ground_truth(mode):
    rng = np.random.default_rng(7)
    n = 4000
    codes = random_codes(rng, n)
    # a few clusters of near-duplicates so results are not empty
    for c in range(20):
        for k in range(1, 30):
            codes[c * 100 + k] = flip_bits(rng, codes[c * 100], int(rng.integers(0, 60)))
    ids = rng.choice(10**12, size=n, replace=False).astype(np.int64)
    index = PDQIndex.from_batches([(ids[:3000], codes[:3000])])  # multi-index main segment
    index.add(ids[3000:], codes[3000:])  # + brute-force delta
    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)
    queries = np.concatenate([codes[rng.integers(0, n, 150)], random_codes(rng, 20)])
    for radius in (31, 10, 48, 64, 90):
        lims, dist, lab = flat_range_search(flat, queries, radius)
        got = index.search(queries, radius=radius)
        assert_mode(index, mode, radius)
        for q in range(len(queries)):
            truth = {(int(ids[lab[j]]), int(dist[j])) for j in range(lims[q], lims[q + 1])}
            assert set(got[q]) == truth, (radius, q)


@pytest.mark.parametrize("chunk_bits", [8, 16, 21])  # 23-24-bit chunks: see the 10M benchmark
def test_exact_for_any_chunk_layout(chunk_bits, mode):
    rng = np.random.default_rng(chunk_bits)
    codes = random_codes(rng, 1500)
    for k in range(1, 200):
        codes[k] = flip_bits(rng, codes[0], k % 70)
    ids = np.arange(codes.shape[0], dtype=np.int64)
    index = PDQIndex.from_batches([(ids, codes)], chunk_bits=chunk_bits)
    queries = codes[:30]
    for radius in (0, 5, 31, 33, 64):
        assert index.search(queries, radius=radius) == brute_force(codes, ids, queries, radius)
        assert_mode(index, mode, radius)


def test_single_query_shapes_and_empty_index():
    index = PDQIndex()
    q = np.zeros(32, dtype=np.uint8)
    assert index.search(q) == [[]]
    assert index.search(np.zeros((0, 32), np.uint8)) == []
    assert len(index) == 0
    index.add(np.array([5]), q.reshape(1, 32))
    assert index.search(q) == [[(5, 0)]]
    with pytest.raises(ValueError):
        index.search(np.zeros((1, 31), np.uint8))
    with pytest.raises(TypeError):
        index.search(np.zeros((1, 32), np.int32))
    with pytest.raises(ValueError):
        index.search(q, radius=-1)


def test_add_remove_and_upsert(mode):
    rng = np.random.default_rng(3)
    codes = random_codes(rng, 3000)
    ids = np.arange(1, 3001, dtype=np.int64)
    index = PDQIndex.from_batches([(ids, codes)])
    assert len(index) == 3000
    before = index.memory_bytes()
    assert before > codes.nbytes
    # retractions
    gone = ids[::3]
    assert index.remove(gone) == gone.size
    assert index.remove(gone) == 0  # idempotent
    assert index.remove(np.array([999_999])) == 0
    assert len(index) == 3000 - gone.size
    hits = index.search(codes, radius=0)
    for i, row in enumerate(hits):
        if ids[i] in set(gone.tolist()):
            assert all(r[0] != ids[i] for r in row)
        else:
            assert (int(ids[i]), 0) in row
    # incremental add lands in the delta and is searchable at once
    new_codes = random_codes(rng, 50)
    new_ids = np.arange(50_000, 50_050, dtype=np.int64)
    index.add(new_ids, new_codes)
    assert len(index) == 3000 - gone.size + 50
    assert index.search(new_codes[:3], radius=0) == [[(int(i), 0)] for i in new_ids[:3]]
    assert 50_000 in index and int(gone[0]) not in index
    # remove from the delta
    assert index.remove(new_ids[:10]) == 10
    assert index.search(new_codes[:1], radius=0) == [[]]
    # upsert: re-adding an existing id replaces its code
    replacement = flip_bits(rng, codes[1], 40)
    index.add(np.array([ids[1]]), replacement.reshape(1, 32))
    assert index.search(codes[1:2], radius=0)[0] == []
    assert index.search(replacement.reshape(1, 32), radius=0)[0] == [(int(ids[1]), 0)]
    # re-adding a removed id brings it back
    index.add(gone[:1], codes[:1])
    assert (int(gone[0]), 0) in index.search(codes[:1], radius=0)[0]
    # a forced rebuild changes nothing observable
    live = len(index)
    probe = np.concatenate([codes[:200], new_codes])
    expected = index.search(probe, radius=40)
    index.rebuild()
    assert len(index) == live
    assert index.describe()["delta_rows"] == 0 and index.describe()["tombstones"] == 0
    assert index.search(probe, radius=40) == expected
    with pytest.raises(ValueError):
        index.add(np.array([1, 1]), codes[:2])
    with pytest.raises(ValueError):
        index.add(np.array([1, 2]), codes[:3])


def test_automatic_rebuild_after_many_updates(monkeypatch, mode):
    import hashsets.pdq_index as mod

    monkeypatch.setattr(mod, "_DELTA_MIN", 100)
    rng = np.random.default_rng(11)
    codes = random_codes(rng, 1000)
    ids = np.arange(1000, dtype=np.int64)
    index = PDQIndex()
    for start in range(0, 1000, 50):  # as a service catching up with the database would
        index.add(ids[start : start + 50], codes[start : start + 50])
    assert index.describe()["delta_rows"] == 1000 and index.describe()["main_rows"] == 0
    assert index.search(codes[:5], radius=0) == [[(i, 0)] for i in range(5)]  # cold: built once, now
    info = index.describe()
    assert info["main_rows"] == 1000 and info["delta_rows"] == 0
    index.add(ids[:0] + 5000, codes[:0])  # no-op
    index.add(np.arange(5000, 5200), codes[:200])
    index.remove(ids[:600])  # beyond the tombstone threshold
    assert index.describe()["tombstones"] == 600
    expected = brute_force(
        np.concatenate([codes[600:], codes[:200]]), np.concatenate([ids[600:], np.arange(5000, 5200)]), codes, 0
    )
    assert index.search(codes, radius=0) == expected  # exact while the rebuild runs in the background
    index.wait_for_rebuild()
    info = index.describe()
    assert info["tombstones"] == 0 and info["live"] == 600 == info["main_rows"] + info["delta_rows"]
    assert index.search(codes, radius=0) == expected


def test_from_batches_accepts_db_rows():
    rng = np.random.default_rng(5)
    codes = random_codes(rng, 300)

    def cursor_batches():  # what fetchmany() over (id, bytea) / (id, hex) would give
        for start in range(0, 300, 64):
            rows = []
            for i in range(start, min(start + 64, 300)):
                code = codes[i].tobytes()
                rows.append((i + 1, memoryview(code) if i % 3 == 0 else (code.hex() if i % 3 == 1 else code)))
            yield rows

    index = PDQIndex.from_batches(cursor_batches())
    assert len(index) == 300
    assert index.search(codes[:5], radius=0) == [[(i + 1, 0)] for i in range(5)]
    # later rows win for a repeated id
    other = random_codes(rng, 1)
    index2 = PDQIndex.from_batches([[(1, codes[0].tobytes())], [(1, other[0].tobytes())]])
    assert len(index2) == 1
    assert index2.search(other, radius=0) == [[(1, 0)]]
    assert PDQIndex.from_batches([]).search(other) == [[]]


def test_not_picklable():
    with pytest.raises(TypeError):
        pickle.dumps(PDQIndex())


def test_concurrent_searches_during_updates(mode):
    rng = np.random.default_rng(9)
    codes = random_codes(rng, 5000)
    ids = np.arange(5000, dtype=np.int64)
    index = PDQIndex.from_batches([(ids[:4000], codes[:4000])])
    stable = codes[:100]  # never touched by the writer
    expected = index.search(stable, radius=31)
    errors: list[BaseException] = []

    def reader():
        try:
            for _ in range(30):
                got = index.search(stable, radius=31)
                for row, exp in zip(got, expected):
                    assert set(exp) <= set(row)  # the writer only adds/removes other ids
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    def writer():
        for start in range(4000, 5000, 100):
            index.add(ids[start : start + 100], codes[start : start + 100])
            index.remove(ids[start : start + 50])

    threads = [threading.Thread(target=reader) for _ in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(index) == 4000 + 500
