"""Format detection, and what happens with files that are none of the formats."""

import io
from pathlib import Path

import pytest

from hashsets.formats import FORMATS, ParseError, detect_format, iter_records

SAMPLES = Path(__file__).parent / "samples"


@pytest.mark.parametrize(
    ("name", "fmt", "version", "scheme", "shape"),
    [
        ("vics2_media_us.json", "vics2", "2.0", "vic_us", "media"),
        ("vics2_default_media.json", "vics2", "2.0", "vic_us", "media"),
        ("vics2_cases_uk_bom_crlf.json", "vics2", "2.0", "uk_caid", "cases"),
        ("vics2_custom.json", "vics2", "2.0", "custom", "media"),
        ("vics2_utf16.json", "vics2", "2.0", "vic_us", "media"),
        ("vics13_media.json", "vics1", "1.3", "vic_us", "media"),
        ("vics12_cases.json", "vics1", "1.2", "vic_us", "cases"),
        ("vics11_media.json", "vics1", "1.1", "vic_us", "media"),
        ("hashes.csv", "csv", None, None, None),
        ("hashes_tab_bom_crlf.tsv", "csv", None, None, None),
        ("icse_export.csv", "icse", None, "icse", None),
        ("md5sum.txt", "hashlist", None, None, None),
        ("sha1sum_binary_crlf.txt", "hashlist", None, None, None),
        ("sha256_plain_upper.txt", "hashlist", None, None, None),
        ("bsd_and_mixed.txt", "hashlist", None, None, None),
    ],
)
def test_detects_every_sample(name, fmt, version, scheme, shape):
    info = detect_format(SAMPLES / name)
    assert (info.name, info.version, info.scheme, info.shape) == (fmt, version, scheme, shape)
    assert fmt in FORMATS and FORMATS[fmt].can_read


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_empty.json", "the file is empty"),
        ("bad_whitespace_only.txt", "the file is empty"),
        ("bad_unknown.json", "unknown format: the file is JSON but not a Project VIC (VICS) file"),
        ("bad_unknown.txt", "unknown format: not VICS JSON, an ICSE export, a hash list, nor a CSV"),
    ],
)
def test_unusable_files(name, message):
    with pytest.raises(ParseError) as exc:
        detect_format(SAMPLES / name)
    assert exc.value.record is None and exc.value.message.startswith(message)


def test_missing_file():
    with pytest.raises(FileNotFoundError):
        detect_format(SAMPLES / "does-not-exist.json")


def test_iter_records_detects_by_itself_and_checks_a_named_format():
    assert len(list(iter_records(SAMPLES / "md5sum.txt"))) == 3
    assert len(list(iter_records(SAMPLES / "vics13_media.json", fmt="vics13"))) == 2
    with pytest.raises(ParseError, match="expected to be csv, but it looks like hashlist"):
        list(iter_records(SAMPLES / "md5sum.txt", fmt="csv"))
    with pytest.raises(ValueError, match="unknown format 'xml'"):
        list(iter_records(SAMPLES / "md5sum.txt", fmt="xml"))
    with pytest.raises(ValueError, match="unknown category scheme"):
        list(iter_records(SAMPLES / "md5sum.txt", scheme="martian"))


def test_comment_lines_before_a_hash_list():
    data = b"# exported by a synthetic tool\n\n" + b"a" * 32 + b"\n"
    assert detect_format(io.BytesIO(data)).name == "hashlist"


def test_quoted_csv_header():
    data = b'"MD5","Comments"\n' + b"a" * 32 + b',"x"\n'
    info = detect_format(io.BytesIO(data))
    assert info.name == "csv"


def test_vics_context_not_first_and_pretty_printed():
    data = (
        b'{\n  "value" : [ {"MD5":"' + b"A" * 32 + b'"} ],\n'
        b'  "@odata.context" : "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"\n}'
    )
    info = detect_format(io.BytesIO(data))
    assert (info.name, info.shape) == ("vics2", "media")
    assert len(list(iter_records(io.BytesIO(data), info))) == 1


def test_odata_json_that_is_not_project_vic():
    data = b'{"@odata.context":"https://graph.example.invalid/v1.0/$metadata#users","value":[]}'
    with pytest.raises(ParseError, match="not a Project VIC"):
        detect_format(io.BytesIO(data))


def test_vics_without_a_value_list():
    data = b'{"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media"}'
    with pytest.raises(ParseError) as exc:
        detect_format(io.BytesIO(data))
    assert (exc.value.field, exc.value.message) == ("value", "the file has no 'value' list of records")


def test_vics_context_after_a_long_preamble():
    data = (
        b'{"Padding":"' + b"x" * 100_000 + b'",'
        b'"@odata.context":"http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Media",'
        b'"value":[{"MD5":"' + b"b" * 32 + b'"}]}'
    )
    info = detect_format(io.BytesIO(data))
    assert info.name == "vics2"
    assert len(list(iter_records(io.BytesIO(data), info))) == 1
