"""Project VIC (VICS) JSON: 2.0 (`@odata.context`) and 1.1-1.3 (`odata.metadata`), read and written.

Reading streams with ijson (its C backend when installed): one Media object is built at a time, so
memory does not grow with the file. Both shapes are read: a hash set (`#Media`, records under
`value[]`) and a case (`#Cases`, records under `value[*].Media[]`).

ijson reads through `JsonGuard`, which checks the bytes before the parser sees them: nesting deeper
than `MAX_DEPTH` (yajl's prefix stack makes memory grow with the square of the depth) and more than
`MAX_TOKEN` bytes without a quote (one string, or anything else, held whole) are refused, and the
parser only ever gets the bytes in front of the fault, so the error names the right record.

Only hashes and metadata are kept. `MediaFiles`, `RelativeFilePath`, `FileName`, `Exifs` and the
like describe files and places on a seized device; they are skipped, never stored.

Writing follows what IPED's reader accepts (the strictest reader of the ones checked): the context
key first, then `value` and nothing else at top level; Category as a number; the flags as the
strings "true"/"false"; PhotoDNA as 192 base64 characters in `AlternativeHashes`; hex upper case.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

from casebridge.lib import json_guard as _json_guard
from casebridge.lib.json_guard import MAX_DEPTH as MAX_DEPTH  # named here by the import and its tests
from casebridge.lib.json_guard import JsonLimitError

from .records import (
    Category,
    MediaRecord,
    ParseError,
    Scheme,
    category_code_for,
    category_from,
    describe,
    media_type_from,
    parse_bool,
    parse_hex,
    parse_names,
    parse_photodna,
    parse_text,
    parse_whole,
)

try:  # the C backend is several times faster; fall back to whatever ijson has
    import ijson

    _JSONError = ijson.JSONError
    try:
        _ijson = ijson.get_backend("yajl2_c")
    except ImportError:  # pragma: no cover - depends on the wheel installed
        _ijson = ijson
except ImportError:  # pragma: no cover - ijson is a requirement
    _ijson = None
    _JSONError = ValueError

IJSON_BACKEND = getattr(_ijson, "backend", None)

# The context strings as real files and the tools spell them.
CONTEXT_2_0 = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{variant}/$metadata#Media"
METADATA_1_X = "http://github.com/ICMEC/ProjectVic/DataModels/{version}.xml#Media"

# VICS 2.0 path variant -> category scheme it implies
VARIANT_SCHEMES = {
    "default": Scheme.VIC_US,
    "us": Scheme.VIC_US,
    "uk": Scheme.UK_CAID,
    "custom": Scheme.CUSTOM,
}
SCHEME_VARIANTS = {Scheme.VIC_US: "Default", Scheme.UK_CAID: "UK", Scheme.CUSTOM: "CUSTOM"}

_CONTEXT_RE = re.compile(r'"(@odata\.context|odata\.metadata)"\s*:\s*"((?:[^"\\]|\\.)*)"')
_VERSION_RE = re.compile(r"DataModels/(\d+(?:\.\d+)*)\.xml", re.IGNORECASE)
_VARIANT_RE = re.compile(r"\.xml/([^/$#]+)/", re.IGNORECASE)
_VALUE_RE = re.compile(r'"value"\s*:\s*(.)')
_MEDIA_RE = re.compile(r'"Media"\s*:\s*(.)')

# field name in the file (exact, then case-insensitive) -> what it is
_FIELDS = {
    "MediaID": "id",
    "Category": "category",
    "MD5": "md5",
    "SHA1": "sha1",
    "SHA256": "sha256",
    "SHA-256": "sha256",
    "MediaSize": "size",
    "VictimIdentified": "victim",
    "OffenderIdentified": "offender",
    "IsDistributed": "distributed",
    "Series": "series",
    "Tags": "tags",
    "Comments": "comments",
    "AlternativeHashes": "alt",
    "PhotoDNA": "photodna",
    "PDQ": "pdq",
    "MimeType": "media_type",
    "MediaType": "media_type",
}
_FIELDS_LOWER = {k.lower(): v for k, v in _FIELDS.items()}
# every key name met so far -> its kind (None: skipped); real files use a few dozen names
_KIND_CACHE: dict[str, str | None] = dict(_FIELDS)
_UNSEEN = object()
# the usual spellings, looked up before the general check (only hashable scalars reach `in`)
_FAST_BOOL = {"true": True, "false": False, "True": True, "False": False, True: True, False: False}
# per scheme: category value as found (int or text) -> (code, category)
_CATEGORY_CACHE: dict[Scheme, dict] = {s: {} for s in Scheme}
_ALT_NAMES = {
    "photodna": "photodna",
    "pdq": "pdq",
    "sha256": "sha256",
    "sha-256": "sha256",
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
}
_DIGEST_LEN = {"md5": 16, "sha1": 20, "sha256": 32, "pdq": 32}

VICS_DEPTH = 8  # about what a VICS file needs, for the message


def sniff(head: str, whole: bool = False) -> dict[str, Any] | None:
    """Format facts from the first part of a JSON file (`whole`: all of it), or None if it is not VICS.

    Raises ParseError when it is VICS but `value` is missing or not a list.
    """
    m = _CONTEXT_RE.search(head)
    if not m:
        return None
    key = m.group(1)
    try:
        context = json.loads(f'"{m.group(2)}"')
    except ValueError:  # a raw control character or a bad escape inside the string
        raise ParseError(None, key, "the context is not a valid JSON string") from None
    if "projectvic" not in context.lower():
        return None
    v = _VERSION_RE.search(context)
    version = v.group(1) if v else ("2.0" if key == "@odata.context" else "1.3")
    name = "vics2" if key == "@odata.context" else "vics1"
    if name == "vics2":
        variant = _VARIANT_RE.search(context)
        scheme = VARIANT_SCHEMES.get(variant.group(1).lower(), Scheme.CUSTOM) if variant else Scheme.VIC_US
    else:
        scheme = Scheme.VIC_US
    fragment = context.rsplit("#", 1)[1] if "#" in context else ""
    if fragment.lower().startswith("cases"):
        shape = "cases"
    elif fragment.lower().startswith("media"):
        shape = "media"
    else:
        media = _MEDIA_RE.search(head)
        shape = "cases" if media and media.group(1) == "[" else "media"
    value = _VALUE_RE.search(head)
    if value is None and whole:
        raise ParseError(None, "value", "the file has no 'value' list of records")
    if value and value.group(1) != "[":
        raise ParseError(None, "value", f"expected a list of records, got {_json_kind(value.group(1))}")
    if shape == "cases" and value:
        media = _MEDIA_RE.search(head, value.end())
        if media and media.group(1) != "[":
            raise ParseError(None, "Media", f"expected a list of records, got {_json_kind(media.group(1))}")
    return {"name": name, "version": version, "scheme": scheme.value, "shape": shape, "context": context}


def _json_kind(first: str) -> str:
    return {"{": "an object", '"': "text", "n": "null", "t": "a boolean", "f": "a boolean"}.get(first, "a number")


# --------------------------------------------------------------------------- reading


def iter_vics(stream, shape: str, scheme: Scheme) -> Iterator[MediaRecord | ParseError]:
    """Records from a VICS byte stream; a bad record is yielded as its ParseError, a bad file raised."""
    if _ijson is None:  # pragma: no cover
        raise RuntimeError("reading VICS files needs the ijson package")
    prefix = "value.item.Media.item" if shape == "cases" else "value.item"
    number = 0
    try:
        for obj in _ijson.items(JsonGuard(stream), prefix, use_float=True):
            number += 1
            try:
                yield vics_record(obj, number, scheme)
            except ParseError as exc:
                yield exc
    except JsonLimitError as exc:
        # the guard handed the parser only the bytes in front of the fault: `number` records are
        # complete, so the fault is in the next one (or after the last, outside any record)
        raise ParseError(number + 1, exc.field, exc.message) from None
    except _JSONError as exc:
        # yajl quotes the bytes around the fault on later lines: keep only its first line. The C
        # backend's message is bytes, whose str() is one repr line with the file's bytes in it.
        detail = exc.args[0] if exc.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        detail = str(detail).strip()
        text = detail.splitlines()[0] if detail else type(exc).__name__
        if "premature EOF" in text or "Incomplete JSON content" in text:
            if number:
                msg = (
                    f"the file is truncated: the JSON ends unexpectedly after record {number} "
                    "(incomplete download or copy?)"
                )
            else:
                msg = "the file is truncated: the JSON ends before the first record (incomplete download or copy?)"
        else:
            after = f"after record {number}" if number else "before the first record"
            msg = f"the file is not valid JSON {after}: {text}"
        raise ParseError(number + 1, None, msg) from None


# --------------------------------------------------------------------------- limits


class JsonGuard(_json_guard.JsonGuard):
    """The shared guard (casebridge.lib.json_guard), its messages naming what a VICS file needs."""

    depth_hint = f"a VICS file needs at most about {VICS_DEPTH}"
    blank_hint = "a number or a run of blank space that long has no place in a VICS file"


def vics_record(obj: object, number: int, scheme: Scheme) -> MediaRecord:
    """One VICS Media object as a MediaRecord; ParseError naming the field if a value is wrong."""
    if type(obj) is not dict:
        raise ParseError(number, None, f"expected a Media object, got {describe(obj)}")
    rec = MediaRecord(number, scheme=scheme.value)
    alt = None
    kinds = _KIND_CACHE
    cat_cache = _CATEGORY_CACHE[scheme]
    for key, value in obj.items():
        kind = kinds.get(key, _UNSEEN)
        if kind is _UNSEEN:
            kind = _FIELDS.get(key) or _FIELDS_LOWER.get(key.lower())
            if len(kinds) < 4096:
                kinds[key] = kind
        if kind is None:
            continue  # OData noise (odata.id, @odata.type, ...), paths, Exifs, dates: not kept
        if kind == "md5":
            rec.md5 = parse_hex(value, 16, number, key)
        elif kind == "sha1":
            rec.sha1 = parse_hex(value, 20, number, key)
        elif kind == "category":
            hit = cat_cache.get(value) if type(value) is int or type(value) is str else None
            if hit is None:
                hit = category_from(scheme, value, number, key)
                if (type(value) is int or type(value) is str) and len(cat_cache) < 256:
                    cat_cache[value] = hit
            rec.category_code, rec.category = hit
        elif kind == "size":
            if type(value) is int and value >= 0:
                rec.size = value
            else:
                rec.size = parse_whole(value, number, key, what="a size in bytes (a whole number)")
        elif kind == "victim":
            rec.victim_identified = _bool(value, number, key)
        elif kind == "offender":
            rec.offender_identified = _bool(value, number, key)
        elif kind == "distributed":
            rec.distributed = _bool(value, number, key)
        elif kind == "id":
            if value is not None:
                if type(value) is int or type(value) is str:
                    rec.source_id = str(value).strip() or None
                else:
                    raise ParseError(number, key, f"expected a number or text, got {describe(value)}")
        elif kind == "series":
            rec.series = parse_names(value, number, key)
        elif kind == "tags":
            rec.tags = parse_names(value, number, key)
        elif kind == "comments":
            rec.comments = parse_text(value, number, key)
        elif kind == "alt":
            alt = value
        elif kind == "sha256":
            rec.sha256 = parse_hex(value, 32, number, key)
        elif kind == "photodna":
            rec.photodna = parse_photodna(value, number, key)
        elif kind == "pdq":
            rec.pdq = parse_hex(value, 32, number, key)
        elif kind == "media_type":
            rec.media_type = media_type_from(value, number, key)
    if alt is not None:
        _alternative_hashes(rec, alt, number)
    if rec.md5 is None and rec.sha1 is None and rec.sha256 is None and rec.photodna is None and rec.pdq is None:
        raise ParseError(number, None, "the record has no hash: none of MD5, SHA1, SHA256, PhotoDNA or PDQ")
    return rec


def _bool(value, number, key):
    if type(value) is str or type(value) is bool:
        hit = _FAST_BOOL.get(value)
        if hit is not None:
            return hit
    return parse_bool(value, number, key)


def _alternative_hashes(rec: MediaRecord, alt: object, number: int) -> None:
    if type(alt) is not list:
        raise ParseError(number, "AlternativeHashes", f"expected a list, got {describe(alt)}")
    for entry in alt:
        if type(entry) is not dict:
            raise ParseError(number, "AlternativeHashes", f"expected a list of objects, found {describe(entry)}")
        name = value = None
        for k, v in entry.items():
            lk = k.lower()
            if lk == "hashname":
                name = v
            elif lk == "hashvalue":
                value = v
        if type(name) is not str:
            continue  # an entry without a name cannot be placed; other readers skip it too
        kind = _ALT_NAMES.get(name.strip().lower())
        if kind is None:
            continue  # a hash we do not use
        field = f"AlternativeHashes[{name.strip()}]"
        if kind == "photodna":
            digest = parse_photodna(value, number, field)
        else:
            digest = parse_hex(value, _DIGEST_LEN[kind], number, field)
        if digest is None:
            continue
        current = getattr(rec, kind)
        if current is None:
            setattr(rec, kind, digest)
        elif current != digest:
            raise ParseError(number, field, f"differs from the record's own {name.strip()} value")


# --------------------------------------------------------------------------- writing


def _code_out(code: str | None) -> str | None:
    """A category code as JSON: digits as a number (as the data model has it), else text."""
    if code is None:
        return None
    code = code.strip()
    if code.isdigit():
        return str(int(code))
    return json.dumps(code)


def _flag(value: bool | None) -> str | None:
    if value is None:
        return None
    return '"true"' if value else '"false"'


def _names(names) -> str | None:
    if not names:
        return None
    return json.dumps("|".join(names))


def vics_record_json(rec, media_id: int, scheme: Scheme, lost: list[int]) -> str:
    """One Media object. `lost` collects record numbers whose category the scheme cannot express."""
    parts = [f'"MediaID":{media_id}']
    code = None
    if rec.scheme == scheme.value and rec.category_code is not None:
        code = rec.category_code
    else:
        category = Category(rec.category)
        code = category_code_for(category, scheme)
        if code is None and category is not Category.UNCATEGORIZED:
            lost.append(rec.number)
    code = _code_out(code)
    if code is not None:
        parts.append(f'"Category":{code}')
    if rec.md5 is not None:
        parts.append(f'"MD5":"{rec.md5.hex().upper()}"')
    if rec.sha1 is not None:
        parts.append(f'"SHA1":"{rec.sha1.hex().upper()}"')
    if rec.size is not None:
        parts.append(f'"MediaSize":{int(rec.size)}')
    for key, value in (
        ("VictimIdentified", _flag(rec.victim_identified)),
        ("OffenderIdentified", _flag(rec.offender_identified)),
        ("IsDistributed", _flag(rec.distributed)),
        ("Series", _names(rec.series)),
        ("Tags", _names(rec.tags)),
        ("Comments", json.dumps(rec.comments) if rec.comments is not None else None),
    ):
        if value is not None:
            parts.append(f'"{key}":{value}')
    alt = []
    if rec.sha256 is not None:
        alt.append(f'{{"HashName":"SHA256","HashValue":"{rec.sha256.hex().upper()}"}}')
    if rec.photodna is not None:
        alt.append(f'{{"HashName":"PhotoDNA","HashValue":"{base64.b64encode(rec.photodna).decode()}"}}')
    if rec.pdq is not None:
        alt.append(f'{{"HashName":"PDQ","HashValue":"{rec.pdq.hex().upper()}"}}')
    if alt:
        parts.append('"AlternativeHashes":[' + ",".join(alt) + "]")
    return "{" + ",".join(parts) + "}"


def media_id_for(rec, counter: int) -> int:
    """The record's own MediaID when it has a numeric one, else its position in the export."""
    source_id = getattr(rec, "source_id", None)
    if source_id is not None:
        text = str(source_id).strip()
        if text.isdigit():
            return int(text)
    return counter


def vics_header(version: str, scheme: Scheme) -> str:
    if version == "2.0":
        variant = SCHEME_VARIANTS[scheme]
        return '{"@odata.context":' + json.dumps(CONTEXT_2_0.format(variant=variant)) + ',"value":['
    return '{"odata.metadata":' + json.dumps(METADATA_1_X.format(version=version)) + ',"value":['
