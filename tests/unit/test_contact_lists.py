"""Contact list files (issue 14, lists): outbound/lists.py reads a CSV file for a profile and reports every bad row
with its line and reason; a good file's numbers are normalised, its text kept byte for byte.

Hostile files: quotes, line breaks in fields, ``${...}``, U+202E, NUL, invalid UTF-8, UTF-16, a 64 KB field, a BOM,
CRLF, a Hindi name, a wrong language, duplicate numbers, ``00882...``, a ``+`` prefix, spaces; and any bytes at
all (hypothesis) never make the reader raise.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import outbound.lists as lists
from outbound.lists import (
    ImportRefused,
    RowError,
    check_list_name,
    dnc_forms,
    dnc_key,
    fields_json,
    parse_csv,
)
from profiles.model import Profile, parse_profile

PROFILES = Path(__file__).parents[2] / "profiles"
HINDI_NAME = "राम कुमार शर्मा"  # with the virama and a vowel sign: nothing may be normalised
ARABIC_NAME = "محمد عبد الله"
ZWNJ_NAME = "क्\u200dष नाम\u200c"  # joiners Hindi text does use: kept


def _add_hindi(node: object) -> None:
    """Every text the profile has in English, in Hindi too (the same words: only the code matters here)."""
    if isinstance(node, dict):
        if "en" in node and "ar" in node:
            node["hi"] = node["en"]
        for value in list(node.values()):
            _add_hindi(value)
    elif isinstance(node, list):
        for value in node:
            _add_hindi(value)


def india_profile(**outbound: object) -> Profile:
    """The 151 profile with Hindi as its default language and Indian numbers allowed out."""
    data = yaml.safe_load((PROFILES / "moh-151.yaml").read_text(encoding="utf-8"))
    _add_hindi(data)
    data["languages"].append({"code": "hi", "key": "3", "voice": "hi"})
    data["ivr"]["default"]["language"] = "hi"
    data["outbound"] = {
        "allowed_numbers": [r"[6-9][0-9]{9}", r"\+91[6-9][0-9]{9}", r"0091[6-9][0-9]{9}", r"[0-9]{6,15}"],
        "do_not_call": ["+919999900000"],
        **outbound,
    }
    return parse_profile(data, source="india", base_dir=PROFILES)


@pytest.fixture(scope="module")
def profile() -> Profile:
    return india_profile()


def rows_of(data: bytes, profile: Profile, **kw):
    parsed = parse_csv(data, profile, **kw)
    assert parsed.errors == (), parsed.errors
    return parsed.contacts


def errors_of(data: bytes, profile: Profile) -> list[str]:
    parsed = parse_csv(data, profile)
    assert parsed.contacts == () and parsed.dnc == 0
    return [str(e) for e in parsed.errors]


# -- a good file -------------------------------------------------------------------------------------------


def test_a_spreadsheet_export_with_bom_crlf_hindi_and_arabic_reads_byte_for_byte(profile):
    text = (
        "\ufeffNumber,Name,Language,Ward,Age,Note\r\n"
        f'98765 43210,{HINDI_NAME},hi,Ward 7,54,"diabetic, lives alone"\r\n'
        f"+91 87654-32109,{ARABIC_NAME},EN,,61,\r\n"
        f'(765) 432.1098,{ZWNJ_NAME},,Ward 2,,"first line\r\nsecond line"\r\n'
    )
    data = text.encode("utf-8")
    parsed = parse_csv(data, profile)
    assert parsed.ok and parsed.sha256 == hashlib.sha256(data).hexdigest()
    first, second, third = parsed.contacts
    assert (first.line, first.number, first.language, first.district) == (2, "9876543210", "hi", "Ward 7")
    assert first.name.encode("utf-8") == HINDI_NAME.encode("utf-8")
    assert first.fields == {"Age": "54", "Note": "diabetic, lives alone"}
    assert list(first.fields) == ["Age", "Note"]  # the file's order
    assert (second.number, second.name, second.language, second.district) == ("+918765432109", ARABIC_NAME, "en", None)
    assert (third.line, third.number, third.language) == (4, "7654321098", "hi")  # empty language: the default
    assert third.name == ZWNJ_NAME and "\u200c" in third.name and "\u200d" in third.name
    assert third.fields["Note"] == "first line\r\nsecond line"  # a note may hold line breaks, as written


def test_columns_in_any_order_district_or_ward_and_only_a_number_needed(profile):
    (person,) = rows_of(b"district,NUMBER\nRaipur,9876543210\n", profile)
    assert (person.number, person.name, person.language, person.district) == ("9876543210", "", "hi", "Raipur")
    (person,) = rows_of(b"number\n9876543210\n", profile)
    assert (person.name, person.district, person.fields) == ("", None, {})


def test_semicolon_and_tab_files_are_read_by_their_header(profile):
    assert rows_of(b"number;name\n9876543210;A\n", profile)[0].name == "A"
    assert rows_of(b"name\tnumber\nB\t9876543210\n", profile)[0].name == "B"


def test_quotes_and_shell_text_are_kept_literally(profile):
    data = (
        b'number,name,script\n9876543210,"Sharma, ""Raju""","${HOME} $(rm -rf /) `id` {{7*7}} %s"\n'
        b'8765432109,${PATH},=HYPERLINK("x")\n'
    )
    first, second = rows_of(data, profile)
    assert first.name == 'Sharma, "Raju"'
    assert first.fields == {"script": "${HOME} $(rm -rf /) `id` {{7*7}} %s"}
    assert second.name == "${PATH}" and second.fields == {"script": '=HYPERLINK("x")'}


def test_spaces_around_values_are_trimmed_and_nothing_else(profile):
    (person,) = rows_of(f"number,name,language\n  98765 43210  , {HINDI_NAME} , hi \n".encode(), profile)
    assert (person.number, person.name, person.language) == ("9876543210", HINDI_NAME, "hi")


def test_blank_lines_are_skipped_and_lines_stay_the_files(profile):
    data = b'number,name,note\n\n9876543210,a,"x\ny\nz"\n,,\n\n8765432109,b,\n'
    assert [(c.line, c.number) for c in rows_of(data, profile)] == [(3, "9876543210"), (8, "8765432109")]


def test_do_not_call_rows_import_and_are_counted_in_any_spelling(profile):
    data = b"number\n+91 99999 00000\n9876543210\n0091 87654 32109\n9999900000\n"
    parsed = parse_csv(data, profile, dnc=["+918765432109"])
    assert parsed.ok and [c.number for c in parsed.contacts] == [
        "+919999900000",
        "9876543210",
        "00918765432109",
        "9999900000",  # the national form: no country code to compare with, not counted
    ]
    assert parsed.dnc == 2  # the profile's +919999900000, the table's +918765432109 (written 0091 here)


def test_the_stored_free_fields_are_json_with_the_text_as_it_is():
    assert fields_json({"नोट": HINDI_NAME, "q": '"'}) == '{"नोट":"' + HINDI_NAME + '","q":"\\""}'


# -- bad rows: every one, with its line ----------------------------------------------------------------------


def test_every_bad_row_is_reported_with_its_line_and_nothing_is_kept(profile):
    data = (
        b"number,name,language\n"
        b"9876543210,ok,hi\n"  # 2
        b",no number,hi\n"  # 3
        b"00882 1234 5678,satellite,hi\n"  # 4
        b"+44 20 7946 0000,london,en\n"  # 5
        b"98765x3210,letters,hi\n"  # 6
        b"8765432109,bad language,fr\n"  # 7
        b"98765 43210,again,hi\n"  # 8
        b"7654321098,too,many,values\n"  # 9
        b"7654321097\n"  # 10
        b"12ab,two problems,xx\n"  # 11
    )
    assert errors_of(data, profile) == [
        "line 3: no number",
        "line 4: the number '0088212345678' matches none of the profile's outbound.allowed_numbers (an "
        "international number needs a pattern naming its 00 or + prefix)",
        "line 5: the number '+442079460000' matches none of the profile's outbound.allowed_numbers (an "
        "international number needs a pattern naming its 00 or + prefix)",
        "line 6: the number '98765x3210' is not a phone number: digits only, with an optional leading +",
        "line 7: unknown language 'fr': one of ar, en, hi (empty: hi)",
        "line 8: the number 9876543210 is also on line 2",
        "line 9: 4 values, the header has 3 columns",
        "line 10: 1 values, the header has 3 columns",
        "line 11: the number '12ab' is not a phone number: digits only, with an optional leading +",
        "line 11: unknown language 'xx': one of ar, en, hi (empty: hi)",
    ]


def test_a_loose_pattern_never_lets_an_international_number_through():
    loose = india_profile(allowed_numbers=[r"[0-9]{6,15}"])
    assert rows_of(b"number\n9876543210\n", loose)[0].number == "9876543210"
    (error,) = errors_of(b"number\n00882123456789\n", loose)
    assert error.startswith("line 2: the number '00882123456789' matches none") and "00 or +" in error
    (error,) = errors_of(b"number\n+919876543210\n", loose)
    assert "+919876543210" in error


def test_a_leading_plus_passes_when_a_pattern_names_it(profile):
    assert rows_of(b"number\n+91 98765 43210\n", profile)[0].number == "+919876543210"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("a\x00b", "line 2: the name has a control character (U+0000)"),
        ("evil\u202etxt.exe", "line 2: the name has a bidirectional control character (U+202E)"),
        ("\u2066isolate", "line 2: the name has a bidirectional control character (U+2066)"),
        ("esc\x1b[31m", "line 2: the name has a control character (U+001B)"),
        ('"two\nlines"', "line 2: the name has a control character (U+000A)"),
        ("del\x7f", "line 2: the name has a control character (U+007F)"),
        ("c1\x85", "line 2: the name has a control character (U+0085)"),
    ],
)
def test_control_and_bidirectional_characters_in_a_name_are_refused(profile, name, reason):
    assert errors_of(f"number,name\n9876543210,{name}\n".encode(), profile) == [reason]


def test_a_free_field_may_hold_line_breaks_but_no_nul_or_override(profile):
    assert errors_of(b'number,note\n9876543210,"a\x00b"\n8765432109,"\xe2\x80\xae"\n', profile) == [
        "line 2: the field 'note' has a control character (U+0000)",
        "line 3: the field 'note' has a bidirectional control character (U+202E)",
    ]


def test_invalid_utf8_names_every_bad_line(profile):
    data = b"number,name\n9876543210,Jos\xe9\n8765432109,ok\n7654321098,\xff\xfe\n"
    assert errors_of(data, profile) == [
        "line 2: is not UTF-8 (byte 0xe9 at byte 15): save the file as 'CSV UTF-8'",
        "line 4: is not UTF-8 (byte 0xff at byte 12): save the file as 'CSV UTF-8'",
    ]


def test_a_utf16_file_is_refused_with_what_to_do(profile):
    data = "number,name\n9876543210,a\n".encode("utf-16")
    assert errors_of(data, profile) == ["file: the file is UTF-16: save it as 'CSV UTF-8'"]


def test_a_64_kb_field_is_refused_not_cut(profile):
    big = "x" * 65536
    assert errors_of(f"number,name,note\n9876543210,{big},\n8765432109,b,{big}\n".encode(), profile) == [
        "line 2: the name is longer than 255 characters (65536)",
        "line 3: the field 'note' is longer than 1000 characters (65536)",
    ]


def test_a_field_over_the_csv_readers_limit_is_a_bad_row_and_the_rest_is_read(profile):
    huge = "y" * 200_000
    data = f'number,note\n9876543210,"{huge}"\n98765,x\n'.encode()
    assert errors_of(data, profile) == [
        "line 2: a field is longer than 131072 characters",
        "line 3: the number '98765' matches none of the profile's outbound.allowed_numbers",
    ]


def test_broken_quotes_name_their_line(profile):
    assert errors_of(b'number,name\n9876543210,"a"b\n8765432109,ok\n7654321098,"open\n6543210987,x\n', profile) == [
        'line 2: text after a closing quote: a quote inside a quoted field is written twice ("")',
        'line 4: a quote (") opened on this line is never closed',
    ]


def test_a_file_without_a_header_or_without_a_number_column(profile):
    assert errors_of(b"9876543210,Ram,hi\n", profile) == [
        "line 1: no header (it looks like a row of data): the first line must name the columns, "
        "with a 'number' column (number,name,language,ward)"
    ]
    assert errors_of(b"phone,name\n9876543210,Ram\n", profile) == [
        "line 1: no header: the first line must name the columns, with a 'number' column (number,name,language,ward)"
    ]


@pytest.mark.parametrize(
    ("data", "reasons"),
    [
        (b"", ["file: the file is empty"]),
        (b"\xef\xbb\xbf \r\n", ["file: the file is empty"]),
        (b"number,name\r\n", ["file: the file has no rows under its header"]),
        (b"number,ward,district\n1,2,3\n", ["line 1: both a 'ward' and a 'district' column: keep one"]),
        (b"number,Name,name\n1,2,3\n", ["line 1: columns 2 and 3 have the same name 'name'"]),
        (b"number,\x00x\n1,2\n", ["line 1: column 2's name has a control character (U+0000)"]),
        (b"number," + b"c" * 65 + b"\n1,2\n", ["line 1: column 2's name is longer than 64 characters"]),
        (b"number," + b",".join(b"c%d" % i for i in range(50)) + b"\n", ["line 1: 51 columns, at most 50"]),
    ],
)
def test_bad_headers_and_empty_files(profile, data, reasons):
    assert errors_of(data, profile) == reasons


def test_a_column_without_a_name_may_only_be_empty(profile):
    assert rows_of(b"number,name,\n9876543210,a,\n", profile)[0].fields == {}
    assert errors_of(b"number,name,\n9876543210,a,oops\n", profile) == [
        "line 2: a value in column 3, which has no name in the header"
    ]


def test_the_size_caps(profile, monkeypatch):
    too_big = b"number\n" + b"9876543210\n" * (lists.MAX_FILE_BYTES // 11 + 1)
    assert len(too_big) > lists.MAX_FILE_BYTES
    assert errors_of(too_big, profile) == [f"file: the file has {len(too_big)} bytes, at most {lists.MAX_FILE_BYTES}"]
    monkeypatch.setattr(lists, "MAX_ROWS", 2)
    assert errors_of(b"number\n9876543210\n8765432109\n7654321098\n", profile) == [
        "line 4: more than 2 rows: split the list"
    ]


def test_a_profile_without_outbound_numbers_imports_nothing():
    data = yaml.safe_load((PROFILES / "moh-151.yaml").read_text(encoding="utf-8"))
    plain = parse_profile(data, source="151", base_dir=PROFILES)
    assert errors_of(b"number\n55512345\n", plain) == [
        "file: the profile has no 'outbound' section: no number may be called"
    ]


# -- names, numbers, the error --------------------------------------------------------------------------------


def test_list_names_are_profile_ids():
    assert check_list_name("raipur_home_isolation") is None
    for bad in ("", "Raipur", "1list", "a" * 25, "a-b", "ra\u0940"):
        assert "must be an id" in (check_list_name(bad) or "")


def test_one_number_in_its_spellings_for_the_do_not_call_list():
    assert dnc_key("+91 98765-43210") == dnc_key("0091 (98765) 43210") == dnc_key("919876543210") == "919876543210"
    assert dnc_forms("+91 98765 43210") == ("919876543210", "+919876543210", "00919876543210")


def test_the_refusal_carries_every_error():
    refused = ImportRefused([RowError(3, "no number"), RowError(0, "the file is empty")])
    assert [str(e) for e in refused.errors] == ["line 3: no number", "file: the file is empty"]
    assert str(refused) == "line 3: no number (and 1 more)"


# -- anything at all ---------------------------------------------------------------------------------------------

PIECES = st.sampled_from(
    ["number", "name", "language", "ward", ",", ";", "\t", '"', "\n", "\r\n", "\r", "9876543210", "+91", "00882",
     "hi", "fr", "\x00", "\u202e", HINDI_NAME, "${x}", " ", "\ufeff"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=300), st.lists(PIECES, max_size=40).map(lambda p: "".join(p).encode())))
def test_any_bytes_give_rows_or_errors_never_an_exception(data):
    profile = _FUZZ_PROFILE
    parsed = parse_csv(data, profile)
    assert parsed.ok == bool(parsed.contacts)
    lines = data.count(b"\n") + data.count(b"\r") + 1
    for error in parsed.errors:
        assert 0 <= error.line <= lines and error.reason
    for contact in parsed.contacts:
        assert contact.language in profile.language_codes and contact.number
        assert 2 <= contact.line <= lines


_FUZZ_PROFILE = india_profile()
