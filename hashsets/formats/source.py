"""Opening a hash-set file for streaming: hashing its bytes as they pass, skipping a BOM.

The SHA-256 covers the file exactly as stored (BOM included), so it identifies the upload. Text is
handed to the readers as UTF-8: a UTF-16 file (older Windows exporters wrote those) is transcoded on
the fly, in chunks, never as a whole.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

# MAX_TOKEN and size_text live with the JSON guard (casebridge.lib), which the API parser shares.
from casebridge.lib.json_guard import MAX_TOKEN as MAX_TOKEN
from casebridge.lib.json_guard import size_text as size_text

Source = str | os.PathLike | BinaryIO

_CHUNK = 1 << 16
HEAD_BYTES = 1 << 16  # how much detection looks at first
HEAD_BYTES_MAX = 1 << 20  # and at most, for a JSON file whose context comes late

# The longest single token a reader accepts, so that memory is bounded by it and not by the file:
# a JSON string (or stretch without a string) in bytes, a CSV field and a text line in characters.
# Real records need a few hundred; a long comment fits many times over. (MAX_TOKEN, imported above.)

BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class HashingRaw(io.RawIOBase):
    """A raw reader that feeds every byte it passes to SHA-256 and counts them."""

    def __init__(self, raw: BinaryIO):
        super().__init__()
        self._raw = raw
        self.sha256 = hashlib.sha256()
        self.nbytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        readinto = getattr(self._raw, "readinto", None)
        if readinto is not None:
            n = readinto(buffer) or 0
            if n:
                self.sha256.update(memoryview(buffer)[:n])
        else:
            data = self._raw.read(len(buffer))
            n = len(data)
            if n:
                buffer[:n] = data
                self.sha256.update(data)
        self.nbytes += n
        return n

    def drain(self) -> None:
        """Hash what the parser did not need to read (trailing whitespace, say)."""
        while True:
            data = self._raw.read(_CHUNK)
            if not data:
                return
            self.sha256.update(data)
            self.nbytes += len(data)


class Utf8FromText(io.RawIOBase):
    """Bytes in UTF-8 from a text stream (for a UTF-16 file handed to the JSON parser)."""

    def __init__(self, text: io.TextIOBase):
        super().__init__()
        self._text = text
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while len(self._pending) < len(buffer):
            chunk = self._text.read(_CHUNK)
            if not chunk:
                break
            self._pending += chunk.encode("utf-8")
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class LineTooLong(Exception):
    """A text line longer than the limit (`args[0]`); the reader names the record and the line."""


def bounded_lines(text: io.TextIOBase, limit: int = MAX_TOKEN) -> Iterator[str]:
    """The lines of `text`, each read with `readline(limit)` so that no line is ever held whole.

    Raises LineTooLong at a line longer than `limit` characters (its line end not counted).
    """
    readline = text.readline
    size = limit + 1
    while True:
        line = readline(size)
        if not line:
            return
        if len(line) == size and line[-1] not in "\r\n":
            raise LineTooLong(limit)
        yield line


def encoding_of(head: bytes) -> str:
    for bom, name in BOMS:
        if head.startswith(bom):
            return name
    return "utf-8"


def read_head(source: Source, limit: int = HEAD_BYTES) -> bytes:
    """The first `limit` bytes; a file object is put back where it was."""
    if hasattr(source, "read"):
        pos = source.tell()
        try:
            return source.read(limit)
        finally:
            source.seek(pos)
    with open(source, "rb") as f:
        return f.read(limit)


def decode_head(head: bytes, encoding: str) -> str:
    """The head as text, without the BOM and without a character cut in half at the end."""
    if encoding == "utf-8-sig":
        head = head[len(codecs.BOM_UTF8) :]
        encoding = "utf-8"
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    return decoder.decode(head, final=False)


class OpenedSource:
    """A file opened for one pass: `binary()` for the JSON parser or `text()` for CSV and lists."""

    def __init__(self, raw: BinaryIO, encoding: str):
        self.hashing = HashingRaw(raw)
        self.buffered = io.BufferedReader(self.hashing, _CHUNK)
        self.encoding = encoding
        if encoding == "utf-8-sig":
            self.buffered.read(len(codecs.BOM_UTF8))

    def binary(self) -> io.RawIOBase | io.BufferedReader:
        if self.encoding.startswith("utf-8"):
            return self.buffered
        text = io.TextIOWrapper(self.buffered, encoding=self.encoding, errors="strict")
        return io.BufferedReader(Utf8FromText(text), _CHUNK)

    def text(self, newline: str | None = "") -> io.TextIOWrapper:
        encoding = "utf-8" if self.encoding.startswith("utf-8") else self.encoding
        return io.TextIOWrapper(self.buffered, encoding=encoding, errors="strict", newline=newline)

    def finish(self) -> tuple[str, int]:
        """(sha256 hex, size) of the whole file, reading whatever is left."""
        self.hashing.drain()
        return self.hashing.sha256.hexdigest(), self.hashing.nbytes


@contextmanager
def open_source(source: Source, encoding: str):
    """Open a path (closed afterwards) or use a binary file object from where it stands (left open)."""
    if hasattr(source, "read"):
        yield OpenedSource(source, encoding)
        return
    with open(source, "rb") as f:
        yield OpenedSource(f, encoding)
