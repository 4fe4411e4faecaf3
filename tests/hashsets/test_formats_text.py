"""Text formats: header-mapped CSV, INTERPOL ICSE, and plain hash lists."""

import hashlib
import io
from pathlib import Path

import pytest

from hashsets.formats import Category, ParseError, ParseReport, detect_format, iter_records

SAMPLES = Path(__file__).parent / "samples"


def md5(n):
    return hashlib.md5(f"casebridge-sample-{n}".encode()).digest()


def sha1(n):
    return hashlib.sha1(f"casebridge-sample-{n}".encode()).digest()


def sha256(n):
    return hashlib.sha256(f"casebridge-sample-{n}".encode()).digest()


def pdna(n):
    return bytes((n * 7 + i) % 256 for i in range(144))


def read(name, **kwargs):
    return list(iter_records(SAMPLES / name, **kwargs))


# ---- header-mapped CSV


def test_csv_headers_are_case_insensitive_and_unknown_columns_reported():
    info = detect_format(SAMPLES / "hashes.csv")
    assert (info.name, info.delimiter) == ("csv", ",")
    report = ParseReport()
    one, two, three = iter_records(SAMPLES / "hashes.csv", report=report)
    assert report.ignored_columns == ["Examiner Notes"]
    assert report.warnings == ["ignored unknown column 'Examiner Notes'"]
    assert one.md5 == md5(120) and one.sha1 == sha1(120) and one.size == 123
    assert one.scheme == "vic_us" and one.category_code == "1" and one.category is Category.CSAM_UNGRADED
    assert (one.victim_identified, one.offender_identified, one.distributed) == (True, False, True)
    assert one.series == ("Series A", "Series B") and one.tags == ("t1", "t2")
    assert one.comments == "a comment, with a comma"
    assert one.photodna == pdna(120)  # hex
    assert one.pdq == hashlib.sha256(b"pdq-120").digest() and one.pdq_quality == 87
    assert one.media_type == "image"
    assert two.md5 == md5(121) and two.scheme == "custom" and two.category is Category.UNCATEGORIZED
    assert three.md5 is None and three.photodna == pdna(122)  # base64
    assert three.scheme == "uk" and three.category is Category.CSAM_B and three.media_type == "video"


def test_tab_separated_with_bom_and_crlf():
    info = detect_format(SAMPLES / "hashes_tab_bom_crlf.tsv")
    assert (info.name, info.delimiter, info.encoding) == ("csv", "\t", "utf-8-sig")
    one, two = read("hashes_tab_bom_crlf.tsv", scheme="dhs")
    assert one.md5 == md5(130) and one.sha256 == sha256(130) and one.category is Category.NON_PERTINENT
    assert two.category_code == "0" and two.category is Category.UNCATEGORIZED and two.scheme == "dhs"


def test_csv_quality_out_of_range():
    with pytest.raises(ParseError) as exc:
        read("bad_quality.csv")
    assert (exc.value.record, exc.value.field, exc.value.line) == (2, "pdq_quality", 3)
    assert exc.value.message == "must be between 0 and 100, got 101"


def csv_records(text, **kwargs):
    return list(iter_records(io.BytesIO(text.encode()), **kwargs))


def test_csv_errors_name_the_column_as_written():
    m = md5(1).hex()
    cases = [
        (f"MD5,Size\n{m},-3\n", 1, "Size", "must not be negative, got -3"),
        (f"md5,category,scheme\n{m},7,vic_us\n", 1, "category", None),
        (f"md5,scheme\n{m},martian\n", 1, "scheme", None),
        (f"md5,victim_identified\n{m},sometimes\n", 1, "victim_identified", "expected true or false, got 'sometimes'"),
        (f"md5,sha1\n{m},abc\n", 1, "sha1", "expected 40 hexadecimal characters, got 3"),
        (f"md5,size\n{m},1,2,3\n", 1, None, "the row has 4 cells but the header has 2"),
        ("md5,size\n,12\n", 1, None, "the row has no hash: none of md5, sha1, sha256, pdq or photodna"),
        (f"md5,pdq_quality\n{m},50\n", 1, "pdq_quality", "a PDQ quality is given without a PDQ hash"),
    ]
    for text, record, field, message in cases:
        with pytest.raises(ParseError) as exc:
            csv_records(text)
        assert (exc.value.record, exc.value.field) == (record, field), text
        assert exc.value.line == 2
        if message:
            assert exc.value.message == message


def test_csv_header_problems():
    with pytest.raises(ParseError, match="names this column twice"):
        csv_records(f"md5,MD5\n{md5(1).hex()},{md5(1).hex()}\n", fmt="csv")


def test_csv_trailing_delimiter_and_blank_lines_are_tolerated():
    recs = csv_records(f"md5,size,\n\n{md5(1).hex()},5,\n\n{md5(2).hex()},6,\n")
    assert [(r.number, r.size) for r in recs] == [(1, 5), (2, 6)]


def test_csv_not_utf8():
    with pytest.raises(ParseError, match="not valid UTF-8"):
        list(iter_records(io.BytesIO(b"md5,comments\n" + md5(1).hex().encode() + b",caf\xe9\n")))


# ---- ICSE


def test_icse_export():
    info = detect_format(SAMPLES / "icse_export.csv")
    assert (info.name, info.scheme, info.delimiter) == ("icse", "icse", ";")
    one, two, three = read("icse_export.csv")
    assert one.md5 == md5(140) and one.sha1 == sha1(140) and one.photodna == pdna(140)
    assert one.source_id == "1001" and one.series == ("Synthetic ICSE series",) and one.media_type == "image"
    assert (one.distributed, one.victim_identified, one.offender_identified) == (True, False, False)
    assert one.category_code == "Y" and one.category is Category.CSAM_UNGRADED and one.scheme == "icse"
    assert two.category_code == "N" and two.category is Category.UNCATEGORIZED and two.media_type == "video"
    assert (two.distributed, two.victim_identified, two.offender_identified) == (False, True, True)
    assert three.category_code is None and three.sha1 is None and three.distributed is None


def test_icse_bad_baseline_and_flag():
    header = (
        "MD5;SHA1;PhotoDNA;Image ID;Is distributed;Victim identified;Offender identified;Series name;"
        "Number of submissions;File Available;Media Type;Baseline\n"
    )
    with pytest.raises(ParseError) as exc:
        csv_records(header + f"{md5(1).hex()};;;1;Y;N;N;;;;Image;perhaps\n")
    assert (exc.value.record, exc.value.field, exc.value.line) == (1, "Baseline", 2)
    with pytest.raises(ParseError) as exc:
        csv_records(header + f"{md5(1).hex()};;;1;X;N;N;;;;Image;Y\n")
    assert exc.value.field == "Is distributed"


# ---- hash lists


def test_md5sum_output_names_are_ignored():
    assert detect_format(SAMPLES / "md5sum.txt").name == "hashlist"
    recs = read("md5sum.txt")
    assert [r.md5 for r in recs] == [md5(80), md5(81), md5(82)]
    assert [r.number for r in recs] == [1, 2, 3]
    for rec in recs:
        assert rec.sha1 is None and rec.comments is None and rec.series == () and rec.tags == ()


def test_sha1sum_binary_marker_and_crlf():
    recs = read("sha1sum_binary_crlf.txt")
    assert [r.sha1 for r in recs] == [sha1(90), sha1(91)]


def test_sha256_upper_case_one_per_line():
    recs = read("sha256_plain_upper.txt")
    assert [r.sha256 for r in recs] == [sha256(100), sha256(101)]


def test_bsd_style_and_mixed_algorithms():
    one, two, three, four = read("bsd_and_mixed.txt")
    assert one.md5 == md5(110) and two.sha1 == sha1(111) and three.sha256 == sha256(112) and four.md5 == md5(113)


def test_hash_list_bad_line():
    with pytest.raises(ParseError) as exc:
        read("bad_hashlist.txt")
    assert (exc.value.record, exc.value.field, exc.value.line) == (2, "hash", 2)
    assert str(exc.value) == (
        "record 2 (line 2), field hash: expected 32, 40 or 64 hexadecimal characters (MD5, SHA-1 or SHA-256), got 31"
    )


def test_hash_list_non_hex_and_skip_invalid():
    text = f"# list\n{md5(1).hex()}\n{md5(2).hex()[:31]}z\nMD5 (x) = 123\n{sha1(3).hex()}\n"
    report = ParseReport()
    recs = list(iter_records(io.BytesIO(text.encode()), skip_invalid=True, report=report))
    assert [r.number for r in recs] == [1, 4]
    assert [(e.record, e.field, e.line) for e in report.errors] == [(2, "MD5", 3), (3, "MD5", 4)]
    assert report.errors[0].message == "character 32 ('z') is not hexadecimal (0-9, A-F)"


def test_hash_list_scheme_defaults_to_custom():
    recs = list(iter_records(io.BytesIO(md5(1).hex().encode()), scheme="vic_us"))
    assert recs[0].scheme == "vic_us" and recs[0].category is Category.UNCATEGORIZED
    recs = list(iter_records(io.BytesIO(md5(1).hex().encode())))
    assert recs[0].scheme == "custom"
