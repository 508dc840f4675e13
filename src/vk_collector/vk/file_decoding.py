# ruff: noqa: RUF001  (the encoding guesser holds Cyrillic text on purpose)
"""The bytes of an uploaded groups file as text, one chunk at a time.

A file is read through a :data:`ChunkSource` (a function that starts the bytes over
from the beginning each time it is called), so no step holds the whole file: at most
one chunk (:data:`CHUNK_BYTES`, 64 KiB) and, for a guess between the Cyrillic code
pages, its first :data:`SCORED_BYTES` (200,000) bytes.

:func:`survey` reads the bytes once: whole-file refusals (``UNSUPPORTED_FILE`` for
UTF-16 or binary content, ``INVALID_INPUT`` for an empty file) and the facts the
encoding is chosen by.  :func:`choose_encoding` names it: the caller's choice, else
UTF-8 when the file is valid UTF-8 (a BOM is dropped), else Windows-1251 or KOI8-R,
whichever reads more like Russian (common letter pairs, sane letter case, no stray
symbols); charset-normalizer is not used, since it names Big5 or Shift-JIS for short
Cyrillic comments.  :func:`decode` then turns the chunks into text with an incremental
decoder (``codecs.getincrementaldecoder``).

Transfer encodings: ``base64`` and ``hex`` (names the original system's upload route
accepted) say the upload is the list written in base64 or hexadecimal;
:func:`transfer_decoded` undoes that chunk by chunk (whitespace and line breaks
ignored) and the character encoding of what comes out is detected as above.
"""

from __future__ import annotations

import binascii
import codecs
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from vk_collector.errors import ErrorCode, ValidationError

__all__ = [
    "CHUNK_BYTES",
    "SCORED_BYTES",
    "SUPPORTED_ENCODINGS",
    "TRANSFER_ENCODINGS",
    "ChunkSource",
    "Survey",
    "choose_encoding",
    "decode",
    "file_chunks",
    "resolve_encoding",
    "survey",
    "transfer_decoded",
]

SUPPORTED_ENCODINGS = ("utf-8", "windows-1251", "koi8-r", "iso-8859-1", "ascii")
TRANSFER_ENCODINGS = ("base64", "hex")
CHUNK_BYTES = 64 * 1024
SCORED_BYTES = 200_000

ChunkSource = Callable[[], Iterator[bytes]]
"""Each call yields the file's bytes from the start, in chunks."""


def file_chunks(source: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> ChunkSource:
    """A :data:`ChunkSource` over a seekable binary file (seeks to 0 on every call)."""

    def chunks() -> Iterator[bytes]:
        source.seek(0)
        while chunk := source.read(chunk_bytes):
            yield bytes(chunk)

    return chunks


def bytes_chunks(data: bytes, chunk_bytes: int = CHUNK_BYTES) -> ChunkSource:
    """A :data:`ChunkSource` over bytes already in memory (views, no copies)."""
    view = memoryview(data)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(view), chunk_bytes):
            yield bytes(view[start : start + chunk_bytes])

    return chunks


_ENCODING_ALIASES = {
    **dict.fromkeys(("utf-8", "utf8", "utf-8-sig", "utf8-sig"), "utf-8"),
    **dict.fromkeys(
        ("windows-1251", "windows1251", "cp1251", "cp-1251", "win-1251", "win1251"),
        "windows-1251",
    ),
    **dict.fromkeys(("koi8-r", "koi8r", "koi8"), "koi8-r"),
    **dict.fromkeys(("iso-8859-1", "iso8859-1", "latin-1", "latin1"), "iso-8859-1"),
    **dict.fromkeys(("ascii", "us-ascii"), "ascii"),
    **dict.fromkeys(("base64",), "base64"),
    **dict.fromkeys(("hex",), "hex"),
}
_CODECS = {
    "utf-8": "utf-8-sig",
    "windows-1251": "cp1251",
    "koi8-r": "koi8-r",
    "iso-8859-1": "latin-1",
    "ascii": "ascii",
}
_UTF8_BOM = b"\xef\xbb\xbf"


def resolve_encoding(encoding: str | None) -> tuple[str | None, str | None]:
    """``(character encoding or None to detect it, transfer encoding or None)`` for a
    caller's encoding name; an unknown name is ``INVALID_INPUT`` listing the accepted."""
    if encoding is None:
        return None, None
    name = _ENCODING_ALIASES.get(str(encoding).strip().lower().replace("_", "-"))
    if name is None:
        accepted = [*SUPPORTED_ENCODINGS, *TRANSFER_ENCODINGS]
        raise ValidationError(
            f"unknown encoding {str(encoding)[:40]!r}; use one of: " + ", ".join(accepted),
            details={"accepted": accepted},
        )
    if name in TRANSFER_ENCODINGS:
        return None, name
    return name, None


# --- transfer encodings -------------------------------------------------------------

_WHITESPACE = b" \t\r\n\f\v"


def transfer_decoded(chunks: ChunkSource, transfer: str) -> ChunkSource:
    """The bytes that ``base64`` or ``hex`` text in ``chunks`` stands for; bad text is
    ``UNSUPPORTED_FILE`` naming the problem."""
    group = 4 if transfer == "base64" else 2

    def decoded() -> Iterator[bytes]:
        carry = b""
        for chunk in chunks():
            text = carry + chunk.translate(None, _WHITESPACE)
            whole = len(text) - len(text) % group
            carry = text[whole:]
            if whole:
                yield _undo(text[:whole], transfer)
        if carry:
            raise _bad_transfer(transfer, f"it ends with {len(carry)} stray characters")

    return decoded


def _undo(text: bytes, transfer: str) -> bytes:
    try:
        if transfer == "base64":
            return binascii.a2b_base64(text, strict_mode=True)
        return binascii.unhexlify(text)
    except (binascii.Error, ValueError) as exc:
        raise _bad_transfer(transfer, str(exc)) from None


def _bad_transfer(transfer: str, why: str) -> ValidationError:
    return ValidationError(
        f"the file is not valid {transfer} text ({why}); upload the list itself,"
        " or leave the encoding out",
        ErrorCode.UNSUPPORTED_FILE,
        details={"encoding": transfer},
    )


# --- survey ---------------------------------------------------------------------------

# C0 controls other than tab, line feed, form feed and carriage return, and DEL.
_CONTROL_BYTES = bytes([*range(9), 11, *range(14, 32), 127])
_MAX_CONTROL_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Survey:
    """What one read of the bytes found: ``size`` in bytes, whether they are valid
    UTF-8 (only checked when ``check_utf8``), start with a UTF-8 BOM, and hold byte
    0x98 (undefined in Windows-1251)."""

    size: int
    utf8: bool
    utf8_bom: bool
    has_0x98: bool


def survey(chunks: ChunkSource, *, check_utf8: bool) -> Survey:
    """Read every chunk once; refuse an empty file, UTF-16 and binary content."""
    size = controls = 0
    nul = has_0x98 = False
    first = b""
    utf8 = check_utf8
    checker = codecs.getincrementaldecoder("utf-8")()
    for chunk in chunks():
        if not first:
            first = chunk[:8]
            if first.startswith((b"\xff\xfe", b"\xfe\xff")):
                raise ValidationError(
                    "the file is UTF-16 text; save it as UTF-8 (or Windows-1251) plain text",
                    ErrorCode.UNSUPPORTED_FILE,
                )
        size += len(chunk)
        controls += len(chunk) - len(chunk.translate(None, _CONTROL_BYTES))
        nul = nul or b"\x00" in chunk
        has_0x98 = has_0x98 or b"\x98" in chunk
        if utf8:
            try:
                checker.decode(chunk)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            checker.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    if not size:
        raise ValidationError("the file is empty")
    if nul or controls > size * _MAX_CONTROL_SHARE:
        kind = " (a ZIP archive, such as .xlsx or .docx)" if first.startswith(b"PK") else ""
        raise ValidationError(
            f"the file looks like a binary file{kind}, not a text list;"
            " save the list as plain text (.txt or .csv), one community per line",
            ErrorCode.UNSUPPORTED_FILE,
        )
    return Survey(size, utf8, first.startswith(_UTF8_BOM), has_0x98)


def choose_encoding(chunks: ChunkSource, named: str | None, found: Survey) -> str:
    """The character encoding to decode with (one of ``SUPPORTED_ENCODINGS``)."""
    if named is not None:
        if named != "utf-8" and found.utf8_bom:
            raise ValidationError(
                f"the file starts with a UTF-8 byte order mark, so it is not {named};"
                " pass utf-8 or leave the encoding out",
                ErrorCode.UNSUPPORTED_FILE,
            )
        return named
    if found.utf8_bom or found.utf8:
        return "utf-8"
    head = io.BytesIO()
    for chunk in chunks():
        head.write(chunk[: SCORED_BYTES - head.tell()])
        if head.tell() >= SCORED_BYTES:
            break
    sample = head.getvalue()
    candidates = ("koi8-r",) if found.has_0x98 else ("windows-1251", "koi8-r")
    # a tie goes to the more common one (first)
    return max(candidates, key=lambda name: _russian_score(sample.decode(_CODECS[name])))


def decode(chunks: ChunkSource, name: str) -> Iterator[str]:
    """The text of ``chunks`` in encoding ``name``, chunk by chunk; bytes that are not
    ``name`` are ``UNSUPPORTED_FILE`` naming the line."""
    decoder = codecs.getincrementaldecoder(_CODECS[name])(errors="strict")
    lines_before = 1
    for chunk in chunks():
        pending = len(decoder.getstate()[0])
        try:
            yield decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            at = max(0, exc.start - pending)
            raise _undecodable(name, lines_before + chunk.count(b"\n", 0, at)) from None
        lines_before += chunk.count(b"\n")
    try:
        yield decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise _undecodable(name, lines_before) from None


def _undecodable(name: str, line: int) -> ValidationError:
    return ValidationError(
        f"the file is not valid {name} text: line {line} has bytes that are not"
        f" {name}; leave the encoding out to detect it automatically",
        ErrorCode.UNSUPPORTED_FILE,
        details={"encoding": name, "line": line},
    )


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
