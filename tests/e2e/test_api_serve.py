"""`serve` as a process: loopback rule, start-up, workers, graceful SIGTERM."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vk_collector.embedded import free_port
from vk_emulator import EmulatorServer

from support.polling import eventually

_SCRIPT = (
    "import typer; from vk_collector.cli.serve import serve; "
    "app = typer.Typer(); app.command()(serve); app()"
)


def _env(redis_url: str, tmp_path: Path, queue_prefix: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VKC_", "VK_", "API_KEY"))}
    env.update(
        REDIS_URL=redis_url,
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
        VKC_DATA_DIR=str(tmp_path),
        VKC_QUEUE_PREFIX=queue_prefix,
        VKC_QUEUE_SHUTDOWN_TIMEOUT_S="5",
        **extra,
    )
    return env


@contextlib.contextmanager
def _serve(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[str]]:
    """``serve`` in a child process; killed on the way out unless it already ended."""
    process = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _terminate(process: subprocess.Popen[str]) -> str:
    """SIGTERM, wait for the exit (30 s at most) and return what it wrote to stderr."""
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    return stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::"])
def test_refuses_a_public_address_without_an_api_key(
    host: str, redis_url: str, tmp_path: Path, queue_prefix: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "--host", host],
        env=_env(redis_url, tmp_path, queue_prefix),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "without an API key" in done.stderr
    assert "API_KEY" in done.stderr


async def _wait_healthy(url: str, process: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient() as client:

        async def up() -> bool:
            assert process.poll() is None, process.communicate()
            try:
                return (await client.get(url + "/api/health")).status_code == 200
            except httpx.TransportError:
                return False

        await eventually(up, within=30, every=0.1)


async def test_serves_without_workers_and_stops_on_sigterm(
    redis_url: str, tmp_path: Path, queue_prefix: str
) -> None:
    port = free_port()
    with _serve(
        _env(
            redis_url, tmp_path, queue_prefix,
            API_KEY="serve-test-key-123", VKC_API_TIMEOUT_REQUEST_S="1",
            VKC_API_TIMEOUT_BODY_IDLE_S="1",
        ),
        "--host", "0.0.0.0", "--port", str(port), "--no-workers",
    ) as process:  # fmt: skip
        await _wait_healthy(f"http://127.0.0.1:{port}", process)
        # a connection that never sends its request is closed after the deadline
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            idle.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            started = time.monotonic()
            assert idle.recv(1024) == b""
            assert time.monotonic() - started < 5
        # a body may take longer than the header deadline while it keeps arriving ...
        body = b'{"groups": [999999], "limit": 5}'
        head = (
            b"POST /api/tasks/collect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"X-API-Key: serve-test-key-123\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)
        )
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(head)
            started = time.monotonic()
            for start in range(0, len(body), 8):
                slow.sendall(body[start : start + 8])
                time.sleep(0.5)  # the slow client under test: 2 s in all, pauses of 0.5 s
            assert time.monotonic() - started > 1.5
            assert slow.recv(1024).startswith(b"HTTP/1.1 404")
        # ... and is closed once it pauses longer than the idle timeout
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(head + body[:8])
            started = time.monotonic()
            assert stalled.recv(1024) == b""
            assert 0.5 < time.monotonic() - started < 5
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            anonymous = (await client.get("/api/health/detailed")).json()["data"]
            assert (anonymous["status"], anonymous["details"]) == ("degraded", None)
            keyed = await client.get(
                "/api/health/detailed", headers={"X-API-Key": "serve-test-key-123"}
            )
            assert keyed.json()["data"]["details"]["workers"] == []
            denied = await client.get("/api/queues")
            assert denied.status_code == 401
            foreign = await client.get("/api/health", headers={"Host": "evil.example"})
            assert foreign.status_code == 400
        stderr = _terminate(process)
    assert process.returncode == 0, stderr
    assert "serve-test-key-123" not in stderr


async def test_serves_with_workers_by_default(
    redis_url: str, tmp_path: Path, queue_prefix: str, emulator: EmulatorServer
) -> None:
    port = free_port()
    env = _env(
        redis_url, tmp_path, queue_prefix, VK_API_URL=emulator.url, VK_TOKENS="demo-user-token"
    )
    with _serve(env, "--port", str(port)) as process:
        await _wait_healthy(f"http://127.0.0.1:{port}", process)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            health = (await client.get("/api/health/detailed")).json()
            workers = health["data"]["details"]["workers"]
            local = sorted(w["details"]["queueName"] for w in workers if w["local"])
            assert local == ["process-groups", "vk-collect", "vk-collect-group"], workers
        stderr = _terminate(process)
    assert process.returncode == 0, stderr
    assert "demo-user-token" not in stderr
