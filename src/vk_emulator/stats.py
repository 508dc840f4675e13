"""What the emulator saw, for ``GET /stats``: requests per token, method and second.

Tokens appear only masked (:func:`mask_token`).  Every request to ``/method/`` counts,
refused ones included, so a test can check a client's own pacing: ``max_per_second``
is the most requests of one token inside any sliding 1-second window, and
``per_second`` counts them per calendar second (unix time, at most the last hour).
"""

from __future__ import annotations

import hashlib
from collections import Counter, OrderedDict, deque
from typing import Any

__all__ = ["Stats", "mask_token"]

_KEEP_SECONDS = 3600


def mask_token(token: str | None) -> str:
    """``"demo***1a2b3c"``: four leading characters and a short hash; ``"-"`` for none."""
    if not token:
        return "-"
    digest = hashlib.sha256(token.encode()).hexdigest()[:6]
    return f"{token[:4]}***{digest}"


class Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total = 0
        self.tokens: Counter[str] = Counter()
        self.methods: Counter[str] = Counter()
        self.inner_calls: Counter[str] = Counter()
        self.errors: Counter[int] = Counter()
        self.execute_errors: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self.per_second: dict[str, OrderedDict[int, int]] = {}
        self.max_per_second: dict[str, int] = {}
        self._recent: dict[str, deque[float]] = {}

    def request(self, token: str | None, method: str, now: float, wall: float) -> None:
        """Count one request; ``now`` is monotonic seconds, ``wall`` unix seconds."""
        key = mask_token(token)
        self.total += 1
        self.tokens[key] += 1
        self.methods[method] += 1
        recent = self._recent.setdefault(key, deque())
        recent.append(now)
        while recent[0] <= now - 1.0:
            recent.popleft()
        self.max_per_second[key] = max(self.max_per_second.get(key, 0), len(recent))
        seconds = self.per_second.setdefault(key, OrderedDict())
        second = int(wall)
        seconds[second] = seconds.get(second, 0) + 1
        while len(seconds) > _KEEP_SECONDS:
            seconds.popitem(last=False)

    def snapshot(self) -> dict[str, Any]:
        return {
            "total_requests": self.total,
            "tokens": dict(self.tokens),
            "methods": dict(self.methods),
            "inner_calls": dict(self.inner_calls),
            "errors": {str(code): n for code, n in sorted(self.errors.items())},
            "execute_errors": {str(code): n for code, n in sorted(self.execute_errors.items())},
            "faults": dict(self.faults),
            "http_statuses": {str(code): n for code, n in sorted(self.statuses.items())},
            "per_second": {
                key: {str(second): n for second, n in seconds.items()}
                for key, seconds in self.per_second.items()
            },
            "max_per_second": dict(self.max_per_second),
        }
