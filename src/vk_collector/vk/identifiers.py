"""Turn what people paste into a community reference (VK_API.md section 6).

Accepted, for community 123 or the screen name ``apiclub``:

- ``123``, ``-123``, ``club123``, ``public123``, ``event123`` (prefix in any case),
  ``wall-123_45``;
- ``apiclub``, ``@apiclub``, ``[club123|Name]``, ``[apiclub|Name]``;
- links on vk.com, vk.ru, vkontakte.ru, vk.me (with ``www.``, ``m.``, ``new.``), with
  or without ``http(s)://``, port, query, fragment or trailing slash.  The first path
  segment is read by the rules above; ``?w=wall-123_45`` / ``?z=...`` name the
  community only when the path does not (``vk.com/feed?w=wall-123_45``).

Screen names are 5-32 characters of latin letters, digits, ``_`` and ``.``, with at
least one letter, no leading, trailing or doubled dot, and are lower-cased: VK matches
them case-insensitively.  VK's own page names (``feed``, ``search``, ...) and dotted
names ending in a web domain (``example.com``) are refused.  Only ASCII counts as a
letter or digit, so look-alike characters never slip through case folding.

Refused with a reason: users (``id123``), ids outside 1..2**31-1, empty text, more than
255 characters, other hosts and schemes, links to apps, photos, albums and other
non-community pages, and anything else.  :func:`parse_group_identifier` raises
:class:`~vk_collector.errors.ValidationError` and nothing else, whatever the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vk_collector.errors import ValidationError

__all__ = ["MAX_GROUP_ID", "MAX_IDENTIFIER_LENGTH", "GroupRef", "parse_group_identifier"]

MAX_GROUP_ID = 2**31 - 1
MAX_IDENTIFIER_LENGTH = 255

_A = re.ASCII | re.IGNORECASE
_NUMERIC = re.compile(r"-?[0-9]+", re.ASCII)
_PREFIXED = re.compile(r"(?:club|public|event)(-?[0-9]+)", _A)
_WALL = re.compile(r"wall(-?)([0-9]+)(?:_[0-9]+)?", _A)
_USER = re.compile(r"id[0-9]+", _A)
_OTHER_OBJECT = re.compile(
    r"(app|album|albums|photo|photos|video|videos|clip|clips|audio|audios|doc|docs|"
    r"topic|board|market|product|note|notes|page|poll|story|stories|wiki)"
    r"-?[0-9]+(?:_-?[0-9]+)*",
    _A,
)
_SCREEN_NAME = re.compile(r"(?=[a-z0-9_.]*[a-z])[a-z0-9_](?:[a-z0-9_]|\.(?!\.))*[a-z0-9_]", _A)
_SCREEN_NAME_CHARS = re.compile(r"[a-z0-9_.]+", _A)
_SPACE = re.compile(r"\s")
_MENTION = re.compile(r"\[([^\[\]|]+)\|[^\[\]]*\]")
_SCHEME = re.compile(r"([a-z][a-z0-9+.\-]*):", _A)
_OVERLAY = re.compile(r"(?:^|&)[wz]=wall(-?[0-9]+)", _A)

_VK_HOSTS = frozenset(
    f"{sub}{domain}"
    for domain in ("vk.com", "vk.ru", "vkontakte.ru", "vk.me")
    for sub in ("", "www.", "m.", "new.")
)
_WEB_SUFFIXES = frozenset({"com", "ru", "net", "org", "me", "io", "su", "info", "biz", "by", "ua"})
# Sections of vk.com that share the namespace of screen names.
_VK_PAGES = frozenset(
    {
        "about",
        "account",
        "al_feed",
        "apps",
        "audio",
        "audios",
        "blog",
        "bookmarks",
        "calls",
        "clips",
        "communities",
        "dev",
        "discover",
        "docs",
        "edit",
        "feed",
        "friends",
        "games",
        "groups",
        "help",
        "im",
        "join",
        "login",
        "mail",
        "market",
        "messages",
        "music",
        "notifications",
        "photos",
        "privacy",
        "restore",
        "search",
        "services",
        "settings",
        "stickers",
        "support",
        "terms",
        "video",
        "videos",
        "write",
    }
)
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff"


@dataclass(frozen=True, slots=True)
class GroupRef:
    """A community named by its positive id or by its lower-case screen name.

    Exactly one field is set; anything else raises ``ValidationError``.  Two refs are
    equal when they name the community the same way: ``apiclub`` and its numeric id
    are only known to be the same after VK resolves the name.
    """

    group_id: int | None = None
    screen_name: str | None = None

    def __post_init__(self) -> None:
        if (self.group_id is None) == (self.screen_name is None):
            raise ValidationError("a community reference needs exactly one of id or name")
        if self.group_id is not None and (
            type(self.group_id) is not int or not 0 < self.group_id <= MAX_GROUP_ID
        ):
            raise ValidationError(f"community id must be 1..{MAX_GROUP_ID}")
        if self.screen_name is not None and (
            not isinstance(self.screen_name, str)
            or self.screen_name != self.screen_name.lower()
            or _screen_name_problem(self.screen_name) is not None
        ):
            raise ValidationError("screen name must be a valid lower-case VK screen name")

    @property
    def key(self) -> str:
        """``id:123`` or ``name:apiclub``; equal keys mean equal refs."""
        if self.group_id is not None:
            return f"id:{self.group_id}"
        return f"name:{self.screen_name}"

    @property
    def url(self) -> str:
        """``https://vk.com/club123`` or ``https://vk.com/apiclub``."""
        path = f"club{self.group_id}" if self.group_id is not None else self.screen_name
        return f"https://vk.com/{path}"

    def __str__(self) -> str:
        return str(self.group_id) if self.group_id is not None else str(self.screen_name)


def parse_group_identifier(text: str) -> GroupRef:
    """Parse one identifier; raise ``ValidationError`` whose message names the problem."""
    if not isinstance(text, str):
        raise ValidationError(f"expected text, got {type(text).__name__}")
    value = text.strip().strip(_INVISIBLE).strip()
    if not value:
        raise ValidationError("empty identifier")
    if len(value) > MAX_IDENTIFIER_LENGTH:
        raise ValidationError(
            f"{_quote(value)} is too long ({len(value)} characters; "
            f"at most {MAX_IDENTIFIER_LENGTH})",
            details={"length": len(value)},
        )
    try:
        return _parse(value)
    except _RejectedError as exc:
        raise ValidationError(
            f"{_quote(value)} {exc.reason}", details={"value": _printable(value)}
        ) from None


class _RejectedError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _parse(value: str) -> GroupRef:
    mention = _MENTION.fullmatch(value)
    if mention is not None:
        inner = mention.group(1).strip()
        if not inner or inner.startswith(("[", "@")):
            raise _RejectedError("is not a valid mention")
        return _parse(inner)
    if _SPACE.search(value):
        raise _RejectedError("contains spaces; put one identifier on each line")
    if value.startswith("@"):
        return _parse_token(value[1:], context="after @")
    if _looks_like_url(value):
        return _parse_url(value)
    return _parse_token(value)


def _looks_like_url(value: str) -> bool:
    if value.startswith("//") or "/" in value or "?" in value:
        return True
    scheme = _SCHEME.match(value)
    if scheme is not None and value[scheme.end() :].startswith("//"):
        return True
    return _host_of(value.split("#", 1)[0]) in _VK_HOSTS


def _host_of(authority: str) -> str:
    host = authority.rsplit("@", 1)[-1].lower()
    name, _, port = host.partition(":")
    if port.isascii() and port.isdigit():
        host = name
    return host.rstrip(".")


def _parse_url(value: str) -> GroupRef:
    rest = value
    scheme = _SCHEME.match(rest)
    if scheme is not None and rest[scheme.end() :].startswith("//"):
        if scheme.group(1).lower() not in ("http", "https"):
            raise _RejectedError("is not a web link; only http and https links are accepted")
        rest = rest[scheme.end() :]
    rest = rest.removeprefix("//")
    rest = rest.split("#", 1)[0]
    end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    authority, rest = rest[:end], rest[end:]
    if "@" in authority:
        raise _RejectedError("is not a plain VK link (it has a user name before the host)")
    host = _host_of(authority)
    if "." not in host:
        raise _RejectedError("is neither a VK link nor a community name")
    if host not in _VK_HOSTS:
        raise _RejectedError(f"is a link to {host}, not to VK")
    path, _, query = rest.partition("?")
    segments = [segment for segment in path.split("/") if segment]
    first = segments[0] if segments else ""
    if not first or first.lower().removesuffix(".php") in _VK_PAGES or first.endswith(".php"):
        overlay = _OVERLAY.search(query)
        if overlay is not None:
            return _parse_token(f"wall{overlay.group(1)}")
        if not first:
            raise _RejectedError("is a link to the VK home page, not to a community")
        raise _RejectedError(f"is a link to the VK page {_quote(first)}, not to a community")
    if first.startswith("@"):
        raise _RejectedError("is a link to an article, not to a community")
    return _parse_token(first, context="in the link")


def _parse_token(token: str, *, context: str = "") -> GroupRef:
    where = f" {context}" if context else ""
    if not token:
        raise _RejectedError(f"has no community name{where}")
    if _NUMERIC.fullmatch(token):
        return GroupRef(group_id=_group_id(token.removeprefix("-")))
    prefixed = _PREFIXED.fullmatch(token)
    if prefixed is not None:
        digits = prefixed.group(1)
        if digits.startswith("-"):
            raise _RejectedError(f"has a minus sign after the prefix{where}")
        return GroupRef(group_id=_group_id(digits))
    wall = _WALL.fullmatch(token)
    if wall is not None:
        if not wall.group(1):
            raise _RejectedError("is a user's wall, not a community")
        return GroupRef(group_id=_group_id(wall.group(2)))
    if _USER.fullmatch(token):
        raise _RejectedError("is a user page, not a community")
    other = _OTHER_OBJECT.fullmatch(token)
    if other is not None:
        kind = other.group(1).lower()
        raise _RejectedError(f"is a link to {_KINDS.get(kind, kind)}, not to a community")
    problem = _screen_name_problem(token)
    if problem is not None:
        raise _RejectedError(f"{problem}{where}")
    return GroupRef(screen_name=token.lower())


_KINDS = {
    "app": "an app",
    "album": "a photo album",
    "albums": "photo albums",
    "photo": "a photo",
    "photos": "photos",
    "video": "a video",
    "videos": "videos",
    "clip": "a clip",
    "clips": "clips",
    "audio": "music",
    "audios": "music",
    "doc": "a document",
    "docs": "documents",
    "topic": "a discussion",
    "board": "discussions",
    "market": "goods",
    "product": "a product",
    "note": "a note",
    "notes": "notes",
    "page": "a wiki page",
    "wiki": "a wiki page",
    "poll": "a poll",
    "story": "a story",
    "stories": "stories",
}


def _group_id(digits: str) -> int:
    # len() first: int() of a huge digit string is slow and can raise ValueError.
    number = int(digits) if len(digits) <= 12 else MAX_GROUP_ID + 1
    if number == 0:
        raise _RejectedError("is not a community id (ids start at 1)")
    if number > MAX_GROUP_ID:
        raise _RejectedError(f"is out of range for a community id (at most {MAX_GROUP_ID})")
    return number


def _screen_name_problem(token: str) -> str | None:
    """Why ``token`` is not a screen name, or ``None`` if it is one."""
    if not _SCREEN_NAME_CHARS.fullmatch(token):
        return (
            "is not a community id or screen name"
            " (screen names have only latin letters, digits, _ and .)"
        )
    if not 5 <= len(token) <= 32:
        size = "short" if len(token) < 5 else "long"
        return f"is not a community id and too {size} for a screen name (5 to 32 characters)"
    if not _SCREEN_NAME.fullmatch(token):
        return (
            "is not a valid screen name"
            " (it needs a latin letter and cannot start, end or repeat a dot)"
        )
    if "." in token and token.rsplit(".", 1)[1].lower() in _WEB_SUFFIXES:
        return "looks like a web address, not a VK community"
    if token.lower() in _VK_PAGES:
        return "is the name of a VK page, not of a community"
    return None


def _printable(value: str) -> str:
    if value.isprintable():  # the common case, without a loop in Python
        return value
    return "".join(ch if ch.isprintable() else "\ufffd" for ch in value)


def _quote(value: str, limit: int = 60) -> str:
    shown = value if len(value) <= limit else value[: limit - 1] + "…"
    return f'"{_printable(shown)}"'
