"""Node.js and the npm ``bullmq`` package the original system used, for interop tests.

``node_interop`` (session) makes sure ``node`` and ``npm`` are on PATH and that
``tests/node/node_modules`` holds the ``bullmq`` version pinned in
``tests/node/package-lock.json`` (``npm ci`` when it does not), then returns a runner
for ``tests/node/interop.mjs``.  A missing Node.js fails the tests that need it with
the command that installs it: they are part of the suite, never skipped.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

NODE_DIR = Path(__file__).parents[1] / "node"
SCRIPT = NODE_DIR / "interop.mjs"


def _pinned_version() -> str:
    lock = json.loads((NODE_DIR / "package-lock.json").read_text(encoding="utf-8"))
    return str(lock["packages"]["node_modules/bullmq"]["version"])


def _installed_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "bullmq" / "package.json"
    if not manifest.is_file():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


@dataclass
class NodeProcess:
    """One running ``interop.mjs`` command; ``line()`` reads its next JSON line."""

    process: asyncio.subprocess.Process
    seen: list[Any] = field(default_factory=list)

    async def line(self, within: float = 30.0) -> Any:
        assert self.process.stdout is not None
        raw = await asyncio.wait_for(self.process.stdout.readline(), within)
        if not raw:
            err = b""
            if self.process.stderr is not None:
                err = await self.process.stderr.read()
            await self.process.wait()
            pytest.fail(
                f"node exited ({self.process.returncode}) before answering: "
                f"{err.decode(errors='replace')[-2000:]}"
            )
        value = json.loads(raw)
        self.seen.append(value)
        return value

    async def finish(self, within: float = 30.0) -> int:
        return await asyncio.wait_for(self.process.wait(), within)


@dataclass
class NodeInterop:
    node: str
    running: list[NodeProcess] = field(default_factory=list)

    async def start(self, *args: str) -> NodeProcess:
        process = await asyncio.create_subprocess_exec(
            self.node,
            str(SCRIPT),
            *args,
            cwd=NODE_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        started = NodeProcess(process)
        self.running.append(started)
        return started

    async def stop_all(self) -> None:
        for started in self.running:
            if started.process.returncode is None:
                started.process.kill()
                await started.process.wait()
        self.running.clear()


@pytest.fixture(scope="session")
def node_bullmq() -> str:
    """The path of ``node`` once ``tests/node`` has its pinned ``bullmq``."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "Node.js and npm are required for the BullMQ interop tests (the original "
            "system's client); install them (Debian: apt-get install -y nodejs npm) "
            "and run again"
        )
    if _installed_version() != _pinned_version():
        result = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci in {NODE_DIR} failed: {result.stderr[-2000:]}")
        assert _installed_version() == _pinned_version()
    return node


@pytest.fixture
async def node_interop(node_bullmq: str) -> AsyncIterator[NodeInterop]:
    interop = NodeInterop(node_bullmq)
    yield interop
    await interop.stop_all()
