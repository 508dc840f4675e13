"""Classification of VK failures (VK_API.md §4) and the retry-wait policy.

::

    VkApiError (vk_collector.errors)      transient: retried; permanent (fatal): stop the job
    ├── VkObjectError                     permanent for one community, post or thread: skip it
    ├── VkBatchError                      execute compile/runtime error (12, 13): shrink the batch
    └── VkQuotaError                      error 29 on every usable token: stop for now

``error_code`` is VK's code, 0 for transport failures (timeouts, connection errors, HTTP
5xx, non-JSON bodies).  Messages carry the method and VK's text, redacted; never a token.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import Any

from tenacity import RetryCallState

from vk_collector.errors import ErrorCode, ErrorSeverity, VkApiError
from vk_collector.redaction import redact
from vk_collector.retries import retry_waits_enabled

__all__ = [
    "BATCH_CODES",
    "FATAL_CODES",
    "OBJECT_CODES",
    "TRANSIENT_CODES",
    "VkBatchError",
    "VkObjectError",
    "VkQuotaError",
    "api_error",
    "backoff_delay",
    "escalate",
    "is_object_level",
    "retry_wait",
    "transport_error",
]

TRANSIENT_CODES = frozenset({1, 6, 9, 10, 14, 36, 43})
FATAL_CODES = frozenset({5, 7, 8, 17, 24, 27, 28, 101})
OBJECT_CODES = frozenset({15, 18, 19, 30, 100, 104, 113, 125, 200, 203, 212})
BATCH_CODES = frozenset({12, 13})
QUOTA_CODE = 29
COMMUNITY_CODE = 27
"""A community token called a user-only method."""
CAPTCHA_CODE = 14
TOO_MANY_RPS = 6
FLOOD_CONTROL = 9

_MIN_WAIT_S = {TOO_MANY_RPS: 1.0}
"""Floors on the backoff for codes that VK wants waited out (§4: error 6 ≥ 0.5-1.2 s)."""


class VkObjectError(VkApiError):
    """Permanent for one object (private wall, deleted post, disabled comments, unknown group)."""

    default_severity = ErrorSeverity.PERMANENT


class VkBatchError(VkApiError):
    """``execute`` failed as a whole (12 compile, 13 runtime); the caller may split the batch."""

    default_severity = ErrorSeverity.PERMANENT


class VkQuotaError(VkApiError):
    """Daily quota (29) reached on every usable token; ``retry_after_s`` until the first frees."""

    default_severity = ErrorSeverity.PERMANENT

    def __init__(
        self, message: str, *, method: str | None = None, retry_after_s: float = 0.0
    ) -> None:
        super().__init__(message, error_code=QUOTA_CODE, method=method)
        self.retry_after_s = retry_after_s
        self.details["retryAfterS"] = round(retry_after_s, 3)


def is_object_level(exc: BaseException) -> bool:
    return isinstance(exc, VkObjectError)


def _severity(code: int) -> ErrorSeverity:
    if code in TRANSIENT_CODES:
        return ErrorSeverity.TRANSIENT
    if code in FATAL_CODES or code in OBJECT_CODES or code in BATCH_CODES or code == QUOTA_CODE:
        return ErrorSeverity.PERMANENT
    return ErrorSeverity.UNKNOWN


def api_error(error: Mapping[str, Any], method: str) -> VkApiError:
    """Turn VK's ``error`` object (or an ``execute_errors`` entry) into the right exception."""
    try:
        code = int(error.get("error_code", 0))
    except (TypeError, ValueError):
        code = 0
    text = redact(str(error.get("error_msg", "")))[:300]
    inner = str(error.get("method") or method)
    message = f"VK {inner} failed with error {code}: {text}"
    if code in OBJECT_CODES:
        return VkObjectError(message, error_code=code, method=inner)
    if code in BATCH_CODES:
        return VkBatchError(message, error_code=code, method=inner)
    if code == QUOTA_CODE:
        return VkQuotaError(message, method=inner)
    return VkApiError(message, error_code=code, method=inner, severity=_severity(code))


_ESCALATE_AFTER = {CAPTCHA_CODE: 2, FLOOD_CONTROL: 3}


def escalate(exc: VkApiError, occurrences: int) -> VkApiError:
    """Captcha (14) more than twice or flood control (9) more than three times in one
    request: give up, permanently.  Anything else is returned unchanged."""
    limit = _ESCALATE_AFTER.get(exc.error_code)
    if limit is None or occurrences <= limit:
        return exc
    return VkApiError(
        f"{exc.message} (gave up after {limit} retries)",
        error_code=exc.error_code,
        method=exc.method,
        severity=ErrorSeverity.PERMANENT,
    )


def transport_error(method: str, reason: str, cause: BaseException | None = None) -> VkApiError:
    """A transient failure below the API: timeout, connection, HTTP 5xx, malformed body."""
    return VkApiError(
        f"VK {method} failed: {redact(reason)}",
        method=method,
        severity=ErrorSeverity.TRANSIENT,
        code=ErrorCode.VK_TRANSPORT_ERROR,
        cause=cause,
    )


def backoff_delay(attempt: int, base_s: float, max_s: float, error_code: int = 0) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based); 0.0 when retries are
    instant (:mod:`vk_collector.retries`).

    Exponential from ``base_s`` capped at ``max_s`` plus up to ``base_s`` of jitter.  Error 6
    waits at least 1 s, error 9 (flood control) at least ``max_s``.
    """
    if not retry_waits_enabled():
        return 0.0
    seconds = min(max_s, base_s * 2.0 ** max(0, attempt - 1)) + random.uniform(0, base_s)
    if error_code == FLOOD_CONTROL:
        return max(seconds, max_s)
    return max(seconds, _MIN_WAIT_S.get(error_code, 0.0))


def retry_wait(base_s: float, max_s: float) -> Callable[[RetryCallState], float]:
    """A tenacity ``wait`` built on :func:`backoff_delay` (instant when waits are off)."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        code = exc.error_code if isinstance(exc, VkApiError) else 0
        return backoff_delay(state.attempt_number, base_s, max_s, code)

    return wait
