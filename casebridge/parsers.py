"""The API's one JSON parser (REST_FRAMEWORK DEFAULT_PARSER_CLASSES): bounded in size and depth."""

from __future__ import annotations

import codecs
import json

from django.conf import settings
from rest_framework import exceptions, parsers

from casebridge.errors import TooLargeError
from casebridge.lib.json_guard import MAX_TOKEN, JsonGuard, JsonLimitError, size_text

# Deepest JSON an API body may nest. The deepest body any endpoint takes is a few levels (witness
# hand-overs: object, list, object, list); Python's json recurses once per level and raises
# RecursionError (a 500) at about 1,000, so the limit sits far below that and far above any use.
API_JSON_MAX_DEPTH = 64
_READ = 1 << 16


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def too_large(limit: int) -> TooLargeError:
    """413, for a body over DATA_UPLOAD_MAX_MEMORY_SIZE (here, or where Django read it whole)."""
    return TooLargeError(f"The request body is larger than {size_text(limit)}, the most this node accepts.")


class JSONParser(parsers.JSONParser):
    """The API's one JSON parser (DEFAULT_PARSER_CLASSES): bounded in size, depth and token length.

    The body is read through the shared `JsonGuard` (casebridge.lib.json_guard, also the hash-set
    import's), so nesting too deep is refused on the bytes before `json` recurses into it, and at most
    DATA_UPLOAD_MAX_MEMORY_SIZE bytes are read: a larger body is a 413, whatever Content-Length said.
    NaN and Infinity are refused, as DRF's strict mode does."""

    max_depth = API_JSON_MAX_DEPTH

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        request = (parser_context or {}).get("request")
        declared = request.META.get("CONTENT_LENGTH") if request is not None else None
        if limit is not None and declared and str(declared).isdigit() and int(declared) > limit:
            raise too_large(limit)  # refused before a byte of it is read
        guard = JsonGuard(stream, max_depth=self.max_depth, max_token=MAX_TOKEN)
        body, total = [], 0
        try:
            while chunk := guard.read(_READ):
                total += len(chunk)
                if limit is not None and total > limit:
                    raise too_large(limit)
                body.append(chunk)
        except JsonLimitError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc.message}.") from None
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = codecs.decode(b"".join(body), encoding)
            return json.loads(text, parse_constant=_no_constant if self.strict else None)
        except (ValueError, LookupError) as exc:  # JSONDecodeError, UnicodeDecodeError, an unknown charset
            raise exceptions.ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:  # unreachable under the depth limit; never a 500 all the same
            raise exceptions.ParseError("JSON parse error - the JSON is nested too deep.") from None
