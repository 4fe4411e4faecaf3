"""Whose word the verifier takes: pinned log keys, pinned witness keys, and what happens without them.

The export is the adversary's to write. Everything in it is checked against what it signs, but the
keys it ships (`public-key.vkey`, `key-history.jsonl`, the witnesses' vkeys next to their
cosignatures) are only its own word. So:

- The log key comes from the auditor (`--key`, repeatable for rotated logs, or `--key-file`). With
  none, the export's own key is used, the report says so loudly, and the verification FAILS
  (check `key_trust`) unless the auditor explicitly accepts that with `--trust-export-key`.
- Witness keys come from the auditor too (`--witness-key`, repeatable). A cosignature by a key not
  pinned is still checked (a bad one fails) but counts for nothing and is reported. When witness
  keys are pinned, at least one pinned witness must have cosigned a checkpoint of the export
  (check `witness`); since every checkpoint is proven consistent with the latest, that witness saw
  a prefix of this very history. The largest such size and its cosignature time are reported:
  entries beyond it rest on the node's key alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from audit.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    NoteError,
    SignatureLine,
    VerifierKey,
    cosignature_verify,
    parse_vkey,
)
from audit.verify.common import Failure, VerificationResult


@dataclass(frozen=True)
class Trust:
    """The auditor's pins. Build it with :func:`trust_from`."""

    keys: tuple[VerifierKey, ...] = ()
    witnesses: tuple[VerifierKey, ...] = ()
    trust_export_key: bool = False


def _parse_all(texts: Iterable[str], what: str, sig_type: int) -> tuple[VerifierKey, ...]:
    keys = []
    for text in texts:
        try:
            key = parse_vkey(text.strip())
        except NoteError as exc:
            raise ValueError(f"{what} is not a valid vkey: {exc}") from None
        if key.sig_type != sig_type:
            kind = "a note-signing key (type 0x01)" if sig_type == SIG_TYPE_ED25519 else "a cosigner key (type 0x04)"
            raise ValueError(f"{what} {key.vkey} is not {kind}")
        keys.append(key)
    return tuple(keys)


def read_key_file(path: str) -> list[str]:
    """A pinned key file: one vkey per line; blank lines and lines starting with # are ignored."""
    try:
        with open(path, encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the key file {path}: {exc}") from None
    keys = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not keys:
        raise ValueError(f"the key file {path} holds no vkey")
    return keys


def trust_from(
    *,
    key: str | Sequence[str] | None = None,
    key_file: str | None = None,
    witness_keys: Sequence[str] = (),
    trust_export_key: bool = False,
) -> Trust:
    """Parse the pins; raises ValueError for one that is not a vkey of the right type."""
    texts = [key] if isinstance(key, str) else list(key or ())
    if key_file:
        texts += read_key_file(key_file)
    return Trust(
        keys=_parse_all(texts, "the expected key", SIG_TYPE_ED25519),
        witnesses=_parse_all(witness_keys, "the witness key", SIG_TYPE_COSIGNATURE_V1),
        trust_export_key=trust_export_key,
    )


def unpinned_message(key: VerifierKey) -> str:
    return (
        f"NO TRUSTED KEY: the log key {key.vkey} was taken from the export itself, so a forger who wrote the "
        "whole export with a key of their own would pass too. Pin the key your agency publishes with --key "
        "(or --key-file)"
    )


def check_key_trust(trust: Trust, result: VerificationResult, export_key: VerifierKey) -> None:
    """Last check: the log key must be the auditor's, or trusting the export's must be explicit."""
    if trust.keys:
        result.key_pinned = True
        return
    message = unpinned_message(export_key)
    if trust.trust_export_key:
        result.warnings.append(message + "; --trust-export-key accepted it.")
        return
    raise Failure("key_trust", message + ", or accept it explicitly with --trust-export-key.")


@dataclass
class Witnessing:
    """Cosignatures seen so far: verified ones by pinned keys, and the unpinned ones."""

    trust: Trust
    pinned: list[tuple[int, VerifierKey, int]] = field(default_factory=list)  # (size, witness, timestamp)
    unpinned: list[tuple[int, VerifierKey]] = field(default_factory=list)

    def add(self, where: str, checkpoint: Checkpoint, witness_vkey: str, witness_name: str, line: str) -> None:
        """Verify one cosignature (any failure is a failure, pinned or not) and file it."""
        size = checkpoint.size
        try:
            witness = parse_vkey(witness_vkey)
            if witness.sig_type != SIG_TYPE_COSIGNATURE_V1:
                raise NoteError("witness vkey is not a cosignature/v1 key (type 0x04)")
            if witness.name != witness_name:
                raise NoteError(f"witness {witness_name!r} does not match its vkey name {witness.name!r}")
            text = line if line.endswith("\n") else line + "\n"
            timestamp = cosignature_verify(checkpoint, SignatureLine.parse(text), vkey=witness)
        except (NoteError, ValueError) as exc:
            raise Failure("cosignature", f"{where}: {exc}", checkpoint_size=size) from None
        if witness in self.trust.witnesses:
            self.pinned.append((size, witness, timestamp))
        else:
            self.unpinned.append((size, witness))

    def finish(self, result: VerificationResult) -> None:
        """Report unpinned cosigners; with witness pins, require one pinned cosignature."""
        result.cosignatures = len(self.pinned) + len(self.unpinned)
        for witness in sorted({w.vkey for _, w in self.unpinned}):
            if self.trust.witnesses:
                result.warnings.append(f"cosignature by the unpinned witness key {witness}: verified, not counted")
        if self.unpinned and not self.trust.witnesses:
            names = ", ".join(sorted({w.name for _, w in self.unpinned}))
            result.warnings.append(
                f"{len(self.unpinned)} cosignature(s) by {names} verified only against the witness keys the export "
                "ships: pin the witnesses' keys with --witness-key for them to count"
            )
        if not self.pinned:
            if self.trust.witnesses:
                pins = ", ".join(key.vkey for key in self.trust.witnesses)
                raise Failure(
                    "witness",
                    f"no pinned witness ({pins}) cosigned any checkpoint of this export: nobody but the node vouches "
                    "for this history",
                )
            return
        size, witness, timestamp = max(self.pinned, key=lambda item: (item[0], item[2]))
        result.witnessed = size
        result.witnessed_by = sorted({w.vkey for s, w, _ in self.pinned if s == size})
        result.witnessed_at = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if size < result.covered:
            result.warnings.append(
                f"the latest checkpoint a pinned witness cosigned has size {size} ({witness.name}, "
                f"{result.witnessed_at}): entries {size} to {result.covered - 1} rest on the node's key alone"
            )
