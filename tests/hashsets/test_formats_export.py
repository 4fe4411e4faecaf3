"""Exports: what IPED and Griffeye need from a VICS file, round trips, and CSV formula injection."""

import csv
import dataclasses
import hashlib
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from hashsets.formats import Category, MediaRecord, ParseReport, export_records, iter_records

SAMPLES = Path(__file__).parent / "samples"

# what IPED's HashDBTool compares the first key's value with (case-insensitively)
IPED_VICS2 = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/$metadata#Media"
IPED_VICS13 = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Media"


def digest(algo, n):
    return hashlib.new(algo, f"export-{n}".encode()).digest()


def full_record(n, **changes):
    rec = MediaRecord(
        n,
        md5=digest("md5", n),
        sha1=digest("sha1", n),
        sha256=digest("sha256", n),
        pdq=digest("sha256", n + 1000),
        pdq_quality=90,
        photodna=bytes((n + i) % 256 for i in range(144)),
        size=1000 + n,
        media_type="image",
        category_code=str(n % 5),
        category=[
            Category.NON_PERTINENT,
            Category.CSAM_UNGRADED,
            Category.EXPLOITIVE,
            Category.CGI,
            Category.COMPARISON,
        ][n % 5],
        scheme="vic_us",
        victim_identified=bool(n % 2),
        offender_identified=False,
        distributed=True,
        series=("Series One", "Série deux"),
        tags=("a tag", "another"),
        comments='a "quoted" comment, with commas; and semicolons',
        source_id=str(500 + n),
    )
    return dataclasses.replace(rec, **changes)


def exported(records, fmt, **kwargs):
    out = io.BytesIO()
    report = export_records(records, fmt, out, **kwargs)
    return out.getvalue(), report


def reparsed(data, **kwargs):
    return list(iter_records(io.BytesIO(data), **kwargs))


def vics_view(rec):
    """What a VICS file carries: everything except the media type and PDQ quality."""
    return dataclasses.replace(rec, media_type=None, pdq_quality=None)


# ---- VICS 2.0 as IPED and Griffeye read it


def test_vics2_top_level_is_exactly_context_then_value():
    data, report = exported([full_record(1)], "vics2")
    doc = json.loads(data)
    assert list(doc) == ["@odata.context", "value"]
    assert doc["@odata.context"] == IPED_VICS2
    assert data.startswith(b'{"@odata.context":"' + IPED_VICS2.encode() + b'","value":[')
    assert report.written == 1 and report.scheme == "vic_us" and report.category_lost == []


def test_vics2_field_encodings():
    rec = full_record(1)
    (media,) = json.loads(exported([rec], "vics2")[0])["value"]
    assert media["MediaID"] == 501 and media["Category"] == 1
    assert media["MD5"] == rec.md5.hex().upper() and media["SHA1"] == rec.sha1.hex().upper()
    assert media["MediaSize"] == 1001
    assert (
        media["VictimIdentified"] == "true"
        and media["OffenderIdentified"] == "false"
        and media["IsDistributed"] == "true"
    )
    assert media["Series"] == "Series One|Série deux" and media["Tags"] == "a tag|another"
    alt = {a["HashName"]: a["HashValue"] for a in media["AlternativeHashes"]}
    assert len(alt["PhotoDNA"]) == 192  # the base64 length IPED insists on
    assert alt["SHA256"] == rec.sha256.hex().upper() and alt["PDQ"] == rec.pdq.hex().upper()
    for key in ("MediaFiles", "FileName", "FilePath", "RelativeFilePath"):
        assert key not in media


def test_vics2_uncategorized_has_no_category_and_unknown_flags_are_left_out():
    rec = MediaRecord(7, md5=digest("md5", 7), scheme="vic_us")
    (media,) = json.loads(exported([rec], "vics2")[0])["value"]
    assert media == {"MediaID": 1, "MD5": rec.md5.hex().upper()}  # no MediaID of its own: its position


def test_vics2_other_variants():
    data, _ = exported(
        [full_record(1, scheme="uk_caid", category_code="2", category=Category.CSAM_B)], "vics2", scheme="uk_caid"
    )
    assert json.loads(data)["@odata.context"].endswith("/2.0.xml/UK/$metadata#Media")
    (back,) = reparsed(data)
    assert back.scheme == "uk_caid" and back.category is Category.CSAM_B
    with pytest.raises(ValueError, match="cannot state the dhs scheme"):
        exported([], "vics2", scheme="dhs")


def test_vics2_round_trip():
    records = [vics_view(full_record(n)) for n in range(1, 41)]
    records.append(MediaRecord(41, sha1=digest("sha1", 41), scheme="vic_us", source_id="541"))
    data, _ = exported(records, "vics2")
    assert reparsed(data) == records


def test_vics_carries_neither_media_type_nor_pdq_quality():
    (back,) = reparsed(exported([full_record(1)], "vics2")[0])
    assert back == vics_view(full_record(1))
    assert back.media_type is None and back.pdq_quality is None


def test_vics2_round_trip_of_every_sample():
    for name in ("vics2_media_us.json", "vics13_media.json", "vics2_default_media.json"):
        original = list(iter_records(SAMPLES / name))
        back = reparsed(exported(original, "vics2")[0])
        assert back == [vics_view(r) for r in original], name


def test_vics13_round_trip_and_header():
    records = [vics_view(full_record(n)) for n in range(1, 11)]
    data, report = exported(records, "vics13")
    doc = json.loads(data)
    assert list(doc) == ["odata.metadata", "value"] and doc["odata.metadata"] == IPED_VICS13
    assert report.format == "vics13"
    assert reparsed(data) == records


def test_cross_scheme_export_maps_through_the_internal_category():
    records = [
        MediaRecord(1, md5=digest("md5", 1), scheme="dhs", category_code="5", category=Category.NON_PERTINENT),
        MediaRecord(2, md5=digest("md5", 2), scheme="uk", category_code="A", category=Category.CSAM_A),
        MediaRecord(3, md5=digest("md5", 3), scheme="custom", category_code="weird", category=Category.UNCATEGORIZED),
    ]
    data, report = exported(records, "vics2")
    media = json.loads(data)["value"]
    assert [m.get("Category") for m in media] == [0, 1, None]
    assert report.category_lost == []
    # a scheme that cannot say "exploitive" writes no category, and says so
    data, report = exported([full_record(2)], "vics2", scheme="uk_caid")
    assert "Category" not in json.loads(data)["value"][0] and report.category_lost == [2]


def test_media_id_falls_back_to_position():
    records = [MediaRecord(1, md5=digest("md5", 1), source_id="ICSE-77"), MediaRecord(2, md5=digest("md5", 2))]
    media = json.loads(exported(records, "vics2")[0])["value"]
    assert [m["MediaID"] for m in media] == [1, 2]


# ---- CSV


def test_csv_round_trip_keeps_everything():
    records = [full_record(n) for n in range(1, 21)]
    records.append(MediaRecord(21, photodna=bytes(144), scheme="uk", category_code="C", category=Category.CSAM_C))
    data, report = exported(records, "csv")
    assert report.written == 21
    assert reparsed(data) == records


@pytest.mark.parametrize(
    "dangerous",
    ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)", "\tTAB", "\rCR", "'=already quoted"],
)
def test_csv_formula_injection_is_neutralised_and_reversible(dangerous):
    rec = MediaRecord(
        1, md5=digest("md5", 1), comments=dangerous, series=(dangerous,), tags=(dangerous,), source_id=dangerous
    )
    data, _ = exported([rec], "csv")
    row = next(r for i, r in enumerate(csv.reader(io.StringIO(data.decode(), newline=""))) if i == 1)
    for column in ("comments", "series", "tags", "source_id"):
        cell = row[
            [
                "md5",
                "sha1",
                "sha256",
                "pdq",
                "pdq_quality",
                "photodna",
                "size",
                "media_type",
                "scheme",
                "category",
                "victim_identified",
                "offender_identified",
                "distributed",
                "series",
                "tags",
                "comments",
                "source_id",
            ].index(column)
        ]
        assert cell.startswith("'") and cell[1:] == dangerous, column
    (back,) = reparsed(data)
    assert back.comments == dangerous and back.series == (dangerous.strip(),) and back.source_id == dangerous.strip()


def test_csv_category_code_injection():
    rec = MediaRecord(1, md5=digest("md5", 1), scheme="custom", category_code="=cmd|' /C calc'!A0")
    data, _ = exported([rec], "csv")
    assert b",'=cmd|" in data
    (back,) = reparsed(data)
    assert back.category_code == "=cmd|' /C calc'!A0"


def test_harmless_apostrophes_are_left_alone():
    rec = MediaRecord(1, md5=digest("md5", 1), comments="'tis fine")
    data, _ = exported([rec], "csv")
    assert b",'tis fine," in data
    assert reparsed(data)[0].comments == "'tis fine"


# ---- ICSE


def test_icse_round_trip_of_what_icse_carries():
    records = list(iter_records(SAMPLES / "icse_export.csv"))
    data, report = exported(records, "icse")
    text = data.decode()
    assert text.splitlines()[0] == (
        "MD5;SHA1;PhotoDNA;Image ID;Is distributed;Victim identified;Offender identified;Series name;"
        "Number of submissions;File Available;Media Type;Baseline"
    )
    assert ";Yes;No;No;" in text and report.skipped == 0
    assert reparsed(data) == records


def test_icse_baseline_is_never_invented():
    data, report = exported([full_record(1)], "icse")
    (back,) = reparsed(data)
    assert back.category_code is None and back.category is Category.UNCATEGORIZED
    assert report.category_lost == [1]
    _, report = exported([MediaRecord(1, sha256=digest("sha256", 1))], "icse")
    assert report.written == 0 and report.skipped == 1  # no column for a SHA-256 alone


# ---- digest lists


@pytest.mark.parametrize(("fmt", "algo"), [("md5list", "md5"), ("sha1list", "sha1"), ("sha256list", "sha256")])
def test_digest_lists_lower_case_one_per_line(fmt, algo):
    records = [full_record(1), MediaRecord(2, photodna=bytes(144)), full_record(3)]
    data, report = exported(records, fmt)
    assert data.decode() == f"{getattr(records[0], algo).hex()}\n{getattr(records[2], algo).hex()}\n"
    assert (report.written, report.skipped) == (2, 1)
    assert [getattr(r, algo) for r in reparsed(data)] == [getattr(records[0], algo), getattr(records[2], algo)]


# ---- streams and inputs


def test_text_stream_and_model_like_objects():
    row = SimpleNamespace(
        number=1,
        md5=digest("md5", 1),
        sha1=None,
        sha256=None,
        pdq=None,
        pdq_quality=None,
        photodna=None,
        size=3,
        media_type=None,
        category_code="1",
        category="csam_ungraded",
        scheme="vic_us",
        victim_identified=None,
        offender_identified=None,
        distributed=None,
        series=(),
        tags=(),
        comments=None,
        source_id=None,
    )
    out = io.StringIO()
    export_records(iter([row]), "vics2", out)
    assert not out.closed
    (back,) = reparsed(out.getvalue().encode())
    assert back.md5 == row.md5 and back.category is Category.CSAM_UNGRADED


def test_binary_stream_stays_open():
    out = io.BytesIO()
    export_records([full_record(1)], "csv", out)
    assert not out.closed and out.getvalue().startswith(b"md5,sha1,")


def test_refuses_impossible_records_and_formats():
    with pytest.raises(ValueError, match="md5 must be 16 bytes, got 15"):
        exported([MediaRecord(1, md5=bytes(15))], "vics2")
    with pytest.raises(ValueError, match="unknown export format"):
        exported([], "xml")
    with pytest.raises(ValueError, match="unknown category scheme"):
        exported([], "csv", scheme="martian")


def test_scheme_does_not_apply_to_csv():
    rec = MediaRecord(1, md5=digest("md5", 1), scheme="dhs", category_code="5", category=Category.NON_PERTINENT)
    data, _ = exported([rec], "csv", scheme="vic_us")
    assert reparsed(data) == [rec]


def test_empty_export_is_valid():
    data, report = exported([], "vics2")
    assert json.loads(data) == {"@odata.context": IPED_VICS2, "value": []} and report.written == 0
    assert reparsed(data) == []


def test_large_export_streams_from_a_generator():
    def records():
        for n in range(1, 10_001):
            yield MediaRecord(n, md5=hashlib.md5(str(n).encode()).digest(), scheme="vic_us")

    out = io.BytesIO()
    report = export_records(records(), "vics2", out)
    assert report.written == 10_000
    parse_report = ParseReport()
    back = list(iter_records(io.BytesIO(out.getvalue()), report=parse_report))
    assert len(back) == 10_000 and back[-1].md5 == hashlib.md5(b"10000").digest()
