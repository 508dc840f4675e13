"""``wall.getComments`` answers parsed once, straight from the response bytes.

The collector's hot path reads hundreds of thousands of comments a minute.  Each
``execute`` answer (up to 25 pages of 100 comments) is validated by pydantic-core
directly from the HTTP body into the lean models below: only the fields the
collector stores, no ``attachments`` or ``parents_stack`` (skipped by the JSON parser,
never turned into Python objects), no per-comment copies.  Unknown fields are ignored;
a missing required field (a page without ``count``, a comment without ``id``) fails the
whole answer with :class:`pydantic.ValidationError` (a ``ValueError``), which the client
reports as a malformed response.

:func:`decode_execute` and :func:`decode_single` return the envelope as a ``dict``
(``response``/``error``/``execute_errors``), the shape the client classifies; only
``response`` holds :class:`PageData` objects (``False`` for a call that failed inside
``execute``).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter
from typing_extensions import TypedDict  # pydantic needs it on Python < 3.12

__all__ = ["PageData", "PageItem", "decode_execute", "decode_single"]


class _Lean(BaseModel):
    model_config = ConfigDict(extra="ignore")


class PageLikes(_Lean):
    count: int = 0


class PageThread(_Lean):
    count: int = 0
    items: list[PageItem] = Field(default_factory=list)


class PageItem(_Lean):
    """One comment as the collector needs it."""

    id: int
    from_id: int = 0
    date: int = 0
    text: str = ""
    reply_to_comment: int | None = None
    likes: PageLikes | None = None
    deleted: bool = False
    thread: PageThread | None = None


class PageProfile(_Lean):
    id: int
    first_name: str = ""
    last_name: str = ""


class PageGroup(_Lean):
    id: int
    name: str = ""


class PageData(_Lean):
    """One page: its comments, the level's size and (``extended=1``) their authors."""

    count: int
    items: list[PageItem]
    current_level_count: int | None = None
    profiles: list[PageProfile] = Field(default_factory=list)
    groups: list[PageGroup] = Field(default_factory=list)

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


PageThread.model_rebuild()


class _ExecuteEnvelope(TypedDict, total=False):
    response: list[PageData | Literal[False]]
    execute_errors: list[dict[str, Any]]
    error: dict[str, Any]


class _SingleEnvelope(TypedDict, total=False):
    response: PageData
    error: dict[str, Any]


_EXECUTE = TypeAdapter(_ExecuteEnvelope)
_SINGLE = TypeAdapter(_SingleEnvelope)


def decode_execute(body: bytes) -> dict[str, Any]:
    """An ``execute`` answer whose calls are all ``wall.getComments`` pages."""
    return dict(_EXECUTE.validate_json(body))


def decode_single(body: bytes) -> dict[str, Any]:
    """A single ``wall.getComments`` answer."""
    return dict(_SINGLE.validate_json(body))
