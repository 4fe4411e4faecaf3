"""The value checks, the category schemes and ParseError itself."""

import base64
import pickle

import pytest

from hashsets.formats import (
    SCHEME_CODES,
    Category,
    ParseError,
    Scheme,
    category_code_for,
    map_category,
)
from hashsets.formats.records import (
    normalize_scheme,
    parse_bool,
    parse_hex,
    parse_names,
    parse_photodna,
    parse_whole,
)

# ---- ParseError


def test_parse_error_message_reads_like_the_brief():
    err = ParseError(17, "MD5", "expected 32 hexadecimal characters, got 31")
    assert str(err) == "record 17, field MD5: expected 32 hexadecimal characters, got 31"
    assert (err.record, err.field, err.message, err.line) == (
        17,
        "MD5",
        "expected 32 hexadecimal characters, got 31",
        None,
    )


def test_parse_error_with_line_and_without_record_or_field():
    assert str(ParseError(3, "sha1", "bad", line=5)) == "record 3 (line 5), field sha1: bad"
    assert str(ParseError(None, None, "the file is empty")) == "the file is empty"
    assert str(ParseError(None, "value", "expected a list")) == "field value: expected a list"


def test_parse_error_survives_pickling_for_task_queues():
    err = ParseError(2, "Category", "no such category", line=4)
    back = pickle.loads(pickle.dumps(err))
    assert back == err and str(back) == str(err)


# ---- hex digests


@pytest.mark.parametrize(
    "text",
    ["d41d8cd98f00b204e9800998ecf8427e", "D41D8CD98F00B204E9800998ECF8427E", "  d41d8cd98f00b204e9800998ecf8427e "],
)
def test_hex_accepts_either_case_and_surrounding_space(text):
    assert parse_hex(text, 16, 1, "MD5") == bytes.fromhex("d41d8cd98f00b204e9800998ecf8427e")


def test_hex_blank_or_null_is_absent():
    assert parse_hex(None, 16, 1, "MD5") is None
    assert parse_hex("  ", 16, 1, "MD5") is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("d41d8cd98f00b204e9800998ecf8427", "expected 32 hexadecimal characters, got 31"),
        ("d41d8cd98f00b204e9800998ecf8427e0", "expected 32 hexadecimal characters, got 33"),
        ("0xd41d8cd98f00b204e9800998ecf842", "character 2 ('x') is not hexadecimal (0-9, A-F)"),
        ("d41d8cd98f00b204e9800998ecf84 7e", "character 30 (U+0020) is not hexadecimal (0-9, A-F)"),
    ],
)
def test_hex_rejects_wrong_length_and_alphabet(text, message):
    with pytest.raises(ParseError) as exc:
        parse_hex(text, 16, 9, "MD5")
    assert (exc.value.record, exc.value.field, exc.value.message) == (9, "MD5", message)


def test_hex_rejects_a_number():
    with pytest.raises(ParseError, match="as text, got the number 12"):
        parse_hex(12, 16, 1, "MD5")


# ---- PhotoDNA


def test_photodna_base64_hex_and_decimal_list_agree():
    raw = bytes(range(144))
    assert parse_photodna(base64.b64encode(raw).decode(), 1, "PhotoDNA") == raw
    assert parse_photodna(raw.hex().upper(), 1, "PhotoDNA") == raw
    assert parse_photodna(",".join(str(b) for b in raw), 1, "PhotoDNA") == raw


@pytest.mark.parametrize("text", [base64.b64encode(bytes(143)).decode(), "not base64 at all!", "ab" * 100])
def test_photodna_must_be_144_bytes(text):
    with pytest.raises(ParseError) as exc:
        parse_photodna(text, 4, "PhotoDNA")
    assert exc.value.record == 4 and "144 bytes" in exc.value.message


# ---- flags, numbers, names


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("true", True),
        ("True", True),
        ("TRUE", True),
        ("1", True),
        ("yes", True),
        ("Y", True),
        (True, True),
        (1, True),
        ("false", False),
        ("False", False),
        ("0", False),
        ("no", False),
        ("N", False),
        (False, False),
        (0, False),
        ("", None),
        (None, None),
    ],
)
def test_booleans_are_lenient(value, expected):
    assert parse_bool(value, 1, "VictimIdentified") is expected


@pytest.mark.parametrize("value", ["perhaps", 2, [], {}])
def test_booleans_reject_anything_else(value):
    with pytest.raises(ParseError) as exc:
        parse_bool(value, 3, "IsDistributed")
    assert exc.value.field == "IsDistributed" and exc.value.message.startswith("expected true or false")


@pytest.mark.parametrize(
    ("value", "expected"), [(5, 5), ("20480", 20480), (" 7 ", 7), (12.0, 12), ("", None), (None, None)]
)
def test_whole_numbers_from_numbers_and_text(value, expected):
    assert parse_whole(value, 1, "MediaSize") == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-5, "must not be negative, got -5"),
        ("-1", "must not be negative, got -1"),
        ("12 KB", "expected a whole number, got '12 KB'"),
        (1.5, "expected a whole number, got the fraction 1.5"),
        (True, "expected a whole number, got the boolean true"),
    ],
)
def test_whole_numbers_are_strict(value, message):
    with pytest.raises(ParseError) as exc:
        parse_whole(value, 2, "MediaSize")
    assert exc.value.message == message


def test_quality_range():
    assert parse_whole("100", 1, "q", high=100) == 100
    with pytest.raises(ParseError, match="between 0 and 100, got 101"):
        parse_whole(101, 1, "q", high=100)


def test_names_split_on_pipes_and_accept_lists():
    assert parse_names("A | B||C ", 1, "Series") == ("A", "B", "C")
    assert parse_names(["A", " B "], 1, "Series") == ("A", "B")
    assert parse_names("", 1, "Series") == ()
    assert parse_names("one, with a comma", 1, "Tags") == ("one, with a comma",)
    with pytest.raises(ParseError):
        parse_names({"Name": "x"}, 1, "Series")


# ---- category schemes


@pytest.mark.parametrize(
    ("scheme", "code", "category"),
    [
        (Scheme.VIC_US, "0", Category.NON_PERTINENT),
        (Scheme.VIC_US, "1", Category.CSAM_UNGRADED),
        (Scheme.VIC_US, "2", Category.EXPLOITIVE),
        (Scheme.VIC_US, "3", Category.CGI),
        (Scheme.VIC_US, "4", Category.COMPARISON),
        (Scheme.DHS, "0", Category.UNCATEGORIZED),
        (Scheme.DHS, "1", Category.CSAM_UNGRADED),
        (Scheme.DHS, "5", Category.NON_PERTINENT),
        (Scheme.UK, "A", Category.CSAM_A),
        (Scheme.UK, "cat b", Category.CSAM_B),
        (Scheme.UK, "Category C", Category.CSAM_C),
        (Scheme.UK_CAID, "0", Category.UNCATEGORIZED),
        (Scheme.UK_CAID, "1", Category.CSAM_A),
        (Scheme.UK_CAID, "3", Category.CSAM_C),
        (Scheme.ICSE, "Yes", Category.CSAM_UNGRADED),
        (Scheme.ICSE, "N", Category.UNCATEGORIZED),
        (Scheme.CUSTOM, "Known-Bad", Category.UNCATEGORIZED),
        (Scheme.VIC_US, None, Category.UNCATEGORIZED),
        (Scheme.VIC_US, " ", Category.UNCATEGORIZED),
        (Scheme.VIC_US, "01", Category.CSAM_UNGRADED),
    ],
)
def test_category_mapping(scheme, code, category):
    assert map_category(scheme, code) is category


@pytest.mark.parametrize(
    ("scheme", "code"),
    [(Scheme.VIC_US, "5"), (Scheme.DHS, "6"), (Scheme.UK, "D"), (Scheme.UK_CAID, "4"), (Scheme.ICSE, "maybe")],
)
def test_unknown_codes_are_refused(scheme, code):
    with pytest.raises(ValueError, match=repr(code) if scheme is not Scheme.ICSE else "Baseline"):
        map_category(scheme, code)


def test_every_scheme_code_maps_back_to_itself_or_a_synonym():
    for scheme, table in SCHEME_CODES.items():
        for code, (category, _label) in table.items():
            back = category_code_for(category, scheme)
            if category is Category.UNCATEGORIZED and back is None:
                continue
            assert map_category(scheme, back) is category, (scheme, code)


def test_cross_scheme_codes():
    assert category_code_for(Category.CSAM_A, Scheme.VIC_US) == "1"
    assert category_code_for(Category.NON_PERTINENT, Scheme.DHS) == "5"
    assert category_code_for(Category.EXPLOITIVE, Scheme.UK) is None
    assert category_code_for("csam_b", "uk_caid") == "2"


def test_scheme_names():
    assert normalize_scheme(" VIC_US ") is Scheme.VIC_US
    with pytest.raises(ValueError, match="unknown category scheme 'nope'"):
        normalize_scheme("nope")
    assert Category.CSAM_A == "csam_a" and isinstance(Category.CSAM_A, str)
