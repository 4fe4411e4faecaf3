"""The registry of bundle kinds. Apps register what they produce and apply; exchange knows no more.

A kind names its data type (what sharing agreements allow: "hashset", "lead", ...) and an
`apply` function that runs inside the inbox transaction with the verified plaintext. `apply`
returns a short summary for the inbox list, or raises `ApplyRefused` with a reason the sender
will see; anything it changed is then rolled back with the rest of the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from agencies.models import Agency


class ApplyRefused(Exception):
    """The payload is well-formed crypto-wise but its content cannot be applied."""


@dataclass(frozen=True)
class ApplyContext:
    recipient: Agency
    sender: Agency
    header: dict
    plaintext: Path  # the verified payload, on disk (JSON Lines for bulk kinds)


@dataclass(frozen=True)
class Produced:
    """What a producer hands to the outbox: the plaintext payload and how it is marked."""

    payload: bytes | Callable[[], Iterable[bytes]]
    tlp: str
    summary: str
    markings: dict | None = None


@dataclass(frozen=True)
class BundleKind:
    name: str
    data_type: str
    apply: Callable[[ApplyContext], str]
    # produce(sender agency, object id) -> Produced; used when a share is approved later (four eyes).
    produce: Callable[[Agency, str], Produced] | None = None


_KINDS: dict[str, BundleKind] = {}


def register_kind(kind: BundleKind) -> None:
    existing = _KINDS.get(kind.name)
    if existing is not None and existing != kind:
        raise RuntimeError(f"bundle kind {kind.name!r} is registered twice")
    _KINDS[kind.name] = kind


def kind_get(name: str) -> BundleKind | None:
    return _KINDS.get(name)


def kinds_all() -> dict[str, BundleKind]:
    return dict(_KINDS)


DATA_TYPES = ["hashset", "lead", "agency", "audit"]
