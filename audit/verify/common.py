"""What every part of the verifier shares: file names, check names, the result and the failure."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from audit import merkle

EXPORT_FORMAT = "casebridge-audit-export/1"
RANGE_FORMAT = "casebridge-audit-range/2"
RANGE_FILE = "audit-range.json"  # what `manage.py audit_export --from/--to` writes into its directory
ENTRIES = "entries.jsonl"
LEAF_HASHES = "leaf-hashes.txt"
CHECKPOINTS = "checkpoints.jsonl"
COSIGNATURES = "cosignatures.jsonl"
PUBLIC_KEY = "public-key.vkey"
KEY_HISTORY = "key-history.jsonl"
MANIFEST = "manifest.json"
REQUIRED_FILES = (ENTRIES, CHECKPOINTS, PUBLIC_KEY)
OPTIONAL_FILES = (LEAF_HASHES, COSIGNATURES, KEY_HISTORY)
KEY_ROTATED = "audit.key_rotated"
# In a canonical entry the top-level member is exactly these bytes (a nested one may match too).
ROTATION_MARK = b'"action":"audit.key_rotated"'
HASH = merkle.HASH_SIZE
CHUNK = 1 << 20

# Check names, in the order they run.
CHECKS = (
    "manifest",
    "entry_format",
    "entry_canonical",
    "entry_index",
    "public_key",
    "key_history",
    "leaf_hashes_format",
    "checkpoint_format",
    "checkpoint_signature",
    "checkpoint_origin",
    "checkpoint_order",
    "checkpoint_beyond_export",
    "checkpoint_root",
    "leaf_hash",
    "consistency",
    "cosignature",
    "coverage",
    "witness",
    "key_trust",
)
# A range export's checks, in the order they run (then cosignature, witness, key_trust as above).
RANGE_CHECKS = (
    "range_format",
    "checkpoint_signature",
    "checkpoint_origin",
    "entry_format",
    "entry_canonical",
    "entry_index",
    "leaf_hash",
    "inclusion",
    "range_complete",
    "consistency",
)


@dataclass
class VerificationResult:
    """Outcome of :func:`verify_export`.

    ``failure`` is ``None`` or ``{"check", "index", "checkpoint_size", "message"}``. ``covered`` is
    the size of the latest checkpoint (an OK result has every exported entry below it). ``key`` is
    the log's current vkey, ``keys`` every key of the log with the checkpoint sizes it signs
    (``{"vkey", "first_size", "last_size"}``, oldest first); ``key_pinned`` says whether they were
    the auditor's pins (True) or the export's own word. ``witnessed`` is the largest checkpoint
    size a pinned witness cosigned (``witnessed_by`` those witnesses, ``witnessed_at`` the time of
    the cosignature), or None. ``kind`` is "export" (a whole log) or "range" (chosen entries).
    """

    ok: bool
    kind: str = "export"
    entries: int = 0
    checkpoints: int = 0
    failure: dict[str, Any] | None = None
    covered: int = 0
    cosignatures: int = 0
    origin: str | None = None
    key: str | None = None
    keys: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    key_pinned: bool = False
    witnessed: int | None = None
    witnessed_by: list[str] = field(default_factory=list)
    witnessed_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Failure(Exception):
    def __init__(
        self, check: str, message: str, *, index: int | None = None, checkpoint_size: int | None = None
    ) -> None:
        super().__init__(message)
        self.check = check
        self.message = message
        self.index = index
        self.checkpoint_size = checkpoint_size

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "index": self.index,
            "checkpoint_size": self.checkpoint_size,
            "message": self.message,
        }
