"""The async VK API client: one ``httpx.AsyncClient``, a Redis rate limiter per token,
classified errors, bounded retries and token rotation on quota.

Every request is a POST with a form body carrying ``access_token`` and ``v``; the URL never
holds a secret.  A request goes: take a slot (:meth:`VkClient.take_slot`: the pool's
token whose rate limiter grants now, skipping tokens cooling down after error 29, or the
job's own token and its limiter) -> POST -> classify.  A caller may take the slot first
and pass it to :meth:`VkClient.request` (the execute batcher,
:mod:`vk_collector.vk.page_batcher`, picks its calls only once the slot is granted).
Transient failures are retried on the same token up to ``max_retries`` times with
exponential backoff and jitter, each retry on a slot of its own
(:func:`vk_collector.retries.set_instant_retries` makes the waits instant); error 6 also
pauses the token for everyone (1.133 s); error 29 cools the token down for that method and
moves to the next token; 27 teaches the pool that the token is a community one.

Lists of calls go through ``execute`` with :meth:`VkClient.execute`
(:mod:`vk_collector.vk.execute_requests`); the collector's pages share the batchers
the client holds in :attr:`VkClient.batchers` and closes in :meth:`VkClient.aclose`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol, Self

import httpx
import redis.asyncio as aioredis
import structlog
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from vk_collector import metrics
from vk_collector.errors import ErrorSeverity, VkApiError
from vk_collector.settings import VkSettings
from vk_collector.vk.errors import (
    COMMUNITY_CODE,
    QUOTA_CODE,
    TOO_MANY_RPS,
    VkQuotaError,
    api_error,
    escalate,
    retry_wait,
    transport_error,
)
from vk_collector.vk.execute import (
    MAX_CALLS,
    ApiCall,
    CallResult,
    encode_params,
    wall_call,
)
from vk_collector.vk.execute_requests import execute_calls
from vk_collector.vk.group_lookup import GROUP_FIELDS, GROUPS_BATCH, lookup_groups
from vk_collector.vk.models import GroupsLookup, WallPage
from vk_collector.vk.ratelimit import RateLimiter
from vk_collector.vk.requester import Decoder
from vk_collector.vk.tokens import Token, TokenKind, TokenPool, parse_token

__all__ = ["GROUPS_BATCH", "GROUP_FIELDS", "Decoder", "VkClient"]

log = structlog.get_logger(__name__)


class Closable(Protocol):
    async def aclose(self) -> None: ...


class VkClient:
    """``VkClient(settings, redis=...)``; use as ``async with`` or call :meth:`aclose`.

    ``transport`` replaces httpx's network transport (tests); ``concurrency`` bounds how many
    ``execute`` chunks one :meth:`execute` call has in flight at once, and each batcher
    runs ``concurrency`` senders per token (the limiter still spaces them per token);
    ``limiter`` replaces the default :class:`RateLimiter` (its margin and error-6 pause).
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
        self.batchers: dict[str | None, Closable] = {}
        """Process-wide request batchers by token override (None: the pool), created by
        :func:`vk_collector.vk.page_batcher.batcher_for`, closed by :meth:`aclose`."""

    @property
    def pool(self) -> TokenPool:
        return self._pool

    @property
    def limiter(self) -> RateLimiter:
        return self._limiter

    @property
    def semaphore(self) -> asyncio.Semaphore:
        """Bounds the requests one batch of calls has in flight (``concurrency``)."""
        return self._semaphore

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
        """Stop the batchers (their requests in flight are cancelled), then close HTTP."""
        batchers, self.batchers = list(self.batchers.values()), {}
        try:
            for batcher in batchers:
                await batcher.aclose()
        finally:
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
        envelope, _ = await self.request(
            method, params or {}, token=token, methods=(method,), decode=decode
        )
        return envelope.get("response")

    def execute_available(self, token: str | None = None) -> bool:
        """False once VK refused ``execute`` (error 28) for ``token`` or for every pool token."""
        if token is not None:
            return parse_token(token).key not in self._no_execute
        return any(t.key not in self._no_execute for t in self._pool.tokens)

    @property
    def execute_refused(self) -> frozenset[str]:
        """Keys of the tokens VK refused ``execute`` for (error 28)."""
        return frozenset(self._no_execute)

    async def execute(
        self,
        calls: Sequence[ApiCall],
        *,
        token: str | None = None,
        chunk_size: int = MAX_CALLS,
        decode: Decoder | None = None,
    ) -> list[CallResult]:
        """Run ``calls`` through ``execute``, ``chunk_size`` (≤ 25) per request, up to
        ``concurrency`` requests at once; one result per call, in order
        (:func:`vk_collector.vk.execute_requests.execute_calls`: retries, quota).
        ``decode`` parses each answer's body in one pass."""
        return await execute_calls(self, calls, token=token, chunk_size=chunk_size, decode=decode)

    def rps_of(self, token: Token) -> float:
        """Requests/s the token may send: ``rps_community`` or ``rps_user`` by its kind."""
        if self._pool.kind_of(token) is TokenKind.COMMUNITY:
            return self.settings.rps_community
        return self.settings.rps_user

    async def take_slot(
        self, methods: Collection[str], token: str | None = None, *, exclude: Collection[str] = ()
    ) -> tuple[Token, float]:
        """A token with one rate-limiter slot taken for a request calling ``methods``, and
        the seconds waited for it; send on it at once (:meth:`request` with ``slot``).

        ``token`` (a job's own) waits for its own limiter and raises
        :class:`VkQuotaError` while it cools down for one of ``methods``; otherwise the
        pool's token with capacity first (:meth:`TokenPool.pick_ready`), skipping the
        keys in ``exclude``."""
        if token is None:
            return await self._pool.pick_ready(
                methods, self._limiter, self.settings, exclude=exclude
            )
        override = parse_token(token)
        await self._check_cooldown(override, methods)
        return override, await self._limiter.acquire(override.key, self.rps_of(override))

    async def _check_cooldown(self, override: Token, methods: Collection[str]) -> None:
        if wait := await self._pool.cooldown_s(override, methods):
            raise VkQuotaError(
                "the job's VK token is cooling down after error 29 for "
                + ", ".join(sorted(methods)),
                method=",".join(sorted(methods)),
                retry_after_s=wait,
            )

    async def request(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        token: str | None,
        methods: Collection[str],
        decode: Decoder | None = None,
        slot: tuple[Token, float] | None = None,
    ) -> tuple[dict[str, Any], Token]:
        """One request, retried per the module doc; the envelope and the token used.

        ``slot`` (from :meth:`take_slot`) sends the first attempt on that token and slot;
        a request that must move to another token (29, 27, 28 with the pool) takes a
        new one."""
        override = parse_token(token) if token is not None else None
        form = encode_params(params)
        refused: set[str] = set(self._no_execute) if method == "execute" else set()
        if override is not None and slot is None:
            await self._check_cooldown(override, methods)
        while True:
            if slot is not None:
                (current, slot_wait), slot = slot, None
            elif override is not None:
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
                if exc.error_code == COMMUNITY_CODE:
                    self._pool.learn_kind(current, TokenKind.COMMUNITY)
                elif exc.error_code == 28 and method == "execute":
                    self._no_execute.add(current.key)
                if override is not None or exc.error_code not in (COMMUNITY_CODE, 28):
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
        rps = self.rps_of(token)
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
        """Look up communities 500 per request; each identifier ends up found or missing
        (:func:`vk_collector.vk.group_lookup.lookup_groups`)."""
        return await lookup_groups(self, ids_or_names, fields=fields, token=token)

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
        """One page of a wall, newest first (the pinned post first at offset 0), in a
        request of its own (the collector batches it: :mod:`vk_collector.vk.collect`)."""
        call = wall_call(
            owner_id,
            offset,
            count,
            domain=domain,
            filter=filter,
            extended=extended,
            fields=fields,
        )
        return WallPage.model_validate(await self.call(call.method, call.params, token=token))
