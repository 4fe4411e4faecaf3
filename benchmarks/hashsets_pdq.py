"""PDQ range search: hashsets.pdq_index.PDQIndex vs FAISS IndexBinaryFlat brute force, same codes.

    .venv/bin/python benchmarks/hashsets_pdq.py [--n 1000000] [--queries 1000] [--runs 3]

The stored codes are random 256-bit codes plus real PDQ hashes of generated benign pictures (gradients,
shapes, noise; never any real imagery) and their transformed versions, plus planted near-duplicates at
every distance 0..40 around the query anchors.  Queries are single-code searches at radius 31 (the
index's exact `d <= 31`; FAISS's strict range search is called with 32).  Recall and precision of the
index are checked against the brute force on every brute-forced query: both must be 100%.

FAISS parallelises a range search over queries only, so a single-query search runs on one thread
either way; the brute force is run with one OpenMP thread (its best case for one query: an idle
OpenMP team only spins).  Batched throughput is reported with all cores for both.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import faiss
import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hashsets.hashing import pdq_hex_from_rgb
from hashsets.pdq_index import PDQIndex, pdq_from_hex


def make_picture(seed: int, size=(256, 192)) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    t = (np.cos(angle) * xx / w + np.sin(angle) * yy / h + 1.5) / 3.0
    c0, c1 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    arr = (c0[None, None, :] * (1 - t[..., None]) + c1[None, None, :] * t[..., None]).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(im)
    for _ in range(10):
        cx, cy = rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h
        rx, ry = rng.uniform(0.08, 0.3) * w, rng.uniform(0.08, 0.3) * h
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        [draw.ellipse, draw.rectangle][int(rng.integers(0, 2))](box, fill=colour)
    im = im.filter(ImageFilter.GaussianBlur(2))
    noisy = np.asarray(im).astype(np.int16) + rng.normal(0, 4, (h, w, 3)).astype(np.int16)
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB")


def real_pdq_codes(n_pictures: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """PDQ of generated pictures and of three transforms of each: (originals, variants)."""
    orig, variants = [], []
    for i in range(n_pictures):
        im = make_picture(seed + i)
        w, h = im.size
        orig.append(pdq_from_hex(pdq_hex_from_rgb(np.asarray(im))[0]))
        for v in (
            im.resize((w // 2, h // 2)),
            ImageEnhance.Brightness(im).enhance(1.2),
            im.crop((w // 80, h // 80, w - w // 80, h - h // 80)),
        ):
            variants.append(pdq_from_hex(pdq_hex_from_rgb(np.asarray(v))[0]))
    as_arr = lambda xs: np.frombuffer(b"".join(xs), dtype=np.uint8).reshape(-1, 32)  # noqa: E731
    return as_arr(orig), as_arr(variants)


def flip(rng, codes: np.ndarray, d: int) -> np.ndarray:
    bits = np.unpackbits(codes, axis=1)
    for row in bits:
        row[rng.choice(256, size=d, replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def percentiles(ts) -> tuple[float, float, float]:
    a = np.asarray(ts) * 1e3
    return float(np.percentile(a, 50)), float(np.percentile(a, 95)), float(np.percentile(a, 99))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="stored codes")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--brute-queries", type=int, default=None, help="queries also run by brute force")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--radius", type=int, default=31)
    ap.add_argument("--pictures", type=int, default=400, help="generated pictures (x4 real PDQ hashes)")
    ap.add_argument("--extra-radii", default="", help="comma-separated extra radii to time, e.g. 48,64")
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    n, radius = args.n, args.radius
    brute_q = args.brute_queries if args.brute_queries is not None else min(args.queries, 1000 if n <= 2e6 else 200)

    # ---- data
    t = time.perf_counter()
    real, real_variants = real_pdq_codes(args.pictures, args.seed)
    n_anchor = max(1, args.queries // 2)
    anchors = np.concatenate([real, rng.integers(0, 256, (n_anchor, 32), dtype=np.uint8)])[:n_anchor]
    planted = [flip(rng, anchors, d) for d in range(0, 41, 4)]
    fixed = np.concatenate([real, real_variants, *planted])
    codes = np.empty((n, 32), dtype=np.uint8)
    k = min(fixed.shape[0], n)
    codes[:k] = fixed[:k]
    codes[k:] = rng.integers(0, 256, (n - k, 32), dtype=np.uint8)
    perm = rng.permutation(n)
    codes = codes[perm]
    ids = (np.arange(n, dtype=np.int64) * 3 + 1_000_000)[perm]
    queries = np.concatenate(
        [
            anchors,
            real_variants[rng.integers(0, real_variants.shape[0], args.queries // 4)],
            rng.integers(0, 256, (args.queries, 32), dtype=np.uint8),
        ]
    )[: args.queries]
    print(
        f"data: n={n:,} codes ({fixed.shape[0]:,} real PDQ / planted), {queries.shape[0]} queries, "
        f"radius {radius}, generated in {time.perf_counter() - t:.1f}s",
        flush=True,
    )

    # ---- build
    def batches():
        for s in range(0, n, 100_000):
            yield ids[s : s + 100_000], codes[s : s + 100_000]

    t = time.perf_counter()
    index = PDQIndex.from_batches(batches())
    build_ours = time.perf_counter() - t
    info = index.describe()
    t = time.perf_counter()
    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)
    build_flat = time.perf_counter() - t
    print(
        f"build: ours {build_ours:.2f}s ({len(info['chunk_widths'])} chunks of {min(info['chunk_widths'])}-"
        f"{max(info['chunk_widths'])} bits, flips at r=31 {info['flips_r31']}), "
        f"FAISS flat {build_flat:.3f}s",
        flush=True,
    )
    print(
        f"memory: ours {index.memory_bytes() / 2**20:.0f} MiB, FAISS flat {flat.ntotal * 32 / 2**20:.0f} MiB "
        f"(codes alone {codes.nbytes / 2**20:.0f} MiB)",
        flush=True,
    )
    index.search(queries[:8], radius)  # plan + warm-up

    # ---- single-query latency, several runs
    faiss.omp_set_num_threads(1)
    ours_runs, flat_runs = [], []
    got: list = [None] * queries.shape[0]
    truth: list = [None] * brute_q
    for run in range(args.runs):
        ts = []
        for i in range(queries.shape[0]):
            t = time.perf_counter()
            got[i] = index.search(queries[i : i + 1], radius)[0]
            ts.append(time.perf_counter() - t)
        ours_runs.append(percentiles(ts))
        ts = []
        for i in range(brute_q):
            t = time.perf_counter()
            lims, d, lab = flat.range_search(queries[i : i + 1], radius + 1)
            ts.append(time.perf_counter() - t)
            truth[i] = {(int(ids[lab[j]]), int(d[j])) for j in range(lims[0], lims[1])}
        flat_runs.append(percentiles(ts))
        print(
            f"run {run + 1}: ours p50/p95/p99 = {ours_runs[-1][0]:.3f}/{ours_runs[-1][1]:.3f}/"
            f"{ours_runs[-1][2]:.3f} ms; FAISS flat = {flat_runs[-1][0]:.3f}/{flat_runs[-1][1]:.3f}/"
            f"{flat_runs[-1][2]:.3f} ms",
            flush=True,
        )
    ours = np.median(np.asarray(ours_runs), axis=0)
    brute = np.median(np.asarray(flat_runs), axis=0)

    # ---- recall / precision vs brute force
    found = sum(len(truth[i] & set(got[i])) for i in range(brute_q))
    total = sum(len(truth[i]) for i in range(brute_q))
    extra = sum(len(set(got[i]) - truth[i]) for i in range(brute_q))
    recall = 100.0 * found / total if total else 100.0
    nonempty = sum(1 for i in range(brute_q) if truth[i])

    # ---- batched throughput (all cores for both)
    faiss.omp_set_num_threads(os.cpu_count() or 1)
    t = time.perf_counter()
    index.search(queries, radius)
    batch_ours = queries.shape[0] / (time.perf_counter() - t)
    t = time.perf_counter()
    flat.range_search(queries[:brute_q], radius + 1)
    batch_flat = brute_q / (time.perf_counter() - t)

    print()
    print(f"== PDQ range search, n={n:,}, radius {radius} (medians of {args.runs} runs) ==")
    print(f"build            ours {build_ours:8.2f} s      FAISS flat {build_flat:8.3f} s")
    print(f"memory           ours {index.memory_bytes() / 2**20:8.0f} MiB    FAISS flat {n * 32 / 2**20:8.0f} MiB")
    print(
        f"single query p50 ours {ours[0]:8.3f} ms     FAISS flat {brute[0]:8.3f} ms   "
        f"speedup {brute[0] / ours[0]:6.1f}x"
    )
    print(
        f"single query p95 ours {ours[1]:8.3f} ms     FAISS flat {brute[1]:8.3f} ms   "
        f"speedup {brute[1] / ours[1]:6.1f}x"
    )
    print(
        f"single query p99 ours {ours[2]:8.3f} ms     FAISS flat {brute[2]:8.3f} ms   "
        f"speedup {brute[2] / ours[2]:6.1f}x"
    )
    print(
        f"batched          ours {batch_ours:8.0f} q/s    FAISS flat {batch_flat:8.0f} q/s   "
        f"speedup {batch_ours / batch_flat:6.1f}x"
    )
    print(
        f"recall vs brute force: {recall:.2f}% ({found}/{total} pairs over {brute_q} queries, "
        f"{nonempty} with matches), extra (false) results: {extra}"
    )
    ok = recall == 100.0 and extra == 0
    print(
        f"targets: >=5x faster: {'OK' if brute[0] / ours[0] >= 5 else 'MISSED'}; "
        f"100% recall: {'OK' if ok else 'MISSED'}"
    )

    for r in [int(x) for x in args.extra_radii.split(",") if x.strip()]:
        faiss.omp_set_num_threads(1)
        qs = queries[: min(brute_q, 100)]
        index.search(qs[:2], r)
        t1, t2, same = [], [], True
        for i in range(qs.shape[0]):
            t = time.perf_counter()
            mine = index.search(qs[i : i + 1], r)[0]
            t1.append(time.perf_counter() - t)
            t = time.perf_counter()
            lims, d, lab = flat.range_search(qs[i : i + 1], r + 1)
            t2.append(time.perf_counter() - t)
            same &= set(mine) == {(int(ids[lab[j]]), int(d[j])) for j in range(lims[0], lims[1])}
        a, b = percentiles(t1), percentiles(t2)
        mode = "multi-index" if index._state.main.plan(r).mih else "brute force (cost model)"
        print(
            f"radius {r:3d}: ours p50/p95 {a[0]:.3f}/{a[1]:.3f} ms [{mode}], FAISS flat {b[0]:.3f}/{b[1]:.3f} ms, "
            f"speedup {b[0] / a[0]:.1f}x, identical results: {same}"
        )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
