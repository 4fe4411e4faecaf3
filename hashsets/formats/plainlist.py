"""Plain hash lists: one digest per line, or md5sum / sha1sum / sha256sum output.

The algorithm follows from the length (32 hex = MD5, 40 = SHA-1, 64 = SHA-256). Whatever follows
the digest on a line (the file name in `<hex>  <name>` or `<hex> *<name>`) is ignored and never kept:
a name from a seized device has no place in a hash set. BSD-style lines (`MD5 (name) = <hex>`) are
read too. Blank lines and lines starting with `#` are skipped. Lines are read with a bounded
`readline`: one longer than `source.MAX_TOKEN` characters ends the import instead of filling memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from .records import MediaRecord, ParseError, Scheme, parse_hex
from .source import LineTooLong, bounded_lines, size_text

_BSD = re.compile(r"^(MD5|SHA1|SHA-1|SHA256|SHA-256)\s*\(.*\)\s*=\s*(\S*)\s*$", re.IGNORECASE)
_BSD_LEN = {"md5": 16, "sha1": 20, "sha-1": 20, "sha256": 32, "sha-256": 32}
_BY_LEN = {32: ("md5", 16), 40: ("sha1", 20), 64: ("sha256", 32)}
_HEXCHARS = frozenset("0123456789abcdefABCDEF")


def first_token(line: str) -> str:
    line = line.strip()
    if line.startswith("\\"):  # GNU coreutils escapes odd file names with a leading backslash
        line = line[1:]
    return line.split(None, 1)[0] if line else ""


def looks_like_list_line(line: str) -> bool:
    """A digest-looking first token (even of the wrong length) or a BSD-style line."""
    if _BSD.match(line.strip()):
        return True
    token = first_token(line)
    return len(token) >= 16 and all(c in _HEXCHARS for c in token)


def iter_hashlist(text, scheme: Scheme | None) -> Iterator[MediaRecord | ParseError]:
    scheme_name = (scheme or Scheme.CUSTOM).value
    number = line_no = 0
    lines = bounded_lines(text) if hasattr(text, "readline") else text
    try:
        for line_no, line in enumerate(lines, 1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            number += 1
            bsd = _BSD.match(stripped)
            if bsd:
                algo = bsd.group(1).lower()
                nbytes = _BSD_LEN[algo]
                field = algo.replace("-", "")
                token = bsd.group(2)
            else:
                token = first_token(stripped)
                if token.startswith("*"):
                    token = token[1:]
                field, nbytes = _BY_LEN.get(len(token), (None, 0))
                if field is None:
                    yield ParseError(
                        number,
                        "hash",
                        f"expected 32, 40 or 64 hexadecimal characters (MD5, SHA-1 or SHA-256), got {len(token)}",
                        line_no,
                    )
                    continue
            try:
                digest = parse_hex(token, nbytes, number, field.upper(), line_no)
            except ParseError as exc:
                yield exc
                continue
            if digest is None:
                yield ParseError(number, field.upper(), "the line has no digest", line_no)
                continue
            rec = MediaRecord(number, scheme=scheme_name)
            setattr(rec, field, digest)
            yield rec
    except LineTooLong as exc:
        raise ParseError(
            number + 1,
            None,
            f"the line is longer than {size_text(exc.args[0], 'characters')}, the most one line may hold "
            "(a hash-list line needs under 200: is this a hash list?)",
            line_no + 1,
        ) from None
