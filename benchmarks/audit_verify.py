"""Benchmark the offline audit verifier against plain SHA-256 hashing of the same lines.

    python benchmarks/audit_verify.py [--entries N] [--runs R] [--keep DIR]

Generates a realistic export (entries of about 300 bytes, a signed checkpoint every
--checkpoint-every entries and one at the end, leaf-hashes.txt, one cosignature) in a temporary
directory, then times ``audit.verify.verify_export`` and a raw baseline that only reads
entries.jsonl and computes SHA-256(0x00 || line) per line. Prints medians over --runs runs.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit import merkle, note
from audit.verify import verify_export, write_manifest
from casebridge.lib.canonical_json import canonical_json

# Read (without importing this module) by benchmarks/run_all.py.
BENCH_QUICK_ARGS = ["--entries", "200000", "--runs", "3"]
BENCH_FULL_ARGS = ["--entries", "1000000", "--runs", "3"]
TARGET_RATE = 150_000  # entries/s on one core, for 1,000,000 entries

ORIGIN = "casebridge.example/audit/bench"
ACTIONS = [
    ("case.view", "case"),
    ("case.update", "case"),
    ("case.assign", "case"),
    ("evidence.download", "evidence"),
    ("evidence.upload", "evidence"),
    ("note.create", "note"),
    ("exhibit.seal", "exhibit"),
    ("user.login", "user"),
    ("export.create", "export"),
]
REASONS = ["routine review", "court request", "supervisor audit", "case transfer", "disclosure"]
FIELDS = ["status", "assignee", "priority", "summary", "tags", "location", "classification"]
AGENCIES = ["metro-pd", "county-sheriff", "state-police", "harbor-unit"]

# For these entries (ASCII names, no floats, small integers) the C encoder's output is exactly
# RFC 8785; generation uses it for speed and spot-checks against canonical_json.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def make_entry(rng: random.Random, index: int, base_time: int) -> dict:
    action, kind = rng.choice(ACTIONS)
    at = base_time + index * 3 + rng.randrange(3)
    entry = {
        "index": index,
        "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{rng.randrange(10**6):06d}Z",
        "action": action,
        "actor": {"id": rng.randrange(1, 5000), "username": f"officer{rng.randrange(10000):04d}"},
        "agency": rng.choice(AGENCIES),
        "object": {"type": kind, "id": str(uuid.UUID(int=rng.getrandbits(128), version=4))},
        "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
        "request_id": f"{rng.getrandbits(128):032x}",
    }
    if rng.random() < 0.6:
        entry["details"] = {
            "reason": rng.choice(REASONS),
            "fields": rng.sample(FIELDS, rng.randrange(1, 4)),
        }
    return entry


def generate(directory: str, entries: int, checkpoint_every: int, seed: int) -> None:
    rng = random.Random(seed)
    key = Ed25519PrivateKey.generate()
    witness = Ed25519PrivateKey.generate()
    cosigner = "witness.example/w1"
    tree = merkle.CompactRange()
    checkpoints = []
    sha256 = hashlib.sha256
    base_time = 1_735_689_600
    with (
        open(os.path.join(directory, "entries.jsonl"), "wb") as entries_file,
        open(os.path.join(directory, "leaf-hashes.txt"), "w") as leaves_file,
    ):
        batch, hashes = [], []
        for index in range(entries):
            entry = make_entry(rng, index, base_time)
            line = _encode(entry).encode("utf-8")
            if index % 9973 == 0:
                assert line == canonical_json(entry)
            batch.append(line)
            digest = sha256(b"\x00" + line).digest()
            hashes.append(digest.hex())
            tree.append(digest)
            if tree.size % checkpoint_every == 0 or tree.size == entries:
                checkpoints.append(merkle_checkpoint(tree))
            if len(batch) == 4096 or index == entries - 1:
                entries_file.write(b"\n".join(batch) + b"\n")
                leaves_file.write("\n".join(hashes) + "\n")
                batch, hashes = [], []
    with open(os.path.join(directory, "checkpoints.jsonl"), "wb") as stream:
        for checkpoint in checkpoints:
            signed = note.checkpoint_sign(checkpoint, name=ORIGIN, private_key=key)
            stream.write(canonical_json({"size": checkpoint.size, "note": signed}) + b"\n")
    with open(os.path.join(directory, "cosignatures.jsonl"), "wb") as stream:
        line = note.cosignature_sign(checkpoints[-1], name=cosigner, private_key=witness, timestamp=base_time)
        record = {
            "size": checkpoints[-1].size,
            "witness": cosigner,
            "vkey": note.cosigner_vkey(cosigner, witness),
            "line": line,
        }
        stream.write(canonical_json(record) + b"\n")
    with open(os.path.join(directory, "public-key.vkey"), "w") as stream:
        stream.write(note.vkey_from_public_key(ORIGIN, key.public_key()) + "\n")
    write_manifest(directory, origin=ORIGIN)


def merkle_checkpoint(tree: merkle.CompactRange) -> note.Checkpoint:
    return note.Checkpoint(ORIGIN, tree.size, tree.root())


def baseline(path: str) -> int:
    """Read entries.jsonl the way the verifier does and hash each line: the floor."""
    sha256 = hashlib.sha256
    count = 0
    pending = b""
    with open(path, "rb") as stream:
        while chunk := stream.read(1 << 20):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                sha256(b"\x00" + line).digest()
            count += len(lines)
    return count


def timed(function, *args):
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    value = function(*args)
    return time.perf_counter() - wall, time.process_time() - cpu, value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--checkpoint-every", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--keep", metavar="DIR", help="generate into DIR (reused if it holds an export)")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="audit-bench-") as scratch:
        directory = args.keep or scratch
        os.makedirs(directory, exist_ok=True)
        if not os.path.exists(os.path.join(directory, "manifest.json")):
            started = time.perf_counter()
            generate(directory, args.entries, args.checkpoint_every, args.seed)
            print(f"generated {args.entries} entries in {time.perf_counter() - started:.1f}s")
        entries_path = os.path.join(directory, "entries.jsonl")
        size = os.path.getsize(entries_path)
        with open(os.path.join(directory, "manifest.json")) as stream:
            manifest = json.load(stream)
        # The benchmark generated the key itself, so pinning the export's key is honest here.
        with open(os.path.join(directory, "public-key.vkey")) as stream:
            verify_pinned = functools.partial(verify_export, key=stream.read().strip())
        n = manifest["entries"]
        print(
            f"export: {n} entries, {manifest['checkpoints']} checkpoints, "
            f"{size / 1e6:.1f} MB entries.jsonl ({size / max(n, 1):.0f} bytes/entry incl. newline)"
        )

        verify_runs, base_runs = [], []
        for run in range(args.runs):
            wall, cpu, result = timed(verify_pinned, directory)
            if not result.ok:
                print(f"verification FAILED: {result.failure}")
                return 1
            verify_runs.append((wall, cpu))
            wall_b, cpu_b, count = timed(baseline, entries_path)
            assert count == n
            base_runs.append((wall_b, cpu_b))
            print(
                f"run {run + 1}: verify_export {wall:.2f}s wall / {cpu:.2f}s cpu; "
                f"baseline {wall_b:.2f}s wall / {cpu_b:.2f}s cpu"
            )

        verify_wall = statistics.median(w for w, _ in verify_runs)
        verify_cpu = statistics.median(c for _, c in verify_runs)
        base_wall = statistics.median(w for w, _ in base_runs)
        base_cpu = statistics.median(c for _, c in base_runs)
        print()
        print(f"{'':24}{'median wall':>14}{'entries/s':>14}{'median cpu':>14}{'entries/s':>14}")
        print(
            f"{'verify_export':24}{verify_wall:13.2f}s{n / verify_wall:14,.0f}"
            f"{verify_cpu:13.2f}s{n / verify_cpu:14,.0f}"
        )
        print(
            f"{'baseline sha256/line':24}{base_wall:13.2f}s{n / base_wall:14,.0f}{base_cpu:13.2f}s{n / base_cpu:14,.0f}"
        )
        print(f"ratio verify/baseline: {verify_wall / base_wall:.2f}x wall, {verify_cpu / base_cpu:.2f}x cpu")
        rate = n / verify_cpu
        print(f"target {TARGET_RATE:,} entries/s (cpu time): {'met' if rate >= TARGET_RATE else 'MISSED'}")
        results = {
            "verify_wall_s": verify_wall,
            "verify_cpu_s": verify_cpu,
            "verify_entries_per_s_wall": n / verify_wall,
            "verify_entries_per_s_cpu": rate,
            "baseline_wall_s": base_wall,
            "baseline_cpu_s": base_cpu,
            "baseline_entries_per_s_wall": n / base_wall,
            "ratio_wall": verify_wall / base_wall,
            "ratio_cpu": verify_cpu / base_cpu,
            "bytes_per_entry": size / max(n, 1),
        }
        params = {"entries": n, "checkpoints": manifest["checkpoints"], "runs": args.runs}
        try:  # the shared results file of benchmarks/run_all.py, when that helper is present
            from benchmarks import _common

            _common.record("audit_verify", params, results)
        except (ImportError, AttributeError, OSError):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
