"""The request pipeline behind ``/method/<name>``, independent of HTTP.

Order of checks for one request: method known (3), ``v`` present and >= 5.0 (8), token
present (8, or 5 per quirk) and known (5), per-token rate limit (6), token type allowed
for the method (27 community, 28 service), injected fault, daily quota (29), the handler.
Inside ``execute`` each call is checked for method, token type and quota only: the
execute request as a whole took the one rate-limit slot.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from vk_emulator.config import EmulatorConfig, TokenKind, parse_version
from vk_emulator.dataset import Dataset
from vk_emulator.execute import ExecuteResult, execute
from vk_emulator.limits import FaultInjector, QuotaBook, RateLimiter
from vk_emulator.methods import (
    MethodContext,
    groups_get_by_id,
    utils_resolve_screen_name,
    wall_get,
)
from vk_emulator.protocol import Params, VkError
from vk_emulator.stats import Stats
from vk_emulator.wall_comments import wall_get_comments

__all__ = ["METHODS", "Engine", "MethodSpec", "Reply"]

JSON_TYPE = "application/json; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"
_ERROR_PAGE = (
    "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center></body></html>"
)
_STATUS_TEXT = {
    200: "200 OK",
    500: "500 Internal Server Error",
    502: "502 Bad Gateway",
    503: "503 Service Temporarily Unavailable",
    504: "504 Gateway Time-out",
}


@dataclass(frozen=True, slots=True)
class MethodSpec:
    handler: Callable[[MethodContext, Params], Any]
    token_kinds: frozenset[TokenKind]


_ALL = frozenset(TokenKind)
_READERS = frozenset({TokenKind.USER, TokenKind.SERVICE})

METHODS: dict[str, MethodSpec] = {
    "groups.getById": MethodSpec(groups_get_by_id, _ALL),
    "utils.resolveScreenName": MethodSpec(utils_resolve_screen_name, _ALL),
    "wall.get": MethodSpec(wall_get, _READERS),
    "wall.getComments": MethodSpec(wall_get_comments, _READERS),
    "execute": MethodSpec(execute, _ALL),
}


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    body: bytes
    content_type: str = JSON_TYPE
    delay_s: float = 0.0


def _json(data: Any) -> bytes:
    """Compact UTF-8 JSON.  msgspec writes a 1 MB ``execute`` answer in ~1 ms where
    ``json.dumps`` took ~16 ms, all of it holding the GIL the server's loop needs."""
    return msgspec.json.encode(data)


class Engine:
    """All state of one emulator: dataset, limits, faults and stats.

    Public methods hold one lock, so a test thread may read stats or reset limits while
    the server's event loop answers requests.
    """

    def __init__(
        self,
        config: EmulatorConfig,
        dataset: Dataset | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.dataset = dataset if dataset is not None else Dataset.from_config(config)
        self.tokens = config.token_kinds()
        self.limiter = RateLimiter()
        self.quotas = QuotaBook(config.daily_quota, config.method_quotas)
        self.faults = FaultInjector(config.faults, config.fault_seed)
        self.stats = Stats()
        self._clock = clock
        self._wall_clock = wall_clock
        self._captchas = 0
        self._lock = threading.Lock()

    def reset_limits(self) -> None:
        """Forget rate-limit windows and quota counters, and restart the fault sequence."""
        with self._lock:
            self.limiter.reset()
            self.quotas.reset()
            self.faults.reset()

    def reset_stats(self) -> None:
        with self._lock:
            self.stats.reset()

    def stats_snapshot(self) -> dict[str, Any]:
        config = self.config
        with self._lock:
            counts = self.stats.snapshot()
        return {
            **counts,
            "config": {
                "seed": config.seed,
                "groups": config.groups,
                "rps": config.rps,
                "rps_community": config.rps_community,
                "daily_quota": config.daily_quota,
            },
        }

    def reject(
        self, method: str, params: list[tuple[str, str]], token: str | None, error: VkError
    ) -> Reply:
        """Answer a request the HTTP layer could not accept (e.g. a JSON body)."""
        with self._lock:
            self.stats.request(token, method, self._clock(), self._wall_clock())
            return self._error(error, method, params)

    def stamp(self) -> tuple[float, float]:
        """The engine's clocks now: ``(monotonic, wall)``, an arrival time for :meth:`handle`."""
        return self._clock(), self._wall_clock()

    def handle(
        self,
        method: str,
        params: list[tuple[str, str]],
        token: str | None,
        arrived: tuple[float, float] | None = None,
    ) -> Reply:
        """Answer one API request; ``token`` comes from the parameters or the header.

        ``arrived`` (from :meth:`stamp`) is when the request reached the server: rate
        windows and stats count it then, as VK does, however late the answer is built.
        Requests must be handled in the order of their stamps.  Default: now.
        """
        with self._lock:
            return self._handle(method, params, token, arrived or self.stamp())

    def _handle(
        self,
        method: str,
        params: list[tuple[str, str]],
        token: str | None,
        arrived: tuple[float, float],
    ) -> Reply:
        now, wall = arrived
        self.stats.request(token, method, now, wall)
        args = Params(params)
        try:
            spec, kind, version = self._admit(method, args, token, now)
        except VkError as exc:
            return self._error(exc, method, params)
        assert token is not None
        draw = self.faults.draw()
        if draw.kind is not None:
            self.stats.faults[draw.kind] += 1
        if draw.kind in ("http_5xx", "non_json"):
            status = draw.status if draw.kind == "http_5xx" else 200
            page = _ERROR_PAGE.format(_STATUS_TEXT[status if status != 200 else 502])
            return self._finish(Reply(status, page.encode(), HTML_TYPE, draw.delay_s))
        try:
            if draw.kind is not None:
                raise self._injected_error(draw.kind)
            if not self.quotas.consume(token, method, now):
                raise VkError(29)
            value = spec.handler(self._context(kind, version, token, now), args)
        except VkError as exc:
            return self._error(exc, method, params, draw.delay_s)
        body: dict[str, Any]
        if isinstance(value, ExecuteResult):
            body = {"response": value.value}
            if value.errors:
                body["execute_errors"] = value.errors
                for error in value.errors:
                    self.stats.execute_errors[int(error["error_code"])] += 1
        else:
            body = {"response": value}
        return self._finish(Reply(200, _json(body), delay_s=draw.delay_s))

    def _admit(
        self, method: str, params: Params, token: str | None, now: float
    ) -> tuple[MethodSpec, TokenKind, tuple[int, int]]:
        spec = METHODS.get(method)
        if spec is None:
            raise VkError(3)
        raw_version = params.get("v")
        if raw_version is None:
            raise VkError(8, "v (version) is required")
        version = parse_version(raw_version)
        if version is None:
            raise VkError(8, "invalid v (version) format")
        if version < (5, 0):
            raise VkError(8, "versions below 5.0 are no longer supported")
        if not token:
            if self.config.quirks.missing_token_error == 5:
                raise VkError(5, "no access_token passed.")
            raise VkError(8, "method is unavailable without access token")
        kind = self.tokens.get(token)
        if kind is None:
            raise VkError(5, "invalid access_token (4).")
        if not self.limiter.allow(token, self.config.rps_for(kind), now):
            raise VkError(6)
        self._check_kind(method, spec, kind)
        return spec, kind, version

    def _check_kind(self, method: str, spec: MethodSpec, kind: TokenKind) -> None:
        refused = kind not in spec.token_kinds or (
            method == "execute"
            and kind is TokenKind.SERVICE
            and self.config.quirks.execute_service_token_error
        )
        if refused:
            raise VkError(27 if kind is TokenKind.COMMUNITY else 28)

    def _context(
        self, kind: TokenKind, version: tuple[int, int], token: str, now: float
    ) -> MethodContext:
        def call(method: str, params: Params) -> Any:
            self.stats.inner_calls[method] += 1
            spec = METHODS.get(method)
            if spec is None or method == "execute":
                raise VkError(3)
            self._check_kind(method, spec, kind)
            if not self.quotas.consume(token, method, now):
                raise VkError(29)
            return spec.handler(context, params)

        context = MethodContext(self.config, self.dataset, kind, version, call)
        return context

    def _injected_error(self, kind: str) -> VkError:
        code = int(kind.removeprefix("error_"))
        if code != 14:
            return VkError(code)
        self._captchas += 1
        sid = f"{self.config.fault_seed % 1000:03d}{self._captchas:09d}"
        return VkError(
            14, captcha_sid=sid, captcha_img=f"https://api.vk.ru/captcha.php?sid={sid}&s=1"
        )

    def _error(
        self, exc: VkError, method: str, params: list[tuple[str, str]], delay_s: float = 0.0
    ) -> Reply:
        self.stats.errors[exc.code] += 1
        echo = [(key, value) for key, value in params if key != "access_token"]
        if self.config.quirks.legacy_request_params:
            echo = [("oauth", "1"), ("method", method), *echo]
        return self._finish(Reply(200, _json(exc.envelope(echo)), delay_s=delay_s))

    def _finish(self, reply: Reply) -> Reply:
        self.stats.statuses[reply.status] += 1
        return reply
