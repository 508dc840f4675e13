# ruff: noqa: RUF001  (Cyrillic sample text is the point of these tests)
"""Groups files parsed as a stream: chunk boundaries, memory, base64 and hex uploads."""

from __future__ import annotations

import base64
import io
import tracemalloc

import pytest

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.vk.file_decoding import CHUNK_BYTES
from vk_collector.vk.groups_file import (
    KEPT_LINES,
    parse_groups_file,
    parse_groups_stream,
)
from vk_collector.vk.identifiers import GroupRef


def stream(data: bytes, **kwargs: object) -> object:
    return parse_groups_stream(io.BytesIO(data), **kwargs)  # type: ignore[arg-type]


def test_a_stream_parses_like_the_same_bytes() -> None:
    data = "group\napiclub\r\nclub1;Имя\rid5\nclub1\n".encode()
    assert stream(data) == parse_groups_file(data)


def test_a_crlf_split_between_two_chunks_is_one_line_break() -> None:
    first = b"#" * (CHUNK_BYTES - 1) + b"\r"  # the first chunk ends inside CR LF
    result = parse_groups_file(first + b"\nclub2\r\nclub3")
    assert list(result.identifiers) == [GroupRef(group_id=2), GroupRef(group_id=3)]
    assert result.total_lines == 3
    assert [entry.line for entry in result.entries] == [2, 3]


def test_a_character_split_between_two_chunks_is_decoded_whole() -> None:
    line = "club1 # привет\n".encode()
    padding = b"#" * (CHUNK_BYTES - line.index("п".encode()) - 2) + b"\n"
    data = padding + line  # the two bytes of "п" straddle the chunk boundary
    assert data[CHUNK_BYTES - 1 : CHUNK_BYTES + 1] == "п".encode()
    result = parse_groups_file(data)
    assert result.encoding == "utf-8"
    assert result.entries[0].raw == "club1 # привет"


def test_the_code_page_is_guessed_for_a_file_longer_than_a_chunk() -> None:
    text = "club1 # Новости города\n" * 5000  # about 115 KB
    for codec, name in (("cp1251", "windows-1251"), ("koi8-r", "koi8-r")):
        result = parse_groups_file(text.encode(codec))
        assert result.encoding == name
        assert result.entries[-1].raw == "club1 # Новости города"


def test_bytes_the_named_encoding_cannot_decode_are_reported_with_their_line() -> None:
    data = b"club1\n" * 20_000 + b"club\xff2\n"  # past the first chunk
    with pytest.raises(ValidationError) as refused:
        parse_groups_file(data, encoding="utf-8")
    assert refused.value.code is ErrorCode.UNSUPPORTED_FILE
    assert refused.value.details["line"] == 20_001


def test_only_the_first_lines_of_each_kind_are_kept_all_are_counted() -> None:
    rows = [f"club{n}" for n in range(1, 1501)] * 2 + ["id1"] * 1200
    result = parse_groups_file("\n".join(rows).encode())
    assert len(result.identifiers) == 1500
    assert (result.entry_count, result.duplicate_count, result.error_count) == (3000, 1500, 1200)
    assert len(result.entries) == len(result.duplicates) == len(result.errors) == KEPT_LINES
    assert str(result.duplicates[0]) == "line 1501: 1 is a duplicate of line 1"
    assert list(result.identifiers.texts())[:3] == ["1", "2", "3"]


def test_a_large_file_is_parsed_in_memory_far_smaller_than_the_file() -> None:
    """2 MiB of lines naming 100 communities: the whole-file parse held the text and a
    record per line (a 24 MiB peak here); the stream holds a chunk and the 100 refs."""
    data = b"".join(f"https://vk.com/club{n % 100 + 1}\n".encode() for n in range(100_000))
    assert len(data) > 2 * 1024 * 1024
    tracemalloc.start()
    try:
        result = parse_groups_stream(io.BytesIO(data))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.identifiers) == 100
    assert result.entry_count == 100_000
    assert peak < 1024 * 1024, f"peak {peak:,} bytes for a {len(data):,}-byte file"


# --- base64 and hex (accepted by the original's upload route) -------------------------


def test_a_base64_upload_is_decoded_and_its_text_encoding_detected() -> None:
    text = ("group\n" + "club1 # Новости\napiclub\n" * 3000).encode("cp1251")
    wrapped = base64.encodebytes(text)  # lines of 76 characters, past a chunk
    assert len(wrapped) > CHUNK_BYTES
    result = parse_groups_file(wrapped, encoding="base64")
    assert list(result.identifiers) == [GroupRef(group_id=1), GroupRef(screen_name="apiclub")]
    assert result.encoding == "windows-1251"
    assert result.entries[0].raw == "club1 # Новости"


def test_a_hex_upload_is_decoded() -> None:
    data = "club7\nдурак\n".encode().hex().upper().encode() + b"\n"
    result = parse_groups_file(data, encoding="HEX")
    assert list(result.identifiers) == [GroupRef(group_id=7)]
    assert result.encoding == "utf-8"
    assert result.error_count == 1


@pytest.mark.parametrize(
    ("data", "encoding", "why"),
    [
        (b"club1\n", "base64", "base64"),
        (base64.b64encode(b"club1\n")[:-1], "base64", "stray"),
        (b"636c7562310", "hex", "stray"),
        (b"zz", "hex", "hex"),
    ],
)
def test_bad_base64_or_hex_is_refused_with_the_reason(data: bytes, encoding: str, why: str) -> None:
    with pytest.raises(ValidationError) as refused:
        parse_groups_file(data, encoding=encoding)
    assert refused.value.code is ErrorCode.UNSUPPORTED_FILE
    assert f"not valid {encoding} text" in refused.value.message
    assert why in refused.value.message


def test_an_unknown_encoding_lists_base64_and_hex() -> None:
    with pytest.raises(ValidationError) as refused:
        parse_groups_file(b"club1", encoding="utf-16le")
    assert refused.value.details["accepted"][-2:] == ["base64", "hex"]
