"""Per-token rate limits, per-method daily quotas and seeded fault injection.

Times are ``time.monotonic()`` seconds passed in by the caller, so tests drive the
clock.  None of these classes lock: the emulator calls them from its one event loop.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from vk_emulator.config import FAULT_KINDS, FaultConfig

__all__ = ["FaultDraw", "FaultInjector", "QuotaBook", "RateLimiter"]

DAY_S = 86_400.0


class RateLimiter:
    """At most ``floor(rps)`` accepted requests per token in any sliding window of
    ``floor(rps) / rps`` seconds (1 s for whole rates; 2 s holding one request at 0.5/s).

    Refused requests do not count, so a client that backs off recovers at once.
    """

    def __init__(self) -> None:
        self._accepted: dict[str, deque[float]] = {}

    def allow(self, token: str, rps: float | None, now: float) -> bool:
        if not rps:
            return True
        limit = max(1, math.floor(rps))
        window = limit / rps
        accepted = self._accepted.setdefault(token, deque())
        while accepted and accepted[0] <= now - window:
            accepted.popleft()
        if len(accepted) >= limit:
            return False
        accepted.append(now)
        return True

    def reset(self) -> None:
        self._accepted.clear()


class QuotaBook:
    """Calls per token and method within a fixed window of ``period_s`` (24 h by default)
    that opens with the first call; a call over the limit is refused and not counted.

    ``method_quotas`` overrides ``daily`` per method.  ``execute`` itself has no quota
    unless named in ``method_quotas``; the calls inside it are counted by their own names.
    """

    def __init__(
        self,
        daily: int | None,
        method_quotas: Mapping[str, int],
        *,
        period_s: float = DAY_S,
    ) -> None:
        self.daily = daily
        self.method_quotas = dict(method_quotas)
        self.period_s = period_s
        self._windows: dict[tuple[str, str], tuple[float, int]] = {}

    def limit_for(self, method: str) -> int | None:
        if method in self.method_quotas:
            return self.method_quotas[method]
        return None if method == "execute" else self.daily

    def consume(self, token: str, method: str, now: float) -> bool:
        limit = self.limit_for(method)
        if limit is None:
            return True
        key = (token, method)
        started, used = self._windows.get(key, (now, 0))
        if now - started >= self.period_s:
            started, used = now, 0
        if used >= limit:
            return False
        self._windows[key] = (started, used + 1)
        return True

    def used(self, token: str, method: str) -> int:
        return self._windows.get((token, method), (0.0, 0))[1]

    def reset(self) -> None:
        self._windows.clear()


@dataclass(frozen=True, slots=True)
class FaultDraw:
    kind: str | None  # one of FAULT_KINDS, or None for a normal answer
    delay_s: float  # extra latency before answering (slow answers)
    status: int  # HTTP status for an http_5xx fault


_NO_FAULT = FaultDraw(None, 0.0, 200)
_STATUSES = (500, 502, 503, 504)


class FaultInjector:
    """Draws the fault of each request from ``random.Random(seed)``.

    Every draw consumes exactly three numbers, so the n-th request meets the same fault
    on every run with the same seed, whatever happened to earlier requests.
    """

    def __init__(self, faults: FaultConfig, seed: int) -> None:
        self.faults = faults
        self.seed = seed
        self._rng = random.Random(seed)

    def draw(self) -> FaultDraw:
        if not self.faults.enabled:
            return _NO_FAULT
        kind_roll, slow_roll, status_roll = (self._rng.random() for _ in range(3))
        kind: str | None = None
        threshold = 0.0
        for name in FAULT_KINDS:
            threshold += getattr(self.faults, name)
            if kind_roll < threshold:
                kind = name
                break
        slow = slow_roll < self.faults.slow
        return FaultDraw(
            kind,
            self.faults.slow_ms / 1000 if slow else 0.0,
            _STATUSES[int(status_roll * len(_STATUSES))],
        )

    def reset(self) -> None:
        self._rng = random.Random(self.seed)
