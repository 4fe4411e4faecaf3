"""A corpus of broken and hostile hash-set files, each imported as an upload would be.

Every one must end with the import `failed`, a message that says what is wrong, nothing imported
(no Media, no Classification), the failure audited, and - for the big ones - memory well below
the size of the file (or of what it would decompress to): the importer streams, it never loads a
file whole, and it never unpacks an archive.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import re
import resource
import tracemalloc
import zipfile
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from audit.capture import SYSTEM_ACTOR
from audit.models import AuditPending
from hashsets.formats.source import MAX_TOKEN
from hashsets.formats.vics import MAX_DEPTH, JsonGuard, JsonLimitError
from hashsets.models import Classification, HashSet, HashSetImport, Media
from hashsets.services import hashset_import_run, import_job_create
from tests.hashsets.factories import VICS2_CONTEXT, digests, vics2_records

pytestmark = pytest.mark.django_db

MiB = 1 << 20
assert MAX_TOKEN % MiB == 0
_DEEP = rf"record 1: .*nested deeper than {MAX_DEPTH:,} levels"
_LONG = f"longer than {MAX_TOKEN // MiB} MiB"
_LONG_ROW = rf"record 1 \(line 2\).*longer than the field limit of {MAX_TOKEN // MiB} MiB"
_NO_STRING = rf"record 1: more than {MAX_TOKEN // MiB} MiB .*without a single string"


def _vics(records_json: str) -> bytes:
    return ('{"@odata.context": "' + VICS2_CONTEXT + '", "value": [' + records_json + "]}").encode()


def _record(**fields) -> str:
    base = {"MediaID": 1, "Category": 1, **digests(1)}
    base.update(fields)
    return json.dumps(base)


def truncated_json(path: Path) -> None:
    whole = _vics(",".join(json.dumps(r) for r in vics2_records(50)))
    path.write_bytes(whole[: int(len(whole) * 0.7)])


def wrong_types(path: Path) -> None:
    path.write_bytes(_vics(_record(MD5=12345, Category="not-a-number", VictimIdentified={"a": 1})))


def huge_category(path: Path) -> None:
    path.write_bytes(_vics(_record(Category=10**40)))


def invalid_utf8(path: Path) -> None:
    path.write_bytes(_vics(_record(Series="PLACEHOLDER")).replace(b"PLACEHOLDER", b"\xff\xfe\xc3\x28"))


def wrong_hex_length(path: Path) -> None:
    path.write_bytes(_vics(_record(MD5="A" * 31)))


def depth_bomb(path: Path) -> None:
    depth = 100_000
    path.write_bytes(_vics("[" * depth + "]" * depth))


def shallow_nesting(path: Path) -> None:
    depth = 1_000
    path.write_bytes(_vics("[" * depth + "]" * depth))


def depth_bomb_in_record(path: Path) -> None:
    depth = 100_000
    path.write_bytes(_vics(_record(Comments="X").replace('"X"', "[" * depth + "]" * depth)))


def depth_bomb_deeper(path: Path) -> None:
    """Ten times the depth (2 MB): memory must not follow it."""
    depth = 1_000_000
    path.write_bytes(_vics("[" * depth + "]" * depth))


def nesting_at_limit(path: Path) -> None:
    """As deep as accepted (the top object and `value` are two levels): read, then refused as a record."""
    depth = MAX_DEPTH - 2
    path.write_bytes(_vics("[" * depth + "]" * depth))


def nesting_over_limit(path: Path) -> None:
    depth = MAX_DEPTH - 1
    path.write_bytes(_vics("[" * depth + "]" * depth))


def brackets_in_strings(path: Path) -> None:
    """100,000 brackets inside strings (escaped quotes among them) are text, not nesting."""
    text = '[{\\"' * 20_000
    path.write_bytes(_vics(_record(Comments="X", MD5="A" * 31).replace('"X"', '"' + text + '"')))


def huge_string(path: Path) -> None:
    """One record whose Comments is a single 16 MiB JSON string."""
    path.write_bytes(_vics(_record(MD5="A" * (16 * MiB))))


def huge_string_comment(path: Path) -> None:
    path.write_bytes(_vics(_record(MD5="A" * 31, Comments="B" * (16 * MiB))))


def huge_string_escaped_quotes(path: Path) -> None:
    """16 MiB of one string whose escaped quotes must not be taken for its end."""
    path.write_bytes(_vics(_record(Comments="X").replace('"X"', '"' + 'ab\\"cd' * (2 * MiB) + '"')))


def huge_number(path: Path) -> None:
    path.write_bytes(_vics(_record(MediaSize=10**40)))


def huge_number_digits(path: Path) -> None:
    """16 MiB of digits: one number token, no string in it."""
    path.write_bytes(_vics(_record(MediaSize=0).replace('"MediaSize": 0', '"MediaSize": ' + "9" * (16 * MiB))))


def csv_formula_injection(path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["md5", "sha1", "series", "comments"])
        writer.writerow(["=cmd|' /C calc'!A0", digests(1)["SHA1"], '=HYPERLINK("http://x")', "@SUM(1+1)"])
        writer.writerow(["+" + "1" * 31, digests(2)["SHA1"], "-2+3", "=1+1"])


def csv_runaway_quote(path: Path) -> None:
    """A quote opened and never closed: the rest of a 32 MiB file would be one field."""
    path.write_bytes(b"md5,comments\n" + digests(1)["MD5"].encode() + b',"' + (b"x" * 99 + b"\n") * (32 * MiB // 100))


def csv_long_line(path: Path) -> None:
    path.write_bytes(b"md5,comments\n" + digests(1)["MD5"].encode() + b",x" + b"x" * (16 * MiB) + b"\n")


def hashlist_long_line(path: Path) -> None:
    path.write_bytes(digests(1)["MD5"].encode() + b"\n" + b"f" * (16 * MiB))


def icse_long_line(path: Path) -> None:
    header = ";".join(["MD5", "SHA1", "PhotoDNA", "Image ID", "Is distributed", "Baseline"])
    path.write_bytes(header.encode() + b"\r\n" + digests(1)["MD5"].encode() + b";" + b"x" * (16 * MiB) + b"\r\n")


def zip_archive(path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("set.json", _vics(",".join(json.dumps(r) for r in vics2_records(20))))
    path.write_bytes(buffer.getvalue())


def gzip_bomb(path: Path) -> None:
    """About 200 KiB on disk, 200 MiB of (valid-looking) hash list once unpacked."""
    line = (digests(1)["MD5"] + "\n").encode()
    with gzip.open(path, "wb", compresslevel=9) as handle:
        block = line * (MiB // len(line))
        for _ in range(200):
            handle.write(block)


def random_binary(path: Path) -> None:
    path.write_bytes(bytes(range(256)) * 64)


def json_not_vics(path: Path) -> None:
    path.write_bytes(json.dumps({"value": [{"MD5": digests(1)["MD5"]}]}).encode())


def empty(path: Path) -> None:
    path.write_bytes(b"")


def bom_only(path: Path) -> None:
    path.write_bytes(b"\xef\xbb\xbf  \n")


def csv_header_only(path: Path) -> None:
    path.write_bytes(b"md5,sha1,category\n")


def utf16_odd_length(path: Path) -> None:
    path.write_bytes(("md5\n" + digests(1)["MD5"] + "\n").encode("utf-16") + b"\x00")


def nul_bytes_in_csv(path: Path) -> None:
    path.write_bytes(b"md5,comments\n" + digests(1)["MD5"].encode() + b",a\x00b\n")


def nul_in_vics_series(path: Path) -> None:
    path.write_bytes(_vics(_record(Series="a\u0000b")))


def valid_then_bad(path: Path) -> None:
    """100,000 good records and one bad one at the end: all or nothing, nothing kept."""
    records = vics2_records(100_000)
    records[-1]["SHA1"] = "not hex"
    path.write_bytes(_vics(",".join(json.dumps(r) for r in records)))


@dataclass(frozen=True)
class Hostile:
    make: Callable[[Path], None]
    error: str  # a regular expression the failure message must match
    big: bool = False  # check memory against the file (or unpacked) size
    # for a small file whose danger is not its size (a depth bomb): a bound on peak memory instead.
    # The importer's own buffers (a 64 KiB head, read buffers) already exceed a quarter of 200 KB.
    ceiling: int | None = None


CORPUS = {
    "truncated_json": Hostile(truncated_json, r"(truncated|incomplete|not valid JSON|ends? )"),
    "wrong_types": Hostile(wrong_types, r"record 1.*(MD5|Category|VictimIdentified)"),
    "huge_number": Hostile(huge_number, r"record 1.*integer overflow"),
    "huge_category": Hostile(huge_category, r"record 1.*integer overflow"),
    "invalid_utf8": Hostile(invalid_utf8, r"record 1.*invalid bytes in UTF-?8"),
    "wrong_hex_length": Hostile(wrong_hex_length, r"record 1.*MD5.*32"),
    "depth_bomb": Hostile(depth_bomb, _DEEP, big=True, ceiling=4 * MiB),
    "depth_bomb_in_record": Hostile(depth_bomb_in_record, _DEEP, big=True, ceiling=4 * MiB),
    "depth_bomb_deeper": Hostile(depth_bomb_deeper, _DEEP, big=True, ceiling=4 * MiB),
    "nesting_at_limit": Hostile(nesting_at_limit, r"record 1.*expected a Media object"),
    "nesting_over_limit": Hostile(nesting_over_limit, _DEEP),
    "brackets_in_strings": Hostile(brackets_in_strings, r"record 1.*MD5.*32"),
    "shallow_nesting": Hostile(shallow_nesting, r"record 1.*expected a Media object"),
    "huge_string": Hostile(huge_string, r"record 1, field MD5: a JSON string " + _LONG, big=True),
    "huge_string_comment": Hostile(huge_string_comment, r"record 1, field Comments: a JSON string " + _LONG, big=True),
    "huge_string_escaped_quotes": Hostile(
        huge_string_escaped_quotes, r"record 1, field Comments: a JSON string " + _LONG, big=True
    ),
    "huge_number_digits": Hostile(huge_number_digits, _NO_STRING, big=True),
    "csv_formula_injection": Hostile(csv_formula_injection, r"(record|line|row) \d.*md5"),
    "csv_runaway_quote": Hostile(csv_runaway_quote, r"record 1.*field limit.*unclosed quote", big=True),
    "csv_long_line": Hostile(csv_long_line, _LONG_ROW, big=True),
    "icse_long_line": Hostile(icse_long_line, _LONG_ROW, big=True),
    "hashlist_long_line": Hostile(hashlist_long_line, r"record 2 \(line 2\).*" + _LONG, big=True),
    "zip_archive": Hostile(zip_archive, r"unknown format"),
    "gzip_bomb": Hostile(gzip_bomb, r"unknown format"),
    "random_binary": Hostile(random_binary, r"(unknown format|not valid)"),
    "json_not_vics": Hostile(json_not_vics, r"unknown format.*VICS"),
    "empty": Hostile(empty, r"empty"),
    "bom_only": Hostile(bom_only, r"empty"),
    "csv_header_only": Hostile(csv_header_only, r"no records"),
    "utf16_odd_length": Hostile(utf16_odd_length, r"(UTF-16|truncated|not valid)"),
    "nul_bytes_in_csv": Hostile(nul_bytes_in_csv, r"record 1.*comments.*NUL"),
    "nul_in_vics_series": Hostile(nul_in_vics_series, r"record 1.*Series.*NUL"),
    "valid_then_bad": Hostile(valid_then_bad, r"record 100000.*SHA1", big=True),
}


@contextmanager
def memory_ceiling(extra: int = 2 << 30):
    """Cap this process's address space near its current size, so a runaway parser raises
    MemoryError here instead of drawing the machine's out-of-memory killer."""
    with open("/proc/self/status") as status:
        size = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize:"))
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (size + extra, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def nsp_set(agency_a):
    return HashSet.objects.create(owner=agency_a, name="NSP hostile", scheme="vic_us")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hostile_file_fails_cleanly(name, tmp_path, nsp_set):
    case = CORPUS[name]
    path = tmp_path / f"{name}.upload"
    case.make(path)
    size = path.stat().st_size
    job = import_job_create(acting_user=None, hashset=nsp_set, file_name=path.name, total_bytes=size, scheme=None)
    pending_before = AuditPending.objects.count()

    if case.big:
        tracemalloc.start()
    try:
        with memory_ceiling():
            job = hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)
    finally:
        peak = tracemalloc.get_traced_memory()[1] if case.big else 0
        tracemalloc.stop()

    job.refresh_from_db()
    assert job.status == HashSetImport.Status.FAILED, f"{name}: {job.status} {job.error!r}"
    assert re.search(case.error, job.error, re.IGNORECASE | re.DOTALL), f"{name}: unclear message {job.error!r}"
    assert len(job.error) < 1000, f"{name}: the message is {len(job.error)} characters long"
    assert not Media.objects.exists() and not Classification.objects.exists(), f"{name}: something was imported"
    assert AuditPending.objects.count() == pending_before + 1, f"{name}: the failure was not audited"
    if case.ceiling is not None:
        assert peak < case.ceiling, f"{name}: peak {peak:,} bytes of Python memory (ceiling {case.ceiling:,})"
    elif case.big:
        assert peak < size / 4, f"{name}: peak {peak:,} bytes of Python memory for a {size:,}-byte file"


def test_gzip_bomb_is_never_unpacked(tmp_path, nsp_set):
    """Refused from its first bytes: far less memory than the 200 MiB it would unpack to."""
    path = tmp_path / "set.txt.gz"
    gzip_bomb(path)
    job = import_job_create(
        acting_user=None, hashset=nsp_set, file_name=path.name, total_bytes=path.stat().st_size, scheme=None
    )
    tracemalloc.start()
    try:
        job = hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert job.status == HashSetImport.Status.FAILED and "unknown format" in job.error
    assert peak < 8 * MiB, f"peak {peak:,} bytes: the file was read or unpacked"


def test_formula_cells_in_text_columns_export_inert(tmp_path, nsp_set):
    """Formulas in free-text columns are data, not an error: imported as text, exported guarded."""
    from hashsets.services import hashset_export

    path = tmp_path / "formula.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["md5", "series", "comments"])
        writer.writerow([digests(1)["MD5"], '=HYPERLINK("http://evil.example","x")', "@SUM(1+1)"])
    job = import_job_create(
        acting_user=None, hashset=nsp_set, file_name=path.name, total_bytes=path.stat().st_size, scheme=None
    )
    job = hashset_import_run(job=job, path=path, actor=SYSTEM_ACTOR)
    assert job.status == HashSetImport.Status.DONE, job.error
    out = io.StringIO()
    hashset_export(actor=SYSTEM_ACTOR, hashset=nsp_set, fmt="csv", out=out)
    cells = [cell for row in csv.reader(io.StringIO(out.getvalue())) for cell in row]
    assert '\'=HYPERLINK("http://evil.example","x")' in cells and "'@SUM(1+1)" in cells
    assert not any(cell.startswith(("=", "@", "+", "-")) for cell in cells)


def test_evidence_export_keeps_formula_cells_inert(tmp_path, alice, as_user):
    """A manifest's free-text media type comes back out in the case's evidence CSV: guarded."""
    from cases import services as case_services
    from cases.access import Access
    from cases.selectors import case_context

    case = case_services.case_create(acting_user=alice, title="Formula drill")
    context = case_context(user=alice, case_id=case.pk, need=Access.WRITE)
    path = tmp_path / "evidence.csv"
    path.write_text(f"md5,media_type\n{digests(1)['MD5']},=1+2\n{digests(2)['MD5']},@SUM(1)\n")
    case_services.evidence_add(acting_user=alice, context=context, parsed=case_services.evidence_parse_file(path))
    response = as_user(alice).get(f"/cases/{case.pk}/evidence/export.csv")
    assert response.status_code == 200
    cells = [cell for row in csv.reader(io.StringIO(response.content.decode())) for cell in row]
    assert "'=1+2" in cells and "'@sum(1)" in cells
    assert not any(cell.startswith(("=", "@", "+", "-")) for cell in cells)


def _guard_reference(data: bytes, max_depth: int, max_token: int) -> tuple[int, str] | None:
    """Byte by byte: where the first limit is passed and which, or where the JSON goes bad (a
    closer with nothing open, a backslash outside a string): the parser stops there by itself."""
    depth, in_string, escaped, last_quote = 0, False, False, -1
    for at, char in enumerate(data):
        if not (char == 34 and not escaped) and at - last_quote > max_token:
            return last_quote + 1 + max_token, "token"
        if escaped:
            escaped = False
        elif char == 34:
            in_string, last_quote = not in_string, at
        elif in_string:
            escaped = char == 92
        elif char == 92:
            return at, "bad JSON"
        elif char in b"[{":
            depth += 1
            if depth > max_depth:
                return at, "depth"
        elif char in b"]}":
            if not depth:
                return at, "bad JSON"
            depth -= 1
    if len(data) - last_quote - 1 > max_token:
        return last_quote + 1 + max_token, "token"
    return None


def _through_guard(data: bytes, chunk: int, **limits) -> tuple[bytes, JsonLimitError | None]:
    guard = JsonGuard(io.BytesIO(data), **limits)
    guard._chunk = chunk  # small reads: every state crosses a chunk boundary somewhere
    out = []
    try:
        while block := guard.read(1 << 16):
            out.append(block)
    except JsonLimitError as exc:
        return b"".join(out), exc
    return b"".join(out), None


@pytest.mark.django_db(False)
def test_json_guard_agrees_with_a_byte_by_byte_reading():
    """The guard's quick pass over whole chunks cuts exactly where a byte-by-byte reading would."""
    rng = random.Random(20240611)
    alphabet = b'[]{}"\\ab,:'
    checked = 0
    for _ in range(20_000):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 160)))
        max_depth, max_token = rng.randint(1, 40), rng.randint(4, 40)
        chunk = rng.randint(1, max(1, max_token // 2))
        passed, error = _through_guard(data, chunk, max_depth=max_depth, max_token=max_token)
        expected = _guard_reference(data, max_depth, max_token)
        if expected is None:
            assert error is None and passed == data, (data, max_depth, max_token, chunk)
        elif expected[1] == "bad JSON":  # the guard may cut later, never sooner
            assert len(passed) > expected[0], (data, max_depth, max_token, chunk)
        else:
            assert error is not None and len(passed) == expected[0], (data, max_depth, max_token, chunk, error)
            checked += 1
    assert checked > 1000


@pytest.mark.django_db(False)
def test_json_guard_passes_valid_json_unchanged():
    rng = random.Random(7)
    chars = '[]{}"\\ab/\u00e9\u20ac\n'

    def value(depth):
        pick = rng.random()
        if depth > 6 or pick < 0.3:
            return "".join(rng.choice(chars) for _ in range(rng.randint(0, 12)))
        if pick < 0.5:
            return rng.randint(-(10**6), 10**6)
        if pick < 0.75:
            return [value(depth + 1) for _ in range(rng.randint(0, 4))]
        return {"".join(rng.choice(chars) for _ in range(rng.randint(0, 5))): value(depth + 1) for _ in range(4)}

    for _ in range(2_000):
        data = json.dumps(value(0), ensure_ascii=rng.random() < 0.5).encode()
        passed, error = _through_guard(data, rng.randint(1, 50), max_depth=8, max_token=MAX_TOKEN)
        assert error is None and passed == data, data
