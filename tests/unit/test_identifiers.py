from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vk_collector.errors import ErrorCode, ErrorSeverity, ValidationError
from vk_collector.vk.identifiers import (
    MAX_GROUP_ID,
    GroupRef,
    parse_group_identifier,
)

from support.vk import APICLUB, group


def rejected(text: str) -> str:
    with pytest.raises(ValidationError) as info:
        parse_group_identifier(text)
    assert info.value.code is ErrorCode.INVALID_INPUT
    return info.value.message


# --- accepted forms ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", group(123)),
        ("-123", group(123)),
        ("00123", group(123)),
        ("1", group(1)),
        (str(MAX_GROUP_ID), group(MAX_GROUP_ID)),
        ("club123", group(123)),
        ("CLUB123", group(123)),
        ("Club123", group(123)),
        ("public123", group(123)),
        ("PUBLIC123", group(123)),
        ("event123", group(123)),
        ("EvEnT123", group(123)),
        ("wall-123_45", group(123)),
        ("wall-123", group(123)),
        ("  club123\t", group(123)),
        ("\ufeffclub123\u200b", group(123)),
    ],
)
def test_numeric_forms(text: str, expected: GroupRef) -> None:
    assert parse_group_identifier(text) == expected


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("apiclub", "apiclub"),
        ("ApiClub", "apiclub"),
        ("APICLUB", "apiclub"),
        ("@apiclub", "apiclub"),
        ("@ApiClub", "apiclub"),
        ("api_club_2024", "api_club_2024"),
        ("_under", "_under"),
        ("pavel.durov", "pavel.durov"),
        ("a.b.c.d", "a.b.c.d"),
        ("4pda_", "4pda_"),
        ("club123abc", "club123abc"),
        ("id123abc", "id123abc"),
        ("page1club", "page1club"),
        ("a" * 5, "a" * 5),
        ("a" * 32, "a" * 32),
    ],
)
def test_screen_names_are_lower_cased(text: str, name: str) -> None:
    ref = parse_group_identifier(text)
    assert ref == GroupRef(screen_name=name)
    assert ref.group_id is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[club1|Name]", group(1)),
        ("[CLUB1|Name]", group(1)),
        ("[public77|Паблик, с запятой]", group(77)),  # noqa: RUF001
        ("[event5|]", group(5)),
        ("[apiclub|API Club]", APICLUB),
        ("[ApiClub|x|y]", APICLUB),
        ("[https://vk.com/apiclub|link]", APICLUB),
        (" [club1|Name] ", group(1)),
    ],
)
def test_mentions(text: str, expected: GroupRef) -> None:
    assert parse_group_identifier(text) == expected


HOSTS = [
    "vk.com",
    "www.vk.com",
    "m.vk.com",
    "new.vk.com",
    "vk.ru",
    "m.vk.ru",
    "www.vk.ru",
    "vkontakte.ru",
    "www.vkontakte.ru",
    "vk.me",
    "VK.COM",
    "M.VK.Com",
]


@pytest.mark.parametrize("host", HOSTS)
@pytest.mark.parametrize("scheme", ["", "http://", "https://", "HTTPS://", "//"])
def test_urls_on_every_host_and_scheme(host: str, scheme: str) -> None:
    assert parse_group_identifier(f"{scheme}{host}/apiclub") == APICLUB
    assert parse_group_identifier(f"{scheme}{host}/club123") == group(123)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://vk.com/apiclub/", APICLUB),
        ("https://vk.com/ApiClub", APICLUB),
        ("https://vk.com/apiclub?from=search", APICLUB),
        ("https://vk.com/apiclub#top", APICLUB),
        ("https://vk.com/apiclub/?a=1#b", APICLUB),
        ("https://vk.com:443/apiclub", APICLUB),
        ("https://vk.com./apiclub", APICLUB),
        ("vk.com/public123/", group(123)),
        ("https://vk.com/event123", group(123)),
        ("https://vk.com/club123?w=wall-123_45", group(123)),
        ("vk.com/club123?w=wall-123_45", group(123)),
        ("vk.com/wall-123_45", group(123)),
        ("https://vk.com/wall-123_45?reply=7&thread=3", group(123)),
        ("https://m.vk.com/wall-123_45", group(123)),
        ("https://vk.com/feed?w=wall-77_1", group(77)),
        ("https://vk.com/?w=wall-77_1", group(77)),
        ("https://vk.com/search?z=wall-77_1", group(77)),
        ("https://vk.com/apiclub?w=wall-77_1", APICLUB),
        ("https://vk.com/apiclub/extra/segments", APICLUB),
        ("https://vk.com/-123", group(123)),
        ("https://vk.com/123", group(123)),
    ],
)
def test_url_details(text: str, expected: GroupRef) -> None:
    assert parse_group_identifier(text) == expected


# --- rejections -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("id123", "user page"),
        ("ID123", "user page"),
        ("@id1", "user page"),
        ("[id1|Павел]", "user page"),
        ("vk.com/id123", "user page"),
        ("https://vk.com/id123?w=wall-1_2", "user page"),
        ("https://vk.com/wall123_45", "user's wall"),
        ("wall123_45", "user's wall"),
        ("https://vk.com/feed?w=wall1_2", "user's wall"),
        ("0", "ids start at 1"),
        ("-0", "ids start at 1"),
        ("club0", "ids start at 1"),
        ("000", "ids start at 1"),
        (str(MAX_GROUP_ID + 1), "out of range"),
        ("club2147483648", "out of range"),
        ("9" * 200, "out of range"),
        ("club-5", "minus sign"),
        ("", "empty"),
        ("   ", "empty"),
        ("\t\r\n", "empty"),
        ("\ufeff\u200b", "empty"),
        ("a" * 256, "too long"),
        ("https://vk.com/" + "a" * 250, "too long"),
        ("https://facebook.com/apiclub", "facebook.com, not to VK"),
        ("facebook.com/apiclub", "facebook.com, not to VK"),
        ("https://vk.com.evil.example/apiclub", "not to VK"),
        ("https://evilvk.com/apiclub", "not to VK"),
        ("https://vk.cc/abcde", "vk.cc, not to VK"),
        ("example.com", "web address"),
        ("ftp://vk.com/apiclub", "only http and https"),
        ("javascript://vk.com/apiclub", "only http and https"),
        ("https://user@vk.com/apiclub", "user name before the host"),
        ("https://vk.com", "home page"),
        ("vk.com", "home page"),
        ("https://vk.com/?from=x", "home page"),
        ("https://vk.com/feed", "VK page"),
        ("https://vk.com/search?c=apiclub", "VK page"),
        ("https://vk.com/away.php?to=x", "VK page"),
        ("https://vk.com/app123", "an app"),
        ("https://vk.com/app6379_-123", "an app"),
        ("app123", "an app"),
        ("https://vk.com/album-123_456", "photo album"),
        ("https://vk.com/albums-123", "photo albums"),
        ("https://vk.com/photo-123_456", "a photo"),
        ("https://vk.com/video-123_456", "a video"),
        ("https://vk.com/topic-123_45", "discussion"),
        ("https://vk.com/@apiclub-some-article", "article"),
        ("groups", "VK page"),
        ("settings", "VK page"),
        ("abc", "too short"),
        ("abcd", "too short"),
        ("a" * 33, "too long for a screen name"),
        ("api club", "spaces"),
        ("apiclub # note", "spaces"),
        ("https://vk.com/apiclub extra", "spaces"),
        ("api-club", "latin letters"),
        ("апиклуб", "latin letters"),
        ("\u0661\u0662\u0663", "latin letters"),
        ("ap\u212aclub", "latin letters"),
        ("+123", "latin letters"),
        ("12.345", "needs a latin letter"),
        ("1234_", "needs a latin letter"),
        (".apiclub", "dot"),
        ("apiclub.", "dot"),
        ("api..club", "dot"),
        ("@", "no community name"),
        ("@@apiclub", "latin letters"),
        ("[]", "latin letters"),
        ("[|Name]", "latin letters"),
        ("[[club1|x]|y]", "latin letters"),
        ("[@club1|x]", "not a valid mention"),
        ("apiclub?x", "neither a VK link"),
    ],
)
def test_rejections_say_why(text: str, reason: str) -> None:
    assert reason in rejected(text)


def test_rejection_quotes_the_input_and_keeps_it_in_details() -> None:
    with pytest.raises(ValidationError) as info:
        parse_group_identifier("  id42 ")
    assert info.value.message == '"id42" is a user page, not a community'
    assert info.value.details == {"value": "id42"}
    assert info.value.severity is ErrorSeverity.PERMANENT


def test_long_and_unprintable_input_is_shortened_in_the_message() -> None:
    message = rejected("x\x01" + "y" * 100)
    assert "\x01" not in message
    assert "…" in message
    assert len(message) < 200


def test_rejects_non_text() -> None:
    with pytest.raises(ValidationError, match="expected text"):
        parse_group_identifier(123)  # type: ignore[arg-type]


# --- GroupRef ---------------------------------------------------------------------


def test_group_ref_key_str_and_url() -> None:
    assert group(123).key == "id:123"
    assert str(group(123)) == "123"
    assert group(123).url == "https://vk.com/club123"
    assert APICLUB.key == "name:apiclub"
    assert str(APICLUB) == "apiclub"
    assert APICLUB.url == "https://vk.com/apiclub"
    assert len({group(1), group(1), APICLUB, GroupRef(screen_name="apiclub")}) == 2


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"group_id": 1, "screen_name": "apiclub"},
        {"group_id": 0},
        {"group_id": -5},
        {"group_id": MAX_GROUP_ID + 1},
        {"group_id": True},
        {"screen_name": "ApiClub"},
        {"screen_name": "abc"},
        {"screen_name": "search"},
        {"screen_name": "a..bcd"},
    ],
)
def test_group_ref_refuses_invalid_fields(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        GroupRef(**kwargs)  # type: ignore[arg-type]


def test_group_ref_is_frozen() -> None:
    with pytest.raises(AttributeError):
        APICLUB.screen_name = "other"  # type: ignore[misc]


# --- properties -------------------------------------------------------------------

NAME_PART = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=12)


def _valid_name(name: str) -> bool:
    try:
        GroupRef(screen_name=name)
    except ValidationError:
        return False
    return True


screen_names = st.lists(NAME_PART, min_size=1, max_size=3).map(".".join).filter(_valid_name)
refs = st.one_of(
    st.integers(min_value=1, max_value=MAX_GROUP_ID).map(group),
    screen_names.map(lambda name: GroupRef(screen_name=name)),
)


def _random_case(draw: st.DrawFn, text: str) -> str:
    flags = draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)))
    return "".join(ch.upper() if flip else ch for ch, flip in zip(text, flags, strict=True))


@st.composite
def realistic_inputs(draw: st.DrawFn) -> str:
    """Things people paste: mostly near-valid, with mutations."""
    core = draw(
        st.one_of(
            screen_names,
            st.integers(-(2**33), 2**33).map(str),
            st.tuples(
                st.sampled_from(["club", "public", "event", "id", "app", "wall", "photo", ""]),
                st.sampled_from(["", "-"]),
                st.integers(0, 2**32).map(str),
                st.sampled_from(["", "_45", "_-1", "_"]),
            ).map("".join),
            st.sampled_from(["feed", "search", "@apiclub-art", "away.php", "", "..", "%61b"]),
            st.text(max_size=8),
        )
    )
    core = _random_case(draw, core)
    wrap = draw(st.sampled_from(["plain", "at", "mention", "url", "url", "url"]))
    if wrap == "at":
        return "@" + core
    if wrap == "mention":
        return f"[{core}|{draw(st.text(max_size=5))}]"
    if wrap == "plain":
        return core
    scheme = draw(st.sampled_from(["", "http://", "https://", "//", "ftp://", "hTTps://"]))
    host = draw(st.sampled_from([*HOSTS, "vk.cc", "example.com", "vk.com:8080", "u@vk.com", ""]))
    tail = draw(st.sampled_from(["", "/", "?w=wall-1_2", "?z=wall5_6&x=1", "#frag", "/more", "?"]))
    return f"{scheme}{host}/{core}{tail}"


def outcome(text: str) -> GroupRef | str:
    """The ref, or the message of the ValidationError; any other exception escapes."""
    try:
        return parse_group_identifier(text)
    except ValidationError as exc:
        return exc.message


@settings(max_examples=300)
@given(st.text())
def test_any_text_parses_or_raises_validation_error(text: str) -> None:
    result = outcome(text)
    assert isinstance(result, GroupRef) or result


@settings(max_examples=400)
@given(realistic_inputs())
def test_realistic_text_parses_or_raises_validation_error(text: str) -> None:
    result = outcome(text)
    if isinstance(result, GroupRef):
        assert parse_group_identifier(str(result)) == result
    else:
        assert result


@settings(max_examples=200)
@given(refs)
def test_round_trip_through_canonical_text_and_url(ref: GroupRef) -> None:
    assert parse_group_identifier(str(ref)) == ref
    assert parse_group_identifier(ref.url) == ref
    canonical = f"club{ref.group_id}" if ref.group_id is not None else str(ref)
    assert parse_group_identifier(f"https://vk.com/{canonical}") == ref
    assert parse_group_identifier(str(ref).upper()) == ref
    assert parse_group_identifier(f"[{canonical}|Name]") == ref
    assert parse_group_identifier(f"@{canonical}") == ref
