"""``QueueEventStream``: a bullmq ``QueueEvents`` that survives Redis errors, loses no
event across a restart, and closes at once.

Three things bullmq's ``QueueEvents`` does not do on its own:

* **Restart.**  ``run()`` returns for good after a Redis error it cannot retry.  A
  supervisor task runs it again with backoff (0.1 s doubling to 5 s), so events, and
  the live progress fed by them, come back when Redis does.
* **No gap.**  ``run()`` reads from ``lastEventId``, ``"$"`` by default: only entries
  added after its first ``XREAD`` reaches Redis.  Events of a job added right after
  ``initialize()`` were lost that way, and so was everything between an error and the
  restart.  ``start()`` seeds ``lastEventId`` with the stream's last id, and every
  delivered entry moves it on, so a (re)started consumer resumes right after the last
  entry it delivered.
* **Prompt close.**  ``close()`` cancels the consumer task once, and on Python 3.11
  that cancellation can be lost inside redis-py (see :mod:`vk_collector.cancellation`):
  the consumer then sat in ``XREAD BLOCK`` for the whole ``blockingTimeout`` (10 s),
  the cleanup hang.  :meth:`stop` repeats the cancellation until the consumer ends.
"""

from __future__ import annotations

import asyncio
from typing import Any

import redis.asyncio as aioredis
import structlog
from bullmq import QueueEvents
from redis.exceptions import ResponseError

from vk_collector.cancellation import cancel_until_done

__all__ = ["QueueEventStream"]

log = structlog.get_logger(__name__)

_RESTART_FIRST_DELAY_S = 0.1
_RESTART_MAX_DELAY_S = 5.0


class QueueEventStream(QueueEvents):  # type: ignore[misc]
    """Construct, attach listeners, then ``await start(redis)``; ``await stop(within_s)``."""

    def __init__(self, name: str, opts: dict[str, Any]) -> None:
        super().__init__(name, {**opts, "autorun": False})
        self._supervisor: asyncio.Task[None] | None = None

    @property
    def last_event_id(self) -> str:
        return str(self.opts["lastEventId"])

    async def start(self, redis: aioredis.Redis) -> None:
        """Start consuming from the stream's current end, read through ``redis`` (any
        client of the same server), so no entry added after this call is missed."""
        if self._supervisor is not None:
            return
        self.opts["lastEventId"] = await _stream_tail(redis, self.keys["events"])
        self._supervisor = asyncio.create_task(self._supervise(), name=f"events:{self.name}")

    def _dispatch_entry(self, entry_id: str, args: dict[str, Any]) -> None:
        # run() reads lastEventId when it starts, so a restart resumes after this entry
        self.opts["lastEventId"] = entry_id
        super()._dispatch_entry(entry_id, args)

    async def _supervise(self) -> None:
        delay = _RESTART_FIRST_DELAY_S
        while not self.closing:
            try:
                await self.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.emit("error", exc)
            if self.closing:
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RESTART_MAX_DELAY_S)
            log.info("queue.events_restarting", queue=self.name, after=self.last_event_id)

    async def stop(self, within_s: float) -> None:
        """Close the consumer and its connection within ``within_s`` seconds (then
        ``TimeoutError``).  Idempotent."""
        supervisor, self._supervisor = self._supervisor, None
        closing = asyncio.ensure_future(self.close())
        awaited = {closing} if supervisor is None else {closing, supervisor}
        pending = await cancel_until_done(awaited, lambda: supervisor, within_s)
        if pending:
            for task in pending:
                task.cancel()
            raise TimeoutError(f"events:{self.name} did not close within {within_s}s")
        closing.result()


async def _stream_tail(redis: aioredis.Redis, key: str) -> str:
    """The id of the stream's newest entry; ``0-0`` when the stream does not exist yet,
    so the consumer reads it from its first entry once a producer creates it."""
    try:
        info = await redis.xinfo_stream(key)
    except ResponseError:  # no such key
        return "0-0"
    return str(info.get("last-generated-id") or "0-0")
