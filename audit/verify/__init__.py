"""Offline verifier for Casebridge audit-log exports: ``python -m audit.verify PATH``.

Needs only the standard library, ``cryptography`` and ``casebridge.lib.canonical_json``: no Django,
no database, no network. PATH is a full export directory (``manage.py audit_export --out DIR``), a
range document (``audit-range-*.json`` from the auditor UI, or the ``audit-range.json`` that
``manage.py audit_export --from I --to J`` writes) or a directory holding only the latter. The
formats and every check are in docs/audit-log.md.

What "OK" proves, and nothing more:

- every entry in the export is byte for byte an entry of a tree whose root a checkpoint signed
  by the trusted log key vouches for (full export: every entry below the latest checkpoint, and
  the export holds no entry beyond it; range: each entry's inclusion path leads to the signed root,
  and a contiguous range holds every index it names);
- full export: the checkpoints form one append-only history (each consistent with the next,
  hand-overs after key rotations cross-signed by both keys);
- the trusted log key is the auditor's (``--key``, ``--key-file``), unless ``--trust-export-key``
  said otherwise, which the report then states;
- with ``--witness-key``: a pinned witness cosigned a checkpoint of this history (the largest such
  size and its time are reported).

"OK" does not prove that the export is the node's latest state: an old but genuine export also
verifies. Compare ``covered`` with a newer checkpoint you hold, or with ``witnessed_at``.

Checks stop at the first failure, reported with a machine-readable ``check`` name, the entry
``index`` and ``checkpoint_size`` it concerns (when there is one) and a human message. Exit status:
0 all checks passed, 1 a check failed, 2 usage error or missing path.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from audit.verify.common import (
    CHECKS,
    EXPORT_FORMAT,
    MANIFEST,
    RANGE_CHECKS,
    RANGE_FILE,
    RANGE_FORMAT,
    Failure,
    VerificationResult,
)
from audit.verify.directory import verify_directory, write_manifest
from audit.verify.range import verify_range
from audit.verify.trust import Trust, trust_from

__all__ = [
    "CHECKS",
    "EXPORT_FORMAT",
    "RANGE_CHECKS",
    "RANGE_FORMAT",
    "Trust",
    "VerificationResult",
    "main",
    "trust_from",
    "verify_export",
    "write_manifest",
]


def _kind(path: str) -> tuple[str, str]:
    """("export" | "range", the path to read) for a path given on the command line."""
    if os.path.isfile(path):
        return "range", path
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file or directory: {path}")
    if not os.path.isdir(path):
        raise NotADirectoryError(f"not a directory or a file: {path}")
    if not os.path.exists(os.path.join(path, MANIFEST)) and os.path.isfile(os.path.join(path, RANGE_FILE)):
        return "range", os.path.join(path, RANGE_FILE)
    return "export", path


def verify_export(
    path: str | os.PathLike[str],
    *,
    key: str | Sequence[str] | None = None,
    key_file: str | os.PathLike[str] | None = None,
    witness_keys: Sequence[str] = (),
    trust_export_key: bool = False,
    require_complete: bool = True,
) -> VerificationResult:
    """Verify a full export directory or a range document; see the module docstring.

    ``key`` pins the log's vkey, or a list of vkeys after rotations (every key a full export uses
    must then be pinned); ``key_file`` adds the vkeys of a file, one per line. Without any, the
    result fails with check ``key_trust`` unless ``trust_export_key``. ``witness_keys`` pins
    cosigner vkeys. ``require_complete`` is kept for callers of the old signature: entries not
    covered by a checkpoint always fail now. Raises ``ValueError`` for a pin that is not a vkey of
    the right type, ``FileNotFoundError`` or ``NotADirectoryError`` for a path that is neither.
    """
    del require_complete  # always required now; accepted so that old callers keep working
    trust = trust_from(
        key=key,
        key_file=os.fspath(key_file) if key_file is not None else None,
        witness_keys=witness_keys,
        trust_export_key=trust_export_key,
    )
    kind, target = _kind(os.fspath(path))
    result = VerificationResult(ok=False, kind=kind)
    try:
        if kind == "range":
            verify_range(target, result, trust)
        else:
            verify_directory(target, result, trust)
    except Failure as failure:
        result.failure = failure.as_dict()
        return result
    result.ok = True
    return result


def main(argv: list[str] | None = None) -> int:
    from audit.verify.cli import main as cli_main

    return cli_main(argv)
