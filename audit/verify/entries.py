"""Reading entries.jsonl: every line canonical JSON with the expected index, hashed into the tree.

One reading path for every entry, whatever the export kind: `read_entries` streams a full export,
`check_entry` checks one line of a range export; both end in `_check_lines`.
"""

from __future__ import annotations

import hashlib
import json
from itertools import pairwise
from operator import itemgetter
from typing import Any

from audit import merkle
from audit.verify.common import CHUNK, ROTATION_MARK, Failure
from casebridge.lib.canonical_json import CanonicalJSONError, canonical_json

# Every entry line must be byte-for-byte canonical_json(json.loads(line)): the literal check,
# _slow_entry(). Done literally it costs a Python-level serialization per line, so two faster
# tiers go first. Each either PROVES that the literal check would accept the line, or defers to
# the next tier; the literal check alone rejects. The tiers can only make verification faster,
# never laxer (tests/audit/test_verify.py checks the verdicts against the literal check).
#
# Tier 1, no parsing at all (lines without escapes: the vast majority):
#   a. No backslash and no byte below 0x20 in the line. So no string has an escape or a raw
#      control character, the `"` bytes are exactly the string delimiters, and each string's
#      canonical form is its raw text between quotes. The line splits on `"` into an odd
#      number of parts: even ones are the text outside strings (the "skeleton"), odd ones the
#      strings' UTF-8 contents. The line must decode as UTF-8.
#   b. The skeleton, with every digit mapped to "1" and each string reduced to one `"`, must be
#      a JSON object in canonical form (no whitespace, integers of at most 15 digits, true /
#      false / null), checked once per distinct shape by a small parser and cached. The real
#      first digit of every negative or multi-digit integer must not be 0 (no "-0", no leading
#      zero); the shape records where those digits are.
#   c. The member names of every object, taken from the odd parts, must be strictly increasing
#      as UTF-8 bytes (sorted and unique). Byte order equals RFC 8785's UTF-16 order when the
#      line has no character outside the BMP; lines with 4-byte UTF-8 sequences are deferred.
#      The verdict is cached per shape and sequence of names (joined with NUL, which tier 1
#      lines cannot contain).
#   d. The top-level member "index" must be an integer; its digits are read from the skeleton.
#
# Tier 2, the C JSON scanner and encoder: for lines that parse without floats, NaN or Infinity,
# have no run of 16 or more digits (RFC 8785 integers stop at 2**53 - 1) and no character
# outside the BMP, json's C encoder with sort_keys and ensure_ascii=False writes exactly what
# canonical_json writes; comparing its output with the line decides.

_CTRL_OR_BACKSLASH = bytes(range(0x20)) + b"\\"
_CTRL_OR_BACKSLASH_BUT_NEWLINE = _CTRL_OR_BACKSLASH.replace(b"\n", b"")
_DIGITS_TO_ONE = bytes.maketrans(b"0123456789", b"1111111111")
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_SIXTEEN_DIGITS = b"0" * 16
_MAX_SHAPES = 65536
_MAX_NAME_SETS = 1024  # per shape
_MAX_KNOWN_TOTAL = 100_000  # over all shapes: the caches stay small whatever the export holds
_KNOWN_TOTAL = [0]
_SHAPES: dict[bytes, _Shape | None] = {}
_LEAF_PREFIX = hashlib.sha256(b"\x00")


class _Shape:
    """What one skeleton shape tells about its lines: where member names are, where "index" is."""

    __slots__ = ("first_digits", "known", "names", "pairs", "top")

    def __init__(
        self, names: Any, pairs: list[tuple[int, int]], top: list[tuple[int, str, int]], first_digits: Any
    ) -> None:
        self.names = names  # parts -> tuple of every member name, in text order
        self.pairs = pairs  # (i, j): names[i] must sort before names[j] (same object, adjacent)
        self.top = top  # (position in names, value kind, part holding the value) per top-level member
        self.first_digits = first_digits  # skeleton -> first digits that must not be "0" (or None)
        self.known: dict[bytes, int] = {}

    def index_part(self, names: tuple[bytes, ...], joined: bytes) -> int:
        """The part holding the "index" digits if the names are in canonical order, else 0."""
        part = 0
        if all(names[i] < names[j] for i, j in self.pairs):
            for position, kind, value_part in self.top:
                if names[position] == b"index" and kind == "number":
                    part = value_part
        if len(self.known) < _MAX_NAME_SETS and _KNOWN_TOTAL[0] < _MAX_KNOWN_TOTAL:
            self.known[joined] = part
            _KNOWN_TOTAL[0] += 1
        return part


def _shape(shape: bytes) -> _Shape | None:
    """Parse a skeleton shape (digits as '1', one '"' per string); None unless a canonical object."""
    tokens: list[tuple[str, int]] = []
    first_digits: list[int] = []
    position, length, strings = 0, len(shape), 0
    while position < length:
        byte = shape[position]
        if byte in b"{}[]:,":
            tokens.append((chr(byte), 0))
            position += 1
        elif byte == 0x22:
            tokens.append(('"', strings))
            strings += 1
            position += 1
        elif byte == 0x2D or byte == 0x31:
            end = position + 1
            while end < length and shape[end] == 0x31:
                end += 1
            digits = end - position - (byte == 0x2D)
            if not 1 <= digits <= 15:
                return None
            if byte == 0x2D or digits > 1:  # canonical only if this first digit is not 0
                first_digits.append(end - digits)
            tokens.append(("number", 0))
            position = end
        else:
            for literal in (b"true", b"false", b"null"):
                if shape.startswith(literal, position):
                    tokens.append(("literal", 0))
                    position += len(literal)
                    break
            else:
                return None

    names: list[int] = []
    pairs: list[tuple[int, int]] = []
    top: list[tuple[int, str, int]] = []
    cursor = 0

    def take(kind: str) -> bool:
        nonlocal cursor
        if cursor < len(tokens) and tokens[cursor][0] == kind:
            cursor += 1
            return True
        return False

    def value(depth: int) -> str:
        nonlocal cursor
        if cursor >= len(tokens) or depth > 100:
            raise ValueError
        kind, string = tokens[cursor]
        cursor += 1
        if kind == "{":
            own: list[int] = []
            if take("}"):
                return "object"
            while True:
                if cursor >= len(tokens) or tokens[cursor][0] != '"':
                    raise ValueError
                string = tokens[cursor][1]
                cursor += 1
                if not take(":"):
                    raise ValueError
                own.append(len(names))
                names.append(2 * string + 1)
                member = value(depth + 1)
                if depth == 0:
                    top.append((own[-1], member, 2 * string + 2))
                if take(","):
                    continue
                if take("}"):
                    break
                raise ValueError
            pairs.extend(pairwise(own))
            return "object"
        if kind == "[":
            if take("]"):
                return "array"
            while True:
                value(depth + 1)
                if take(","):
                    continue
                if take("]"):
                    return "array"
                raise ValueError
        if kind in ('"', "number", "literal"):
            return kind
        raise ValueError

    try:
        if not tokens or tokens[0][0] != "{" or value(0) != "object" or cursor != len(tokens) or not names:
            return None
    except ValueError:
        return None
    return _Shape(_tuple_getter(names), pairs, top, _tuple_getter(first_digits) if first_digits else None)


def _tuple_getter(positions: list[int]) -> Any:
    """Like itemgetter(*positions), but always returning a tuple."""
    if len(positions) == 1:
        (only,) = positions
        return lambda sequence: (sequence[only],)
    return itemgetter(*positions)


class _NotFast(Exception):
    pass


def _not_fast(_: str) -> None:
    raise _NotFast


_SCAN = json.JSONDecoder(parse_float=_not_fast, parse_constant=_not_fast).scan_once
if json.encoder.c_make_encoder is not None:  # CPython: the C encoder, without the per-call setup
    _C_ENCODER = json.encoder.c_make_encoder(
        None, None, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )

    def _encode(value: Any) -> str:
        return "".join(_C_ENCODER(value, 0))

else:  # pragma: no cover - other interpreters
    _encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode


def _tier2(line: bytes) -> Any:
    """The value of a line proven canonical by the C scanner and encoder, else None."""
    if _SIXTEEN_DIGITS in line.translate(_DIGITS_TO_ZERO) or not (line.isascii() or max(line) < 0xF0):
        return None
    try:
        text = line.decode()
        value, end = _SCAN(text, 0)
        if end == len(text) and _encode(value) == text:
            return value
    except (_NotFast, ValueError, StopIteration, RecursionError):
        pass
    return None


class DuplicateName(ValueError):
    pass


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateName(name)
            seen.add(name)
    return result


def where(index: int) -> str:
    return f"entry {index} (line {index + 1})"


def _slow_entry(line: bytes, index: int) -> Any:
    """The literal check: decode, parse, re-serialize with canonical_json, compare bytes."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Failure("entry_format", f"{where(index)} is not valid UTF-8 (byte {exc.start})", index=index) from None
    try:
        value = json.loads(text, object_pairs_hook=no_duplicates)
    except DuplicateName as exc:
        raise Failure(
            "entry_canonical", f"{where(index)} repeats the member name {exc.args[0]!r}", index=index
        ) from None
    except (ValueError, RecursionError) as exc:
        raise Failure("entry_format", f"{where(index)} is not valid JSON: {exc}", index=index) from None
    if type(value) is not dict:
        raise Failure("entry_format", f"{where(index)} is not a JSON object", index=index)
    try:
        canonical = canonical_json(value)
    except (CanonicalJSONError, RecursionError) as exc:
        raise Failure("entry_canonical", f"{where(index)} has no RFC 8785 canonical form: {exc}", index=index) from None
    if canonical != line:
        at = next(
            (i for i, (a, b) in enumerate(zip(canonical, line, strict=False)) if a != b), min(len(canonical), len(line))
        )
        raise Failure(
            "entry_canonical",
            f"{where(index)} is not in RFC 8785 canonical form (first difference at byte {at})",
            index=index,
        )
    return value


def _check_lines(lines: list[bytes], first: int, *, clean: bool = False, utf8: bool = False) -> list[bytes]:
    """Check complete entry lines (newline removed) numbered from ``first``; return leaf hashes.

    ``clean``: the caller checked that no line has a backslash or control byte; ``utf8``: that
    every line is valid UTF-8 (both are cheaper to establish once per chunk).
    """
    new_leaf = _LEAF_PREFIX.copy  # copying a primed context is cheaper than a new one
    shapes = _SHAPES
    hashes = []
    append = hashes.append
    index = first
    for line in lines:
        got: Any = None
        # Tier 1 (see above).
        if clean or len(line.translate(None, _CTRL_OR_BACKSLASH)) == len(line):
            parts = line.split(b'"')
            if len(parts) & 1:
                skeleton = b'"'.join(parts[0::2])
                key = skeleton.translate(_DIGITS_TO_ONE)
                shape = shapes.get(key, False)
                if shape is False:
                    shape = _shape(key)
                    if len(shapes) < _MAX_SHAPES:
                        shapes[key] = shape
                if (
                    shape is not None
                    and (shape.first_digits is None or 0x30 not in shape.first_digits(skeleton))
                    and (line.isascii() or max(line) < 0xF0)
                ):
                    names = shape.names(parts)
                    joined = b"\x00".join(names)
                    part = shape.known.get(joined)
                    if part is None:
                        part = shape.index_part(names, joined)
                    if part:
                        try:
                            utf8 or line.decode()
                            got = int(parts[part][1:-1])
                        except UnicodeDecodeError:
                            got = None
        if got is None:
            value = _tier2(line)
            if value is None:
                value = _slow_entry(line, index)
            if type(value) is not dict:
                raise Failure("entry_format", f"{where(index)} is not a JSON object", index=index)
            got = value.get("index")
        if got != index or type(got) is not int:
            if type(got) is not int:
                message = f"{where(index)} has no integer 'index' member"
            else:
                message = f"{where(index)} has index {got}, expected {index} (lines missing or out of order)"
            raise Failure("entry_index", message, index=index)
        leaf = new_leaf()
        leaf.update(line)
        append(leaf.digest())
        index += 1
    return hashes


def read_entries(path: str, tree: merkle.MemoryTree, rotations: list[tuple[int, bytes]]) -> tuple[str, Failure | None]:
    """Stream entries.jsonl into ``tree``; return its SHA-256 and the first entry failure.

    Lines that may record a key rotation are collected in ``rotations`` as (index, line).
    """
    digest = hashlib.sha256()
    failure: Failure | None = None
    pending: list[bytes] = []  # the start of a line that continues in the next chunk
    with open(path, "rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
            if failure is not None:
                continue  # keep hashing: a digest mismatch outranks the entry failure
            cut = chunk.rfind(b"\n") + 1
            if not cut:
                pending.append(chunk)
                continue
            region = b"".join([*pending, chunk[:cut]]) if pending else chunk[:cut]
            pending = [chunk[cut:]] if cut < len(chunk) else []
            lines = region.split(b"\n")
            lines.pop()  # the empty string after the last newline
            clean = len(region.translate(None, _CTRL_OR_BACKSLASH_BUT_NEWLINE)) == len(region)
            try:
                region.decode()
                utf8 = True
            except UnicodeDecodeError:
                utf8 = False
            try:
                hashes = _check_lines(lines, tree.size, clean=clean, utf8=utf8)
            except Failure as exc:
                failure = exc
                continue
            if ROTATION_MARK in region:  # rare: one bytes search per chunk otherwise
                rotations.extend((tree.size + n, line) for n, line in enumerate(lines) if ROTATION_MARK in line)
            tree.extend(hashes)
    if failure is None and pending:
        failure = Failure("entry_format", f"{where(tree.size)} is not terminated by a newline", index=tree.size)
    return digest.hexdigest(), failure


def check_entry(line: bytes, index: int) -> bytes:
    """One entry of a range export: canonical, with ``index``; returns its leaf hash."""
    if b"\n" in line:
        raise Failure("entry_format", f"{where(index)} contains a newline", index=index)
    return _check_lines([line], index)[0]
