"""Run every benchmark in benchmarks/ (``make bench``), one after the other, and summarise.

    .venv/bin/python benchmarks/run_all.py [--full] [--only NAME[,NAME...]] [--list]

Every ``benchmarks/*.py`` except this file, the ``_``-prefixed helpers and the ``locustfile_*``
user classes (run by locust, not by Python) is a benchmark. By
default each runs with modest sizes so the whole suite finishes in under 30 minutes on the
2-core reference machine; ``--full`` uses the sizes the results in docs/benchmarks.md were
measured at (about an hour and a half, most of it loading 10,000,000 hash rows).

A benchmark declares its arguments as module-level lists ``BENCH_QUICK_ARGS`` and
``BENCH_FULL_ARGS`` (read here without importing the module); a benchmark that declares none
runs with the arguments in ``KNOWN_ARGS`` below, or with its own defaults. Each benchmark's
output streams through; its exit status and time are summarised at the end, and each appends
its results to benchmarks/out/results.jsonl.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

# Benchmarks that do not declare BENCH_QUICK_ARGS / BENCH_FULL_ARGS themselves: (quick, full).
KNOWN_ARGS: dict[str, tuple[list[str], list[str]]] = {
    "audit_verify": (["--entries", "200000", "--runs", "3"], ["--entries", "1000000", "--runs", "3"]),
    "exchange_seal_open": (["--size", "256M", "--runs", "3"], ["--size", "1G", "--runs", "3"]),
    "hashsets_pdq": (["--n", "200000", "--queries", "500", "--runs", "3"], []),
}


def benchmarks() -> list[Path]:
    return sorted(
        path
        for path in HERE.glob("*.py")
        if not path.name.startswith(("_", "locustfile_")) and path.name != Path(__file__).name
    )


def declared_args(path: Path) -> tuple[list[str] | None, list[str] | None]:
    """The module's BENCH_QUICK_ARGS and BENCH_FULL_ARGS literals, if it has them."""
    quick = full = None
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (OSError, SyntaxError):
        return None, None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name in ("BENCH_QUICK_ARGS", "BENCH_FULL_ARGS"):
                try:
                    value = [str(v) for v in ast.literal_eval(node.value)]
                except ValueError:
                    continue
                if name == "BENCH_QUICK_ARGS":
                    quick = value
                else:
                    full = value
    return quick, full


def arguments(path: Path, full: bool) -> list[str]:
    quick_args, full_args = declared_args(path)
    known_quick, known_full = KNOWN_ARGS.get(path.stem, ([], []))
    if full:
        return full_args if full_args is not None else known_full
    return quick_args if quick_args is not None else known_quick


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the sizes of docs/benchmarks.md (long)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names (file names without .py)")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their arguments, run nothing")
    args = parser.parse_args(argv)

    selected = benchmarks()
    if args.only:
        wanted = {name.strip().removesuffix(".py") for name in args.only.split(",") if name.strip()}
        unknown = wanted - {path.stem for path in selected}
        if unknown:
            parser.error(f"no such benchmark: {', '.join(sorted(unknown))}")
        selected = [path for path in selected if path.stem in wanted]
    if args.list:
        for path in selected:
            print(f"{path.stem:28} {' '.join(arguments(path, args.full))}")
        return 0

    summary = []
    overall = time.perf_counter()
    for path in selected:
        command = [sys.executable, str(path), *arguments(path, args.full)]
        print(f"\n{'=' * 100}\n== {path.stem}: {' '.join(command[1:])}\n{'=' * 100}", flush=True)
        started = time.perf_counter()
        status = subprocess.call(command, cwd=ROOT, env=dict(os.environ))
        elapsed = time.perf_counter() - started
        summary.append((path.stem, status, elapsed))
        print(f"== {path.stem}: exit {status} after {elapsed / 60:.1f} min", flush=True)

    print(f"\n{'benchmark':28} {'status':>8} {'minutes':>8}")
    for name, status, elapsed in summary:
        print(f"{name:28} {'ok' if status == 0 else f'exit {status}':>8} {elapsed / 60:8.1f}")
    print(f"{'total':28} {'':>8} {(time.perf_counter() - overall) / 60:8.1f}")
    return 0 if all(status == 0 for _, status, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
