"""API latency while a collection runs, against the same API idle, in one run.

    python benchmarks/api_latency.py [--clients 50] [--requests 3000] [--seconds 20]
    python benchmarks/api_latency.py --wrk [--clients 50] [--seconds 10]

``--wrk`` measures throughput instead: ``vk-collector serve --no-workers`` against a
minimal FastAPI app with one aiosqlite read, endpoint by endpoint, with ``wrk`` (see
``wrk_baseline.py``), and prints requests/s and their ratio.

Starts a private Valkey, the VK emulator in a child process (one user token at
``--rps`` requests/s, so a collection keeps working through the whole measurement) and
the API with its in-process workers in another child process on a free loopback port.
It uploads communities 1-30, then measures ``GET /api/tasks/{id}`` and
``GET /api/health/detailed`` from ``--clients`` concurrent httpx clients (each its own
connection), at most ``--requests`` requests or ``--seconds`` seconds per endpoint:
first idle, then while a collection of every community runs.  It prints p50/p99 per
endpoint and phase and the ratios loaded/idle.  A phase that counted no answered
request, or any error, fails the run (exit 1, ``NotMeasuredError``);
``tests/benchmarks/`` runs it with tiny sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import platform
import socket
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from vk_collector.embedded import EmbeddedValkey
from vk_collector.log import configure

TOKEN = "demo-user-token"
GROUPS = 30
POSTS_PER_GROUP = 50


# --- child processes ----------------------------------------------------------------


def _serve_emulator(rps: float, conn: Connection) -> None:
    from vk_emulator import EmulatorConfig, EmulatorServer

    config = EmulatorConfig(seed=42, groups=GROUPS, rps=rps, user_tokens=(TOKEN,))
    with EmulatorServer(config) as server:
        conn.send(server.url)
        conn.recv()  # any message, or the parent going away, stops the server


def _serve_api(redis_url: str, vk_url: str, rps: float, data_dir: str, conn: Connection) -> None:
    import uvicorn

    from vk_collector.api.app import create_app
    from vk_collector.settings import (
        DatabaseSettings,
        QueuesSettings,
        RedisSettings,
        Settings,
        VkSettings,
    )

    configure("WARNING")
    settings = Settings(
        data_dir=Path(data_dir),
        redis=RedisSettings(url=redis_url),
        database=DatabaseSettings(url=f"sqlite+aiosqlite:///{Path(data_dir) / 'bench.db'}"),
        vk=VkSettings(api_url=vk_url, tokens=[TOKEN], rps_user=rps),
        queues=QueuesSettings(prefix="bench-api", shutdown_timeout_s=1),
    )
    settings.queues.vk_collect.delay_ms = 0
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, redis_url, workers=True),
            log_config=None,
            access_log=False,
            log_level="warning",
            timeout_graceful_shutdown=5,
        )
    )

    def announce_then_wait() -> None:
        while not server.started:
            time.sleep(0.05)
        conn.send(f"http://127.0.0.1:{sock.getsockname()[1]}")
        with contextlib.suppress(EOFError):
            conn.recv()
        server.should_exit = True

    threading.Thread(target=announce_then_wait, daemon=True).start()
    server.run(sockets=[sock])


# --- measurement --------------------------------------------------------------------


class NotMeasuredError(RuntimeError):
    """A phase did not do the work it reports."""


@dataclass
class Sample:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies_ms:
            return float("nan")
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    @property
    def rate(self) -> float:
        return len(self.latencies_ms) / self.elapsed_s if self.elapsed_s else 0.0


async def measure(url: str, clients: int, requests: int, seconds: float) -> Sample:
    """``clients`` concurrent clients share ``requests`` GETs of ``url``, for at most
    ``seconds``; 2xx and 503 (an unhealthy answer is still an answer) count."""
    sample = Sample()
    remaining = requests
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal remaining
        async with httpx.AsyncClient(timeout=10, verify=False) as http:
            await http.get(url)  # connect outside the measurement
            while remaining > 0 and time.perf_counter() < deadline:
                remaining -= 1
                started = time.perf_counter()
                try:
                    response = await http.get(url)
                    ok = response.status_code < 300 or response.status_code == 503
                except httpx.HTTPError:
                    ok = False
                if ok:
                    sample.latencies_ms.append((time.perf_counter() - started) * 1000)
                else:
                    sample.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    sample.elapsed_s = time.perf_counter() - started
    return sample


async def wait_for(http: httpx.AsyncClient, path: str, done: Any, within: float) -> dict[str, Any]:
    deadline = time.monotonic() + within
    while True:
        data: dict[str, Any] = (await http.get(path)).json()["data"]
        if done(data):
            return data
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path} did not reach the expected state: {data}")
        await asyncio.sleep(0.2)


async def run(api: str, args: argparse.Namespace) -> tuple[dict[str, dict[str, Sample]], str]:
    async with httpx.AsyncClient(base_url=api, timeout=30, verify=False) as http:
        lines = "\n".join(str(i) for i in range(1, GROUPS + 1)).encode()
        upload = await http.post("/api/groups/upload", files={"file": ("groups.txt", lines)})
        upload.raise_for_status()
        probe_id = upload.json()["data"]["taskId"]
        await wait_for(
            http,
            f"/api/groups/upload/{probe_id}/status",
            lambda d: d["status"] in ("completed", "failed"),
            120,
        )
        endpoints = {
            "GET /api/tasks/{id}": f"{api}/api/tasks/{probe_id}",
            "GET /api/health/detailed": f"{api}/api/health/detailed",
        }
        results: dict[str, dict[str, Sample]] = {name: {} for name in endpoints}
        for name, url in endpoints.items():
            results[name]["idle"] = await measure(url, args.clients, args.requests, args.seconds)

        started = await http.post(
            "/api/tasks/collect",
            json={"groups": "all", "limit": POSTS_PER_GROUP, "includeReplies": True},
        )
        started.raise_for_status()
        task_id = started.json()["data"]["id"]
        await wait_for(http, f"/api/tasks/{task_id}", lambda d: d["status"] == "processing", 60)
        for name, url in endpoints.items():
            results[name]["loaded"] = await measure(url, args.clients, args.requests, args.seconds)
        task = (await http.get(f"/api/tasks/{task_id}")).json()["data"]
        state = (
            f"collection task {task_id}: {task['status']}, {task['progress']['percentage']}%, "
            f"{task['stats'].get('commentsCollected', 0):,} comments so far"
        )
        if task["status"] != "processing":
            state += "  (WARNING: it ended during the measurement: lower --rps)"
    return results, state


def report(results: dict[str, dict[str, Sample]], state: str, args: argparse.Namespace) -> None:
    print(
        f"API latency: {args.clients} concurrent clients, at most {args.requests} requests or "
        f"{args.seconds:g} s per endpoint and phase; VK emulator at {args.rps:g} req/s; "
        f"Python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs"
    )
    print(state)
    header = (
        f"{'endpoint':<26}{'phase':<8}{'requests':>9}{'errors':>7}{'req/s':>8}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}"
    )
    print(header)
    for name, phases in results.items():
        for phase in ("idle", "loaded"):
            s = phases[phase]
            mean = statistics.fmean(s.latencies_ms) if s.latencies_ms else float("nan")
            print(
                f"{name:<26}{phase:<8}{len(s.latencies_ms):>9}{s.errors:>7}{s.rate:>8.0f}"
                f"{s.percentile(0.50):>9.1f}{s.percentile(0.99):>9.1f}{mean:>9.1f}"
            )
    print(f"{'endpoint':<26}{'p50 loaded/idle':>16}{'p99 loaded/idle':>16}")
    for name, phases in results.items():
        idle, loaded = phases["idle"], phases["loaded"]
        p50 = loaded.percentile(0.50) / idle.percentile(0.50)
        p99 = loaded.percentile(0.99) / idle.percentile(0.99)
        print(f"{name:<26}{p50:>16.2f}{p99:>16.2f}")


def check(results: dict[str, dict[str, Sample]]) -> None:
    for name, phases in results.items():
        for phase, sample in phases.items():
            if not sample.latencies_ms or sample.errors:
                raise NotMeasuredError(
                    f"{name} ({phase}): {len(sample.latencies_ms)} answered, {sample.errors} errors"
                )


def run_benchmark(args: argparse.Namespace) -> tuple[dict[str, dict[str, Sample]], str]:
    """Start Valkey, the emulator and the API, measure, stop them; checked figures."""

    context = multiprocessing.get_context("spawn")
    emulator_end, emulator_child = context.Pipe()
    api_end, api_child = context.Pipe()
    with (
        tempfile.TemporaryDirectory() as data_dir,
        EmbeddedValkey(Path(data_dir) / "valkey", persistence=False, publish=False) as valkey,
    ):
        emulator = context.Process(
            target=_serve_emulator, args=(args.rps, emulator_child), daemon=True
        )
        emulator.start()
        api_process = None
        try:
            if not emulator_end.poll(120):
                raise NotMeasuredError("the emulator did not start within 120 s")
            vk_url = emulator_end.recv()
            api_process = context.Process(
                target=_serve_api,
                args=(valkey.url, vk_url, args.rps, data_dir, api_child),
                daemon=True,
            )
            api_process.start()
            if not api_end.poll(120):
                raise NotMeasuredError("the API did not start within 120 s")
            results, state = asyncio.run(run(api_end.recv(), args))
        finally:
            if api_process is not None:
                api_end.send("stop")
                api_process.join(40)
            emulator_end.send("stop")
            emulator.join(15)
    check(results)
    return results, state


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=3000, help="per endpoint and phase")
    parser.add_argument("--seconds", type=float, default=20.0, help="per endpoint and phase")
    parser.add_argument("--rps", type=float, default=20.0, help="VK requests/s of the token")
    parser.add_argument("--wrk", action="store_true", help="throughput against a minimal app")
    parser.add_argument("--tasks", type=int, default=50, help="tasks stored for --wrk")
    return parser


def main() -> int:
    args = parser().parse_args()
    configure("WARNING")
    if args.wrk:
        import wrk_baseline

        with tempfile.TemporaryDirectory() as data_dir:
            seconds = args.seconds if args.seconds != 20.0 else 10.0
            found = wrk_baseline.compare(args.clients, seconds, args.tasks, Path(data_dir))
        wrk_baseline.report(found, args.clients)
        return 0
    try:
        results, state = run_benchmark(args)
    except NotMeasuredError as exc:
        print(f"benchmark invalid: {exc}", file=sys.stderr)
        return 1
    report(results, state, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
