"""Keeps secrets out of text that leaves the process: logs, errors, results, events.

Two layers: every secret the process knows (VK tokens, the API key) is registered
with :func:`register_secret` and replaced wherever it appears, and anything that
*looks* like a token in a URL or header (``access_token=...``, ``Bearer ...``) is
masked even when nobody registered it, as is the password of any URL
(``redis://:secret@host``, ``postgresql://user:secret@host/db``): :func:`redact_url`
for a URL about to be printed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "redact", "redact_url", "redact_value", "register_secret"]

MASK = "***"

_PATTERNS = (
    re.compile(r"(access_token=)[^&\s\"']+", re.IGNORECASE),
    re.compile(r"(\"access_token\"\s*:\s*\")[^\"]+", re.IGNORECASE),
    re.compile(r"('access_token'\s*:\s*')[^']+", re.IGNORECASE),
    re.compile(r"(Bearer\s+)[A-Za-z0-9._\-~+/=]+", re.IGNORECASE),
    re.compile(r"(X-API-Key:\s*)\S+", re.IGNORECASE),
    # the password of a URL's user info: scheme://user:PASSWORD@host
    re.compile(r"(\b[a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s/@]+(?=@)", re.IGNORECASE),
)
_MIN_SECRET_LENGTH = 4
_SECRET_KEYS = frozenset({"token", "access_token"})

_TRIGGERS = ("access_token", "bearer", "x-api-key", "://")
"""Every pattern above needs one of these (lower case) in the text: text without any
of them skips the regular expressions, the common case on the API's hot paths."""

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_longest_first: tuple[str, ...] = ()


def register_secret(secret: str | None) -> None:
    """Remember a secret so :func:`redact` masks it from now on (process-wide)."""
    global _secrets, _longest_first
    if not secret or len(secret) < _MIN_SECRET_LENGTH:
        return
    with _lock:
        _secrets = _secrets | {secret}
        _longest_first = tuple(sorted(_secrets, key=len, reverse=True))


def redact(text: str) -> str:
    """Mask every known secret and token-shaped value in ``text``."""
    for secret in _longest_first:
        if secret in text:
            text = text.replace(secret, MASK)
    lowered = text.lower()
    if not any(trigger in lowered for trigger in _TRIGGERS):
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + MASK, text)
    return text


def redact_url(url: str) -> str:
    """``url`` with its password (if any) masked, for messages and logs."""
    return redact(url)


def redact_value(value: Any) -> Any:
    """Redact strings inside nested dicts, lists and tuples; other values unchanged."""
    kind = type(value)
    if kind is str:
        return redact(value)
    if kind is int or kind is float or kind is bool or value is None:
        return value  # the common leaves, without the abstract-class checks below
    if kind is dict or isinstance(value, Mapping):
        return {
            key: MASK if str(key).lower() in _SECRET_KEYS else redact_value(item)
            for key, item in value.items()
        }
    if kind is list or isinstance(value, list | tuple):
        return type(value)(redact_value(item) for item in value)
    if isinstance(value, str):  # a str subclass
        return redact(value)
    return value
