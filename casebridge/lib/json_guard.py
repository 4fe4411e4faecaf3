"""A byte stream that refuses deeply nested JSON and over-long tokens before a parser sees them.

Shared by every JSON reader that takes untrusted bytes: the hash-set import (VICS, through ijson)
and the API's request parser (`casebridge.parsers.JSONParser`). Python's `json` recurses once per
level (about 1,000 levels raise RecursionError, a 500), and yajl's prefix stack grows with the
square of the depth, so depth is bounded here, on the bytes, before either parser runs.

Pure module: no Django import.
"""

from __future__ import annotations

import json
import re

# Deepest nesting accepted. A hash set is 5 levels deep ({ value [ { AlternativeHashes [ { ), a case
# file 7 (value [ { Media [ { ... ), an API body fewer. The limit is far above that so that an odd
# but harmless file (1,000 nested arrays, say) still gets a message about its record, and low enough
# that yajl's prefix stack, which grows with the square of the depth, stays at a few MB (100,000
# levels: 25 GB).
MAX_DEPTH = 1024
MAX_TOKEN = 1 << 20  # bytes without a quote: one string, or a run of anything else, held whole


def size_text(nbytes: int, unit: str = "bytes") -> str:
    """1048576 -> "1 MiB (1,048,576 bytes)", for messages that name a limit."""
    if nbytes >= 1 << 20 and nbytes % (1 << 20) == 0:
        return f"{nbytes >> 20} MiB ({nbytes:,} {unit})"
    return f"{nbytes:,} {unit}"


class JsonLimitError(Exception):
    """Raised by `JsonGuard.read`: the JSON is nested too deep or holds a token that is too long."""

    def __init__(self, field: str | None, message: str):
        super().__init__(field, message)
        self.field = field
        self.message = message


_STRUCTURE = re.compile(rb'["\[\]{}]')
# quotes and brackets kept, openers as "(" and closers as ")", everything else dropped
_BRACKETS = bytes.maketrans(b"[{]}", b"(())")
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b'"[]{}')
_KEY_BEFORE = re.compile(rb'"((?:[^"\\]|\\.){1,200})"\s*:\s*\Z')
_CONTEXT = 256  # bytes kept in front of an open string, to name its key
_PASSES = 16  # nesting inside one chunk settled by the quick pass; deeper chunks are walked


class JsonGuard:
    """A byte stream for ijson that refuses deep nesting and long tokens before the parser sees them.

    It tracks, across chunk boundaries, whether it is inside a string (escapes included), the
    nesting depth of `[` and `{` outside strings, and how many bytes have passed since the last
    quote. Most chunks are settled with a few whole-buffer operations (translate, replace, split):
    an upper bound of the depth inside the chunk, and the quote-free run across its ends. Only a
    chunk whose bound could pass a limit is walked token by token to find the exact spot. The bytes
    in front of a fault are handed on and the next read raises `JsonLimitError`, so the parser has
    yielded every complete record before it.

    Subclasses name the format in `depth_hint` and `blank_hint`, added to the messages.
    """

    depth_hint = ""
    blank_hint = ""

    def __init__(self, raw, max_depth: int = MAX_DEPTH, max_token: int = MAX_TOKEN) -> None:
        self._read = raw.read
        self.max_depth = max_depth
        self.max_token = max_token
        self._chunk = max(1, min(1 << 16, max_token // 2))  # a quote-free run > max_token spans chunks
        self.depth = 0
        self.in_string = False
        self.run = 0  # bytes since the last quote
        self.offset = 0  # bytes handed on so far
        self._escaped = False  # the last chunk ended in a lone backslash: the next byte is escaped
        self._tail = b""  # the last bytes handed on
        self._before_open = b""  # the bytes in front of the string still open
        self._error: JsonLimitError | None = None

    def read(self, size: int = -1) -> bytes:
        if self._error is not None:
            raise self._error
        if size is None or size < 0 or size > self._chunk:
            size = self._chunk
        data = self._read(size)
        if not data:
            return data
        cut = self._scan(data)
        if cut is not None:
            data = data[:cut]
            if not data:
                raise self._error
        self.offset += len(data)
        self._tail = data[-_CONTEXT:]
        return data

    # ---- the quick pass over a whole chunk

    def _scan(self, data: bytes) -> int | None:
        """None when the chunk is fine (state moved past it), else where to cut it."""
        scan = data
        if self._escaped:
            scan = b"_" + scan[1:]
        if b"\\" in scan:
            # Only \\ and \" change where strings end: blank them, keeping the length (offsets
            # stay the file's). A backslash before anything else is text in a string and bad JSON
            # outside one, where the parser stops anyway.
            scan = scan.replace(b"\\\\", b"__").replace(b'\\"', b"__")
        escaped = scan[-1:] == b"\\"
        first = scan.find(b'"')
        if (self.run + len(scan) if first < 0 else self.run + first) > self.max_token:
            return self._walk(data, scan, escaped)
        compact = scan.translate(_BRACKETS, _NOT_STRUCTURE)
        if self.in_string:
            compact = b'"' + compact  # so that an even count of quotes in front means "outside"
        # An adjacent pair of quotes is an empty string or an empty stretch between two strings:
        # dropping it keeps every other byte on its side of the quotes.
        compact = compact.replace(b'""', b"")
        if b'"' in compact:
            parts = compact.split(b'"')
            in_string = len(parts) % 2 == 0
            brackets = b"".join(parts[0::2])
        else:
            in_string = False
            brackets = compact
        depth = self.depth
        if brackets:
            # Drop matched "()" pass by pass: the passes bound the nesting among them; the "(" left
            # over are openers still open at the end of the chunk. Deep stretches (many passes)
            # are cheaper to walk.
            rest, passes = brackets, 0
            while b"()" in rest:
                passes += 1
                if passes > _PASSES or depth + passes > self.max_depth:
                    return self._walk(data, scan, escaped)
                rest = rest.replace(b"()", b"")
            opened = rest.count(b"(")
            if depth + opened + passes > self.max_depth:
                return self._walk(data, scan, escaped)
            depth = max(0, depth + 2 * opened - len(rest))  # below 0 is bad JSON: yajl says so
        self.depth = depth
        self.in_string = in_string
        self._escaped = escaped
        if first < 0:
            self.run += len(scan)
        else:
            last = scan.rfind(b'"')
            self.run = len(scan) - last - 1
            if in_string:
                self._before_open = (self._tail + data[:last])[-_CONTEXT:]
        return None

    # ---- the exact walk, for a chunk that may break a limit

    def _walk(self, data: bytes, scan: bytes, escaped: bool) -> int | None:
        depth, in_string, limit = self.depth, self.in_string, self.max_token
        last = -self.run - 1  # where the last quote was, relative to this chunk
        opened_here = -1  # where the string still open began, if in this chunk
        for match in _STRUCTURE.finditer(scan):
            at = match.start()
            if at - last - 1 > limit:
                break
            char = scan[at]
            if char == 34:  # "
                in_string = not in_string
                last = at
                if in_string:
                    opened_here = at
            elif in_string:
                continue
            elif char == 91 or char == 123:  # [ {
                depth += 1
                if depth > self.max_depth:
                    self._error = JsonLimitError(
                        None,
                        f"the JSON is nested deeper than {self.max_depth:,} levels (at byte {self.offset + at:,})"
                        + (f"; {self.depth_hint}" if self.depth_hint else ""),
                    )
                    return at
            elif depth:
                depth -= 1
        if opened_here >= 0:
            self._before_open = (self._tail + data[:opened_here])[-_CONTEXT:]
        if len(scan) - last - 1 > limit:
            return self._too_long(last + 1 + limit, in_string)
        self.depth, self.in_string, self._escaped = depth, in_string, escaped
        self.run = len(scan) - last - 1
        return None

    def _too_long(self, cut: int, in_string: bool) -> int:
        size = size_text(self.max_token)
        if in_string:
            key = _KEY_BEFORE.search(self._before_open)
            field = None
            if key:
                try:
                    field = json.loads(b'"' + key.group(1) + b'"')
                except ValueError:
                    field = None
            self._error = JsonLimitError(
                field,
                f"a JSON string longer than {size} (at byte {self.offset + cut:,}), the most one value may hold",
            )
        else:
            self._error = JsonLimitError(
                None,
                f"more than {size} of JSON without a single string (at byte {self.offset + cut:,})"
                + (f": {self.blank_hint}" if self.blank_hint else ""),
            )
        return max(0, cut)
