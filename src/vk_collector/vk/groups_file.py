"""Read an uploaded list of communities: one identifier per line, or a one-column CSV.

Per line: text after ``#`` is a comment, blank lines are skipped, and a bad line becomes
a :class:`LineError` without stopping the file.  A line that is not an identifier as a
whole but looks like CSV (``,``, ``;`` or tab outside quotes, or a quoted value) is read
by its first column; further columns are ignored without a report, since exports carry
names or notes there.  The first line that is not blank or a comment is skipped when its
first column is a column name (``group``, ``id``, ``url``, ``screen_name``,
``identifier``, ...).  Lines end at ``\\n``, ``\\r\\n`` or ``\\r``, so numbers match
what an editor shows.

The file is parsed as a stream (:func:`parse_groups_stream`): one read of the bytes
for the whole-file checks and the encoding (:mod:`vk_collector.vk.file_decoding`),
one more to decode them chunk by chunk and parse line by line.  Nothing holds the
whole file or its text: the distinct identifiers are kept compactly
(:class:`~vk_collector.vk.compact_refs.CompactRefs`), every other line only counted,
with the first :data:`KEPT_LINES` of each kind kept as examples.  A 10 MiB file naming
95,000 communities peaks at about 14 MiB of Python heap, most of it the identifiers
(docs/OPERATIONS.md, Security).

Whole-file failures raise :class:`~vk_collector.errors.ValidationError`:
``FILE_TOO_LARGE`` over ``max_bytes`` or past ``max_identifiers``;
``UNSUPPORTED_FILE`` for binary content, UTF-16, or bytes the named encoding cannot
decode; ``INVALID_INPUT`` for an empty file, one with no identifier lines, or an
unknown encoding name.  A file whose lines are all invalid is *not* an error here: it
parses with no identifiers and every line counted in ``error_count``.

Encodings: UTF-8 (a BOM is dropped), Windows-1251, KOI8-R, ISO-8859-1 and ASCII, and
the transfer encodings ``base64`` and ``hex`` (see :mod:`~vk_collector.vk.file_decoding`
for how the encoding is detected when not named).  A file whose only Cyrillic is one
short word can still be guessed wrong; pass ``encoding`` when it matters.  The
comment is all that a wrong guess garbles.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.vk.compact_refs import CompactRefs
from vk_collector.vk.file_decoding import (
    SUPPORTED_ENCODINGS,
    TRANSFER_ENCODINGS,
    ChunkSource,
    bytes_chunks,
    choose_encoding,
    decode,
    file_chunks,
    resolve_encoding,
    survey,
    transfer_decoded,
)
from vk_collector.vk.identifiers import GroupRef, parse_group_identifier

__all__ = [
    "DEFAULT_MAX_BYTES",
    "KEPT_LINES",
    "SUPPORTED_ENCODINGS",
    "TRANSFER_ENCODINGS",
    "Duplicate",
    "GroupsFile",
    "LineError",
    "ParsedLine",
    "parse_groups_file",
    "parse_groups_stream",
    "parse_identifier_list",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
KEPT_LINES = 1000
"""Examples kept of each kind of line (entries, errors, duplicates); the rest are counted."""


@dataclass(frozen=True, slots=True)
class ParsedLine:
    line: int
    raw: str
    ref: GroupRef


@dataclass(frozen=True, slots=True)
class LineError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Duplicate:
    line: int
    ref: GroupRef
    first_line: int

    def __str__(self) -> str:
        return f"line {self.line}: {self.ref} is a duplicate of line {self.first_line}"


@dataclass(frozen=True, slots=True)
class GroupsFile:
    """The outcome of one file or list.

    ``identifiers`` are unique by ``GroupRef.key`` in first-seen order.  ``entries``
    (lines that parsed, duplicates included), ``errors`` and ``duplicates`` hold the
    first :data:`KEPT_LINES` of their kind; ``entry_count``, ``error_count`` and
    ``duplicate_count`` count them all (``entry_count == len(identifiers) +
    duplicate_count``).  Line numbers start at 1 (positions for
    :func:`parse_identifier_list`).  ``encoding`` is one of ``SUPPORTED_ENCODINGS`` (for
    base64 or hex, that of the decoded list), or ``""`` for a list that was never
    bytes.  ``total_lines`` counts blank lines too.
    """

    identifiers: CompactRefs
    entries: list[ParsedLine]
    errors: list[LineError]
    duplicates: list[Duplicate]
    encoding: str
    total_lines: int
    entry_count: int
    error_count: int
    duplicate_count: int


def parse_groups_file(
    data: bytes,
    *,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_identifiers: int | None = None,
) -> GroupsFile:
    """Parse a whole file given as bytes (see :func:`parse_groups_stream`)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(f"expected the file's bytes, got {type(data).__name__}")
    _check_size(len(data), max_bytes)
    return _parse(bytes_chunks(bytes(data)), encoding=encoding, max_identifiers=max_identifiers)


def parse_groups_stream(
    source: BinaryIO,
    *,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_identifiers: int | None = None,
) -> GroupsFile:
    """Parse a file from a seekable binary file object (an upload spooled to disk, an
    open file), reading it in chunks from its start, twice.  Past ``max_identifiers``
    distinct identifiers the parse stops at once with ``ValidationError``
    (``FILE_TOO_LARGE``)."""
    size = source.seek(0, 2)
    _check_size(size, max_bytes)
    return _parse(file_chunks(source), encoding=encoding, max_identifiers=max_identifiers)


def _check_size(size: int, max_bytes: int) -> None:
    if size > max_bytes:
        raise ValidationError(
            f"the file is too large: {_mb(size)} ({size} bytes);"
            f" the limit is {_mb(max_bytes)} ({max_bytes} bytes)",
            ErrorCode.FILE_TOO_LARGE,
            details={"size": size, "maxBytes": max_bytes},
        )


def _parse(chunks: ChunkSource, *, encoding: str | None, max_identifiers: int | None) -> GroupsFile:
    named, transfer = resolve_encoding(encoding)
    if transfer is not None:
        chunks = transfer_decoded(chunks, transfer)
    found = survey(chunks, check_utf8=named is None)
    used = choose_encoding(chunks, named, found)
    collector = _Collector(encoding=used, skip_header=True, max_identifiers=max_identifiers)
    texts = _NonBlank(decode(chunks, used))
    for number, line in enumerate(_lines(texts), start=1):
        collector.add(number, line)
    if not texts.seen:
        raise ValidationError("the file is empty")
    result = collector.result()
    if result is None:
        raise ValidationError(
            "no identifiers found: the file has only blank lines, comments or a header"
        )
    return result


def parse_identifier_list(items: Iterable[str]) -> GroupsFile:
    """Parse identifiers given one by one (API body, CLI ``--groups``) like file lines.

    Positions start at 1.  A single string is taken as pasted text and split into
    lines.  Raises ``ValidationError`` when no item holds an identifier.
    """
    if isinstance(items, str):
        items = _LINE_BREAK.split(items)
    try:
        numbered = list(enumerate(items, start=1))
    except TypeError:
        raise ValidationError("expected a list of identifiers") from None
    collector = _Collector(encoding="", skip_header=False)
    for number, raw in numbered:
        collector.add(number, raw)
    result = collector.result()
    if result is None:
        raise ValidationError("no identifiers given")
    return result


_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_HEADERS = frozenset(
    {
        "community",
        "communities",
        "domain",
        "group",
        "group_id",
        "group_url",
        "groupid",
        "groups",
        "id",
        "identifier",
        "identifiers",
        "ids",
        "link",
        "links",
        "name",
        "owner_id",
        "screen_name",
        "screenname",
        "url",
        "urls",
        "группа",
        "группы",
        "ид",
        "сообщество",
        "сообщества",
        "ссылка",
        "ссылки",
    }
)
_CSV_DELIMITERS = ",;\t"
_CSV_HINT = re.compile(r'[,;\t"]')
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"  # BOMs of joined files, zero-width spaces


class _NonBlank:
    """Passes text chunks through, noting whether any held more than whitespace."""

    def __init__(self, texts: Iterator[str]) -> None:
        self._texts = texts
        self.seen = False

    def __iter__(self) -> Iterator[str]:
        for text in self._texts:
            if not self.seen and text.strip():
                self.seen = True
            yield text


def _lines(texts: Iterable[str]) -> Iterator[str]:
    """The lines of text arriving in pieces (CR LF, CR or LF, also split across two
    pieces); a final line break does not start an empty line.  Holds one line and one
    piece at a time."""
    carry = ""
    for piece in texts:
        text = carry + piece if carry else piece
        start = 0
        for match in _LINE_BREAK.finditer(text):
            if match.end() == len(text) and match.group() == "\r":
                break  # may be the first half of a CR LF split between pieces
            yield text[start : match.start()]
            start = match.end()
        carry = text[start:]
    if carry.endswith("\r"):
        carry = carry[:-1]
        yield carry
    elif carry:
        yield carry


_PARSE_CACHE_SIZE = 4096


class _Collector:
    """Takes numbered lines one at a time; keeps the distinct identifiers, counts the
    rest and keeps the first ``KEPT_LINES`` of each kind."""

    def __init__(
        self, *, encoding: str, skip_header: bool, max_identifiers: int | None = None
    ) -> None:
        self.encoding = encoding
        self.skip_header = skip_header
        self.max_identifiers = max_identifiers
        self.identifiers = CompactRefs()
        self.entries: list[ParsedLine] = []
        self.errors: list[LineError] = []
        self.duplicates: list[Duplicate] = []
        self.entry_count = self.error_count = self.duplicate_count = 0
        self.total = 0
        self.content = False
        # lists repeat themselves: parse each distinct line once (a ref, or the error
        # text), remembering at most _PARSE_CACHE_SIZE of them
        self._cells: dict[str, GroupRef | str] = {}

    def add(self, number: int, raw: object) -> None:
        self.total = number
        if not isinstance(raw, str):
            self._error(number, f"expected text, got {type(raw).__name__}")
            self.content = True
            return
        value = raw.split("#", 1)[0].strip().strip(_INVISIBLE).strip()
        if not value:
            return
        first_column = _first_column(value)
        if self.skip_header and not self.content and _is_header(first_column or value):
            self.content = True
            return
        self.content = True
        cell = self._cell(value, first_column)
        if isinstance(cell, str):
            self._error(number, cell)
            return
        self.entry_count += 1
        if len(self.entries) < KEPT_LINES:
            self.entries.append(ParsedLine(number, raw, cell))
        seen_on = self.identifiers.add(cell, number)
        if seen_on != number:
            self.duplicate_count += 1
            if len(self.duplicates) < KEPT_LINES:
                self.duplicates.append(Duplicate(number, cell, seen_on))
        elif self.max_identifiers is not None and len(self.identifiers) > self.max_identifiers:
            raise ValidationError(
                f"the file has more than {self.max_identifiers} identifiers (line {number});"
                " split it into smaller files",
                ErrorCode.FILE_TOO_LARGE,
                details={"maxIdentifiers": self.max_identifiers, "line": number},
            )

    def _cell(self, value: str, first_column: str | None) -> GroupRef | str:
        cell = self._cells.get(value)
        if cell is None:
            try:
                cell = _parse_cell(value, first_column)
            except ValidationError as exc:
                cell = exc.message
            if len(self._cells) >= _PARSE_CACHE_SIZE:
                self._cells.clear()
            self._cells[value] = cell
        return cell

    def _error(self, number: int, reason: str) -> None:
        self.error_count += 1
        if len(self.errors) < KEPT_LINES:
            self.errors.append(LineError(number, reason))

    def result(self) -> GroupsFile | None:
        """``None`` when no line held anything but blanks, comments or a header."""
        if not self.entry_count and not self.error_count:
            return None
        return GroupsFile(
            self.identifiers,
            self.entries,
            self.errors,
            self.duplicates,
            self.encoding,
            self.total,
            self.entry_count,
            self.error_count,
            self.duplicate_count,
        )


def _parse_cell(value: str, first_column: str | None) -> GroupRef:
    try:
        return parse_group_identifier(value)
    except ValidationError:
        if first_column is None or first_column == value:
            raise
    return parse_group_identifier(first_column)


def _first_column(value: str) -> str | None:
    """The first CSV cell of a line that looks like CSV, else ``None``."""
    if not _CSV_HINT.search(value):
        return None
    delimiter = None
    quoted = False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in _CSV_DELIMITERS:
            delimiter = ch
            break
    if delimiter is None and not value.startswith('"'):
        return None
    try:
        row = next(csv.reader([value], delimiter=delimiter or ","), [])
    except csv.Error:
        return None
    return row[0].strip() if row else None


def _is_header(cell: str) -> bool:
    return cell.strip().strip("\"'").strip().lower() in _HEADERS


def _mb(size: int) -> str:
    mb, rest = divmod(size, 1024 * 1024)
    return f"{mb} MB" if not rest else f"{size / (1024 * 1024):.1f} MB"
