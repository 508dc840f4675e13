# ruff: noqa: RUF001  (Russian comments in sample files are the point of these tests)
from __future__ import annotations

import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.vk.groups_file import (
    DEFAULT_MAX_BYTES,
    SUPPORTED_ENCODINGS,
    Duplicate,
    GroupsFile,
    LineError,
    parse_groups_file,
    parse_identifier_list,
)

from support.vk import APICLUB, group


def file_error(data: bytes, **kwargs: object) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        parse_groups_file(data, **kwargs)  # type: ignore[arg-type]
    return info.value


def lines(*rows: str, end: str = "\n") -> str:
    return "".join(row + end for row in rows)


# --- line handling ----------------------------------------------------------------


def test_every_form_one_per_line() -> None:
    text = lines(
        "123",
        "-456",
        "club7",
        "PUBLIC8",
        "event9",
        "apiclub",
        "@durov_team",
        "[club10|Name]",
        "https://vk.com/club11",
        "m.vk.com/wall-12_34",
        "vk.com/club13?w=wall-13_1",
    )
    result = parse_groups_file(text.encode())
    assert [str(ref) for ref in result.identifiers] == [
        "123",
        "456",
        "7",
        "8",
        "9",
        "apiclub",
        "durov_team",
        "10",
        "11",
        "12",
        "13",
    ]
    assert result.errors == []
    assert result.duplicates == []
    assert result.encoding == "utf-8"
    assert result.total_lines == 11
    assert [entry.line for entry in result.entries] == list(range(1, 12))


def test_comments_blank_lines_and_raw_text() -> None:
    text = lines("# my list", "", "   ", "apiclub   # the API club", "\t club1\t", "#club2")
    result = parse_groups_file(text.encode())
    assert result.identifiers == [APICLUB, group(1)]
    assert [(e.line, e.raw) for e in result.entries] == [
        (4, "apiclub   # the API club"),
        (5, "\t club1\t"),
    ]
    assert result.total_lines == 6


def test_url_fragment_is_cut_like_a_comment() -> None:
    result = parse_groups_file(b"https://vk.com/apiclub#wall\n")
    assert result.identifiers == [APICLUB]


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"])
def test_line_endings_keep_line_numbers(end: str) -> None:
    text = lines("apiclub", "", "id1", "club2", end=end)
    result = parse_groups_file(text.encode())
    assert result.identifiers == [APICLUB, group(2)]
    assert [str(error) for error in result.errors] == [
        'line 3: "id1" is a user page, not a community'
    ]
    assert result.total_lines == 4


def test_no_trailing_newline_and_mixed_endings() -> None:
    result = parse_groups_file(b"club1\r\nclub2\nclub3\rclub4")
    assert [entry.line for entry in result.entries] == [1, 2, 3, 4]
    assert result.total_lines == 4


def test_bad_lines_are_reported_and_do_not_stop_the_file() -> None:
    text = lines("apiclub", "id5", "vk.com/app1", "0", "https://example.com/x", "club3")
    result = parse_groups_file(text.encode())
    assert result.identifiers == [APICLUB, group(3)]
    assert [str(error) for error in result.errors] == [
        'line 2: "id5" is a user page, not a community',
        'line 3: "vk.com/app1" is a link to an app, not to a community',
        'line 4: "0" is not a community id (ids start at 1)',
        'line 5: "https://example.com/x" is a link to example.com, not to VK',
    ]
    assert all(isinstance(error, LineError) for error in result.errors)


def test_duplicates_report_both_lines_and_are_not_repeated() -> None:
    text = lines("apiclub", "club1", "https://vk.com/ApiClub", "-1", "public1", "@APICLUB")
    result = parse_groups_file(text.encode())
    assert result.identifiers == [APICLUB, group(1)]
    assert result.duplicates == [
        Duplicate(3, APICLUB, 1),
        Duplicate(4, group(1), 2),
        Duplicate(5, group(1), 2),
        Duplicate(6, APICLUB, 1),
    ]
    assert str(result.duplicates[0]) == "line 3: apiclub is a duplicate of line 1"
    assert len(result.entries) == 6


def test_only_invalid_lines_parse_with_no_identifiers() -> None:
    result = parse_groups_file(lines("id1", "id2", "abc", "# note").encode())
    assert result.identifiers == []
    assert result.entries == []
    assert [error.line for error in result.errors] == [1, 2, 3]


def test_over_long_line_is_a_line_error() -> None:
    result = parse_groups_file(lines("apiclub", "a" * 300).encode())
    assert result.identifiers == [APICLUB]
    assert "too long" in result.errors[0].reason


# --- CSV ------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["group", "id", "url", "screen_name", "identifier", "URL"])
def test_csv_header_is_skipped(header: str) -> None:
    result = parse_groups_file(lines(header, "apiclub", "club1").encode())
    assert result.identifiers == [APICLUB, group(1)]
    assert result.errors == []
    assert result.total_lines == 3


def test_header_after_comments_and_in_quotes_with_more_columns() -> None:
    text = lines("# export", "", '"url";"name"', "https://vk.com/apiclub;API")
    result = parse_groups_file(text.encode())
    assert result.identifiers == [APICLUB]
    assert result.errors == []


def test_header_word_later_in_the_file_is_an_identifier_line() -> None:
    result = parse_groups_file(lines("apiclub", "url", "groups").encode())
    assert result.identifiers == [APICLUB]
    assert [error.line for error in result.errors] == [2, 3]


def test_quoted_values_and_extra_columns() -> None:
    text = lines(
        '"apiclub"',
        '"club1","Name, with comma"',
        "club2;Клуб;100500",
        "club3\tтаб",
        'https://vk.com/club4,"x"',
        "[club5|Рога, копыта]",
        '"id6",user',
    )
    result = parse_groups_file(text.encode())
    assert result.identifiers == [APICLUB, group(1), group(2), group(3), group(4), group(5)]
    assert [str(error) for error in result.errors] == [
        'line 7: "id6" is a user page, not a community'
    ]


def test_windows_csv_export_in_cp1251_with_crlf() -> None:
    text = lines("Сообщество;Название", "club1;Новости города", "apiclub;Клуб API", end="\r\n")
    result = parse_groups_file(text.encode("cp1251"))
    assert result.encoding == "windows-1251"
    assert result.identifiers == [group(1), APICLUB]
    assert result.entries[0].raw == "club1;Новости города"


# --- encodings ----------------------------------------------------------------------

RUSSIAN_FILES = [
    lines("apiclub # Клуб API", "club123 # новости города", "-456"),
    lines("club1 # тест"),
    lines("durov # Павел"),
    lines("123 # Новости", "456 # Спорт"),
    lines("https://vk.com/apiclub # официальное сообщество разработчиков", "public77 # Мемы"),
    lines("club1 # МЕМЫ И ЮМОР", "club2 # подслушано в школе 5"),
    lines("# Мои группы для сбора", "club1", 'club2 # "Барахолка" - продам, куплю'),
    lines("club10 # ещё одна группа", "club11 # объявления и съёмка"),
    lines("vk.com/wall-5_1 # пост про погоду", "club6 # Фильмы и сериалы"),
]


@pytest.mark.parametrize("text", RUSSIAN_FILES)
@pytest.mark.parametrize(
    ("codec", "name"), [("cp1251", "windows-1251"), ("koi8-r", "koi8-r"), ("utf-8", "utf-8")]
)
def test_detects_the_encoding_of_russian_comments(text: str, codec: str, name: str) -> None:
    result = parse_groups_file(text.encode(codec))
    assert result.encoding == name
    assert [entry.raw for entry in result.entries] == [
        row for row in text.splitlines() if not row.startswith("#")
    ]
    assert result.errors == []


@pytest.mark.parametrize(
    "text",
    [
        lines("club1 # «Барахолка» — продам, куплю", "club2 # школа №5"),
        lines("club1 # «МЕМЫ»", "club2 # №1"),
    ],
)
def test_windows_1251_typography_is_not_mistaken_for_koi8(text: str) -> None:
    # KOI8-R has no « » — №; their cp1251 bytes are box-drawing signs there.
    result = parse_groups_file(text.encode("cp1251"))
    assert result.encoding == "windows-1251"
    assert [entry.raw for entry in result.entries] == text.splitlines()


def test_utf8_bom_is_dropped() -> None:
    result = parse_groups_file(b"\xef\xbb\xbf" + lines("group", "apiclub").encode())
    assert result.identifiers == [APICLUB]
    assert result.encoding == "utf-8"
    assert result.entries[0].raw == "apiclub"


def test_bom_in_the_middle_of_joined_files_is_ignored() -> None:
    result = parse_groups_file("club1\n\ufeffclub2\n".encode())
    assert result.identifiers == [group(1), group(2)]


@pytest.mark.parametrize(
    ("given", "codec", "expected"),
    [
        ("windows-1251", "cp1251", "windows-1251"),
        ("cp1251", "cp1251", "windows-1251"),
        ("CP1251", "cp1251", "windows-1251"),
        ("win-1251", "cp1251", "windows-1251"),
        ("koi8-r", "koi8-r", "koi8-r"),
        ("KOI8_R", "koi8-r", "koi8-r"),
        ("utf-8", "utf-8", "utf-8"),
        ("UTF8", "utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig", "utf-8"),
    ],
)
def test_named_encoding(given: str, codec: str, expected: str) -> None:
    text = lines("club1 # мемы", "apiclub")
    result = parse_groups_file(text.encode(codec), encoding=given)
    assert result.encoding == expected
    assert result.entries[0].raw == "club1 # мемы"


def test_named_encoding_overrides_a_wrong_guess() -> None:
    data = "club1 # тест\n".encode("koi8-r")
    assert parse_groups_file(data, encoding="koi8-r").entries[0].raw == "club1 # тест"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("iso-8859-1", "iso-8859-1"),
        ("latin-1", "iso-8859-1"),
        ("ascii", "ascii"),
        ("US-ASCII", "ascii"),
    ],
)
def test_the_original_clients_western_encodings(given: str, expected: str) -> None:
    text = lines("club1 # café", "apiclub") if expected != "ascii" else lines("club1 # x", "a")
    result = parse_groups_file(text.encode("latin-1"), encoding=given)
    assert result.encoding == expected
    assert result.entries[0].raw == text.splitlines()[0]


def test_ascii_refuses_bytes_above_127() -> None:
    error = file_error("club1 # café\n".encode("latin-1"), encoding="ascii")
    assert error.code is ErrorCode.UNSUPPORTED_FILE


@pytest.mark.parametrize("name", ["utf-16", "ebcdic", "", "x" * 500])
def test_unknown_encoding_names_the_accepted_ones(name: str) -> None:
    error = file_error(b"apiclub\n", encoding=name)
    assert error.code is ErrorCode.INVALID_INPUT
    assert "unknown encoding" in error.message
    for accepted in SUPPORTED_ENCODINGS:
        assert accepted in error.message
    assert len(error.message) < 200


def test_bytes_that_do_not_decode_in_the_named_encoding() -> None:
    data = lines("apiclub", "club1 # мемы").encode("cp1251")
    error = file_error(data, encoding="utf-8")
    assert error.code is ErrorCode.UNSUPPORTED_FILE
    assert "not valid utf-8" in error.message
    assert "line 2" in error.message
    error = file_error(b"club1 # \x98\n", encoding="cp1251")
    assert "not valid windows-1251" in error.message


def test_utf8_bom_with_a_single_byte_encoding_named() -> None:
    error = file_error(b"\xef\xbb\xbfapiclub\n", encoding="koi8-r")
    assert error.code is ErrorCode.UNSUPPORTED_FILE
    assert "byte order mark" in error.message


def test_cp1251_undefined_byte_falls_back_to_koi8() -> None:
    # 0x98 is undefined in windows-1251, so only KOI8-R can read this.
    assert parse_groups_file(b"club1 # \x98\xd4\xc5\xd3\xd4\n").encoding == "koi8-r"


# --- whole-file failures --------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"  \n\r\n\t\n"])
def test_empty_file(data: bytes) -> None:
    error = file_error(data)
    assert error.code is ErrorCode.INVALID_INPUT
    assert error.message == "the file is empty"


@pytest.mark.parametrize("text", ["# just a comment\n", "group\n\n# note\n", '"url","name"\n'])
def test_no_identifier_lines(text: str) -> None:
    error = file_error(text.encode())
    assert error.code is ErrorCode.INVALID_INPUT
    assert "no identifiers found" in error.message


def test_size_limit_exactly_at_max_and_one_over() -> None:
    row = b"club1\n"
    at_max = row * 1000
    assert parse_groups_file(at_max, max_bytes=len(at_max)).identifiers == [group(1)]
    error = file_error(at_max + b"\n", max_bytes=len(at_max))
    assert error.code is ErrorCode.FILE_TOO_LARGE
    assert error.details == {"size": len(at_max) + 1, "maxBytes": len(at_max)}


def test_default_limit_is_ten_megabytes_and_the_message_says_so() -> None:
    assert DEFAULT_MAX_BYTES == 10 * 1024 * 1024
    data = b"club1\n" * (DEFAULT_MAX_BYTES // 6) + b"club2\n" * 2
    error = file_error(data)
    assert error.code is ErrorCode.FILE_TOO_LARGE
    assert error.message == (
        f"the file is too large: 10.0 MB ({len(data)} bytes);"
        f" the limit is 10 MB ({DEFAULT_MAX_BYTES} bytes)"
    )
    error = file_error(b"x" * (15 * 1024 * 1024 + 1))
    assert "15.0 MB" in error.message


@pytest.mark.parametrize(
    "data",
    [
        b"club1\n\x00club2\n",
        b"PK\x03\x04\x14\x00\x06\x00" + b"x" * 100,
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        bytes(range(1, 9)) * 20,
        b"%PDF-1.7\n" + bytes([1, 2, 3, 4, 5, 6, 7, 8]) * 10,
    ],
)
def test_binary_content(data: bytes) -> None:
    error = file_error(data)
    assert error.code is ErrorCode.UNSUPPORTED_FILE
    assert "looks like a binary file" in error.message


def test_zip_archives_get_a_hint() -> None:
    assert ".xlsx" in file_error(b"PK\x03\x04\x14\x00\x00\x00").message


@pytest.mark.parametrize("bom", [b"\xff\xfe", b"\xfe\xff"])
def test_utf16_is_refused_with_advice(bom: bytes) -> None:
    codec = "utf-16-le" if bom == b"\xff\xfe" else "utf-16-be"
    error = file_error(bom + "apiclub\n".encode(codec))
    assert error.code is ErrorCode.UNSUPPORTED_FILE
    assert "UTF-16" in error.message


def test_a_stray_control_character_is_a_line_error_not_a_binary_file() -> None:
    result = parse_groups_file(lines("apiclub", "club\x071", "club2").encode())
    assert result.identifiers == [APICLUB, group(2)]
    assert [error.line for error in result.errors] == [2]
    assert "\x07" not in result.errors[0].reason


def test_accepts_bytearray_and_refuses_text() -> None:
    assert parse_groups_file(bytearray(b"apiclub")).identifiers == [APICLUB]  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="expected the file's bytes"):
        parse_groups_file("apiclub")  # type: ignore[arg-type]


# --- manual lists -------------------------------------------------------------------


def test_identifier_list_uses_positions() -> None:
    result = parse_identifier_list(["apiclub", "", "id1", "club2", "https://vk.com/apiclub"])
    assert result.identifiers == [APICLUB, group(2)]
    assert [str(error) for error in result.errors] == [
        'line 3: "id1" is a user page, not a community'
    ]
    assert result.duplicates == [Duplicate(5, APICLUB, 1)]
    assert result.encoding == ""
    assert result.total_lines == 5


def test_identifier_list_does_not_skip_a_header_word() -> None:
    result = parse_identifier_list(["groups", "club1"])
    assert [error.line for error in result.errors] == [1]


def test_identifier_list_from_pasted_text() -> None:
    result = parse_identifier_list("apiclub\r\nclub1 # note\n")
    assert result.identifiers == [APICLUB, group(1)]


def test_identifier_list_reports_non_text_items() -> None:
    result = parse_identifier_list(["apiclub", 123])  # type: ignore[list-item]
    assert [str(error) for error in result.errors] == ["line 2: expected text, got int"]


@pytest.mark.parametrize("items", [[], [""], ["  ", "# note"], iter([])])
def test_identifier_list_with_nothing_in_it(items: list[str]) -> None:
    with pytest.raises(ValidationError, match="no identifiers given"):
        parse_identifier_list(items)


def test_identifier_list_refuses_a_non_iterable() -> None:
    with pytest.raises(ValidationError, match="expected a list"):
        parse_identifier_list(5)  # type: ignore[arg-type]


# --- properties -----------------------------------------------------------------------


def check_invariants(result: GroupsFile) -> None:
    assert len({ref.key for ref in result.identifiers}) == len(result.identifiers)
    assert len(result.entries) == len(result.identifiers) + len(result.duplicates)
    entry_lines = [entry.line for entry in result.entries]
    error_lines = [error.line for error in result.errors]
    assert entry_lines == sorted(set(entry_lines))
    assert not set(entry_lines) & set(error_lines)
    assert all(1 <= n <= result.total_lines for n in entry_lines + error_lines)
    first = {ref.key: n for n, ref in reversed([(e.line, e.ref) for e in result.entries])}
    assert all(first[dup.ref.key] == dup.first_line < dup.line for dup in result.duplicates)
    assert result.encoding in SUPPORTED_ENCODINGS


def parse_or_message(data: bytes, encoding: str | None = None) -> GroupsFile | str:
    """The result, or the message of the ValidationError; any other exception escapes."""
    try:
        return parse_groups_file(data, encoding=encoding, max_bytes=4096)
    except ValidationError as exc:
        return exc.message


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.sampled_from([None, *SUPPORTED_ENCODINGS, "cp1251"]))
def test_arbitrary_bytes_parse_or_raise_validation_error(data: bytes, encoding: str | None) -> None:
    result = parse_or_message(data, encoding)
    if isinstance(result, GroupsFile):
        check_invariants(result)
    else:
        assert result


NO_LINE_BREAKS = st.text(st.characters(exclude_characters="\r\n"), max_size=20)
SAMPLE_LINES = [
    "apiclub",
    "club1",
    "-2",
    "https://vk.com/ApiClub",
    "id5",
    "[club3|Имя, с запятой]",
    '"club4","x"',
    "group",
    "",
    "  # комментарий",
    "club1 # дубль",
    "vk.com/wall-6_7",
    "ёлка",
    "x" * 300,
]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(st.sampled_from(SAMPLE_LINES), NO_LINE_BREAKS), max_size=25),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1251", "koi8-r"]),
)
def test_realistic_files_parse_or_raise_validation_error(
    rows: list[str], end: str, codec: str
) -> None:
    data = end.join(rows).encode(codec, errors="replace")
    result = parse_or_message(data)
    if isinstance(result, GroupsFile):
        check_invariants(result)
        assert result.total_lines == len(rows) - (rows[-1] == "")


def test_a_file_past_the_identifier_cap_stops_early_in_bounded_memory() -> None:
    """A 10 MB file of ids once took 23 s and ~1 GB; past the cap the parse stops."""
    big = b"".join(f"{i}\n".encode() for i in range(1, 1_400_000))
    tracemalloc.start()
    try:
        with pytest.raises(ValidationError) as refused:
            parse_groups_file(big, max_identifiers=100_000)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code is ErrorCode.FILE_TOO_LARGE
    assert "more than 100000 identifiers (line 100001)" in refused.value.message
    assert peak < 12 * len(big), f"peak {peak:,} bytes for a {len(big):,}-byte file"
