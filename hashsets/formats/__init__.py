"""Reading and writing hash-set files: Project VIC (VICS 2.0 and 1.x), CSV, hash lists, ICSE.

Pure Python, no Django, streaming throughout::

    from hashsets.formats import detect_format, iter_records, export_records, ParseError, FORMATS

    fmt = detect_format(path)                 # FormatInfo(name="vics2", version="2.0", scheme="vic_us", ...)
    report = ParseReport()
    for rec in iter_records(path, fmt=fmt, scheme=None, skip_invalid=True, report=report):
        ...                                   # MediaRecord
    report.sha256, report.skipped, report.errors

    export_records(records, "vics2", out)     # out: a text or binary stream

The formats, the category schemes and their mapping are described in docs/hash-formats.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from .detect import READ_FORMATS, detect_format, iter_records
from .export import EXPORT_FORMATS, ExportReport, export_records
from .records import (
    CATEGORY_LABELS,
    SCHEME_CODES,
    SCHEME_LABELS,
    Category,
    FormatInfo,
    MediaRecord,
    ParseError,
    ParseReport,
    Scheme,
    category_code_for,
    map_category,
)
from .vics import IJSON_BACKEND


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """A format this package knows: whether it reads and/or writes it, and how to offer a download."""

    name: str
    label: str
    can_read: bool
    can_write: bool
    extension: str
    content_type: str


FORMATS: dict[str, FormatSpec] = {
    spec.name: spec
    for spec in (
        FormatSpec("vics2", "Project VIC VICS 2.0 JSON", True, True, ".json", "application/json"),
        FormatSpec("vics1", "Project VIC VICS 1.1-1.3 JSON", True, False, ".json", "application/json"),
        FormatSpec("vics13", "Project VIC VICS 1.3 JSON", True, True, ".json", "application/json"),
        FormatSpec("csv", "CSV with a header row", True, True, ".csv", "text/csv"),
        FormatSpec("icse", "INTERPOL ICSE CSV (;)", True, True, ".csv", "text/csv"),
        FormatSpec("hashlist", "Hash list / md5sum output", True, False, ".txt", "text/plain"),
        FormatSpec("md5list", "MD5 list", False, True, ".txt", "text/plain"),
        FormatSpec("sha1list", "SHA-1 list", False, True, ".txt", "text/plain"),
        FormatSpec("sha256list", "SHA-256 list", False, True, ".txt", "text/plain"),
    )
}

__all__ = [
    "CATEGORY_LABELS",
    "EXPORT_FORMATS",
    "FORMATS",
    "IJSON_BACKEND",
    "READ_FORMATS",
    "SCHEME_CODES",
    "SCHEME_LABELS",
    "Category",
    "ExportReport",
    "FormatInfo",
    "FormatSpec",
    "MediaRecord",
    "ParseError",
    "ParseReport",
    "Scheme",
    "category_code_for",
    "detect_format",
    "export_records",
    "iter_records",
    "map_category",
]
