"""The one base class every queue worker uses.

:class:`QueueWorker` implements the worker contract the queue service manages
(:class:`~vk_collector.queue.worker_contract.BaseWorker`: start, stop, pause, resume,
status, health) around a bullmq ``Worker``:

* options come from the queue's configuration (:mod:`vk_collector.queue.config`);
* ``stop()`` lets active jobs finish for ``shutdown_timeout_s``; jobs still running
  then are handed back to the queue (moved to delayed with no delay and no attempt
  counted) so another worker takes them at once instead of after a stall check;
* a heartbeat key in Redis (``<prefix>:vkc:heartbeat:<queue>:<worker id>``, with a
  TTL) tells other processes this worker is alive, paused or not, its concurrency
  and uptime;
* errors: a :class:`~vk_collector.errors.VkCollectorError` whose severity is
  ``permanent`` becomes bullmq's ``UnrecoverableError`` (no attempts wasted);
  anything else propagates and BullMQ retries with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

import redis.asyncio as aioredis
import structlog
from bullmq import Job, UnrecoverableError, Worker

from vk_collector.cancellation import cancel_until_done
from vk_collector.errors import ErrorSeverity, VkCollectorError
from vk_collector.queue.config import QueueConfig, QueueName, bullmq_connection
from vk_collector.queue.keys import heartbeat_key
from vk_collector.queue.worker_contract import (
    BaseWorker,
    Heartbeat,
    WorkerHealthCheck,
    WorkerStatus,
    write_heartbeat,
)
from vk_collector.redaction import redact
from vk_collector.redis_clients import reconnect_promptly, redis_client
from vk_collector.settings import Settings

# BaseWorker, WorkerStatus and WorkerHealthCheck are re-exported for callers that
# import them from here; their home is vk_collector.queue.worker_contract.
__all__ = ["BaseWorker", "QueueWorker", "WorkerHealthCheck", "WorkerStatus"]

log = structlog.get_logger(__name__)

_RUN_TASK_STOP_S = 3.0
_SETTLE_ROUNDS = 100


@dataclass
class _Counters:
    completed: int = 0
    failed: int = 0
    started_at: float = field(default_factory=time.time)


class QueueWorker(ABC):
    """A bullmq worker for one queue.  Subclasses set ``queue`` and implement ``process``."""

    queue: ClassVar[QueueName]

    def __init__(
        self,
        settings: Settings,
        redis_url: str,
        config: QueueConfig,
        *,
        concurrency: int | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self._redis_url = redis_url
        self._concurrency = concurrency or config.options.concurrency
        self._id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._worker: Worker | None = None
        self._heartbeat_client: aioredis.Redis | None = None
        self._heartbeat_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[None] | None = None
        self._heartbeat_stopped = asyncio.Event()
        self._counters = _Counters()
        self._paused = False
        self._stopping = False
        self._control_lock = asyncio.Lock()

    # --- contract ---------------------------------------------------------------

    @property
    def worker_id(self) -> str:
        return self._id

    @property
    def queue_name(self) -> str:
        return self.config.name.value

    @abstractmethod
    async def process(self, job: Job, token: str) -> dict[str, Any]:
        """Handle one job; the returned dict is the job's return value (wire shape)."""

    async def start(self) -> None:
        if self._worker is not None:
            return
        self._stopping = False
        self._counters = _Counters()
        opts: dict[str, Any] = {
            "connection": bullmq_connection(self._redis_url, self.settings.redis.connect_timeout_s),
            "prefix": self.settings.queues.prefix,
            "name": self._id,
            "autorun": False,
            **self.config.worker_options(self._concurrency),
        }
        worker = Worker(self.queue_name, self._run, opts)
        reconnect_promptly(worker.client, worker.bclient)
        worker.on("completed", self._on_completed)
        worker.on("failed", self._on_failed)
        worker.on("error", self._on_error)
        worker.on("stalled", self._on_stalled)
        self._worker = worker
        self._run_task = asyncio.create_task(worker.run(), name=f"worker:{self._id}")
        self._heartbeat_client = redis_client(
            self._redis_url,
            socket_timeout_s=self.settings.queues.health_timeout_s,
            connect_timeout_s=self.settings.redis.connect_timeout_s,
        )
        self._heartbeat_stopped = asyncio.Event()
        self._heartbeat_task = asyncio.create_task(
            self._heartbeat_loop(), name=f"heartbeat:{self._id}"
        )
        log.info(
            "worker.started",
            queue=self.queue_name,
            worker_id=self._id,
            concurrency=self._concurrency,
        )

    async def stop(self) -> None:
        """Finish active jobs within the shutdown timeout, hand back the rest, close."""
        worker = self._worker
        if worker is None:
            return
        self._stopping = True
        timeout = self.settings.queues.shutdown_timeout_s
        try:
            await asyncio.wait_for(asyncio.shield(self._drain(worker)), timeout)
        except TimeoutError:
            await self._hand_back(worker)
        await worker.close(force=bool(worker.jobs))
        await self._stop_run_task(worker)
        for client in (worker.client, worker.bclient):
            # bullmq's close can leave a client open when Redis went away meanwhile
            with contextlib.suppress(Exception):
                await client.aclose()
        await self._stop_heartbeat()
        self._worker = None
        log.info("worker.stopped", queue=self.queue_name, worker_id=self._id)

    async def pause(self) -> None:
        """Stop taking jobs (active ones finish); the heartbeat reports paused.

        Pauses and resumes are serialised, and a pause returns only once bullmq's
        cancelled blocking read has been handled: bullmq's ``Worker.pause`` cancels
        that read, and a ``resume`` landing before the fetch task sees the
        cancellation makes the task re-raise it, which ends bullmq's run loop for good
        (a worker that looks alive and never takes a job again)."""
        async with self._control_lock:
            worker = self._worker
            if worker is None or self._paused:
                return
            self._paused = True
            waiting = worker.waiting
            await worker.pause(do_not_wait_active=True)
            if waiting is not None:
                # redis-py can drop the cancellation (see vk_collector.cancellation)
                await cancel_until_done(
                    {waiting}, lambda: waiting, self.settings.queues.health_timeout_s
                )
                for _ in range(_SETTLE_ROUNDS):  # the fetch task resets it as it returns
                    if worker.waiting is not waiting:
                        break
                    await asyncio.sleep(0)
            await self._beat()
        log.info("worker.paused", queue=self.queue_name, worker_id=self._id)

    async def resume(self) -> None:
        async with self._control_lock:
            if self._worker is None or not self._paused:
                return
            self._paused = False
            self._worker.resume()
            await self._beat()
        log.info("worker.resumed", queue=self.queue_name, worker_id=self._id)

    def get_status(self) -> WorkerStatus:
        return WorkerStatus(
            is_running=self._worker is not None and not self._stopping,
            is_paused=self._paused,
            concurrency=self._concurrency,
            queue_name=self.queue_name,
        )

    async def health_check(self) -> WorkerHealthCheck:
        status = self.get_status()
        details = self._details(status)
        task = self._heartbeat_task
        if not status.is_running:
            return WorkerHealthCheck("unhealthy", details, "worker is not running")
        if task is None or task.done():
            return WorkerHealthCheck("unhealthy", details, "heartbeat loop is not running")
        if self._run_task is None or self._run_task.done():
            return WorkerHealthCheck("unhealthy", details, "job loop has ended; takes no jobs")
        return WorkerHealthCheck("healthy", details)

    # --- job execution ----------------------------------------------------------

    async def _run(self, job: Job, token: str) -> dict[str, Any]:
        structlog.contextvars.bind_contextvars(job_id=job.id, queue=self.queue_name)
        try:
            return await self.process(job, token)
        except VkCollectorError as exc:
            if exc.severity is ErrorSeverity.PERMANENT:
                log.warning("job.permanent_failure", code=str(exc.code), error=redact(str(exc)))
                raise UnrecoverableError(redact(exc.message)) from exc
            log.warning(
                "job.transient_failure",
                code=str(exc.code),
                error=redact(str(exc)),
                attempt=job.attemptsMade + 1,
            )
            raise
        finally:
            structlog.contextvars.unbind_contextvars("job_id", "queue")

    async def _drain(self, worker: Worker) -> None:
        await worker.pause(do_not_wait_active=False)

    async def _stop_run_task(self, worker: Worker) -> None:
        # After close() no job runs, and the run loop only has to notice: close()
        # cancelled its blocking wait for a job, a cancellation that can be lost
        # (vk_collector.cancellation), and a loop still starting up sits in redis-py's
        # reconnect backoff on the connection close() shut.  So cancel the wait, or
        # else the loop itself, until it ends.  The outcome is read here so a
        # cancelled job task does not surface as an error.
        task, self._run_task = self._run_task, None
        if task is None:
            return

        def target() -> asyncio.Future[Any]:
            waiting: asyncio.Future[Any] | None = worker.waiting
            return waiting if waiting is not None and not waiting.done() else task

        pending = await cancel_until_done({task}, target, _RUN_TASK_STOP_S)
        if pending:
            task.cancel()
            await asyncio.wait({task}, timeout=_RUN_TASK_STOP_S)
            log.warning("worker.run_task_cancelled", worker_id=self._id)
        elif not task.cancelled() and task.exception() is not None:
            log.debug("worker.run_task_ended", worker_id=self._id, error=str(task.exception()))

    async def _hand_back(self, worker: Worker) -> None:
        """Move jobs still running back to the queue so another worker takes them now."""
        held = list(worker.jobs)
        worker.cancelProcessing()
        for task in list(worker.processing):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        now_ms = int(time.time() * 1000)
        for job, token in held:
            try:
                await job.moveToDelayed(now_ms, token)
                log.warning("job.handed_back", job_id=job.id, queue=self.queue_name)
            except Exception as exc:  # the lock may be gone; the stall check recovers it
                log.warning("job.hand_back_failed", job_id=job.id, error=redact(str(exc)))

    # --- heartbeat --------------------------------------------------------------

    @property
    def heartbeat_key(self) -> str:
        return heartbeat_key(self.settings.queues.prefix, self.queue_name, self._id)

    def _details(self, status: WorkerStatus) -> dict[str, Any]:
        worker = self._worker
        return {
            "workerId": self._id,
            "queueName": status.queue_name,
            "isRunning": status.is_running,
            "isPaused": status.is_paused,
            "concurrency": status.concurrency,
            "activeJobs": len(worker.jobs) if worker is not None else 0,
            "completed": self._counters.completed,
            "failed": self._counters.failed,
            "uptime": round(time.time() - self._counters.started_at, 3),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }

    async def _beat(self) -> None:
        client = self._heartbeat_client
        if client is None:
            return
        beat = Heartbeat(self._details(self.get_status()), last_heartbeat=time.time())
        queues = self.settings.queues
        await write_heartbeat(client, queues.prefix, beat, queues.heartbeat_ttl_s)

    async def _heartbeat_loop(self) -> None:
        # Stopped through an event, not cancellation: redis-py can swallow a
        # cancellation that lands inside a command and turn it into a ConnectionError.
        interval = self.settings.queues.heartbeat_interval_s
        stopped = self._heartbeat_stopped
        while not stopped.is_set():
            try:
                await self._beat()
            except Exception as exc:  # Redis down: keep trying, health shows it
                log.warning("worker.heartbeat_failed", worker_id=self._id, error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), interval)

    async def _stop_heartbeat(self) -> None:
        self._heartbeat_stopped.set()
        task, self._heartbeat_task = self._heartbeat_task, None
        if task is not None:
            try:
                await asyncio.wait_for(task, self.settings.queues.health_timeout_s * 2)
            except TimeoutError:
                log.warning("worker.heartbeat_stop_timeout", worker_id=self._id)
        client, self._heartbeat_client = self._heartbeat_client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.delete(self.heartbeat_key)
            await client.aclose()

    # --- bullmq events ----------------------------------------------------------

    def _on_completed(self, job: Job, result: Any) -> None:
        self._counters.completed += 1

    def _on_failed(self, job: Job, error: BaseException) -> None:
        self._counters.failed += 1

    def _on_error(self, error: BaseException, *args: Any) -> None:
        log.error("worker.error", queue=self.queue_name, error=redact(str(error)))

    def _on_stalled(self, job_id: str, *args: Any) -> None:
        log.warning("worker.job_stalled", queue=self.queue_name, job_id=job_id)
