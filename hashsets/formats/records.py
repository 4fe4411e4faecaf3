"""The record every reader yields, the category schemes, the errors, and the value checks.

Nothing here touches a file; the readers in the sibling modules call these checks once per field.
They are written for speed (a national hash set has millions of records) and for messages an
investigator can act on: every failure names the record, the field as spelled in the file, and what
was expected against what was found.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from enum import StrEnum

__all__ = [
    "CATEGORY_LABELS",
    "EMPTY_FILE_DIGESTS",
    "SCHEME_CODES",
    "SCHEME_LABELS",
    "Category",
    "FormatInfo",
    "MediaRecord",
    "ParseError",
    "ParseReport",
    "Scheme",
    "category_code_for",
    "map_category",
    "normalize_scheme",
]


# --------------------------------------------------------------------------- categories


class Category(StrEnum):
    """The one internal category every scheme's code is mapped to (see docs/hash-formats.md)."""

    NON_PERTINENT = "non_pertinent"  # known, and known not to matter (ignorable)
    UNCATEGORIZED = "uncategorized"  # no verdict: needs review
    CSAM_A = "csam_a"  # UK category A
    CSAM_B = "csam_b"  # UK category B
    CSAM_C = "csam_c"  # UK category C
    CSAM_UNGRADED = "csam_ungraded"  # child sexual abuse material, severity not graded by the scheme
    EXPLOITIVE = "exploitive"  # child exploitive / age difficult, not meeting the CSAM definition
    CGI = "cgi"  # computer-generated, animated or drawn
    COMPARISON = "comparison"  # comparison images (Project VIC category 4)


CATEGORY_LABELS: dict[Category, str] = {
    Category.NON_PERTINENT: "Non-pertinent",
    Category.UNCATEGORIZED: "Uncategorized",
    Category.CSAM_A: "CSAM, UK category A",
    Category.CSAM_B: "CSAM, UK category B",
    Category.CSAM_C: "CSAM, UK category C",
    Category.CSAM_UNGRADED: "CSAM, not graded",
    Category.EXPLOITIVE: "Child exploitive / age difficult",
    Category.CGI: "CGI / animation / drawn",
    Category.COMPARISON: "Comparison images",
}


class Scheme(StrEnum):
    """A category scheme: how one source spells its categories."""

    VIC_US = "vic_us"  # Project VIC (VICS 2.0 Default and US, VICS 1.x): 0-4
    DHS = "dhs"  # legacy US DHS / ICAC (C4All era): 0-5
    UK = "uk"  # UK sentencing-council letters A, B, C
    UK_CAID = "uk_caid"  # UK CAID numbers in VICS UK files: 0-3
    ICSE = "icse"  # INTERPOL ICSE: the Baseline flag
    CUSTOM = "custom"  # anything else: kept verbatim, never interpreted


SCHEME_LABELS: dict[Scheme, str] = {
    Scheme.VIC_US: "Project VIC (US / Default)",
    Scheme.DHS: "Legacy US DHS / ICAC",
    Scheme.UK: "UK categories A/B/C",
    Scheme.UK_CAID: "UK CAID (VICS UK)",
    Scheme.ICSE: "INTERPOL ICSE baseline",
    Scheme.CUSTOM: "Custom (kept verbatim)",
}

# code (normalised) -> (internal category, the scheme's own label)
SCHEME_CODES: dict[Scheme, dict[str, tuple[Category, str]]] = {
    Scheme.VIC_US: {
        "0": (Category.NON_PERTINENT, "Non-Pertinent"),
        "1": (Category.CSAM_UNGRADED, "Child Abuse Material (CAM)"),
        "2": (Category.EXPLOITIVE, "Child Exploitive / Age Difficult"),
        "3": (Category.CGI, "CGI / Animation / Drawn"),
        "4": (Category.COMPARISON, "Comparison images"),
    },
    Scheme.DHS: {
        "0": (Category.UNCATEGORIZED, "Uncategorized"),
        "1": (Category.CSAM_UNGRADED, "Child pornography / CSAM"),
        "2": (Category.EXPLOITIVE, "Child exploitive (non-CP) / age difficult"),
        "3": (Category.CGI, "CGI / animation"),
        "4": (Category.COMPARISON, "Comparison images"),
        "5": (Category.NON_PERTINENT, "Non-pertinent"),
    },
    Scheme.UK: {
        "A": (Category.CSAM_A, "Category A"),
        "B": (Category.CSAM_B, "Category B"),
        "C": (Category.CSAM_C, "Category C"),
    },
    Scheme.UK_CAID: {
        "0": (Category.UNCATEGORIZED, "Uncategorised"),
        "1": (Category.CSAM_A, "Category A"),
        "2": (Category.CSAM_B, "Category B"),
        "3": (Category.CSAM_C, "Category C"),
    },
}

# internal category -> code, per scheme, for exports into a scheme other than the record's own
_REVERSE: dict[Scheme, dict[Category, str]] = {
    Scheme.VIC_US: {
        Category.NON_PERTINENT: "0",
        Category.CSAM_A: "1",
        Category.CSAM_B: "1",
        Category.CSAM_C: "1",
        Category.CSAM_UNGRADED: "1",
        Category.EXPLOITIVE: "2",
        Category.CGI: "3",
        Category.COMPARISON: "4",
    },
    Scheme.DHS: {
        Category.UNCATEGORIZED: "0",
        Category.CSAM_A: "1",
        Category.CSAM_B: "1",
        Category.CSAM_C: "1",
        Category.CSAM_UNGRADED: "1",
        Category.EXPLOITIVE: "2",
        Category.CGI: "3",
        Category.COMPARISON: "4",
        Category.NON_PERTINENT: "5",
    },
    Scheme.UK: {Category.CSAM_A: "A", Category.CSAM_B: "B", Category.CSAM_C: "C"},
    Scheme.UK_CAID: {Category.CSAM_A: "1", Category.CSAM_B: "2", Category.CSAM_C: "3"},
    Scheme.ICSE: {},
    Scheme.CUSTOM: {},
}

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def normalize_scheme(scheme: str | Scheme | None) -> Scheme | None:
    """`Scheme` for a name such as "vic_us" (case-insensitive); ValueError naming the valid ones."""
    if scheme is None or isinstance(scheme, Scheme):
        return scheme
    try:
        return Scheme(str(scheme).strip().lower())
    except ValueError:
        valid = ", ".join(s.value for s in Scheme)
        raise ValueError(f"unknown category scheme {scheme!r}; expected one of: {valid}") from None


def _normal_code(scheme: Scheme, code: str) -> str:
    code = code.strip()
    if scheme is Scheme.UK:
        up = code.upper()
        for prefix in ("CATEGORY", "CAT"):
            if up.startswith(prefix):
                up = up[len(prefix) :].strip(" .:-_")
                break
        return up
    if code.isdigit():
        return str(int(code))
    return code


def map_category(scheme: Scheme | str, code: str | None) -> Category:
    """The internal category for `code` in `scheme`; ValueError if the scheme has no such code.

    No code at all (None or blank) means no verdict: `Category.UNCATEGORIZED`. CUSTOM codes are
    never interpreted. ICSE codes are the Baseline flag: true -> CSAM (ungraded), false -> none.
    """
    scheme = normalize_scheme(scheme)
    if code is None or not code.strip():
        return Category.UNCATEGORIZED
    if scheme is Scheme.CUSTOM:
        return Category.UNCATEGORIZED
    if scheme is Scheme.ICSE:
        flag = code.strip().lower()
        if flag in _TRUE:
            return Category.CSAM_UNGRADED
        if flag in _FALSE:
            return Category.UNCATEGORIZED
        raise ValueError(f"Baseline must be yes or no, got {_show(code)}")
    table = SCHEME_CODES[scheme]
    hit = table.get(_normal_code(scheme, code))
    if hit is None:
        valid = ", ".join(table)
        raise ValueError(
            f"category {_show(code)} does not exist in the {SCHEME_LABELS[scheme]} scheme (valid: {valid})"
        )
    return hit[0]


def category_code_for(category: Category | str, scheme: Scheme | str) -> str | None:
    """The code `scheme` uses for the internal `category`, or None when it has none (lossy)."""
    scheme = normalize_scheme(scheme)
    return _REVERSE[scheme].get(Category(category))


# --------------------------------------------------------------------------- errors


class ParseError(Exception):
    """A file, or one record in it, that cannot be read as it stands.

    `record` is the 1-based record number (None for the file as a whole), `field` the field or
    column as spelled in the file (None when the whole record or file is at fault), `line` the
    physical line for text formats. Picklable, so it survives a task queue.
    """

    def __init__(self, record: int | None, field: str | None, message: str, line: int | None = None):
        super().__init__(record, field, message, line)
        self.record = record
        self.field = field
        self.message = message
        self.line = line

    def __str__(self) -> str:
        where = []
        if self.record is not None:
            where.append(f"record {self.record}" + (f" (line {self.line})" if self.line else ""))
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field}")
        return (", ".join(where) + ": " + self.message) if where else self.message

    def __repr__(self) -> str:
        return f"ParseError({self.record!r}, {self.field!r}, {self.message!r}, line={self.line!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ParseError):
            return NotImplemented
        return self.args == other.args

    __hash__ = Exception.__hash__


# --------------------------------------------------------------------------- records


@dataclass(slots=True)
class MediaRecord:
    """One known media item: hashes and metadata, never a file name or path.

    `number` is the 1-based position of the record in its file (for messages). Digests are raw
    bytes, length-checked: md5 16, sha1 20, sha256 32, pdq 32, photodna 144 (opaque).
    `category_code` is the source's own code verbatim (as text); `category` its internal meaning
    under `scheme`.
    """

    number: int
    md5: bytes | None = None
    sha1: bytes | None = None
    sha256: bytes | None = None
    pdq: bytes | None = None
    pdq_quality: int | None = None
    photodna: bytes | None = None
    size: int | None = None
    media_type: str | None = None
    category_code: str | None = None
    category: Category = Category.UNCATEGORIZED
    scheme: str = Scheme.CUSTOM.value
    victim_identified: bool | None = None
    offender_identified: bool | None = None
    distributed: bool | None = None
    series: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    comments: str | None = None
    source_id: str | None = None  # the source's own id: VICS MediaID, ICSE Image ID


# --------------------------------------------------------------------------- formats and reports


@dataclass(frozen=True, slots=True)
class FormatInfo:
    """What `detect_format` found.

    name: "vics2" | "vics1" | "csv" | "hashlist" | "icse"; version: "2.0", "1.3", ... (VICS only);
    scheme: the category scheme the file implies (None where the file carries no categories);
    shape: "media" (a hash set, records under value[]) or "cases" (records under value[*].Media[]);
    context: the raw @odata.context / odata.metadata; delimiter: for csv/icse; encoding: of the bytes.
    """

    name: str
    version: str | None = None
    scheme: str | None = None
    shape: str | None = None
    context: str | None = None
    delimiter: str | None = None
    encoding: str = "utf-8"


@dataclass(slots=True)
class ParseReport:
    """Filled in by `iter_records` as it goes; pass one in to read it afterwards.

    `sha256` (of the file's bytes exactly as stored, computed while streaming) and `complete` are
    set only once the generator has been consumed to the end. Only the first `max_errors` errors
    and `max_warnings` warnings are kept, so memory stays bounded; `skipped` counts them all.
    """

    format: FormatInfo | None = None
    records: int = 0
    skipped: int = 0
    errors: list[ParseError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    sha256: str | None = None
    size: int = 0
    complete: bool = False
    max_errors: int = 1000
    max_warnings: int = 1000

    @property
    def version(self) -> str | None:
        return self.format.version if self.format else None

    @property
    def scheme(self) -> str | None:
        return self.format.scheme if self.format else None

    def add_error(self, error: ParseError) -> None:
        self.skipped += 1
        if len(self.errors) < self.max_errors:
            self.errors.append(error)

    def warn(self, message: str) -> None:
        if len(self.warnings) < self.max_warnings:
            self.warnings.append(message)


# --------------------------------------------------------------------------- value checks

EMPTY_FILE_DIGESTS: dict[str, bytes] = {
    "md5": bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e"),
    "sha1": bytes.fromhex("da39a3ee5e6b4b0d3255bfef95601890afd80709"),
    "sha256": bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
}

_HEX = frozenset("0123456789abcdefABCDEF")
PHOTODNA_BYTES = 144


def _show(value: object, limit: int = 40) -> str:
    text = str(value)
    if len(text) > limit:
        text = text[:limit] + "..."
    return repr(text)


def describe(value: object) -> str:
    """How a JSON value's type reads in a message."""
    if value is None:
        return "null"
    if value is True or value is False:
        return f"the boolean {str(value).lower()}"
    if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
        return f"the number {value}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _bad_hex_char(text: str) -> str:
    for i, ch in enumerate(text, 1):
        if ch not in _HEX:
            shown = repr(ch) if ch.isprintable() and not ch.isspace() else f"U+{ord(ch):04X}"
            return f"character {i} ({shown}) is not hexadecimal (0-9, A-F)"
    return "not hexadecimal"  # pragma: no cover - only reached for odd lengths, checked earlier


def parse_hex(value: object, nbytes: int, record: int | None, field: str, line: int | None = None):
    """`nbytes` of raw digest from hex text; None for null or blank. Upper or lower case."""
    if value is None:
        return None
    if type(value) is not str:
        raise ParseError(
            record, field, f"expected {nbytes * 2} hexadecimal characters as text, got {describe(value)}", line
        )
    text = value.strip()
    if not text:
        return None
    if len(text) != nbytes * 2:
        raise ParseError(record, field, f"expected {nbytes * 2} hexadecimal characters, got {len(text)}", line)
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raw = None
    if raw is None or len(raw) != nbytes:
        raise ParseError(record, field, _bad_hex_char(text), line)
    return raw


def parse_photodna(value: object, record: int | None, field: str, line: int | None = None):
    """144 opaque bytes from base64 (192 characters), hex (288) or 144 comma-separated numbers."""
    if value is None:
        return None
    if type(value) is not str:
        raise ParseError(
            record, field, f"expected a PhotoDNA hash as text (base64 or hex), got {describe(value)}", line
        )
    text = value.strip()
    if not text:
        return None
    raw: bytes | None = None
    if len(text) == PHOTODNA_BYTES * 2:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None and "," in text:
        parts = text.split(",")
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) == PHOTODNA_BYTES and all(0 <= n <= 255 for n in numbers):
            raw = bytes(numbers)
    if raw is None:
        try:
            raw = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ParseError(
                record,
                field,
                f"expected a PhotoDNA hash of {PHOTODNA_BYTES} bytes as 192 base64 or 288 hexadecimal "
                f"characters, got {len(text)} characters that are neither",
                line,
            ) from None
    if len(raw) != PHOTODNA_BYTES:
        raise ParseError(
            record,
            field,
            f"expected a PhotoDNA hash of {PHOTODNA_BYTES} bytes (192 base64 or 288 hexadecimal characters), "
            f"got {len(raw)} bytes ({len(text)} characters)",
            line,
        )
    return raw


def parse_bool(value: object, record: int | None, field: str, line: int | None = None):
    """True/False from a JSON boolean, 0/1, or text true/false/yes/no/y/n/t/f/1/0 in any case."""
    if value is None:
        return None
    if value is True or value is False:
        return value
    if type(value) is str:
        text = value.strip().lower()
        if not text:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ParseError(record, field, f"expected true or false, got {_show(value)}", line)
    if type(value) is int and value in (0, 1):
        return bool(value)
    raise ParseError(record, field, f"expected true or false, got {describe(value)}", line)


def parse_whole(
    value: object,
    record: int | None,
    field: str,
    line: int | None = None,
    *,
    what: str = "a whole number",
    low: int = 0,
    high: int | None = None,
):
    """A non-negative integer (or within [low, high]) from a JSON number or digits as text."""
    if value is None:
        return None
    if type(value) is int:
        number = value
    elif type(value) is str:
        text = value.strip()
        if not text:
            return None
        try:
            number = int(text)
        except ValueError:
            raise ParseError(record, field, f"expected {what}, got {_show(value)}", line) from None
    elif isinstance(value, float) or type(value).__name__ == "Decimal":
        if value != int(value):
            raise ParseError(record, field, f"expected {what}, got the fraction {value}", line)
        number = int(value)
    else:
        raise ParseError(record, field, f"expected {what}, got {describe(value)}", line)
    if number < low:
        if low == 0:
            raise ParseError(record, field, f"must not be negative, got {number}", line)
        raise ParseError(record, field, f"must be between {low} and {high}, got {number}", line)
    if high is not None and number > high:
        raise ParseError(record, field, f"must be between {low} and {high}, got {number}", line)
    return number


# PostgreSQL text cannot hold NUL: refused here, naming the record, instead of failing the import's COPY.
_NUL_MESSAGE = "contains a NUL character (0x00), which text may not hold"


def parse_text(value: object, record: int | None, field: str, line: int | None = None):
    """Free text; numbers are taken as their text, blank is None."""
    if value is None:
        return None
    if type(value) is str:
        if "\x00" in value:
            raise ParseError(record, field, _NUL_MESSAGE, line)
        return value if value.strip() else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ParseError(record, field, f"expected text, got {describe(value)}", line)


def parse_names(value: object, record: int | None, field: str, line: int | None = None):
    """A tuple of names from text separated by "|" or from a JSON list of texts."""
    if value is None:
        return ()
    if type(value) is str:
        if "\x00" in value:
            raise ParseError(record, field, _NUL_MESSAGE, line)
        if "|" not in value:
            name = value.strip()
            return (name,) if name else ()
        return tuple(n for n in (p.strip() for p in value.split("|")) if n)
    if isinstance(value, list):
        names = []
        for item in value:
            if type(item) is not str:
                raise ParseError(record, field, f"expected a list of names as text, found {describe(item)}", line)
            if "\x00" in item:
                raise ParseError(record, field, _NUL_MESSAGE, line)
            item = item.strip()
            if item:
                names.append(item)
        return tuple(names)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return (str(value),)
    raise ParseError(record, field, f"expected text, got {describe(value)}", line)


def category_from(
    scheme: Scheme, value: object, record: int | None, field: str, line: int | None = None
) -> tuple[str | None, Category]:
    """(verbatim code, internal category) for a category cell or JSON value under `scheme`."""
    if value is None:
        return None, Category.UNCATEGORIZED
    if type(value) is int:
        code = str(value)
    elif type(value) is str:
        code = value.strip()
        if not code:
            return None, Category.UNCATEGORIZED
    elif isinstance(value, float) and value == int(value):
        code = str(int(value))
    else:
        raise ParseError(record, field, f"expected a category code, got {describe(value)}", line)
    try:
        return code, map_category(scheme, code)
    except ValueError as exc:
        raise ParseError(record, field, str(exc), line) from None


def media_type_from(value: object, record: int | None, field: str, line: int | None = None):
    """ "image", "video", ... from a MIME type ("image/jpeg") or a bare word ("Image")."""
    text = parse_text(value, record, field, line)
    if text is None:
        return None
    text = text.strip().lower()
    return text.split("/", 1)[0].strip() or None
