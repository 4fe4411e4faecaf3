"""The command line: ``python -m audit.verify PATH [--json] [--key VKEY ...] [--key-file FILE]
[--witness-key VKEY ...] [--trust-export-key] [--require-complete]``."""

from __future__ import annotations

import argparse
import json
import sys

from audit.verify import verify_export
from audit.verify.common import VerificationResult
from audit.verify.trust import trust_from


def report(path: str, result: VerificationResult) -> str:
    """The human report: what was checked, whose keys were trusted, warnings, then OK or FAILED."""
    what = "range export" if result.kind == "range" else "export"
    lines = [f"Casebridge audit {what} {path}"]
    if result.origin:
        lines.append(f"  origin        {result.origin}")
    if result.kind == "export" and len(result.keys) > 1:
        for period in result.keys:
            last = "now" if period["last_size"] is None else period["last_size"]
            lines.append(f"  node key      {period['vkey']} (sizes {period['first_size']} to {last})")
    elif result.key:
        lines.append(f"  node key      {result.key}")
    if result.key:
        lines.append(
            "  key trust     pinned by you (--key / --key-file)"
            if result.key_pinned
            else "  key trust     NOT PINNED: the key above is the export's own word"
        )
    lines.append(f"  entries       {result.entries}")
    lines.append(f"  checkpoints   {result.checkpoints} (latest covers {result.covered} entries)")
    lines.append(f"  cosignatures  {result.cosignatures} verified")
    if result.witnessed is not None:
        lines.append(
            f"  witnessed     up to size {result.witnessed} by {', '.join(result.witnessed_by)} "
            f"at {result.witnessed_at}"
        )
    for warning in result.warnings:
        lines.append(f"WARNING: {warning}")
    if result.ok:
        covered = (
            f"every one of the {result.entries} entries is in the tree the checkpoint of size {result.covered} signs"
        )
        lines.append(
            f"OK: {covered}, signed by {'the pinned key' if result.key_pinned else 'THE EXPORT’S OWN KEY'}"
            + ("; the checkpoints form one append-only history." if result.kind == "export" else ".")
        )
    else:
        failure = result.failure or {}
        lines.append(f"FAILED [{failure.get('check')}]: {failure.get('message')}")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m audit.verify",
        description="Verify a Casebridge audit-log export (a directory) or range export (a .json file) offline.",
    )
    parse.add_argument("directory", metavar="PATH", help="the export directory, or a range export file")
    parse.add_argument("--json", action="store_true", help="print the result as JSON")
    parse.add_argument(
        "--key",
        metavar="VKEY",
        action="append",
        default=[],
        help="the log key to trust; every key the export uses must be one of these (repeat it for each key of a "
        "rotated log)",
    )
    parse.add_argument("--key-file", metavar="FILE", help="a file of pinned log vkeys, one per line (# comments)")
    parse.add_argument(
        "--witness-key",
        metavar="VKEY",
        action="append",
        default=[],
        help="a witness (cosigner) key to trust; with any, a pinned witness must have cosigned a checkpoint",
    )
    parse.add_argument(
        "--trust-export-key",
        action="store_true",
        help="without --key/--key-file, accept the export's own key instead of failing (the report says so)",
    )
    parse.add_argument(
        "--require-complete",
        action="store_true",
        help="kept for old scripts: does nothing, every entry must be covered by a checkpoint anyway",
    )
    return parse


def main(argv: list[str] | None = None) -> int:
    parse = parser()
    args = parse.parse_args(argv)
    try:
        trust_from(key=args.key, key_file=args.key_file, witness_keys=args.witness_key)
    except ValueError as exc:
        parse.error(str(exc))
    try:
        result = verify_export(
            args.directory,
            key=args.key,
            key_file=args.key_file,
            witness_keys=args.witness_key,
            trust_export_key=args.trust_export_key,
        )
    except (FileNotFoundError, NotADirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, sort_keys=True))
    else:
        print(report(args.directory, result))
    if not result.key_pinned and (result.ok or (result.failure or {}).get("check") == "key_trust"):
        print(
            "WARNING: no pinned log key: this result rests on the key the export ships. Pass --key or --key-file.",
            file=sys.stderr,
        )
    return 0 if result.ok else 1
