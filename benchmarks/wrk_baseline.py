"""Throughput of ``vk-collector serve --no-workers`` against a minimal FastAPI app, with
``wrk`` (used by ``api_latency.py --wrk``).

Both apps run under uvicorn on loopback with the same SQLite file: vk-collector's own
database with ``--tasks`` tasks in it.  The minimal app answers a liveness probe with a
small dict and a task page with one ``aiosqlite`` read (``SELECT ... LIMIT 20`` on a
connection opened for the request, the plainest code): the floor of what a FastAPI
service reading SQLite on this machine does per request.  Each endpoint pair is
measured with ``wrk -c<connections>``, one after the other so they do not share the
CPUs, and the ratio is vk-collector's requests/s over the minimal app's.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vk_collector.embedded import free_port

PAIRS = (
    ("liveness", "/api/health", "/health"),
    ("task list", "/api/tasks?page=1&limit=20", "/tasks"),
    ("group list", "/api/groups?page=1&limit=20", "/groups"),
)


def minimal_app(db_path: str) -> Any:
    """The comparison app (built in the uvicorn child from ``--factory``)."""
    import aiosqlite
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"success": True, "data": {"status": "healthy"}}

    async def rows(query: str) -> list[dict[str, Any]]:
        async with aiosqlite.connect(db_path) as connection:
            cursor = await connection.execute(query)
            names = [c[0] for c in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]

    @app.get("/tasks")
    async def tasks() -> dict[str, Any]:
        query = "SELECT id, type, status, progress FROM tasks ORDER BY id DESC LIMIT 20"
        return {"success": True, "data": await rows(query)}

    @app.get("/groups")
    async def groups() -> dict[str, Any]:
        query = "SELECT id, vk_id, name FROM groups ORDER BY id LIMIT 20"
        return {"success": True, "data": await rows(query)}

    return app


def _app_from_env() -> Any:
    return minimal_app(os.environ["VKC_BENCH_DB"])


@dataclass
class Result:
    name: str
    ours: float
    minimal: float

    @property
    def ratio(self) -> float:
        return self.ours / self.minimal if self.minimal else 0.0


def _wait_up(url: str, deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > end:
                raise
            time.sleep(0.2)


@contextlib.contextmanager
def _process(args: list[str], env: dict[str, str], probe: str) -> Iterator[None]:
    process = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_up(probe)
        yield
    finally:
        process.terminate()
        process.wait(30)


def wrk(url: str, connections: int, seconds: float) -> float:
    """Requests/s that ``wrk`` measured (non-2xx answers make it fail loudly)."""
    out = subprocess.run(
        ["wrk", f"-c{connections}", "-t2", f"-d{seconds:g}s", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in out:
        raise RuntimeError(f"{url} answered errors:\n{out}")
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")
    return float(found.group(1))


def _post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10):
        pass


def compare(connections: int, seconds: float, tasks: int, data_dir: Path) -> list[Result]:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    ours_port, minimal_port = free_port(), free_port()
    env = {**os.environ, "VKC_DATA_DIR": str(data_dir), "VKC_LOG_LEVEL": "WARNING"}
    for name in ("REDIS_URL", "DATABASE_URL", "API_KEY", "PORT", "DB_URL", "REDIS_HOST"):
        env.pop(name, None)
    cli = str(Path(sys.executable).with_name("vk-collector"))
    ours = f"http://127.0.0.1:{ours_port}"
    minimal = f"http://127.0.0.1:{minimal_port}"
    serve = [cli, "serve", "--no-workers", "--port", str(ours_port)]
    results = []
    with _process(serve, env, f"{ours}/api/health"):
        for number in range(tasks):
            _post(f"{ours}/api/tasks", {"ownerId": -1, "postId": number + 1})
        minimal_env = {**env, "VKC_BENCH_DB": str(data_dir / "vk_collector.db")}
        uvicorn = [
            sys.executable, "-m", "uvicorn", "--factory", "wrk_baseline:_app_from_env",
            "--port", str(minimal_port), "--log-level", "warning", "--no-access-log",
            "--app-dir", str(Path(__file__).parent),
        ]  # fmt: skip
        with _process(uvicorn, minimal_env, f"{minimal}/health"):
            for name, our_path, minimal_path in PAIRS:
                wrk(ours + our_path, connections, 1)  # warm-up
                wrk(minimal + minimal_path, connections, 1)
                results.append(
                    Result(
                        name,
                        wrk(ours + our_path, connections, seconds),
                        wrk(minimal + minimal_path, connections, seconds),
                    )
                )
    return results


def report(results: list[Result], connections: int) -> None:
    print(f"wrk -c{connections}: vk-collector serve --no-workers vs a minimal FastAPI app")
    print(f"{'endpoint':<12} {'vk-collector':>14} {'minimal':>10} {'ratio':>7}")
    for r in results:
        print(f"{r.name:<12} {r.ours:>14,.0f} {r.minimal:>10,.0f} {r.ratio:>7.2f}")
