"""Hashing throughput: hashsets.hashing.hash_tree vs pdqhash.compute alone on already-decoded pixels.

    .venv/bin/python benchmarks/hashsets_hash_files.py [--pictures 200] [--runs 3] [--workers 2]

Generates benign pictures (gradients, shapes, noise; never real imagery) as JPEG and PNG of several
sizes in a temporary directory, then times in the same run:

* ``hash_tree(dir, workers=W)``: walk + read + MD5/SHA-1/SHA-256 + sniff + decode + PDQ (W processes);
* ``hash_tree(dir, workers=1)``: the same in-process;
* baseline: ``pdqhash.compute`` alone, one core, on the decoded RGB arrays already in memory (at full
  resolution, and on the reference 512x512 pre-downsample that hash_tree applies to larger pictures).

Reports medians of several runs, pictures per second and per core, and ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time

import numpy as np
import pdqhash
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from hashsets.hashing import _reference_downsample, hash_tree

SIZES = [(640, 480), (1024, 768), (1600, 1200), (480, 640), (320, 240)]


def make_picture(seed: int, size: tuple[int, int]) -> Image.Image:
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pictures", type=int, default=200)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="cb-bench-hash-") as root:
        t = time.perf_counter()
        total_bytes = 0
        for i in range(args.pictures):
            size = SIZES[i % len(SIZES)]
            sub = os.path.join(root, f"d{i % 7}")
            os.makedirs(sub, exist_ok=True)
            im = make_picture(i, size)
            path = os.path.join(sub, f"p{i}.{'png' if i % 4 == 0 else 'jpg'}")
            if path.endswith(".png"):
                im.save(path, "PNG")
            else:
                im.save(path, "JPEG", quality=85)
            total_bytes += os.path.getsize(path)
        print(
            f"generated {args.pictures} pictures ({total_bytes / 2**20:.1f} MiB, sizes {SIZES}, 1 in 4 PNG) "
            f"in {time.perf_counter() - t:.1f}s",
            flush=True,
        )
        # decoded pixels for the baseline (decoding is not timed there)
        paths = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs)
        pixels = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
        small = [np.ascontiguousarray(_reference_downsample(a)) for a in pixels]

        def cpu_now() -> float:  # this process + reaped children (the pool's workers, once joined)
            me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
            return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

        def time_tree(workers: int) -> float:
            t0, c0 = time.perf_counter(), cpu_now()
            out = list(hash_tree(root, workers=workers))
            el = time.perf_counter() - t0
            cpu[f"tree_{'w' if workers > 1 else '1'}"].append(cpu_now() - c0)
            assert len(out) == args.pictures and all(d.pdq for d in out), "every picture must get a PDQ"
            return el

        def time_compute(arrays, key: str) -> float:
            t0, c0 = time.perf_counter(), cpu_now()
            for a in arrays:
                pdqhash.compute(a)
            cpu[key].append(cpu_now() - c0)
            return time.perf_counter() - t0

        tiny = tempfile.mkdtemp(prefix="cb-bench-one-")
        with open(os.path.join(tiny, "one"), "wb") as fh:
            fh.write(b"x")

        def time_pool_start() -> float:  # hash_tree over one tiny file: process-pool start, import, stop
            t0 = time.perf_counter()
            list(hash_tree(tiny, workers=args.workers))
            return time.perf_counter() - t0

        res: dict[str, list[float]] = {"tree_w": [], "tree_1": [], "compute_full": [], "compute_512": [], "pool": []}
        cpu: dict[str, list[float]] = {"tree_w": [], "tree_1": [], "compute_full": [], "compute_512": []}
        for run in range(args.runs):
            res["pool"].append(time_pool_start())
            res["tree_w"].append(time_tree(args.workers))
            res["tree_1"].append(time_tree(1))
            res["compute_full"].append(time_compute(pixels, "compute_full"))
            res["compute_512"].append(time_compute(small, "compute_512"))
            print(
                f"run {run + 1}: hash_tree(workers={args.workers}) {res['tree_w'][-1]:.2f}s, "
                f"hash_tree(workers=1) {res['tree_1'][-1]:.2f}s, "
                f"pdqhash.compute full-res {res['compute_full'][-1]:.2f}s, "
                f"pdqhash.compute 512px {res['compute_512'][-1]:.2f}s",
                flush=True,
            )
        os.remove(os.path.join(tiny, "one"))
        os.rmdir(tiny)

    med = {k: statistics.median(v) for k, v in res.items()}
    n = args.pictures
    rate = {k: n / v for k, v in med.items() if k != "pool"}
    load = os.getloadavg()[0]
    print()
    print(f"== hashing {n} pictures (medians of {args.runs} runs; 1-min load average at the end {load:.1f}) ==")
    print(
        f"hash_tree workers={args.workers}: {rate['tree_w']:7.1f} pictures/s = {rate['tree_w'] / args.workers:7.1f} "
        f"per core (including the process-pool start)"
    )
    warm = n / max(med["tree_w"] - med["pool"], 1e-9)
    print(
        f"  process-pool start+stop {med['pool']:.2f}s; excluding it: {warm:7.1f} pictures/s = "
        f"{warm / args.workers:7.1f} per core"
    )
    print(f"hash_tree workers=1:  {rate['tree_1']:7.1f} pictures/s on one core")
    print(f"pdqhash.compute alone, decoded full-res pixels: {rate['compute_full']:7.1f} pictures/s on one core")
    print(f"pdqhash.compute alone, 512x512 pre-downsampled: {rate['compute_512']:7.1f} pictures/s on one core")
    cpu_rate = {k: n / statistics.median(v) for k, v in cpu.items()}
    print(
        "per CPU-second (load-independent; the box is shared): "
        f"hash_tree workers={args.workers} {cpu_rate['tree_w']:.1f}, hash_tree workers=1 {cpu_rate['tree_1']:.1f}, "
        f"pdqhash.compute full-res {cpu_rate['compute_full']:.1f}, 512px {cpu_rate['compute_512']:.1f} pictures; "
        f"ratio hash_tree / compute full-res = {cpu_rate['tree_w'] / cpu_rate['compute_full']:.2f}"
    )
    print(
        f"ratios: hash_tree per core / compute full-res = {rate['tree_w'] / args.workers / rate['compute_full']:.2f}; "
        f"hash_tree(workers=1) / compute full-res = {rate['tree_1'] / rate['compute_full']:.2f}; "
        f"parallel speedup workers={args.workers} vs 1 = {med['tree_1'] / med['tree_w']:.2f}x"
    )


if __name__ == "__main__":
    main()
