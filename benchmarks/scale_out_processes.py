"""The processes of ``scale_out.py``: the VK emulator serving heavy walls (run as
``python benchmarks/scale_out_processes.py --emulator ...``), a private PostgreSQL
cluster, and ``vk-collector worker`` processes with their CPU time."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import psutil
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
RPS = 3.0
PER_TOKEN = RPS * 25 * 100
"""VK's limit for one user token in comments/s: 3 requests/s x 25 pages x 100."""
SEED = 7
ANCHOR = 1_767_225_600
PG_BINDIR = Path(os.environ.get("VKC_TEST_PG_BINDIR", "/usr/lib/postgresql/15/bin"))


def tokens(n: int) -> list[str]:
    return [f"demo-user-token-{i}" for i in range(1, n + 1)]


# --- the emulator process -----------------------------------------------------------


def serve_emulator(groups: int, comments: int, limit: int, max_tokens: int) -> None:
    """Run as ``--emulator``: serve heavy walls, print one JSON line (url, and per
    community chosen: its id, recent posts and their top-level comments), serve until
    stdin closes.

    Open communities are taken in order until there are ``groups`` of them and their
    ``limit`` recent posts hold ``comments`` top-level comments.  Every comment tree of
    those posts is built before the line is printed (about 45 ms and 2 MB each), and
    the dataset keeps them all, so no run's clock includes building one."""
    sys.path.insert(0, str(HERE))
    from heavy_walls import HeavyDataset, open_groups, recent_posts

    from vk_collector.gc_tuning import tune_for_service
    from vk_emulator.config import EmulatorConfig
    from vk_emulator.server import EmulatorServer

    # heavy posts hold 1,001-3,000 top-level comments: 1,000 each bounds the communities
    wanted = max(groups, -(-comments // (1000 * max(1, limit))))
    config = EmulatorConfig(
        seed=SEED,
        groups=max(200, 4 * wanted),
        rps=RPS,
        max_comments_per_post=3000,
        posts_per_group=(max(25, limit + 5), max(70, limit + 10)),
        anchor_time=ANCHOR,
        user_tokens=tuple(tokens(max_tokens)),
    )
    dataset = HeavyDataset.from_config(config, tree_cache_size=2 * wanted * limit + 16)
    walls: list[tuple[int, int, int]] = []
    started = time.monotonic()
    for group in open_groups(dataset, 2 * wanted):
        if len(walls) >= groups and sum(w[2] for w in walls) >= comments:
            break
        recent = recent_posts(dataset, group, limit)
        for post in recent:  # VK has its data ready: trees are built before the clock
            dataset.comment_tree(post.owner_id, post.id)
        walls.append((group, len(recent), sum(len(p.thread_sizes) for p in recent)))
    if len(walls) < groups or sum(w[2] for w in walls) < comments:
        raise RuntimeError(f"{len(walls)} open communities hold fewer than {comments} comments")
    tune_for_service()  # the trees stay out of every collection, as in `vk-collector emulator`
    server = EmulatorServer(config, dataset=dataset).start()
    try:
        built = {"trees": sum(w[1] for w in walls), "build_s": time.monotonic() - started}
        line = {"url": server.url, "base": server.base_url, "walls": walls, **built}
        print(json.dumps(line), flush=True)
        sys.stdin.read()
    finally:
        server.stop()


@dataclass(frozen=True)
class Walls:
    """Communities one run collects, and the posts and comments the emulator serves
    for them (``limit`` recent posts each, top-level comments)."""

    groups: list[int]
    posts: int
    comments: int


@dataclass
class Emulator:
    """The emulator process; ``walls`` is (community, posts, comments) of every
    community it has ready, in the order runs take them."""

    process: subprocess.Popen[str]
    url: str
    base: str
    walls: list[tuple[int, int, int]]
    trees: int = 0
    build_s: float = 0.0
    """Comment trees built before any clock started, and the seconds that took."""

    @classmethod
    def start(cls, groups: int, comments: int, limit: int, max_tokens: int) -> Emulator:
        """Serve at least ``groups`` communities holding ``comments`` comments."""
        command = [sys.executable, str(Path(__file__).resolve()), "--emulator"]
        command += ["--groups", str(groups), "--comments", str(comments)]
        command += ["--limit", str(limit), "--max-tokens", str(max_tokens)]
        process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"the emulator process ended ({process.wait()})")
        try:
            info = json.loads(line)
        except ValueError:
            process.kill()
            process.wait()
            raise RuntimeError(f"the emulator process said {line!r}, not its JSON") from None
        walls = [(int(g), int(p), int(c)) for g, p, c in info["walls"]]
        return cls(process, info["url"], info["base"], walls, info["trees"], info["build_s"])

    def pick(self, groups: int, comments: int = 0) -> Walls:
        """The first communities that are at least ``groups`` and hold ``comments``."""
        chosen: list[tuple[int, int, int]] = []
        for wall in self.walls:
            if len(chosen) >= groups and sum(c for _, _, c in chosen) >= comments:
                break
            chosen.append(wall)
        return Walls([g for g, _, _ in chosen], sum(p for _, p, _ in chosen),
                     sum(c for _, _, c in chosen))  # fmt: skip

    def stats(self) -> dict[str, Any]:
        return dict(httpx.get(self.base + "stats", timeout=10).json())

    def reset(self) -> None:
        httpx.post(self.base + "stats/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        assert self.process.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)


# --- PostgreSQL ------------------------------------------------------------------------


@contextlib.contextmanager
def postgres() -> Iterator[tuple[str, int]]:
    """A private PostgreSQL cluster (tests/support/database.py's): its server URL and
    the postmaster's process id (its children are the backends)."""
    if not (PG_BINDIR / "initdb").exists():
        raise RuntimeError(
            f"PostgreSQL's initdb is not in {PG_BINDIR} (set VKC_TEST_PG_BINDIR): "
            "the PostgreSQL runs cannot be measured"
        )
    sys.path.insert(0, str(HERE.parent / "tests"))
    from support.database import PostgresCluster

    cluster = PostgresCluster(PG_BINDIR)
    try:
        url = cluster.start()
        yield url, int((cluster.data / "postmaster.pid").read_text().split()[0])
    finally:
        cluster.stop()


async def new_postgres_database(server_url: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


# --- worker processes ----------------------------------------------------------------


class WorkerProcess:
    """``vk-collector worker`` (every queue) in a process of its own."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vk_collector.cli", "worker"],
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
        )
        self.ps = psutil.Process(self.process.pid)

    async def ready(self, within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while "worker ready" not in self.log.read_text(errors="replace"):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker did not start:\n{self.log.read_text()[-3000:]}")
            await asyncio.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._out.close()


def main() -> int:
    parser = argparse.ArgumentParser(description="the emulator process of scale_out.py")
    parser.add_argument("--emulator", action="store_true", required=True)
    parser.add_argument("--groups", type=int, required=True)
    parser.add_argument("--comments", type=int, required=True)
    parser.add_argument("--limit", type=int, required=True)
    parser.add_argument("--max-tokens", type=int, required=True)
    args = parser.parse_args()
    serve_emulator(args.groups, args.comments, args.limit, args.max_tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())
