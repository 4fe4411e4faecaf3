"""Delimited text: our header-mapped CSV, and INTERPOL ICSE's `;`-separated export.

Both are read row by row with the csv module over a text stream. Cells written out are guarded
against formula injection: a cell that a spreadsheet would run (starting with =, +, -, @, a tab or a
carriage return) gets a leading apostrophe, and reading takes exactly one such apostrophe off again,
so our own files round-trip unchanged.

Memory is bounded by `source.MAX_TOKEN`: lines are read with a bounded `readline` (a longer line
ends the import) and a field, even one spread over several lines by a quote, stops at the csv
module's field limit, set to the same value.
"""

from __future__ import annotations

import base64
import csv
from collections.abc import Iterator

from .records import (
    Category,
    MediaRecord,
    ParseError,
    Scheme,
    category_code_for,
    category_from,
    media_type_from,
    normalize_scheme,
    parse_bool,
    parse_hex,
    parse_names,
    parse_photodna,
    parse_text,
    parse_whole,
)
from .source import MAX_TOKEN, LineTooLong, bounded_lines, size_text

csv.field_size_limit(MAX_TOKEN)  # a comment may be long; a runaway quote still stops at 1 MiB

# --------------------------------------------------------------------------- column names

CSV_COLUMNS = (
    "md5",
    "sha1",
    "sha256",
    "pdq",
    "pdq_quality",
    "photodna",
    "size",
    "media_type",
    "scheme",
    "category",
    "victim_identified",
    "offender_identified",
    "distributed",
    "series",
    "tags",
    "comments",
    "source_id",
)

_CSV_ALIASES = {
    **{c: c for c in CSV_COLUMNS},
    "sha-1": "sha1",
    "sha-256": "sha256",
    "md5hash": "md5",
    "pdq_hash": "pdq",
    "quality": "pdq_quality",
    "pdqquality": "pdq_quality",
    "photo_dna": "photodna",
    "mediasize": "size",
    "media_size": "size",
    "file_size": "size",
    "mediatype": "media_type",
    "mime_type": "media_type",
    "mimetype": "media_type",
    "category_code": "category",
    "category_scheme": "scheme",
    "victimidentified": "victim_identified",
    "offenderidentified": "offender_identified",
    "is_distributed": "distributed",
    "isdistributed": "distributed",
    "comment": "comments",
    "tag": "tags",
    "mediaid": "source_id",
    "media_id": "source_id",
    "image_id": "source_id",
}

HASH_COLUMNS = frozenset({"md5", "sha1", "sha256", "pdq", "photodna"})

ICSE_HEADER = (
    "MD5",
    "SHA1",
    "PhotoDNA",
    "Image ID",
    "Is distributed",
    "Victim identified",
    "Offender identified",
    "Series name",
    "Number of submissions",
    "File Available",
    "Media Type",
    "Baseline",
)
_ICSE_KEYS = {
    "md5": "md5",
    "sha1": "sha1",
    "photodna": "photodna",
    "image id": "source_id",
    "is distributed": "distributed",
    "victim identified": "victim_identified",
    "offender identified": "offender_identified",
    "series name": "series",
    "number of submissions": None,  # read past: says nothing about the media
    "file available": None,
    "media type": "media_type",
    "baseline": "baseline",
}

_DANGEROUS = ("=", "+", "-", "@", "\t", "\r")


def column_key(name: str) -> str | None:
    """Our column for a header cell (case-insensitive, spaces and dashes as underscores)."""
    key = name.strip().lower().replace(" ", "_")
    return _CSV_ALIASES.get(key) or _CSV_ALIASES.get(key.replace("_", ""))


def icse_key(name: str) -> str | None:
    return _ICSE_KEYS.get(" ".join(name.strip().lower().split()), "?")


def sniff_csv_header(cells_by_delimiter: dict[str, list[str]]) -> str | None:
    """The delimiter whose header names the most of our columns, at least one of them a hash."""
    best, best_count = None, 0
    for delimiter, cells in cells_by_delimiter.items():
        keys = [column_key(c) for c in cells]
        if not HASH_COLUMNS.intersection(keys):
            continue
        count = sum(1 for k in keys if k)
        if count > best_count:
            best, best_count = delimiter, count
    return best


def is_icse_header(cells: list[str]) -> bool:
    keys = {icse_key(c) for c in cells}
    return "source_id" in keys and "baseline" in keys and bool({"md5", "sha1", "photodna"} & keys)


# --------------------------------------------------------------------------- cells


def unguard(cell: str) -> str:
    """Undo the formula guard: one leading apostrophe before a dangerous start is removed."""
    if cell.startswith("'"):
        rest = cell.lstrip("'")
        if rest.startswith(_DANGEROUS):
            return cell[1:]
    return cell


def guard(cell: str) -> str:
    """Make a cell inert in a spreadsheet (and keep the guard reversible, see `unguard`)."""
    if cell.startswith(_DANGEROUS) or (cell.startswith("'") and cell.lstrip("'").startswith(_DANGEROUS)):
        return "'" + cell
    return cell


# --------------------------------------------------------------------------- reading


def _lines(text):
    return bounded_lines(text) if hasattr(text, "readline") else text


def _line_too_long(exc: LineTooLong, reader, report) -> ParseError:
    """The record after the last one read (counted as `iter_records` counts them), on the next line."""
    number = (report.records + report.skipped + 1) if report is not None else None
    return ParseError(
        number,
        None,
        f"the line is longer than the field limit of {size_text(exc.args[0], 'characters')} "
        "(a hash-set row needs a few hundred)",
        reader.line_num + 1,
    )


def _read_header(reader, text_kind: str) -> list[str]:
    for row in reader:
        if row and any(c.strip() for c in row):
            return row
    raise ParseError(None, None, f"the {text_kind} file has no header line")


def iter_csv(text, delimiter: str, scheme: Scheme | None, report) -> Iterator[MediaRecord | ParseError]:
    """Records from our header-mapped CSV. The header decides which column is which."""
    reader = csv.reader(_lines(text), delimiter=delimiter)
    try:
        yield from _csv_rows(reader, scheme, report)
    except LineTooLong as exc:
        raise _line_too_long(exc, reader, report) from None


def _csv_rows(reader, scheme: Scheme | None, report) -> Iterator[MediaRecord | ParseError]:
    header = _read_header(reader, "CSV")
    columns: list[tuple[int, str, str]] = []  # (index, key, name as in the file)
    seen: dict[str, str] = {}
    for i, name in enumerate(header):
        name = name.strip()
        key = column_key(name.lstrip("\ufeff"))
        if key is None:
            if name and report is not None:
                report.ignored_columns.append(name)
                report.warn(f"ignored unknown column {name!r}")
            continue
        if key in seen:
            raise ParseError(None, name, f"the header names this column twice (also as {seen[key]!r})", reader.line_num)
        seen[key] = name
        columns.append((i, key, name))
    if not HASH_COLUMNS.intersection(seen):
        raise ParseError(None, None, "the CSV header names no hash column (md5, sha1, sha256, pdq or photodna)")
    width = len(header)
    number = 0
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line
        number += 1
        line = reader.line_num
        if len(row) != width:
            if len(row) > width and not any(c.strip() for c in row[width:]):
                pass  # a trailing delimiter: harmless
            else:
                yield ParseError(number, None, f"the row has {len(row)} cells but the header has {width}", line)
                continue
        try:
            yield _csv_record(row, columns, number, line, scheme)
        except ParseError as exc:
            yield exc


def _csv_record(row, columns, number, line, scheme) -> MediaRecord:
    rec = MediaRecord(number)
    code = None
    code_field = "category"
    row_scheme = None
    for i, key, name in columns:
        cell = row[i] if i < len(row) else ""
        if not cell:
            continue
        if key == "md5":
            rec.md5 = parse_hex(cell, 16, number, name, line)
        elif key == "sha1":
            rec.sha1 = parse_hex(cell, 20, number, name, line)
        elif key == "sha256":
            rec.sha256 = parse_hex(cell, 32, number, name, line)
        elif key == "pdq":
            rec.pdq = parse_hex(cell, 32, number, name, line)
        elif key == "pdq_quality":
            rec.pdq_quality = parse_whole(cell, number, name, line, what="a quality from 0 to 100", high=100)
        elif key == "photodna":
            rec.photodna = parse_photodna(cell, number, name, line)
        elif key == "size":
            rec.size = parse_whole(cell, number, name, line, what="a size in bytes (a whole number)")
        elif key == "media_type":
            rec.media_type = media_type_from(unguard(cell), number, name, line)
        elif key == "scheme":
            if cell.strip():
                try:
                    row_scheme = normalize_scheme(cell)
                except ValueError as exc:
                    raise ParseError(number, name, str(exc), line) from None
        elif key == "category":
            code, code_field = unguard(cell), name
        elif key == "victim_identified":
            rec.victim_identified = parse_bool(cell, number, name, line)
        elif key == "offender_identified":
            rec.offender_identified = parse_bool(cell, number, name, line)
        elif key == "distributed":
            rec.distributed = parse_bool(cell, number, name, line)
        elif key == "series":
            rec.series = parse_names(unguard(cell), number, name, line)
        elif key == "tags":
            rec.tags = parse_names(unguard(cell), number, name, line)
        elif key == "comments":
            rec.comments = parse_text(unguard(cell), number, name, line)
        elif key == "source_id":
            rec.source_id = unguard(cell).strip() or None
    effective = scheme or row_scheme or Scheme.CUSTOM
    rec.scheme = effective.value
    rec.category_code, rec.category = category_from(effective, code, number, code_field, line)
    if rec.md5 is None and rec.sha1 is None and rec.sha256 is None and rec.photodna is None and rec.pdq is None:
        raise ParseError(number, None, "the row has no hash: none of md5, sha1, sha256, pdq or photodna", line)
    if rec.pdq_quality is not None and rec.pdq is None:
        raise ParseError(number, "pdq_quality", "a PDQ quality is given without a PDQ hash", line)
    return rec


def iter_icse(text, scheme: Scheme | None, report) -> Iterator[MediaRecord | ParseError]:
    """Records from an ICSE `;` export. The Baseline flag is the category (scheme ICSE)."""
    reader = csv.reader(_lines(text), delimiter=";")
    try:
        yield from _icse_rows(reader, scheme, report)
    except LineTooLong as exc:
        raise _line_too_long(exc, reader, report) from None


def _icse_rows(reader, scheme: Scheme | None, report) -> Iterator[MediaRecord | ParseError]:
    header = _read_header(reader, "ICSE")
    columns = []
    for i, name in enumerate(header):
        key = icse_key(name.lstrip("\ufeff"))
        if key == "?":
            if name.strip() and report is not None:
                report.ignored_columns.append(name.strip())
                report.warn(f"ignored unknown column {name.strip()!r}")
            continue
        if key is not None:
            columns.append((i, key, name.strip()))
    effective = scheme or Scheme.ICSE
    number = 0
    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        number += 1
        line = reader.line_num
        try:
            yield _icse_record(row, columns, number, line, effective)
        except ParseError as exc:
            yield exc


def _icse_record(row, columns, number, line, scheme: Scheme) -> MediaRecord:
    rec = MediaRecord(number, scheme=scheme.value)
    for i, key, name in columns:
        cell = row[i].strip() if i < len(row) else ""
        if not cell:
            continue
        if key == "md5":
            rec.md5 = parse_hex(cell, 16, number, name, line)
        elif key == "sha1":
            rec.sha1 = parse_hex(cell, 20, number, name, line)
        elif key == "photodna":
            rec.photodna = parse_photodna(cell, number, name, line)
        elif key == "source_id":
            rec.source_id = cell
        elif key == "distributed":
            rec.distributed = parse_bool(cell, number, name, line)
        elif key == "victim_identified":
            rec.victim_identified = parse_bool(cell, number, name, line)
        elif key == "offender_identified":
            rec.offender_identified = parse_bool(cell, number, name, line)
        elif key == "series":
            rec.series = parse_names(unguard(cell), number, name, line)
        elif key == "media_type":
            rec.media_type = media_type_from(unguard(cell), number, name, line)
        elif key == "baseline":
            rec.category_code, rec.category = category_from(scheme, cell, number, name, line)
    if rec.md5 is None and rec.sha1 is None and rec.photodna is None:
        raise ParseError(number, None, "the row has no hash: none of MD5, SHA1 or PhotoDNA", line)
    return rec


# --------------------------------------------------------------------------- writing


def _hex(value: bytes | None, upper: bool = False) -> str:
    if value is None:
        return ""
    return value.hex().upper() if upper else value.hex()


def _bool(value: bool | None, yes: str = "true", no: str = "false") -> str:
    if value is None:
        return ""
    return yes if value else no


def csv_row(rec) -> list[str]:
    return [
        _hex(rec.md5),
        _hex(rec.sha1),
        _hex(rec.sha256),
        _hex(rec.pdq),
        "" if rec.pdq_quality is None else str(int(rec.pdq_quality)),
        base64.b64encode(rec.photodna).decode() if rec.photodna is not None else "",
        "" if rec.size is None else str(int(rec.size)),
        guard(rec.media_type or ""),
        str(rec.scheme or ""),
        guard(rec.category_code or ""),
        _bool(rec.victim_identified),
        _bool(rec.offender_identified),
        _bool(rec.distributed),
        guard("|".join(rec.series or ())),
        guard("|".join(rec.tags or ())),
        guard(rec.comments or ""),
        guard("" if rec.source_id is None else str(rec.source_id)),
    ]


def icse_row(rec, lost: list[int]) -> list[str]:
    if rec.scheme == Scheme.ICSE.value and rec.category_code is not None:
        baseline = rec.category_code
    else:
        # Baseline is INTERPOL's own finding; no other scheme's category says it
        baseline = ""
        category = Category(rec.category)
        if category is not Category.UNCATEGORIZED and category_code_for(category, Scheme.ICSE) is None:
            lost.append(rec.number)
    media_type = rec.media_type.capitalize() if rec.media_type else ""
    return [
        _hex(rec.md5, upper=True),
        _hex(rec.sha1, upper=True),
        base64.b64encode(rec.photodna).decode() if rec.photodna is not None else "",
        guard("" if rec.source_id is None else str(rec.source_id)),
        _bool(rec.distributed, "Yes", "No"),
        _bool(rec.victim_identified, "Yes", "No"),
        _bool(rec.offender_identified, "Yes", "No"),
        guard("|".join(rec.series or ())),
        "",
        "",
        guard(media_type),
        guard(baseline),
    ]
