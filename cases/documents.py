"""What is inside an attached document: bounded ZIP reading (M4) and embedded pictures (M5).

Casebridge never stores imagery, and a document can carry pictures inside it: an office file is a
ZIP with `word/media/image1.png`, a PDF holds image XObjects or inline images, an RTF `\\pict`
groups. Those are refused like a bare picture. Office files are ZIPs, so they are also where a
decompression bomb hides (398 KiB holding a 400 MiB entry): the archive's central directory is
checked against fixed bounds before a byte is decompressed, and entries are then read through a
bounded stream, in small blocks, never whole.

`DocumentRefused` carries a sentence for the investigator; the service adds the file's name.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Iterator
from typing import BinaryIO

from hashsets.hashing import sniff_media_type

# ZIP bounds, from the central directory. An office document is a few hundred entries of XML that
# compresses 5 to 30 times; the limits are far above that and far below what hurts a worker.
ZIP_MAX_ENTRIES = 2_000
ZIP_MAX_ENTRY_BYTES = 64 << 20  # one entry, uncompressed
ZIP_MAX_TOTAL_BYTES = 128 << 20  # all entries, uncompressed
ZIP_MAX_RATIO = 100  # uncompressed / compressed, per entry (above ZIP_RATIO_FLOOR) and overall
ZIP_RATIO_FLOOR = 1 << 20  # entries smaller than this may compress as well as they like
ZIP_HEAD_BYTES = 4096  # read of each entry: enough to sniff a picture, whatever the entry's name
# PDF streams are decompressed to look for inline images: bounded the same way.
PDF_MAX_INFLATED_BYTES = 128 << 20
_BLOCK = 1 << 16


class DocumentRefused(ValueError):
    """The document may not be attached; `message` says why, for the person who tried."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


_NEVER_IMAGERY = "Casebridge never stores imagery: remove the pictures (or attach the text only) and try again."


def _picture(where: str) -> DocumentRefused:
    return DocumentRefused(f"it embeds a picture ({where}). {_NEVER_IMAGERY}")


# --- ZIP (office documents) -------------------------------------------------------------------

_PICTURE_DIRS = re.compile(r"(^|/)(media|pictures|embeddings|objectreplacements|thumbnails)/", re.IGNORECASE)
_PICTURE_EXTENSIONS = re.compile(
    r"\.(png|jpe?g|jfif|gif|bmp|dib|tiff?|webp|heic|heif|avif|ico|svgz?|emf|wmf|emz|wmz|jp2|j2k|wdp|jxr|pct|pict)$",
    re.IGNORECASE,
)
# OOXML [Content_Types].xml and ODF META-INF/manifest.xml name each part's media type.
_IMAGE_TYPE = re.compile(rb"""(?:ContentType|media-type)\s*=\s*["']image/""", re.IGNORECASE)
_TYPE_LISTS = {"[content_types].xml", "meta-inf/manifest.xml"}


def zip_check(handle: BinaryIO) -> zipfile.ZipFile:
    """The open archive, after its central directory passed the bounds; DocumentRefused if not."""
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise DocumentRefused(f"it is not a readable ZIP file ({exc}).") from None
    entries = archive.infolist()
    if len(entries) > ZIP_MAX_ENTRIES:
        raise DocumentRefused(f"it holds {len(entries):,} entries; an office document may hold {ZIP_MAX_ENTRIES:,}.")
    total = compressed = 0
    for info in entries:
        if info.file_size > ZIP_MAX_ENTRY_BYTES:
            raise DocumentRefused(
                f"its part {info.filename[:80]!r} unpacks to {info.file_size:,} bytes, over the "
                f"{ZIP_MAX_ENTRY_BYTES >> 20} MiB a part may hold (a decompression bomb?)."
            )
        if info.file_size > ZIP_RATIO_FLOOR and info.file_size > ZIP_MAX_RATIO * max(1, info.compress_size):
            raise DocumentRefused(
                f"its part {info.filename[:80]!r} unpacks {info.file_size // max(1, info.compress_size):,} times "
                f"its packed size, over the {ZIP_MAX_RATIO} a document needs (a decompression bomb?)."
            )
        if info.compress_size > info.file_size + info.file_size // 100 + 1024:
            # Deflate expands incompressible data by a fraction of a percent: more packed bytes than
            # that is a size field that lies, to slip an entry under the bounds above.
            raise DocumentRefused(
                f"its part {info.filename[:80]!r} declares {info.file_size:,} bytes but packs "
                f"{info.compress_size:,}: the archive is damaged or forged."
            )
        total += info.file_size
        compressed += info.compress_size
    if total > ZIP_MAX_TOTAL_BYTES:
        raise DocumentRefused(
            f"it unpacks to {total:,} bytes, over the {ZIP_MAX_TOTAL_BYTES >> 20} MiB a document may hold "
            "(a decompression bomb?)."
        )
    if total > ZIP_RATIO_FLOOR and total > ZIP_MAX_RATIO * max(1, compressed):
        raise DocumentRefused(
            f"it unpacks {total // max(1, compressed):,} times its packed size, over the {ZIP_MAX_RATIO} a "
            "document needs (a decompression bomb?)."
        )
    return archive


def zip_read_bounded(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> Iterator[bytes]:
    """The entry's bytes in blocks, at most `limit` of them and never more than its declared size
    (a local header that lies about the size is caught by zipfile's CRC and length checks)."""
    left = min(limit, info.file_size)
    try:
        with archive.open(info) as entry:
            while left > 0 and (block := entry.read(min(_BLOCK, left))):
                left -= len(block)
                yield block
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error, NotImplementedError) as exc:
        raise DocumentRefused(f"its part {info.filename[:80]!r} cannot be read ({exc}).") from None


def zip_head(archive: zipfile.ZipFile, name: str, size: int) -> bytes:
    """The first `size` bytes of an entry, read through the bounded stream."""
    return b"".join(zip_read_bounded(archive, archive.getinfo(name), size))


def zip_pictures(archive: zipfile.ZipFile) -> None:
    """DocumentRefused when an office archive carries a picture: by folder, name, declared type or content."""
    for info in archive.infolist():
        name = info.filename
        if info.is_dir():
            continue
        if _PICTURE_DIRS.search(name) or _PICTURE_EXTENSIONS.search(name):
            raise _picture(f"the part {name[:80]!r}")
        head = b"".join(zip_read_bounded(archive, info, ZIP_HEAD_BYTES))
        if sniff_media_type(head) or _OLE_PICTURE.search(head):
            raise _picture(f"the part {name[:80]!r} is a picture")
        if name.lower() in _TYPE_LISTS:
            for block in _overlapping(zip_read_bounded(archive, info, ZIP_MAX_ENTRY_BYTES)):
                if _IMAGE_TYPE.search(block):
                    raise _picture(f"{name} declares image content")


def _overlapping(blocks: Iterator[bytes], keep: int = 256) -> Iterator[bytes]:
    """Blocks with the tail of the one before in front, so a pattern across a boundary is found."""
    tail = b""
    for block in blocks:
        yield tail + block
        tail = (tail + block)[-keep:]


# --- PDF --------------------------------------------------------------------------------------

_PDF_NAME_ESCAPE = re.compile(rb"#([0-9A-Fa-f]{2})")
_PDF_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
_PDF_IMAGE_FILTERS = re.compile(rb"/(DCTDecode|JPXDecode|JBIG2Decode|CCITTFaxDecode|DCT|CCF)\b")
_PDF_STREAM = re.compile(rb"stream\r?\n")
_PDF_INLINE = re.compile(rb"(?:^|[\s\]>)])BI\s*/[A-Za-z]+[\s\S]{0,4096}?\sID\s")


def _pdf_names(data: bytes) -> bytes:
    """`/Im#61ge` is `/Image`: name escapes decoded, so they cannot hide a keyword."""
    return _PDF_NAME_ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), data) if b"#" in data else data


def pdf_pictures(data: bytes) -> None:
    """DocumentRefused when a PDF holds an image XObject, an image-only filter or an inline image.

    Image dictionaries are never inside object streams (they are streams themselves), so they are
    found in the file's own bytes; inline images live in content streams, which are inflated here
    within PDF_MAX_INFLATED_BYTES all told."""
    plain = _pdf_names(data)
    if _PDF_IMAGE.search(plain):
        raise _picture("an image object")
    if _PDF_IMAGE_FILTERS.search(plain):
        raise _picture("a JPEG or scanned-image stream")
    budget = PDF_MAX_INFLATED_BYTES
    for match in _PDF_STREAM.finditer(data):
        start = match.end()
        end = data.find(b"endstream", start)
        raw = data[start : end if end >= 0 else len(data)]
        if sniff_media_type(raw[:64]):
            raise _picture("a stream that is a picture")
        if _PDF_INLINE.search(raw):  # an uncompressed content stream
            raise _picture("an inline image")
        # Whatever the dictionary says, try to inflate it: a stream that is not Flate fails at once.
        budget = _pdf_inflated_pictures(raw, budget)
        if budget <= 0:
            raise DocumentRefused(
                f"its compressed content unpacks to more than {PDF_MAX_INFLATED_BYTES >> 20} MiB "
                "(a decompression bomb?)."
            )


def _pdf_inflated_pictures(raw: bytes, budget: int) -> int:
    """Inflate one stream within `budget` bytes, looking for pictures; the budget left."""
    inflater = zlib.decompressobj()
    pending, tail, first = raw, b"", True
    try:
        while pending and budget > 0:
            block = inflater.decompress(pending, min(_BLOCK * 16, budget))
            pending = inflater.unconsumed_tail
            budget -= len(block)
            if not block:
                break
            if first and sniff_media_type(block[:64]):
                raise _picture("a stream that is a picture")
            first = False
            window = tail + block
            if _PDF_INLINE.search(window) or _PDF_IMAGE.search(_pdf_names(window)):
                raise _picture("an inline image")
            tail = window[-4200:]
    except zlib.error:
        pass  # not Flate, or damaged: nothing a reader would show either
    return budget


# --- RTF and legacy office --------------------------------------------------------------------

_RTF_PICTURE = re.compile(rb"\\(pict|shppict|nonshppict|objdata|objemb|blipuid)(?![A-Za-z])")
# A PNG, JPEG or GIF signature anywhere in a legacy (OLE2) office file: its pictures are stored as is.
_OLE_PICTURE = re.compile(rb"\x89PNG\r\n\x1a\n|\xff\xd8\xff[\xe0\xe1\xdb\xee]|GIF8[79]a")


def rtf_pictures(data: bytes) -> None:
    if _RTF_PICTURE.search(data):
        raise _picture("an RTF picture or embedded object")


def ole_pictures(data: bytes) -> None:
    if _OLE_PICTURE.search(data):
        raise _picture("a PNG, JPEG or GIF inside the document")


_SVG = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--[\s\S]*?-->\s*)*(?:<!DOCTYPE\s+svg|<svg\b)", re.I)
_DATA_IMAGE = re.compile(rb"data:image/|iVBORw0KGgo")  # a data: URL, or base64 of the PNG signature


def text_pictures(head: bytes, data_blocks: Iterator[bytes]) -> None:
    """A text file that is an SVG drawing, or carries a picture as a data: URL or base64 PNG."""
    if _SVG.search(head[:65536]):
        raise DocumentRefused(f"it is an SVG drawing, which is a picture. {_NEVER_IMAGERY}")
    for block in _overlapping(data_blocks, keep=32):
        if _DATA_IMAGE.search(block):
            raise _picture("a picture encoded as text")
