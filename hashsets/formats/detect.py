"""Telling the formats apart from the first part of a file, and reading any of them.

`detect_format` looks at most at the first MiB. `iter_records` streams the whole file once, with
bounded memory whatever its size.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator

from . import csvformats, plainlist, vics
from .records import (
    EMPTY_FILE_DIGESTS,
    FormatInfo,
    MediaRecord,
    ParseError,
    ParseReport,
    Scheme,
    normalize_scheme,
)
from .source import HEAD_BYTES, HEAD_BYTES_MAX, Source, decode_head, encoding_of, open_source, read_head

READ_FORMATS = ("vics2", "vics1", "csv", "hashlist", "icse")
_FORMAT_ALIASES = {"vics13": "vics1", "vics12": "vics1", "vics11": "vics1", "vics20": "vics2", "ICSE": "icse"}


def detect_format(source: Source) -> FormatInfo:
    """What kind of hash-set file this is (name, version, implied category scheme, shape).

    Raises ParseError for an empty file or one that is none of the known formats.
    """
    head = read_head(source)
    if not head.strip():
        raise ParseError(None, None, "the file is empty")
    encoding = encoding_of(head)
    text = decode_head(head, encoding)
    stripped = text.lstrip()
    if not stripped:
        raise ParseError(None, None, "the file is empty (only a byte-order mark and blank space)")
    if stripped[0] in "{[":
        facts = vics.sniff(text, whole=len(head) < HEAD_BYTES)
        if facts is None and len(head) == HEAD_BYTES:
            head = read_head(source, HEAD_BYTES_MAX)
            facts = vics.sniff(decode_head(head, encoding), whole=len(head) < HEAD_BYTES_MAX)
        if facts is None:
            raise ParseError(
                None,
                None,
                "unknown format: the file is JSON but not a Project VIC (VICS) file "
                "(it has no @odata.context or odata.metadata naming a ProjectVic data model)",
            )
        return FormatInfo(encoding=encoding, **facts)
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")), None)
    if first is None:
        raise ParseError(None, None, "the file has no data: only blank lines and # comments")
    if plainlist.looks_like_list_line(first):
        return FormatInfo("hashlist", encoding=encoding)
    header_line = next(ln for ln in lines if ln.strip())
    cells = {d: _cells(header_line, d) for d in (",", ";", "\t", "|")}
    if csvformats.is_icse_header(cells[";"]):
        return FormatInfo("icse", scheme=Scheme.ICSE.value, delimiter=";", encoding=encoding)
    delimiter = csvformats.sniff_csv_header(cells)
    if delimiter is not None:
        return FormatInfo("csv", delimiter=delimiter, encoding=encoding)
    shown = header_line.strip()
    if len(shown) > 60:
        shown = shown[:60] + "..."
    raise ParseError(
        None,
        None,
        "unknown format: not VICS JSON, an ICSE export, a hash list, nor a CSV whose header names "
        f"md5, sha1, sha256, pdq or photodna (first line: {shown!r})",
    )


def _cells(line: str, delimiter: str) -> list[str]:
    try:
        return next(csv.reader([line], delimiter=delimiter))
    except (csv.Error, StopIteration):
        return []


def _format_info(source: Source, fmt: FormatInfo | str | None) -> FormatInfo:
    if isinstance(fmt, FormatInfo):
        return fmt
    detected = detect_format(source)
    if fmt is None:
        return detected
    name = _FORMAT_ALIASES.get(fmt, fmt)
    if name not in READ_FORMATS:
        raise ValueError(f"unknown format {fmt!r}; expected one of: {', '.join(READ_FORMATS)}")
    if name != detected.name:
        raise ParseError(None, None, f"the file was expected to be {fmt}, but it looks like {detected.name}")
    return detected


def iter_records(
    source: Source,
    fmt: FormatInfo | str | None = None,
    scheme: Scheme | str | None = None,
    *,
    skip_invalid: bool = False,
    report: ParseReport | None = None,
) -> Iterator[MediaRecord]:
    """Every record of a hash-set file, streamed with bounded memory.

    `source` is a path or a binary file object (read from where it stands, left open).
    `fmt` is what `detect_format` returned (or a format name, or None to detect here).
    `scheme` overrides the category scheme the file implies (VICS variant; CSV `scheme` column).
    By default the first bad record raises ParseError. With `skip_invalid=True` bad records are
    left out and collected in `report` (pass a ParseReport to read them). A file that is broken as
    a whole (truncated or invalid JSON, an unusable header) raises ParseError in both modes.
    """
    info = _format_info(source, fmt)
    chosen = normalize_scheme(scheme)
    if report is None:
        report = ParseReport()
    report.format = info
    with open_source(source, info.encoding) as opened:
        if info.name in ("vics2", "vics1"):
            effective = chosen or Scheme(info.scheme or Scheme.VIC_US)
            items = vics.iter_vics(opened.binary(), info.shape or "media", effective)
        elif info.name == "csv":
            items = csvformats.iter_csv(opened.text(newline=""), info.delimiter or ",", chosen, report)
        elif info.name == "icse":
            items = csvformats.iter_icse(opened.text(newline=""), chosen, report)
        elif info.name == "hashlist":
            items = plainlist.iter_hashlist(opened.text(newline=None), chosen)
        else:
            raise ValueError(f"cannot read format {info.name!r}")
        try:
            yield from _checked(items, skip_invalid, report)
        except UnicodeDecodeError as exc:
            raise ParseError(
                report.records + report.skipped + 1,
                None,
                f"the file is not valid {info.encoding.upper()} text near byte {exc.start}: save it as UTF-8",
            ) from None
        except csv.Error as exc:  # a field over csv.field_size_limit: a quote opened and never closed
            raise ParseError(
                report.records + report.skipped + 1, None, f"the file cannot be read as CSV: {exc} (an unclosed quote?)"
            ) from None
        report.sha256, report.size = opened.finish()
        report.complete = True


def _checked(items, skip_invalid: bool, report: ParseReport) -> Iterator[MediaRecord]:
    empty_md5 = EMPTY_FILE_DIGESTS["md5"]
    empty_sha1 = EMPTY_FILE_DIGESTS["sha1"]
    empty_sha256 = EMPTY_FILE_DIGESTS["sha256"]
    for item in items:
        if type(item) is ParseError:
            if not skip_invalid:
                raise item
            report.add_error(item)
            continue
        if item.md5 == empty_md5 or item.sha1 == empty_sha1 or item.sha256 == empty_sha256:
            report.warn(f"record {item.number}: the digest of an empty (zero-byte) file; it matches every empty file")
        report.records += 1
        yield item
