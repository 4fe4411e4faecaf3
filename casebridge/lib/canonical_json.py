"""RFC 8785 (JSON Canonicalization Scheme) for the values Casebridge signs and hashes.

Audit entries and bundle headers contain only objects, arrays, strings, integers, booleans and
null. For that subset RFC 8785 is: object members sorted by the UTF-16 code units of their names,
no insignificant whitespace, strings escaped as ECMAScript's JSON.stringify does (which matches
Python's json module with ensure_ascii=False), integers in plain decimal. Floats are refused
rather than half-supported: no signed structure needs them, and their serialization is where
independent implementations disagree. Integers must lie within the IEEE 754 safe range, since
RFC 8785 consumers read numbers as doubles.

Pure module: no Django import, used by the offline audit verifier.
"""

from __future__ import annotations

import json
from typing import Any

_MAX_SAFE_INT = 2**53 - 1
_encode_string = json.encoder.py_encode_basestring  # type: ignore[attr-defined]
try:  # the C accelerator, when present, gives identical output faster
    from _json import encode_basestring as _encode_string  # type: ignore[no-redef]
except ImportError:  # pragma: no cover - CPython always has it
    pass


class CanonicalJSONError(ValueError):
    """The value cannot be represented in canonical JSON."""


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _check_string(value: str) -> None:
    # Lone surrogates cannot be encoded as UTF-8, so two implementations would disagree.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CanonicalJSONError("string contains a lone surrogate") from None


def _write(value: Any, out: list[str]) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, int):
        if not -_MAX_SAFE_INT <= value <= _MAX_SAFE_INT:
            raise CanonicalJSONError(f"integer {value} is outside the safe range of RFC 8785")
        out.append(str(int(value)))
    elif isinstance(value, str):
        _check_string(value)
        out.append(_encode_string(value))
    elif isinstance(value, dict):
        out.append("{")
        first = True
        for key in sorted(value, key=_utf16_key):
            if not isinstance(key, str):
                raise CanonicalJSONError("object keys must be strings")
            _check_string(key)
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            _write(item, out)
        out.append("]")
    elif isinstance(value, float):
        raise CanonicalJSONError("floats are not allowed in signed or hashed structures")
    else:
        raise CanonicalJSONError(f"cannot canonicalize a value of type {type(value).__name__}")


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialization of ``value`` as UTF-8 bytes."""
    out: list[str] = []
    _write(value, out)
    return "".join(out).encode("utf-8")
