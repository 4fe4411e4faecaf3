"""Project VIC JSON: 2.0 and 1.x, both shapes, their quirks, and their failures."""

import base64
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


def error_of(name, **kwargs):
    with pytest.raises(ParseError) as exc:
        read(name, **kwargs)
    return exc.value


# ---- VICS 2.0 hash set with every quirk


def test_vics2_us_media_first_record_carries_everything():
    info = detect_format(SAMPLES / "vics2_media_us.json")
    assert (info.name, info.version, info.scheme, info.shape) == ("vics2", "2.0", "vic_us", "media")
    rec = read("vics2_media_us.json")[0]
    assert rec.number == 1 and rec.source_id == "1"
    assert rec.md5 == md5(1) and rec.sha1 == sha1(1) and rec.sha256 == sha256(1)  # upper-case hex in the file
    assert rec.photodna == pdna(1)  # base64 from AlternativeHashes
    assert rec.size == 20480  # MediaSize as a string
    assert (rec.victim_identified, rec.offender_identified, rec.distributed) == (
        True,
        False,
        True,
    )  # "true" "False" "1"
    assert rec.category_code == "1" and rec.category is Category.CSAM_UNGRADED and rec.scheme == "vic_us"
    assert rec.series == ("Synthetic Series A", "Synthetic Series B")
    assert rec.tags == ("tag-one", "tag-two")
    assert rec.comments == "synthetic sample record"
    assert rec.media_type == "image"


def test_vics2_never_keeps_file_names_or_paths():
    for rec in read("vics2_media_us.json") + read("vics12_cases.json") + read("vics11_media.json"):
        for value in (rec.comments, rec.source_id, rec.media_type, *rec.series, *rec.tags):
            assert "must-not-be-kept" not in str(value)
            assert "Users" not in str(value)


def test_vics2_us_media_other_records():
    recs = read("vics2_media_us.json")
    assert len(recs) == 6
    two, three, four, five, six = recs[1:]
    assert two.category is Category.EXPLOITIVE and two.category_code == "2"  # Category as a string
    assert two.size == 1024 and two.victim_identified is False and two.distributed is True  # JSON false, "yes"
    assert two.media_type == "video" and two.md5 == md5(2) and two.sha1 is None
    assert three.category is Category.UNCATEGORIZED and three.category_code is None  # Category null
    assert three.md5 is None and three.sha1 == sha1(3) and three.victim_identified is None and three.series == ()
    assert four.category is Category.NON_PERTINENT and four.offender_identified is False
    assert five.category is Category.CGI and five.photodna == pdna(5)  # top-level PhotoDNA in hex
    assert six.category is Category.COMPARISON and six.pdq == hashlib.sha256(b"pdq-6").digest()


def test_vics2_uk_cases_with_bom_and_crlf():
    info = detect_format(SAMPLES / "vics2_cases_uk_bom_crlf.json")
    assert (info.name, info.scheme, info.shape, info.encoding) == ("vics2", "uk_caid", "cases", "utf-8-sig")
    recs = read("vics2_cases_uk_bom_crlf.json")
    assert [r.number for r in recs] == [1, 2, 3, 4]  # records of both cases, numbered through
    assert [r.category for r in recs] == [Category.CSAM_A, Category.CSAM_B, Category.CSAM_C, Category.UNCATEGORIZED]
    assert [r.md5 for r in recs] == [md5(11), md5(12), md5(13), md5(14)]
    assert recs[0].victim_identified is True and recs[0].size == 100 and recs[2].distributed is True


def test_vics2_default_and_custom_variants():
    assert detect_format(SAMPLES / "vics2_default_media.json").scheme == "vic_us"
    custom = read("vics2_custom.json")
    assert detect_format(SAMPLES / "vics2_custom.json").scheme == "custom"
    assert [(r.category_code, r.category, r.scheme) for r in custom] == [
        ("7", Category.UNCATEGORIZED, "custom"),
        ("Known-Bad", Category.UNCATEGORIZED, "custom"),
    ]


def test_vics2_utf16_file_from_an_older_windows_exporter():
    info = detect_format(SAMPLES / "vics2_utf16.json")
    assert info.encoding == "utf-16"
    (rec,) = read("vics2_utf16.json")
    assert rec.md5 == md5(40) and rec.series == ("Série synthétique",)


def test_scheme_argument_overrides_the_variant():
    # a 2.0 file labelled US but categorised with the legacy DHS codes
    recs = read("vics2_media_us.json", scheme="dhs")
    assert recs[3].category_code == "0" and recs[3].category is Category.UNCATEGORIZED
    assert all(r.scheme == "dhs" for r in recs)


# ---- VICS 1.x


def test_vics13_media_with_photodna_in_alternative_hashes():
    info = detect_format(SAMPLES / "vics13_media.json")
    assert (info.name, info.version, info.scheme, info.shape) == ("vics1", "1.3", "vic_us", "media")
    one, two = read("vics13_media.json")
    assert one.md5 == md5(50) and one.sha1 == sha1(50) and one.photodna == pdna(50)
    assert one.size == 4096 and one.victim_identified is True and one.distributed is False
    assert one.series == ("Synthetic 1.3 series",)
    assert two.category is Category.NON_PERTINENT and two.size == 0


def test_vics12_case_shape_and_matching_alternative_sha1():
    info = detect_format(SAMPLES / "vics12_cases.json")
    assert (info.name, info.version, info.shape) == ("vics1", "1.2", "cases")
    (rec,) = read("vics12_cases.json")
    assert rec.md5 == md5(60) and rec.sha1 == sha1(60) and rec.size == 2048 and rec.source_id == "0"


def test_vics11():
    info = detect_format(SAMPLES / "vics11_media.json")
    assert (info.name, info.version) == ("vics1", "1.1")
    (rec,) = read("vics11_media.json")
    assert rec.category is Category.EXPLOITIVE and rec.size == 10


# ---- failures, each with its record and field


@pytest.mark.parametrize(
    ("name", "record", "field", "message"),
    [
        ("bad_md5_length.json", 17, "MD5", "expected 32 hexadecimal characters, got 31"),
        ("bad_nonhex.json", 2, "SHA1", "character 6 ('g') is not hexadecimal (0-9, A-F)"),
        ("bad_negative_size.json", 1, "MediaSize", "must not be negative, got -5"),
        ("bad_wrong_type.json", 1, "MediaSize", "expected a size in bytes (a whole number), got an object"),
        ("bad_no_hash.json", 1, None, "the record has no hash: none of MD5, SHA1, SHA256, PhotoDNA or PDQ"),
        (
            "bad_category.json",
            2,
            "Category",
            "category '9' does not exist in the Project VIC (US / Default) scheme (valid: 0, 1, 2, 3, 4)",
        ),
        (
            "bad_truncated.json",
            3,
            None,
            "the file is truncated: the JSON ends unexpectedly after record 2 (incomplete download or copy?)",
        ),
    ],
)
def test_precise_errors(name, record, field, message):
    err = error_of(name)
    assert (err.record, err.field, err.message) == (record, field, message)


def test_the_brief_example_message():
    assert str(error_of("bad_md5_length.json")) == "record 17, field MD5: expected 32 hexadecimal characters, got 31"


def test_invalid_json_names_the_record_it_broke_in():
    err = error_of("bad_syntax.json")
    assert err.record == 2 and err.field is None
    assert err.message.startswith("the file is not valid JSON after record 1: parse error:")
    assert "\n" not in err.message  # yajl's excerpt of the bytes is left out


def test_value_that_is_not_a_list():
    with pytest.raises(ParseError) as exc:
        detect_format(SAMPLES / "bad_value_not_list.json")
    assert (exc.value.record, exc.value.field, exc.value.message) == (
        None,
        "value",
        "expected a list of records, got an object",
    )


def test_truncated_json_raises_even_when_skipping_invalid_records():
    report = ParseReport()
    got = []
    with pytest.raises(ParseError, match="truncated"):
        for rec in iter_records(SAMPLES / "bad_truncated.json", skip_invalid=True, report=report):
            got.append(rec)
    assert len(got) == 2 and report.complete is False and report.sha256 is None


def test_alternative_hash_disagreeing_with_the_record():
    doc = (
        b'{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media",'
        b'"value":[{"SHA1":"'
        + sha1(1).hex().encode()
        + b'","AlternativeHashes":[{"HashName":"SHA1","HashValue":"'
        + sha1(2).hex().encode()
        + b'"}]}]}'
    )
    with pytest.raises(ParseError) as exc:
        list(iter_records(io.BytesIO(doc)))
    assert (exc.value.record, exc.value.field) == (1, "AlternativeHashes[SHA1]")


def test_wrong_types_in_alternative_hashes_and_records():
    ctx = b'{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media","value":['
    cases = [
        (
            b'{"MD5":"' + md5(1).hex().encode() + b'","AlternativeHashes":"PhotoDNA"}',
            "AlternativeHashes",
            "expected a list, got the text 'PhotoDNA'",
        ),
        (
            b'{"MD5":"'
            + md5(1).hex().encode()
            + b'","AlternativeHashes":[{"HashName":"PhotoDNA","HashValue":"'
            + base64.b64encode(bytes(10))
            + b'"}]}',
            "AlternativeHashes[PhotoDNA]",
            None,
        ),
        (b'{"MD5":12345}', "MD5", "expected 32 hexadecimal characters as text, got the number 12345"),
        (
            b'{"MD5":"' + md5(1).hex().encode() + b'","VictimIdentified":"maybe"}',
            "VictimIdentified",
            "expected true or false, got 'maybe'",
        ),
        (b"[1,2]", None, "expected a Media object, got a list"),
    ]
    for body, field, message in cases:
        with pytest.raises(ParseError) as exc:
            list(iter_records(io.BytesIO(ctx + body + b"]}")))
        assert exc.value.record == 1 and exc.value.field == field
        if message:
            assert exc.value.message == message


# ---- skip_invalid


def test_skip_invalid_collects_every_bad_record():
    report = ParseReport()
    recs = list(iter_records(SAMPLES / "mixed_invalid.json", skip_invalid=True, report=report))
    assert [r.number for r in recs] == [1, 5, 8]
    assert report.records == 3 and report.skipped == 5 and report.complete
    assert [(e.record, e.field) for e in report.errors] == [
        (2, "MD5"),
        (3, "Category"),
        (4, "VictimIdentified"),
        (6, None),
        (7, "MediaSize"),
    ]
    assert report.format.name == "vics2" and report.version == "2.0" and report.scheme == "vic_us"
    assert report.sha256 == hashlib.sha256((SAMPLES / "mixed_invalid.json").read_bytes()).hexdigest()
    assert report.size == (SAMPLES / "mixed_invalid.json").stat().st_size


def test_strict_mode_stops_at_the_first_bad_record():
    err = error_of("mixed_invalid.json")
    assert (err.record, err.field) == (2, "MD5")


def test_error_list_is_bounded_but_every_skip_counted():
    report = ParseReport(max_errors=2)
    list(iter_records(SAMPLES / "mixed_invalid.json", skip_invalid=True, report=report))
    assert report.skipped == 5 and len(report.errors) == 2


def test_file_sha256_covers_bom_and_all_bytes():
    path = SAMPLES / "vics2_cases_uk_bom_crlf.json"
    report = ParseReport()
    list(iter_records(path, report=report))
    assert report.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_reads_from_an_open_binary_file_and_leaves_it_open():
    with open(SAMPLES / "vics2_media_us.json", "rb") as f:
        fmt = detect_format(f)
        recs = list(iter_records(f, fmt))
        assert not f.closed
    assert len(recs) == 6


def test_empty_file_digest_is_flagged():
    doc = (
        b'{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media",'
        b'"value":[{"MD5":"d41d8cd98f00b204e9800998ecf8427e"}]}'
    )
    report = ParseReport()
    assert len(list(iter_records(io.BytesIO(doc), report=report))) == 1
    assert report.warnings == ["record 1: the digest of an empty (zero-byte) file; it matches every empty file"]
