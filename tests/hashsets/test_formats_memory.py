"""Streaming: a large file is read with memory that does not grow with it."""

import base64
import json
import random
import tracemalloc

import pytest

from hashsets.formats import ParseReport, export_records, iter_records

N = 50_000
CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"


def write_vics(path, n):
    rnd = random.Random(7)
    with open(path, "w", encoding="utf-8") as f:
        f.write('{"@odata.context":"' + CONTEXT + '","value":[\n')
        for i in range(n):
            rec = {
                "odata.id": f"Media({i})",
                "MediaID": i + 1,
                "Category": i % 5,
                "MD5": f"{rnd.getrandbits(128):032X}",
                "SHA1": f"{rnd.getrandbits(160):040X}",
                "MediaSize": str(rnd.randrange(1, 1 << 24)),
                "VictimIdentified": "false",
                "IsDistributed": "true",
                "DateUpdated": "2024-01-02T03:04:05.000Z",
            }
            if i % 3 == 0:
                rec["AlternativeHashes"] = [
                    {"HashName": "PhotoDNA", "HashValue": base64.b64encode(rnd.randbytes(144)).decode()}
                ]
            f.write(("," if i else "") + json.dumps(rec) + "\n")
        f.write("]}\n")


def peak_while(fn):
    tracemalloc.start()
    try:
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, peak


@pytest.fixture(scope="module")
def big_vics(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "big.json"
    write_vics(path, N)
    return path


def test_50k_record_vics_file_parses_in_bounded_memory(big_vics):
    path = big_vics
    size = path.stat().st_size
    assert size > 10_000_000

    def count():
        report = ParseReport()
        n = sum(1 for _ in iter_records(path, report=report))
        return n, report

    (n, report), peak = peak_while(count)
    assert n == N and report.complete and report.skipped == 0
    assert peak < 1_000_000, f"peak {peak} bytes for a {size}-byte file"
    assert peak < size / 20


def test_csv_export_and_reimport_in_bounded_memory(tmp_path):
    src = tmp_path / "src.json"
    write_vics(src, N // 5)
    out = tmp_path / "big.csv"

    def convert():
        with open(out, "wb") as f:
            return export_records(iter_records(src), "csv", f)

    report, peak = peak_while(convert)
    assert report.written == N // 5
    assert peak < 1_000_000, f"peak {peak} bytes"

    count, peak = peak_while(lambda: sum(1 for _ in iter_records(out)))
    assert count == N // 5
    assert peak < 1_000_000
