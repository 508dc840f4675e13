"""The original system's environment names, read as aliases of ours.

================================================  ======================================
original                                          ours (wins when both are set)
================================================  ======================================
``DB_URL``                                        ``DATABASE_URL``
``VK_ACCESS_TOKEN``                               ``VK_TOKENS`` (must contain it)
``REDIS_HOST`` ``REDIS_PORT`` ``REDIS_PASSWORD``  ``REDIS_URL`` (each part that is set
``REDIS_DB``                                      must match the URL's)
``PORT``                                          ``VKC_API_PORT``
``CORS_ORIGINS``                                  ``VKC_API_CORS_ORIGINS``
``MAX_FILE_SIZE``                                 ``VKC_MAX_UPLOAD_BYTES``
================================================  ======================================

:func:`legacy_overrides` returns, per settings group, the field values that only an
original name sets; a pair that is set on both sides and disagrees is a problem
message (naming both variables, never a secret's value) so that start-up refuses an
ambiguous configuration instead of silently picking one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from dotenv import dotenv_values

__all__ = ["LegacyOverrides", "legacy_overrides", "read_environment"]

LegacyOverrides = tuple[dict[str, dict[str, Any]], list[str]]


def read_environment(env_file: str | Path = ".env") -> dict[str, str]:
    """The process environment over the ``.env`` file's values (as pydantic-settings
    reads them); names are matched case-insensitively, so they are upper-cased here."""
    values: dict[str, str] = {}
    if Path(env_file).is_file():
        for key, value in dotenv_values(env_file).items():
            if value is not None:
                values[key.upper()] = value
    values.update({key.upper(): value for key, value in os.environ.items()})
    return values


def _set(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    return value if value not in (None, "") else None


def _normalise_db(url: str) -> str:
    for old, new in (
        ("postgres://", "postgresql+asyncpg://"),
        ("postgresql://", "postgresql+asyncpg://"),
        ("sqlite://", "sqlite+aiosqlite://"),
    ):
        if url.startswith(old):
            return new + url.removeprefix(old)
    return url


def _redis(env: Mapping[str, str], problems: list[str]) -> str | None:
    """REDIS_URL built from the original's parts, or None when none is set; checks an
    explicit REDIS_URL against every part that is set."""
    names = ("REDIS_HOST", "REDIS_PORT", "REDIS_PASSWORD", "REDIS_DB")
    parts = {name: _set(env, name) for name in names}
    if not any(parts.values()):
        return None
    ours = _set(env, "REDIS_URL") or _set(env, "VKC_REDIS_URL")
    if ours is None:
        host = parts["REDIS_HOST"] or "localhost"
        port = parts["REDIS_PORT"] or "6379"
        db = parts["REDIS_DB"] or "0"
        password = parts["REDIS_PASSWORD"]
        auth = f":{quote(password, safe='')}@" if password else ""
        return f"redis://{auth}{host}:{port}/{db}"
    url = urlsplit(ours)
    try:
        url_port = str(url.port or 6379)
    except ValueError:
        return None  # a malformed REDIS_URL is reported by the settings themselves
    actual = {
        "REDIS_HOST": url.hostname or "",
        "REDIS_PORT": url_port,
        "REDIS_PASSWORD": unquote(url.password or ""),
        "REDIS_DB": url.path.strip("/") or "0",
    }
    for name, value in parts.items():
        if value is not None and value != actual[name]:
            shown = "" if name == "REDIS_PASSWORD" else f" ({value!r} vs {actual[name]!r})"
            problems.append(
                f"REDIS_URL and the original system's {name} disagree{shown}; unset one of them"
            )
    return None


def _pair(
    env: Mapping[str, str],
    original: str,
    ours: tuple[str, ...],
    problems: list[str],
    *,
    secret: bool = False,
    same: Any = None,
) -> str | None:
    """The original's value when ours is unset; None (and maybe a problem) otherwise."""
    value = _set(env, original)
    if value is None:
        return None
    mine_name = next((name for name in ours if _set(env, name) is not None), None)
    if mine_name is None:
        return value
    mine = env[mine_name]
    agree = same(value, mine) if same is not None else value.strip() == mine.strip()
    if not agree:
        shown = "" if secret else f" ({value!r} vs {mine!r})"
        problems.append(
            f"{mine_name} and the original system's {original} disagree{shown}; unset one of them"
        )
    return None


def _same_list(value: str, mine: str) -> bool:
    return {p.strip() for p in value.split(",") if p.strip()} == {
        p.strip() for p in mine.split(",") if p.strip()
    }


def legacy_overrides(env: Mapping[str, str]) -> LegacyOverrides:
    """``({group: {field: value}}, problems)`` from the original's names in ``env``."""
    problems: list[str] = []
    found: dict[str, dict[str, Any]] = {}

    def put(group: str, field: str, value: Any) -> None:
        if value is not None:
            found.setdefault(group, {})[field] = value

    put(
        "database",
        "url",
        _pair(
            env,
            "DB_URL",
            ("DATABASE_URL", "VKC_DATABASE_URL"),
            problems,
            secret=True,  # a database URL may hold a password
            same=lambda a, b: _normalise_db(a.strip()) == _normalise_db(b.strip()),
        ),
    )
    put(
        "vk",
        "tokens",
        _pair(
            env,
            "VK_ACCESS_TOKEN",
            ("VK_TOKENS", "VKC_VK_TOKENS"),
            problems,
            secret=True,
            same=lambda a, b: a.strip() in {p.strip() for p in b.split(",")},
        ),
    )
    put("redis", "url", _redis(env, problems))
    put("api", "port", _pair(env, "PORT", ("VKC_API_PORT",), problems))
    put(
        "api",
        "cors_origins",
        _pair(env, "CORS_ORIGINS", ("VKC_API_CORS_ORIGINS",), problems, same=_same_list),
    )
    put(
        "root",
        "max_upload_bytes",
        _pair(env, "MAX_FILE_SIZE", ("VKC_MAX_UPLOAD_BYTES",), problems),
    )
    return found, problems
