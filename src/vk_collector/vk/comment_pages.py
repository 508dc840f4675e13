"""``wall.getComments`` answers decoded once, straight from the response bytes.

The collector's hot path reads hundreds of thousands of comments a minute.  Each
``execute`` answer (up to 25 pages of 100 comments, ~1 MB) is decoded by msgspec
directly from the HTTP body into the lean structs below: only the fields the collector
stores; ``attachments``, ``parents_stack`` and every other field are skipped by the
parser and never become Python objects.  Measured on one heavy answer: 3 µs per
comment, against 7 µs for ``json.loads`` alone and 18 µs for pydantic's
``TypeAdapter.validate_json`` into equivalent models (docs/PERFORMANCE.md).

Decoding is lax (``strict=False``: ``"1"`` or ``1`` for a boolean, numbers as strings,
as VK's API sometimes sends them).  A missing required field (a page without
``count``, a comment without ``id``) or a wrong type fails the whole answer with
``msgspec.ValidationError`` (a ``ValueError``), which the client reports as a malformed
response.

:func:`decode_execute` and :func:`decode_single` return the envelope as a ``dict``
with the keys VK sent (``response``/``error``/``execute_errors``), the shape the client
classifies.  ``response`` stays raw (:class:`msgspec.Raw`, one per call of an
``execute``): the parser only finds where each call's answer ends, and the answer is
then decoded by its call's decoder (:func:`decode_page` for a comment page, pydantic's
``WallPage.model_validate_json`` for ``wall.get``), so one ``execute`` may mix methods
and each answer is still parsed once, from the response bytes.
"""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = [
    "PageData",
    "PageItem",
    "decode_execute",
    "decode_page",
    "decode_single",
    "is_false",
]


class PageLikes(msgspec.Struct):
    count: int = 0


class PageItem(msgspec.Struct):
    """One comment as the collector needs it."""

    id: int
    from_id: int = 0
    date: int = 0
    text: str = ""
    reply_to_comment: int | None = None
    likes: PageLikes | None = None
    deleted: bool = False
    thread: PageThread | None = None


class PageThread(msgspec.Struct):
    count: int = 0
    items: list[PageItem] = msgspec.field(default_factory=list)


class PageProfile(msgspec.Struct):
    id: int
    first_name: str = ""
    last_name: str = ""


class PageGroup(msgspec.Struct):
    id: int
    name: str = ""


class PageData(msgspec.Struct):
    """One page: its comments, the level's size and (``extended=1``) their authors."""

    count: int
    items: list[PageItem]
    current_level_count: int | None = None
    profiles: list[PageProfile] = msgspec.field(default_factory=list)
    groups: list[PageGroup] = msgspec.field(default_factory=list)

    @property
    def level_count(self) -> int:
        """Comments at the requested level (top level or one thread); else ``count``."""
        return self.current_level_count if self.current_level_count is not None else self.count

    def author_names(self) -> dict[int, str]:
        """``from_id`` -> display name: users positive, communities negative."""
        names = {
            p.id: f"{p.first_name} {p.last_name}".strip()
            for p in self.profiles
            if p.first_name or p.last_name
        }
        names.update({-g.id: g.name for g in self.groups if g.name})
        return names


class _ExecuteEnvelope(msgspec.Struct):
    response: list[msgspec.Raw] | None = None
    execute_errors: list[dict[str, Any]] | None = None
    error: dict[str, Any] | None = None


_ABSENT = msgspec.Raw(b"null")  # msgspec takes no ``Raw | None``: absent is this one


class _SingleEnvelope(msgspec.Struct):
    response: msgspec.Raw = _ABSENT
    error: dict[str, Any] | None = None


_EXECUTE = msgspec.json.Decoder(_ExecuteEnvelope, strict=False)
_SINGLE = msgspec.json.Decoder(_SingleEnvelope, strict=False)
_PAGE = msgspec.json.Decoder(PageData, strict=False)
_FALSE = b"false"


def _present(envelope: msgspec.Struct) -> dict[str, Any]:
    return {
        name: value
        for name in envelope.__struct_fields__
        if (value := getattr(envelope, name)) is not None and value is not _ABSENT
    }


def decode_execute(body: bytes) -> dict[str, Any]:
    """An ``execute`` answer: ``response`` a list of one :class:`msgspec.Raw` per call
    (its bytes, not parsed yet), ``execute_errors`` and ``error`` parsed."""
    return _present(_EXECUTE.decode(body))


def decode_single(body: bytes) -> dict[str, Any]:
    """A single call's answer: ``response`` as :class:`msgspec.Raw`, ``error`` parsed."""
    return _present(_SINGLE.decode(body))


def is_false(raw: msgspec.Raw) -> bool:
    """True for a call that failed inside ``execute`` (VK answers ``false`` for it)."""
    return len(raw) == len(_FALSE) and memoryview(raw).tobytes() == _FALSE


def decode_page(raw: msgspec.Raw) -> PageData:
    """One ``wall.getComments`` answer from its bytes; ``msgspec.ValidationError``
    (a ``ValueError``) when it lacks a required field."""
    return _PAGE.decode(raw)
