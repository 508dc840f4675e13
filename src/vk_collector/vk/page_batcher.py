"""The process-wide ``execute`` batcher of one token choice: calls composed at the grant.

One :class:`PageBatcher` exists per (:class:`~vk_collector.vk.client.VkClient`, token
override) in a process (:func:`batcher_for`; the override is a job's own token, None
the shared pool); the client closes it in ``aclose``.  Every comment stream registers
its :class:`~vk_collector.vk.comment_flow.CommentFlow` with it
(:meth:`PageBatcher.open_flow`), and single calls such as a community's ``wall.get``
are queued as one-offs (:meth:`PageBatcher.call_once`), so pages of several
communities and their ``wall.get`` share one ``execute``.

Senders (``client.concurrency`` x pool tokens of them, started when work arrives, gone
when no flow is registered and nothing is queued) loop: wait until a flow has planned
pages (and room in its backlog) or a call is queued; then, under one lock per batcher,
take a rate-limiter slot (the pool's token with capacity first, or the override's own
limiter) and only once it is granted take up to ``chunk`` calls: queued calls first
(one-offs and retries), then follow-up pages, then first pages, the oldest flow first
and filling from the next ones.  The sender sends at once on that slot: a granted slot
never waits for pages (a late request bunches with the next one at VK and earns error
6), and since only the lock holder takes pages, a grant always finds the pages that
made it ask for one.

Results go back per call: each flow absorbs its own (a closed flow drops them), a
one-off's future gets its value or error.  A call failing transiently inside
``execute`` is queued again (at most ``max_retries`` times, the limiter's spacing being
its wait), one hitting the daily quota (29) on a pool token cools the token down and is
queued again; other per-call errors are delivered.  A whole-request failure (invalid
token, transient after the client's retries) goes to every flow and one-off with calls
in it.  Error 12/13 halves the chunk and queues the calls again (a lone call that still
fails goes as a single request); 28 makes the client stop using ``execute`` for the
token, and the calls go one per request.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import structlog

from vk_collector.cancellation import cancel_until_done
from vk_collector.errors import ErrorSeverity, VkApiError
from vk_collector.vk.batch_item import BatchItem, RawParser, parsed_result
from vk_collector.vk.comment_flow import CommentFlow, Signal
from vk_collector.vk.comment_pages import decode_execute, decode_page, decode_single, is_false
from vk_collector.vk.comment_walk import PageWalker
from vk_collector.vk.errors import COMMUNITY_CODE, QUOTA_CODE, VkBatchError, VkObjectError
from vk_collector.vk.execute import MAX_CALLS, ApiCall, CallResult, build_code, failed_result
from vk_collector.vk.tokens import Token, TokenKind

if TYPE_CHECKING:
    from vk_collector.vk.client import VkClient

__all__ = ["PageBatcher", "RawParser", "batcher_for"]

log = structlog.get_logger(__name__)

CLOSE_WAIT_S = 10.0
GROW_AFTER = 10
"""Successful ``execute`` requests in a row after which a shrunk chunk doubles again."""


def batcher_for(client: VkClient, token: str | None = None) -> PageBatcher:
    """The process's batcher for ``client`` and ``token`` (created on first use)."""
    batcher = client.batchers.get(token)
    if not isinstance(batcher, PageBatcher):
        batcher = client.batchers[token] = PageBatcher(client, token)
    return batcher


class PageBatcher:
    """See the module doc.  ``width``: how many senders may run (default
    ``client.concurrency`` x pool tokens, at least ``client.concurrency``)."""

    def __init__(self, client: VkClient, token: str | None, *, width: int | None = None) -> None:
        self._client = client
        self._token = token
        tokens = 1 if token is not None else max(1, len(client.pool))
        self.width = width or max(1, client.concurrency) * tokens
        self.chunk = MAX_CALLS
        self._chunk_successes = 0
        self._flows: list[CommentFlow] = []
        self._queued: deque[BatchItem] = deque()
        self._lock = asyncio.Lock()
        self._signal = Signal()
        self._senders: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def senders(self) -> int:
        """Sender tasks running now (0 once no flow is open and nothing is queued)."""
        return len(self._senders)

    # -- the users' side -----------------------------------------------------------------

    def open_flow(self, walker: PageWalker, max_backlog: int) -> CommentFlow:
        """Register a stream's pages; :meth:`close_flow` it when the stream ends."""
        flow = CommentFlow(walker, max_backlog, self._signal.poke)
        self._flows.append(flow)
        self._start()
        return flow

    def close_flow(self, flow: CommentFlow) -> None:
        """Unregister: pages of it still in flight are dropped when they come back."""
        flow.close()
        if flow in self._flows:
            self._flows.remove(flow)
        self._signal.poke()

    async def call_once(self, call: ApiCall, parse: RawParser) -> Any:
        """One call sent with the next request; its value (``parse`` of its answer) or
        its error raised (:class:`VkObjectError` for 15/18/19/30 and the like)."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queued.append(BatchItem(call, parse, future=future))
        future.add_done_callback(lambda _: self._signal.poke())
        self._start()
        return await future  # cancelling the caller cancels the future: the call is dropped

    async def aclose(self) -> None:
        """Stop the senders (requests in flight are cancelled); open flows end with an
        error, queued one-offs are cancelled."""
        self._closed = True
        senders = list(self._senders)
        for task in senders:
            task.cancel()
        await cancel_until_done(
            senders, lambda: next((t for t in senders if not t.done()), None), CLOSE_WAIT_S
        )
        closed = RuntimeError("the VK client was closed")
        for flow in self._flows:
            flow.fail(closed, 0)
        for item in self._queued:
            if item.future is not None and not item.future.done():
                item.future.cancel()
        self._queued.clear()

    # -- the senders ---------------------------------------------------------------------

    def _start(self) -> None:
        if self._closed:
            raise RuntimeError("the VK client is closed")
        self._signal.poke()
        while len(self._senders) < self.width:
            task = asyncio.create_task(self._send_loop(), name="vk-batch-sender")
            self._senders.add(task)

    def _has_work(self) -> bool:
        return any(item.wanted for item in self._queued) or any(
            flow.wants_send for flow in self._flows
        )

    def _idle(self) -> bool:
        return not self._flows and not any(item.wanted for item in self._queued)

    async def _send_loop(self) -> None:
        me = asyncio.current_task()
        try:
            while True:
                await self._signal.wait_for(lambda: self._has_work() or self._idle())
                if not self._has_work():
                    self._queued.clear()  # only calls nobody waits for are left
                    return
                async with self._lock:
                    if not self._has_work():
                        continue
                    granted = await self._grant()
                if granted is not None:
                    try:
                        await self._dispatch(*granted)
                    except Exception as exc:  # a bug: fail its owners rather than hang them
                        log.exception("vk.batch_sender_failed")
                        self._fail(granted[1], exc)
        finally:
            # removed at once, so a caller arriving now starts a replacement
            if me is not None:
                self._senders.discard(me)

    async def _grant(self) -> tuple[tuple[Token, float], list[BatchItem], bool] | None:
        """Under the lock: a slot, then the calls it carries (None: nothing to send)."""
        client = self._client
        execute = client.settings.use_execute and client.execute_available(self._token)
        single = not execute or self._next_is_single()
        methods = {item.call.method for item in self._queued if item.wanted}
        if any(flow.wants_send for flow in self._flows):
            methods.add("wall.getComments")
        if not single:
            methods.add("execute")
        exclude = client.execute_refused if not single and self._token is None else ()
        try:
            slot = await client.take_slot(methods, self._token, exclude=exclude)
        except Exception as exc:  # every token cooling (29), no token, Redis down
            self._fail(self._take(1 if single else self.chunk), exc)
            return None
        items = self._take(1 if single else self.chunk)
        if not items:  # the flows wanting pages closed meanwhile
            log.debug("vk.batch_slot_unused")
            return None
        return slot, items, single

    def _next_is_single(self) -> bool:
        item = next((item for item in self._queued if item.wanted), None)
        return item is not None and item.single

    def _take(self, size: int) -> list[BatchItem]:
        items: list[BatchItem] = []
        while self._queued and len(items) < size:
            item = self._queued.popleft()
            if not item.wanted:
                continue
            if item.single and items:
                self._queued.appendleft(item)  # goes alone, first in the next request
                break
            items.append(item)
            if item.single:
                return items
        flows = [flow for flow in self._flows if flow.wants_send]
        if not flows and not items:  # past the backlog cap, but a slot is granted
            flows = [flow for flow in self._flows if flow.active]
        for follow in (True, False):
            for flow in flows:
                if len(items) >= size:
                    return items
                calls = flow.take_calls(size - len(items), follow=follow)
                items.extend(BatchItem(call, decode_page, flow=flow) for call in calls)
        return items

    async def _dispatch(
        self, slot: tuple[Token, float], items: list[BatchItem], single: bool
    ) -> None:
        try:
            if single:
                results, used = await self._send_single(slot, items[0])
            else:
                results, used = await self._send_execute(slot, items)
        except VkBatchError as exc:
            if single:
                self._fail(items, exc)
            elif self.chunk > 1 or len(items) > 1:
                self.chunk = max(1, min(self.chunk, len(items)) // 2)
                self._chunk_successes = 0
                log.info("vk.execute_batch_shrunk", size=self.chunk, error_code=exc.error_code)
            else:
                log.warning("vk.execute_batch_failed", error=str(exc), fallback="single call")
                items[0].single = True
            if not single:
                self._requeue(items)
            return
        except VkApiError as exc:
            if not single and exc.error_code == 28 and exc.method == "execute":
                log.warning("vk.execute_unavailable", fallback="single calls")
                self._requeue(items)
            else:
                self._fail(items, exc)
            return
        except Exception as exc:
            self._fail(items, exc)
            return
        except asyncio.CancelledError:  # aclose: nobody will answer these callers
            for item in items:
                if item.future is not None and not item.future.done():
                    item.future.cancel()
            raise
        if not single:
            self._grow_chunk()
        await self._settle(items, results, used)

    def _grow_chunk(self) -> None:
        """A shrunk chunk (errors 12/13) doubles after :data:`GROW_AFTER` successful
        requests in a row: one oversized answer must not halve every later request of
        the process."""
        if self.chunk >= MAX_CALLS:
            return
        self._chunk_successes += 1
        if self._chunk_successes >= GROW_AFTER:
            self.chunk = min(MAX_CALLS, self.chunk * 2)
            self._chunk_successes = 0
            log.info("vk.execute_batch_grown", size=self.chunk)

    async def _send_execute(
        self, slot: tuple[Token, float], items: list[BatchItem]
    ) -> tuple[list[CallResult], Token]:
        calls = [item.call for item in items]
        envelope, used = await self._client.request(
            "execute",
            {"code": build_code(calls)},
            token=self._token,
            methods={"execute", *(call.method for call in calls)},
            decode=decode_execute,
            slot=slot,
        )
        raws = envelope.get("response")
        if not isinstance(raws, list) or len(raws) != len(calls):
            raise VkApiError(
                f"VK execute returned {type(raws).__name__} for {len(calls)} calls",
                method="execute",
                severity=ErrorSeverity.TRANSIENT,
            )
        errors = iter(envelope.get("execute_errors") or ())
        results = [
            failed_result(item.call, next(errors, None))
            if is_false(raw)
            else parsed_result(item, raw)
            for item, raw in zip(items, raws, strict=True)
        ]
        return results, used

    async def _send_single(
        self, slot: tuple[Token, float], item: BatchItem
    ) -> tuple[list[CallResult], Token | None]:
        call = item.call
        try:
            envelope, used = await self._client.request(
                call.method,
                call.params,
                token=self._token,
                methods=(call.method,),
                decode=decode_single,
                slot=slot,
            )
        except VkObjectError as exc:
            return [CallResult(call, error=exc)], None
        return [parsed_result(item, envelope.get("response"))], used

    async def _settle(
        self, items: list[BatchItem], results: list[CallResult], used: Token | None
    ) -> None:
        """Deliver final results per owner; queue again the calls worth another try."""
        retries = self._client.settings.max_retries
        again: list[BatchItem] = []
        cool: set[tuple[Token, str]] = set()
        final: dict[CommentFlow, list[CallResult]] = {}
        for item, result in zip(items, results, strict=True):
            error = result.error
            if error is not None and item.attempt < retries and item.wanted:
                if error.error_code == COMMUNITY_CODE and used is not None and self._token is None:
                    # a community token inside execute: the pool skips it from now on
                    self._client.pool.learn_kind(used, TokenKind.COMMUNITY)
                    item.attempt += 1
                    again.append(item)
                    continue
                if error.error_code == QUOTA_CODE and used is not None and self._token is None:
                    cool.add((used, error.method or item.call.method))
                    item.attempt += 1
                    again.append(item)
                    continue
                if error.severity is ErrorSeverity.TRANSIENT:
                    item.attempt += 1
                    again.append(item)
                    continue
            if item.flow is not None:
                final.setdefault(item.flow, []).append(result)
            elif item.future is not None and not item.future.done():
                if error is None:
                    item.future.set_result(result.value)
                else:
                    item.future.set_exception(error)
        # no await between delivering to a flow and taking its pages (ordering)
        for flow, flow_results in final.items():
            flow.deliver(flow_results)
        if again:
            log.info("vk.execute_retry", calls=len(again), attempt=max(i.attempt for i in again))
            self._requeue(again)  # before any await: a sender that dies loses no call
            for token, method in cool:
                try:
                    await self._client.pool.cool_down(token, method)
                except Exception as exc:  # Redis away: the retry may meet 29 again
                    log.warning("vk.cool_down_failed", method=method, error=str(exc))

    def _requeue(self, items: Iterable[BatchItem]) -> None:
        """Back to the front of the queue, in their order."""
        self._queued.extendleft(reversed(list(items)))
        self._signal.poke()

    def _fail(self, items: list[BatchItem], exc: Exception) -> None:
        """A whole-request failure: every owner of a call in it gets ``exc``."""
        pages: dict[CommentFlow, int] = {}
        for item in items:
            if item.flow is not None:
                pages[item.flow] = pages.get(item.flow, 0) + 1
            elif item.future is not None and not item.future.done():
                item.future.set_exception(exc)
        for flow, count in pages.items():
            flow.fail(exc, count)
        self._signal.poke()
