"""Writing records out, streamed: VICS 2.0 and 1.3, our CSV, ICSE, and plain digest lists.

`records` may be any iterable of MediaRecord-like objects (attributes as on MediaRecord; a Django
model with the same attribute names will do). Nothing is held in memory beyond a small buffer.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field

from . import csvformats, vics
from .records import PHOTODNA_BYTES, Category, Scheme, normalize_scheme

EXPORT_FORMATS = ("vics2", "vics13", "csv", "md5list", "sha1list", "sha256list", "icse")

# schemes a VICS export can state, and the default
_VICS2_SCHEMES = (Scheme.VIC_US, Scheme.UK_CAID, Scheme.CUSTOM)
_VICS13_SCHEMES = (Scheme.VIC_US, Scheme.DHS)
_FLUSH_EVERY = 256  # records per write: few calls, little memory
_LENGTHS = (("md5", 16), ("sha1", 20), ("sha256", 32), ("pdq", 32), ("photodna", PHOTODNA_BYTES))


@dataclass(slots=True)
class ExportReport:
    """What an export wrote. `category_lost` lists the numbers of records whose category the target
    scheme cannot express (they were written without one); `skipped` those left out entirely (a
    digest list skips records without that digest)."""

    format: str
    scheme: str | None = None
    written: int = 0
    skipped: int = 0
    category_lost: list[int] = field(default_factory=list)


def _text_sink(out):
    """(write(str), finish()) for a text or binary stream; the caller's stream is never closed."""
    if isinstance(out, io.TextIOBase):
        return out, None
    if isinstance(out, (io.RawIOBase, io.BufferedIOBase)):
        wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        return wrapper, wrapper
    try:
        out.write("")
        return out, None
    except TypeError:
        wrapper = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        return wrapper, wrapper


def _checked(rec) -> None:
    for name, length in _LENGTHS:
        value = getattr(rec, name, None)
        if value is not None and len(value) != length:
            raise ValueError(f"record {getattr(rec, 'number', '?')}: {name} must be {length} bytes, got {len(value)}")
    size = getattr(rec, "size", None)
    if size is not None and size < 0:
        raise ValueError(f"record {getattr(rec, 'number', '?')}: size must not be negative")
    quality = getattr(rec, "pdq_quality", None)
    if quality is not None and not 0 <= quality <= 100:
        raise ValueError(f"record {getattr(rec, 'number', '?')}: pdq_quality must be 0..100")


def export_records(records: Iterable, fmt: str, out, *, scheme: Scheme | str | None = None) -> ExportReport:
    """Stream `records` to `out` (a text or binary stream) in `fmt`.

    fmt: "vics2" | "vics13" | "csv" | "md5list" | "sha1list" | "sha256list" | "icse".
    scheme (VICS only; ignored by the other formats, which keep each record's own scheme): the category
    scheme of the written file; vics2 accepts vic_us (written as the Default variant IPED requires),
    uk_caid (UK) and custom (CUSTOM); vics13 accepts vic_us and dhs. An unknown name is a ValueError.
    A record already in that scheme keeps its code verbatim; any other is mapped through its
    internal category (see ExportReport.category_lost for those the scheme cannot express).
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; expected one of: {', '.join(EXPORT_FORMATS)}")
    target = normalize_scheme(scheme)
    sink, wrapper = _text_sink(out)
    try:
        if fmt in ("vics2", "vics13"):
            allowed = _VICS2_SCHEMES if fmt == "vics2" else _VICS13_SCHEMES
            target = target or Scheme.VIC_US
            if target not in allowed:
                names = ", ".join(s.value for s in allowed)
                raise ValueError(f"a {fmt} export cannot state the {target.value} scheme; use one of: {names}")
            return _export_vics(records, "2.0" if fmt == "vics2" else "1.3", target, sink)
        # csv, icse and digest lists keep each record's own scheme: `scheme` does not apply to them
        if fmt == "csv":
            return _export_csv(records, sink)
        if fmt == "icse":
            return _export_icse(records, sink)
        return _export_list(records, fmt[: -len("list")], sink)
    finally:
        if wrapper is not None:
            wrapper.flush()
            wrapper.detach()


def _export_vics(records, version: str, scheme: Scheme, sink) -> ExportReport:
    report = ExportReport("vics2" if version == "2.0" else "vics13", scheme.value)
    sink.write(vics.vics_header(version, scheme))
    buffer: list[str] = []
    n = 0
    for rec in records:
        _checked(rec)
        n += 1
        buffer.append(
            ("\n" if n == 1 else ",\n")
            + vics.vics_record_json(rec, vics.media_id_for(rec, n), scheme, report.category_lost)
        )
        if len(buffer) >= _FLUSH_EVERY:
            sink.write("".join(buffer))
            buffer.clear()
    buffer.append("\n]}\n")
    sink.write("".join(buffer))
    report.written = n
    return report


def _export_csv(records, sink) -> ExportReport:
    report = ExportReport("csv")
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow(csvformats.CSV_COLUMNS)
    rows = []
    for rec in records:
        _checked(rec)
        rows.append(csvformats.csv_row(rec))
        if len(rows) >= _FLUSH_EVERY:
            writer.writerows(rows)
            report.written += len(rows)
            rows.clear()
    writer.writerows(rows)
    report.written += len(rows)
    return report


def _export_icse(records, sink) -> ExportReport:
    report = ExportReport("icse", Scheme.ICSE.value)
    writer = csv.writer(sink, delimiter=";", lineterminator="\r\n")
    writer.writerow(csvformats.ICSE_HEADER)
    rows = []
    for rec in records:
        _checked(rec)
        if rec.md5 is None and rec.sha1 is None and rec.photodna is None:
            report.skipped += 1  # ICSE has no column for SHA-256 or PDQ alone
            continue
        rows.append(csvformats.icse_row(rec, report.category_lost))
        if len(rows) >= _FLUSH_EVERY:
            writer.writerows(rows)
            report.written += len(rows)
            rows.clear()
    writer.writerows(rows)
    report.written += len(rows)
    return report


def _export_list(records, algo: str, sink) -> ExportReport:
    report = ExportReport(f"{algo}list")
    buffer: list[str] = []
    for rec in records:
        _checked(rec)
        digest = getattr(rec, algo)
        if digest is None:
            report.skipped += 1
            continue
        buffer.append(digest.hex() + "\n")
        if len(buffer) >= _FLUSH_EVERY:
            sink.write("".join(buffer))
            report.written += len(buffer)
            buffer.clear()
    sink.write("".join(buffer))
    report.written += len(buffer)
    return report


__all__ = ["EXPORT_FORMATS", "Category", "ExportReport", "export_records"]
