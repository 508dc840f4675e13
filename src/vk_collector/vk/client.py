"""The async VK API client: one ``httpx.AsyncClient``, a Redis rate limiter per token,
classified errors, bounded retries, token rotation on quota, and ``execute`` batching.

Every request is a POST with a form body carrying ``access_token`` and ``v``; the URL never
holds a secret.  A request goes: pick a token (round-robin, skipping tokens cooling down
after error 29) -> wait for the token's rate limiter -> POST -> classify.  Transient
failures are retried on the same token up to ``max_retries`` times with exponential backoff
and jitter (:func:`vk_collector.retries.set_instant_retries` makes the waits instant);
error 6 also slows the token down for everyone; error 29 cools the token down for that
method and moves to the next token; 27 teaches the pool that the token is a community one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Self

import httpx
import redis.asyncio as aioredis
import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from vk_collector import metrics
from vk_collector.errors import ErrorSeverity, VkApiError
from vk_collector.settings import VkSettings
from vk_collector.vk.errors import (
    QUOTA_CODE,
    TOO_MANY_RPS,
    VkObjectError,
    VkQuotaError,
    api_error,
    backoff_delay,
    escalate,
    retry_wait,
    transport_error,
)
from vk_collector.vk.execute import (
    MAX_CALLS,
    ApiCall,
    CallResult,
    bounded_gather,
    build_code,
    encode_params,
    split_results,
)
from vk_collector.vk.models import (
    Group,
    GroupsLookup,
    WallPage,
    match_group,
)
from vk_collector.vk.ratelimit import RateLimiter
from vk_collector.vk.tokens import Token, TokenKind, TokenPool, parse_token

__all__ = ["GROUPS_BATCH", "GROUP_FIELDS", "Decoder", "VkClient"]

log = structlog.get_logger(__name__)

Decoder = Callable[[bytes], dict[str, Any]]
"""Parses a response body into the envelope (``response``/``error``/...) in one pass;
raises ``ValueError`` (pydantic's ``ValidationError`` is one) on a malformed body."""

GROUPS_BATCH = 500
GROUP_FIELDS = ("members_count", "description", "screen_name", "is_closed", "type")


class VkClient:
    """``VkClient(settings, redis=...)``; use as ``async with`` or call :meth:`aclose`.

    ``transport`` replaces httpx's network transport (tests); ``concurrency`` bounds how many
    ``execute`` chunks are in flight at once (the limiter still spaces them per token);
    ``limiter`` replaces the default :class:`RateLimiter` (its margin and error-6 penalty).
    """

    def __init__(
        self,
        settings: VkSettings,
        *,
        redis: aioredis.Redis,
        transport: httpx.AsyncBaseTransport | None = None,
        key_prefix: str = "vkc:vk",
        concurrency: int = 3,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.settings = settings
        self._pool = TokenPool.from_settings(settings, redis, prefix=f"{key_prefix}:quota")
        self._limiter = limiter or RateLimiter(redis, prefix=f"{key_prefix}:rl")
        self._http = httpx.AsyncClient(
            base_url=settings.api_url,
            transport=transport,
            timeout=httpx.Timeout(settings.timeout_s),
            headers={"User-Agent": "vk-collector"},
        )
        self.concurrency = max(1, concurrency)
        self._semaphore = asyncio.Semaphore(self.concurrency)
        self._no_execute: set[str] = set()
        self._wait = retry_wait(settings.backoff_base_s, settings.backoff_max_s)

    @property
    def pool(self) -> TokenPool:
        return self._pool

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- low level -----------------------------------------------------------------------

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
        decode: Decoder | None = None,
    ) -> Any:
        """One API method; returns ``response`` or raises a classified ``VkApiError``.
        ``decode`` parses the body instead of ``json.loads`` (typed ``response``)."""
        envelope, _ = await self._request(
            method, params or {}, token=token, methods=(method,), decode=decode
        )
        return envelope.get("response")

    def execute_available(self, token: str | None = None) -> bool:
        """False once VK refused ``execute`` (error 28) for ``token`` or for every pool token."""
        if token is not None:
            return parse_token(token).key not in self._no_execute
        return any(t.key not in self._no_execute for t in self._pool.tokens)

    async def execute(
        self,
        calls: Sequence[ApiCall],
        *,
        token: str | None = None,
        chunk_size: int = MAX_CALLS,
        decode: Decoder | None = None,
    ) -> list[CallResult]:
        """Run ``calls`` through ``execute``, ``chunk_size`` (≤ 25) per request, up to
        ``concurrency`` requests at once.  ``decode`` parses each answer's body in one
        pass (the calls' values then are what it builds, ``False`` for a failed call).

        Calls that fail transiently inside ``execute`` are sent again (bounded by
        ``max_retries``); a call that hits the daily quota (29) is retried on the next token.
        Other failures come back as that call's ``error``.  Whole-request failures raise.
        """
        results: list[CallResult | None] = [None] * len(calls)
        pending = list(range(len(calls)))
        for attempt in range(self.settings.max_retries + 1):
            size = max(1, min(MAX_CALLS, chunk_size))
            chunks = [pending[i : i + size] for i in range(0, len(pending), size)]
            outcomes = await bounded_gather(
                [self._execute_chunk([calls[i] for i in chunk], token, decode) for chunk in chunks],
                self._semaphore,
            )
            again: list[int] = []
            worst_code = 0
            for chunk, (used, chunk_results) in zip(chunks, outcomes, strict=True):
                for index, result in zip(chunk, chunk_results, strict=True):
                    results[index] = result
                    error = result.error
                    if error is None or attempt == self.settings.max_retries:
                        continue
                    if error.error_code == QUOTA_CODE and used is not None and token is None:
                        await self._pool.cool_down(used, error.method or result.call.method)
                        again.append(index)
                    elif error.severity is ErrorSeverity.TRANSIENT:
                        again.append(index)
                        worst_code = max(worst_code, error.error_code)
            if not again:
                break
            log.info("vk.execute_retry", calls=len(again), attempt=attempt + 1)
            pending = again
            delay = backoff_delay(
                attempt + 1, self.settings.backoff_base_s, self.settings.backoff_max_s, worst_code
            )
            await asyncio.sleep(delay)
        return [result for result in results if result is not None]

    async def _execute_chunk(
        self, calls: list[ApiCall], token: str | None, decode: Decoder | None = None
    ) -> tuple[Token | None, list[CallResult]]:
        methods = {"execute", *(call.method for call in calls)}
        try:
            envelope, used = await self._request(
                "execute",
                {"code": build_code(calls)},
                token=token,
                methods=methods,
                decode=decode,
            )
        except VkQuotaError as exc:
            return None, [CallResult(call, error=exc) for call in calls]
        return used, split_results(calls, envelope.get("response"), envelope.get("execute_errors"))

    async def _request(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        token: str | None,
        methods: Collection[str],
        decode: Decoder | None = None,
    ) -> tuple[dict[str, Any], Token]:
        override = parse_token(token) if token is not None else None
        form = encode_params(params)
        refused: set[str] = set(self._no_execute) if method == "execute" else set()
        if override is not None and (wait := await self._pool.cooldown_s(override, methods)):
            raise VkQuotaError(
                f"the job's VK token is cooling down after error 29 for {method}",
                method=method,
                retry_after_s=wait,
            )
        while True:
            if override is not None:
                current, slot_wait = override, None
            else:
                current, slot_wait = await self._pool.pick_ready(
                    methods, self._limiter, self.settings, exclude=refused
                )
            try:
                return await self._send(method, form, current, decode, slot_wait), current
            except VkApiError as exc:
                if exc.error_code == QUOTA_CODE:
                    await self._pool.cool_down(current, method)
                    log.warning("vk.quota_reached", method=method, token=current.key)
                    if override is None:
                        continue
                    raise VkQuotaError(
                        f"the job's VK token has reached its daily quota for {method} (29)",
                        method=method,
                        retry_after_s=self.settings.quota_cooldown_s,
                    ) from None
                if exc.error_code == 27:
                    self._pool.learn_kind(current, TokenKind.COMMUNITY)
                elif exc.error_code == 28 and method == "execute":
                    self._no_execute.add(current.key)
                if override is not None or exc.error_code not in (27, 28):
                    raise
                refused.add(current.key)
                if all(t.key in refused for t in self._pool.tokens):
                    raise
                log.warning("vk.token_refused", method=method, code=exc.error_code)

    async def _send(
        self,
        method: str,
        form: dict[str, str],
        token: Token,
        decode: Decoder | None = None,
        slot_wait: float | None = None,
    ) -> dict[str, Any]:
        """``slot_wait`` set: the first attempt goes out on the slot the token pool took
        (after that wait); unset, and for every retry, a slot is acquired first."""
        seen: dict[int, int] = {}
        rps = (
            self.settings.rps_community
            if self._pool.kind_of(token) is TokenKind.COMMUNITY
            else self.settings.rps_user
        )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception(
                lambda e: isinstance(e, VkApiError) and e.severity is ErrorSeverity.TRANSIENT
            ),
            before_sleep=lambda state: log.warning(
                "vk.retry",
                method=method,
                attempt=state.attempt_number,
                error=str(state.outcome.exception()) if state.outcome else None,
                token=token.key,
            ),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if slot_wait is None:
                    slot_wait = await self._limiter.acquire(token.key, rps)
                metrics.record_rate_limit_wait(slot_wait)
                slot_wait = None  # a retry takes a slot of its own
                try:
                    envelope = await self._post(method, form, token, decode)
                except VkApiError:
                    metrics.record_vk_request(method, "transport_error")
                    raise
                error = envelope.get("error")
                if error is None:
                    metrics.record_vk_request(method, "ok")
                    return envelope
                exc = api_error(error if isinstance(error, Mapping) else {}, method)
                metrics.record_vk_request(method, "error")
                metrics.record_vk_error(exc.error_code)
                if exc.error_code == TOO_MANY_RPS:
                    await self._limiter.penalize(token.key)
                seen[exc.error_code] = seen.get(exc.error_code, 0) + 1
                raise escalate(exc, seen[exc.error_code])
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _post(
        self, method: str, form: dict[str, str], token: Token, decode: Decoder | None = None
    ) -> dict[str, Any]:
        body = {**form, "access_token": token.value, "v": self.settings.api_version}
        try:
            response = await self._http.post(method, data=body)
        except httpx.TimeoutException as exc:
            raise transport_error(
                method, f"timed out after {self.settings.timeout_s} s", exc
            ) from exc
        except httpx.HTTPError as exc:
            raise transport_error(method, type(exc).__name__, exc) from exc
        if response.status_code >= 400:
            raise transport_error(method, f"HTTP {response.status_code}")
        try:
            envelope = response.json() if decode is None else decode(response.content)
        except ValueError as exc:
            what = "JSON" if decode is None else "the expected JSON"
            raise transport_error(method, f"response is not {what}", exc) from exc
        if not isinstance(envelope, dict) or not ({"response", "error"} & envelope.keys()):
            raise transport_error(method, "response is not a VK envelope")
        return envelope

    # -- methods -------------------------------------------------------------------------

    async def groups_get_by_id(
        self,
        ids_or_names: Sequence[int | str],
        *,
        fields: Sequence[str] = GROUP_FIELDS,
        token: str | None = None,
    ) -> GroupsLookup:
        """Look up communities 500 per request; each identifier ends up found or missing.

        A batch that VK rejects as a whole with an object-level error (100 for an unknown
        id, for instance) is looked up again one identifier at a time, at most
        ``concurrency`` requests at once: at most one extra request per identifier,
        where splitting in halves cost up to two per identifier in ~log2(500) rounds.
        """
        wanted = list(dict.fromkeys(ids_or_names))
        found: dict[int | str, Group] = {}
        missing: list[int | str] = []
        for start in range(0, len(wanted), GROUPS_BATCH):
            batch = wanted[start : start + GROUPS_BATCH]
            await self._lookup(batch, fields, token, found, missing)
        return GroupsLookup(found=found, missing=missing)

    async def _lookup(
        self,
        batch: list[int | str],
        fields: Sequence[str],
        token: str | None,
        found: dict[int | str, Group],
        missing: list[int | str],
    ) -> None:
        wire = [str(i).strip().removeprefix("-") for i in batch]  # -123 is group 123
        params = {"group_ids": wire, "fields": list(fields)}
        try:
            response = await self.call("groups.getById", params, token=token)
        except VkObjectError:
            if len(batch) == 1:
                missing.extend(batch)
                return
            alone = await bounded_gather(
                [self._lookup_one(ident, fields, token) for ident in batch], self._semaphore
            )
            for ident, group in zip(batch, alone, strict=True):
                if group is None:
                    missing.append(ident)
                else:
                    found[ident] = group
            return
        items = response.get("groups", []) if isinstance(response, dict) else response or []
        groups = [Group.model_validate(item) for item in items]
        by_id = {group.id: group for group in groups}
        by_name = {group.screen_name.lower(): group for group in groups if group.screen_name}
        for ident in batch:
            group = match_group(ident, by_id, by_name)
            if group is None:
                missing.append(ident)
            else:
                found[ident] = group

    async def _lookup_one(
        self, ident: int | str, fields: Sequence[str], token: str | None
    ) -> Group | None:
        found: dict[int | str, Group] = {}
        await self._lookup([ident], fields, token, found, [])
        return found.get(ident)

    async def wall_get(
        self,
        owner_id: int | None,
        offset: int = 0,
        count: int = 100,
        *,
        domain: str | None = None,
        filter: str = "all",
        extended: bool = False,
        fields: Sequence[str] | None = None,
        token: str | None = None,
    ) -> WallPage:
        """One page of a wall, newest first (the pinned post first at offset 0)."""
        params: dict[str, Any] = {
            "owner_id": owner_id,
            "domain": domain,
            "offset": offset,
            "count": max(1, min(100, count)),
            "filter": filter,
            "extended": 1 if extended else None,
            "fields": list(fields) if fields else None,
        }
        return WallPage.model_validate(await self.call("wall.get", params, token=token))
