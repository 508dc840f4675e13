# ruff: noqa: RUF001  (the encoding guesser holds Cyrillic text on purpose)
"""Read an uploaded list of communities: one identifier per line, or a one-column CSV.

Per line: text after ``#`` is a comment, blank lines are skipped, and a bad line becomes
a :class:`LineError` without stopping the file.  A line that is not an identifier as a
whole but looks like CSV (``,``, ``;`` or tab outside quotes, or a quoted value) is read
by its first column; further columns are ignored without a report, since exports carry
names or notes there.  The first line that is not blank or a comment is skipped when its
first column is a column name (``group``, ``id``, ``url``, ``screen_name``,
``identifier``, ...).  Lines end at ``\\n``, ``\\r\\n`` or ``\\r``, so numbers match
what an editor shows.

Whole-file failures raise :class:`~vk_collector.errors.ValidationError`:
``FILE_TOO_LARGE`` over ``max_bytes``; ``UNSUPPORTED_FILE`` for binary content, UTF-16,
or bytes the named encoding cannot decode; ``INVALID_INPUT`` for an empty file, one with
no identifier lines, or an unknown encoding name.  A file whose lines are all invalid is
*not* an error here: it parses with no identifiers and every line in ``errors``.

Encodings: UTF-8 (a BOM is dropped), Windows-1251, KOI8-R, ISO-8859-1 and ASCII (the
last two offered by the original system's web client).  Without a name, valid
UTF-8 wins; otherwise both Cyrillic code pages are decoded and the one whose text reads
more like Russian (common letter pairs, sane letter case, no stray symbols) is used.
charset-normalizer is not used: it names Big5 or Shift-JIS for short Cyrillic comments.
A file whose only Cyrillic is one short word can still be guessed wrong; pass
``encoding`` when it matters.  The comment is all that a wrong guess garbles.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.vk.identifiers import GroupRef, parse_group_identifier

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_ENCODINGS",
    "Duplicate",
    "GroupsFile",
    "LineError",
    "ParsedLine",
    "parse_groups_file",
    "parse_identifier_list",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
SUPPORTED_ENCODINGS = ("utf-8", "windows-1251", "koi8-r", "iso-8859-1", "ascii")


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

    ``identifiers`` are unique by ``GroupRef.key`` in first-seen order; ``entries`` has
    every line that parsed, duplicates included; line numbers start at 1 (positions for
    :func:`parse_identifier_list`).  ``encoding`` is one of ``SUPPORTED_ENCODINGS``, or
    ``""`` for a list that was never bytes.  ``total_lines`` counts blank lines too.
    """

    identifiers: list[GroupRef]
    entries: list[ParsedLine]
    errors: list[LineError]
    duplicates: list[Duplicate]
    encoding: str
    total_lines: int


def parse_groups_file(
    data: bytes,
    *,
    encoding: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_identifiers: int | None = None,
) -> GroupsFile:
    """Parse a whole file.  Lines are walked lazily (no list of every line); past
    ``max_identifiers`` distinct identifiers the parse stops at once with
    ``ValidationError`` (``FILE_TOO_LARGE``)."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(f"expected the file's bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) > max_bytes:
        raise ValidationError(
            f"the file is too large: {_mb(len(data))} ({len(data)} bytes);"
            f" the limit is {_mb(max_bytes)} ({max_bytes} bytes)",
            ErrorCode.FILE_TOO_LARGE,
            details={"size": len(data), "maxBytes": max_bytes},
        )
    if not data:
        raise ValidationError("the file is empty")
    _refuse_binary(data)
    text, used = _decode(data, encoding)
    if not text.strip():
        raise ValidationError("the file is empty")
    result = _collect(
        enumerate(_lines(text), start=1),
        encoding=used,
        skip_header=True,
        max_identifiers=max_identifiers,
    )
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
    result = _collect(numbered, encoding="", skip_header=False)
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


def _lines(text: str) -> Iterator[str]:
    """The lines of ``text`` one at a time (CR LF, CR or LF); a final
    line break does not start an empty line."""
    start = 0
    for match in _LINE_BREAK.finditer(text):
        yield text[start : match.start()]
        start = match.end()
    if start < len(text):
        yield text[start:]


def _collect(
    lines: Iterable[tuple[int, object]],
    *,
    encoding: str,
    skip_header: bool,
    max_identifiers: int | None = None,
) -> GroupsFile | None:
    """``None`` when no line holds anything but blanks, comments or a header."""
    identifiers: list[GroupRef] = []
    entries: list[ParsedLine] = []
    errors: list[LineError] = []
    duplicates: list[Duplicate] = []
    first_seen: dict[str, int] = {}
    # lists repeat themselves: parse each distinct line once (a ref, or the error text)
    parsed_cells: dict[str, GroupRef | str] = {}
    total = 0
    content = False
    for number, raw in lines:
        total = number
        if not isinstance(raw, str):
            errors.append(LineError(number, f"expected text, got {type(raw).__name__}"))
            content = True
            continue
        value = raw.split("#", 1)[0].strip().strip(_INVISIBLE).strip()
        if not value:
            continue
        first_column = _first_column(value)
        if skip_header and not content and _is_header(first_column or value):
            content = True
            continue
        content = True
        cell = parsed_cells.get(value)
        if cell is None:
            try:
                cell = _parse_cell(value, first_column)
            except ValidationError as exc:
                cell = exc.message
            parsed_cells[value] = cell
        if isinstance(cell, str):
            errors.append(LineError(number, cell))
            continue
        ref = cell
        entries.append(ParsedLine(number, raw, ref))
        seen_on = first_seen.setdefault(ref.key, number)
        if seen_on == number:
            identifiers.append(ref)
            if max_identifiers is not None and len(identifiers) > max_identifiers:
                raise ValidationError(
                    f"the file has more than {max_identifiers} identifiers (line {number});"
                    " split it into smaller files",
                    ErrorCode.FILE_TOO_LARGE,
                    details={"maxIdentifiers": max_identifiers, "line": number},
                )
        else:
            duplicates.append(Duplicate(number, ref, seen_on))
    if not entries and not errors:
        return None
    return GroupsFile(identifiers, entries, errors, duplicates, encoding, total)


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


# C0 controls other than tab, line feed, form feed and carriage return, and DEL.
_CONTROL_BYTES = bytes([*range(9), 11, *range(14, 32), 127])
_MAX_CONTROL_SHARE = 0.05


def _refuse_binary(data: bytes) -> None:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValidationError(
            "the file is UTF-16 text; save it as UTF-8 (or Windows-1251) plain text",
            ErrorCode.UNSUPPORTED_FILE,
        )
    controls = len(data) - len(data.translate(None, _CONTROL_BYTES))
    if b"\x00" in data or controls > len(data) * _MAX_CONTROL_SHARE:
        kind = " (a ZIP archive, such as .xlsx or .docx)" if data.startswith(b"PK") else ""
        raise ValidationError(
            f"the file looks like a binary file{kind}, not a text list;"
            " save the list as plain text (.txt or .csv), one community per line",
            ErrorCode.UNSUPPORTED_FILE,
        )


_ENCODING_ALIASES = {
    **dict.fromkeys(("utf-8", "utf8", "utf-8-sig", "utf8-sig"), "utf-8"),
    **dict.fromkeys(
        ("windows-1251", "windows1251", "cp1251", "cp-1251", "win-1251", "win1251"),
        "windows-1251",
    ),
    **dict.fromkeys(("koi8-r", "koi8r", "koi8"), "koi8-r"),
    **dict.fromkeys(("iso-8859-1", "iso8859-1", "latin-1", "latin1"), "iso-8859-1"),
    **dict.fromkeys(("ascii", "us-ascii"), "ascii"),
}
_CODECS = {
    "utf-8": "utf-8-sig",
    "windows-1251": "cp1251",
    "koi8-r": "koi8-r",
    "iso-8859-1": "latin-1",
    "ascii": "ascii",
}
_UTF8_BOM = b"\xef\xbb\xbf"


def _decode(data: bytes, encoding: str | None) -> tuple[str, str]:
    """Return the text and the name of the encoding used."""
    if encoding is None:
        if data.startswith(_UTF8_BOM):
            return _decode_as(data, "utf-8"), "utf-8"
        try:
            return data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            pass
        return _guess_cyrillic(data)
    name = _ENCODING_ALIASES.get(str(encoding).strip().lower().replace("_", "-"))
    if name is None:
        raise ValidationError(
            f"unknown encoding {str(encoding)[:40]!r}; use one of: "
            + ", ".join(SUPPORTED_ENCODINGS),
            details={"accepted": list(SUPPORTED_ENCODINGS)},
        )
    if name != "utf-8" and data.startswith(_UTF8_BOM):
        raise ValidationError(
            f"the file starts with a UTF-8 byte order mark, so it is not {name};"
            " pass utf-8 or leave the encoding out",
            ErrorCode.UNSUPPORTED_FILE,
        )
    return _decode_as(data, name), name


def _decode_as(data: bytes, name: str) -> str:
    try:
        return data.decode(_CODECS[name])
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ValidationError(
            f"the file is not valid {name} text: line {line} has bytes that are not"
            f" {name}; leave the encoding out to detect it automatically",
            ErrorCode.UNSUPPORTED_FILE,
            details={"encoding": name, "line": line},
        ) from None


# The 300 most frequent Russian letter pairs, most frequent first (from the Russian
# message catalogues of a Debian system); the first 50 score 3, the next 100 score 2,
# the rest 1, and any other pair of Cyrillic letters -1.
_PAIRS = """
ен не ст ни ра но по ов ер ан ре ка ол ть ат ро пр на ет ме ва то ль да та
ко ны ли ло ис од за ит де ос ал те тр ие им ти во ве ле ел ия ор ес аз об
нн ля от ом ай ри ем со ки ск ин ок ар вы тс до ла ог ед мо си па ый че ав
ся го ек пе ма сп ци оп дл он сл фа йл ир ам уд нт ой же из зо ая ий ож ьз
ии ак тв ру ас ус ди ик ае жи ши оз ви ил чи се сь ев ще кл ое ап ив ьн ых
пи бл тн вл ад зм пу нд ач ые аб бо уе ча зн лю иб жн ош ей ми ег бр кт юч
ры рн ут кс вн ук оч сс бы зд ич ба ац ку тк кр гр мы ыт мя ум ыв уп нс рж
дн ке еж са ду су хо вк иц бк ую ну кц фи бу ид це фо чн ту еп ву ию ше рм
рт ип йт мв щи ющ ур аг аж лн зв ез вр ги ят ты иф рс зу эт ым гу лу иг бе
ещ яе жд лж йс др ня рв ущ чт ео ун га зы ьк ыл ул уж ён вс иа дд аю ьс мм
сы би ее еч жа ют уч оо зи нк их рг му ои иш бъ ып зя нф еи ца ец ге эл ах
ша рх бщ см ъе мн дс еш бн лы гн хи фу ыр оц ян еб яв пл яз мп шк лч ря вт
""".split()  # noqa: SIM905
_PAIR_SCORE = {pair: 3 if i < 50 else 2 if i < 150 else 1 for i, pair in enumerate(_PAIRS)}
_CYRILLIC = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюяіїєґў")
_TYPOGRAPHY = frozenset("«»—–№…“”„‘’•€·°")
_SCORED_CHARS = 200_000


def _guess_cyrillic(data: bytes) -> tuple[str, str]:
    best: tuple[int, str, str] | None = None
    for name in ("windows-1251", "koi8-r"):  # a tie goes to the more common one
        try:
            text = data.decode(_CODECS[name])
        except UnicodeDecodeError:  # windows-1251 leaves 0x98 undefined
            continue
        score = _russian_score(text[:_SCORED_CHARS])
        if best is None or score > best[0]:
            best = (score, text, name)
    assert best is not None  # koi8-r decodes every byte
    return best[1], best[2]


def _russian_score(text: str) -> int:
    score = 0
    for word in text.split():
        if word.isascii():
            continue
        letters = "".join(ch for ch in word if ch.lower() in _CYRILLIC)
        strange = sum(
            1
            for ch in word
            if not ch.isascii() and ch.lower() not in _CYRILLIC and ch not in _TYPOGRAPHY
        )
        lower = letters.lower()
        score -= 5 * strange
        score += sum(_PAIR_SCORE.get(lower[i : i + 2], -1) for i in range(len(lower) - 1))
        if not (letters[1:] == lower[1:] or letters.isupper()):
            score -= 3  # "пРИВЕТ": what the wrong code page makes of "Привет"
    return score
