"""Helpers of the chaos suite: service processes, a resilient SSE client, recovery timing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from support.polling import eventually
from support.sse import sse_events

CLI = [sys.executable, "-m", "vk_collector.cli"]
FINAL = ("completed", "failed")


class ServiceProcess:
    """One ``vk-collector`` command in a child process, its output in ``<log_dir>/<name>.log``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self._out = self.log.open("wb")
        self.process = subprocess.Popen(
            [*CLI, *args], env=env, stdout=self._out, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def ready(self, marker: str, within: float = 30.0) -> None:
        def started() -> bool:
            assert self.process.poll() is None, f"{self.name} exited:\n{self.output()[-3000:]}"
            return marker in self.output()

        await eventually(started, within=within, every=0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self._out.close()

    async def terminate(self, within: float) -> tuple[int, float]:
        """SIGTERM and wait for the exit; ``(exit code, seconds it took)``."""
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        await eventually(lambda: self.process.poll() is not None, within=within, every=0.02)
        self._out.close()
        return self.process.returncode, time.monotonic() - started

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self._out.close()


def service_env(
    *, redis_url: str, database_url: str, vk_api_url: str, data_dir: Path, prefix: str
) -> dict[str, str]:
    """Settings of every chaos process: short locks and checks so recovery is quick."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VKC_", "VK_", "API_KEY"))}
    return {
        **clean,
        "REDIS_URL": redis_url,
        "DATABASE_URL": database_url,
        "VK_API_URL": vk_api_url,
        "VK_TOKENS": "demo-user-token",
        "VKC_DATA_DIR": str(data_dir),
        "VKC_LOG_LEVEL": "INFO",
        "VKC_QUEUE_PREFIX": prefix,
        "VKC_VK_RPS_USER": "3",  # VK's own limit for a user token, enforced by the emulator too
        "VKC_VK_BACKOFF_BASE_S": "0.1",
        "VKC_VK_BACKOFF_MAX_S": "1",
        "VKC_QUEUE_SHUTDOWN_TIMEOUT_S": "2",
        "VKC_QUEUE_HEARTBEAT_INTERVAL_S": "0.5",
        "VKC_QUEUE_HEARTBEAT_STALE_S": "1.5",
        "VKC_QUEUE_HEARTBEAT_TTL_S": "3",
        "VKC_QUEUE_RECONCILE_GRACE_S": "3",
        "VKC_QUEUE_RECONCILE_INTERVAL_S": "1",
        "VKC_QUEUE_VK_COLLECT__DELAY_MS": "0",
        "VKC_QUEUE_VK_COLLECT__ATTEMPTS": "8",
        "VKC_QUEUE_VK_COLLECT__BACKOFF_DELAY_MS": "500",
        "VKC_QUEUE_VK_COLLECT__LOCK_DURATION_MS": "2000",
        "VKC_QUEUE_VK_COLLECT__STALLED_INTERVAL_MS": "1000",
        "VKC_QUEUE_VK_COLLECT_GROUP__ATTEMPTS": "8",
        "VKC_QUEUE_VK_COLLECT_GROUP__BACKOFF_DELAY_MS": "500",
        "VKC_QUEUE_VK_COLLECT_GROUP__LOCK_DURATION_MS": "2000",
        "VKC_QUEUE_VK_COLLECT_GROUP__STALLED_INTERVAL_MS": "1000",
        # two communities at once, not the default eight: the collection must outlast the
        # five faults injected into it, and with eight sharing requests a ten-community
        # task sometimes ended before the last one
        "VKC_QUEUE_VK_COLLECT_GROUP__CONCURRENCY": "2",
        "VKC_QUEUE_PROCESS_GROUPS__BACKOFF_DELAY_MS": "500",
        "VKC_QUEUE_PROCESS_GROUPS__LOCK_DURATION_MS": "2000",
        "VKC_QUEUE_PROCESS_GROUPS__STALLED_INTERVAL_MS": "1000",
        "COLUMNS": "200",
    }


@dataclass
class SseFollower:
    """Follows ``/api/tasks/{id}/events`` as the dashboard does: a stream that drops is
    reopened; while the API does not answer, the task is polled instead.  Ends with the
    task's final state, from the stream (``completed``/``failed``) or from a poll."""

    base_url: str
    task_id: int
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    streams: int = 0
    drops: int = 0
    polls: int = 0
    final: tuple[str, dict[str, Any]] | None = None

    async def run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as client:
            while self.final is None:
                with contextlib.suppress(httpx.TransportError):
                    await self._stream(client)
                if self.final is None:
                    self.drops += 1
                    await self._poll_until_up(client)

    async def _stream(self, client: httpx.AsyncClient) -> None:
        url = f"/api/tasks/{self.task_id}/events"
        async with client.stream("GET", url, timeout=httpx.Timeout(10, read=30)) as response:
            if response.status_code != 200:
                return
            self.streams += 1
            async for name, data in sse_events(response):
                self.events.append((name, data))
                if name in FINAL:
                    self.final = (name, data)
                    return

    async def _poll_until_up(self, client: httpx.AsyncClient) -> None:
        while True:
            self.polls += 1
            try:
                answer = await client.get(f"/api/tasks/{self.task_id}")
            except httpx.TransportError:
                await asyncio.sleep(0.1)
                continue
            if answer.status_code == 200:
                task = answer.json()["data"]
                if task["status"] in FINAL:
                    self.final = ("polled:" + task["status"], task)
                return
            await asyncio.sleep(0.1)


async def until_changed(
    read: Callable[[], Awaitable[Any]], within: float, every: float = 0.05
) -> float:
    """Seconds until ``read()`` answers something else than it does now."""
    started = time.monotonic()
    before = await read()

    async def changed() -> bool:
        try:
            return await read() != before
        except Exception:  # the database may be down meanwhile
            return False

    await eventually(changed, within=within, every=every)
    return round(time.monotonic() - started, 2)
