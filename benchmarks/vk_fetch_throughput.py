"""Comments/s fetched through the VK client at VK's real per-token limit, in one run.

    python benchmarks/vk_fetch_throughput.py --seconds 20

Starts a private Valkey (for the rate limiter) and the VK emulator in a child process at
3 requests/s for one user token, then fetches whole posts with >= 1000 top-level
comments (so pages are full), about ``--seconds`` of work per mode (the post set is
sized from the limit; time is measured from the first request to the last answer):

* ``execute``: top-level comments, 25 pages per request, pages of several posts packed;
* ``single``: top-level comments, one ``wall.getComments`` page per request;
* ``execute+replies``: whole posts, threads included.  Thread pages hold a few replies
  each, so this line is better read in pages/s against 75 pages/s.

Comments/s are printed against the theoretical limit 3 req/s x 25 calls x 100 comments
= 7,500 comments/s.  A mode that fetched other comments than the emulator serves for
its posts, or counted no request, fails the run (exit 1, ``NotMeasuredError``);
``tests/benchmarks/`` runs it with tiny sizes.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio as aioredis
from pydantic import SecretStr

from vk_collector.embedded import EmbeddedValkey
from vk_collector.log import configure
from vk_collector.settings import VkSettings
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import iter_posts_comments
from vk_emulator.config import EmulatorConfig
from vk_emulator.dataset import Dataset
from vk_emulator.models import Post
from vk_emulator.server import EmulatorServer

RPS = 3.0
LIMIT_COMMENTS = RPS * 25 * 100
LIMIT_PAGES = RPS * 25
TOKEN = "demo-user-token"


def _serve(options: dict[str, Any], posts: list[tuple[int, int]], conn: Connection) -> None:
    server = EmulatorServer(EmulatorConfig(**options))
    for owner_id, post_id in posts:  # VK has its data ready; build the comment trees first
        server.dataset.comment_tree(owner_id, post_id)
    with server:
        conn.send(server.url)
        conn.recv()  # any message (or the parent closing the pipe) stops the server


class NotMeasuredError(RuntimeError):
    """A mode did not do the work it reports."""


@dataclass
class Result:
    name: str
    posts: int
    expected: int
    comments: int
    pages: int
    requests: int
    errors_6: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.comments / self.seconds

    @property
    def pages_per_second(self) -> float:
        return self.pages / self.seconds


def _stats(base_url: str) -> dict[str, Any]:
    data: dict[str, Any] = httpx.get(base_url + "stats", timeout=10).json()
    return data


async def _run(
    name: str,
    url: str,
    redis: aioredis.Redis,
    chosen: list[Post],
    *,
    use_execute: bool,
    include_replies: bool,
) -> Result:
    posts = [(post.owner_id, post.id) for post in chosen]
    expected = sum(p.comments_count if include_replies else len(p.thread_sizes) for p in chosen)
    base = url.removesuffix("method/")
    settings = VkSettings(
        api_url=url, tokens=[SecretStr(TOKEN)], rps_user=RPS, use_execute=use_execute
    )
    before = _stats(base)
    comments = 0
    async with VkClient(settings, redis=redis, key_prefix="bench:vk") as client:
        started = time.monotonic()
        async for batch in iter_posts_comments(client, posts, include_replies):
            comments += len(batch.comments)
        elapsed = time.monotonic() - started
    after = _stats(base)
    pages = after["inner_calls"].get("wall.getComments", 0) - before["inner_calls"].get(
        "wall.getComments", 0
    )
    pages += after["methods"].get("wall.getComments", 0) - before["methods"].get(
        "wall.getComments", 0
    )
    requests = after["total_requests"] - before["total_requests"]
    errors_6 = int(after["errors"].get("6", 0)) - int(before["errors"].get("6", 0))
    if comments != expected or requests == 0:
        raise NotMeasuredError(
            f"{name}: fetched {comments} comments in {requests} requests; "
            f"the emulator serves {expected} for those posts"
        )
    return Result(name, len(posts), expected, comments, pages, requests, errors_6, elapsed)


def _big_posts(dataset: Dataset, minimum: int) -> list[Post]:
    return [
        post
        for group_id in dataset.group_ids()
        for post in dataset.posts(group_id)
        if not post.comments_disabled and len(post.thread_sizes) >= minimum
    ]


def _enough(posts: list[Post], comments: float, *, replies: bool) -> list[Post]:
    """The first posts that hold at least ``comments`` comments between them."""
    chosen: list[Post] = []
    total = 0
    for post in posts:
        if total >= comments:
            break
        chosen.append(post)
        total += post.comments_count if replies else len(post.thread_sizes)
    return chosen


async def measure(seconds: float, groups: int) -> list[Result]:
    """Run the three modes, each on posts that hold about ``seconds`` of work."""
    # EmulatorConfig holds a mappingproxy and does not pickle: the child builds its own.
    options: dict[str, Any] = {
        "seed": 7,
        "groups": groups,
        "rps": RPS,
        "anchor_time": 1_767_225_600,
    }
    posts = _big_posts(Dataset.from_config(EmulatorConfig(**options)), 1000)
    keys = [(post.owner_id, post.id) for post in posts]
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    emulator = context.Process(target=_serve, args=(options, keys, child), daemon=True)
    emulator.start()
    with (
        tempfile.TemporaryDirectory() as data_dir,
        EmbeddedValkey(Path(data_dir), persistence=False, publish=False) as valkey,
    ):
        if not parent.poll(120):
            raise NotMeasuredError("the emulator did not start within 120 s")
        url = parent.recv()
        redis = aioredis.Redis.from_url(valkey.url)
        try:
            results = [
                await _run(
                    "execute",
                    url,
                    redis,
                    _enough(posts, seconds * LIMIT_COMMENTS, replies=False),
                    use_execute=True,
                    include_replies=False,
                ),
                await _run(
                    "single",
                    url,
                    redis,
                    _enough(posts, seconds * RPS * 100, replies=False),
                    use_execute=False,
                    include_replies=False,
                ),
                await _run(
                    "execute+replies",
                    url,
                    redis,
                    _enough(posts, seconds * LIMIT_COMMENTS / 2, replies=True),
                    use_execute=True,
                    include_replies=True,
                ),
            ]
        finally:
            await redis.aclose()
            parent.send("stop")
            emulator.join(15)
    return results


def print_results(results: list[Result], seconds: float) -> None:
    print(
        f"VK fetch throughput: 1 user token at {RPS:g} req/s; whole posts with >= 1000 "
        f"top-level comments, about {seconds:g} s of work per mode; "
        f"Python {platform.python_version()}, {multiprocessing.cpu_count()} CPUs"
    )
    print(f"theoretical limit: {LIMIT_COMMENTS:,.0f} comments/s ({LIMIT_PAGES:g} pages/s)")
    header = f"{'mode':<16}{'posts':>6}{'comments':>10}{'pages':>8}{'requests':>9}{'err 6':>6}"
    print(header + f"{'comments/s':>12}{'ratio':>8}{'pages/s':>9}{'ratio':>8}")
    for r in results:
        print(
            f"{r.name:<16}{r.posts:>6}{r.comments:>10,}{r.pages:>8,}{r.requests:>9,}{r.errors_6:>6}"
            f"{r.per_second:>12,.0f}{r.per_second / LIMIT_COMMENTS:>8.3f}"
            f"{r.pages_per_second:>9.1f}{r.pages_per_second / LIMIT_PAGES:>8.3f}"
        )
    execute, single = results[0], results[1]
    print(f"execute / single: {execute.per_second / single.per_second:.1f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="duration of each mode")
    parser.add_argument("--groups", type=int, default=300, help="communities in the dataset")
    args = parser.parse_args()
    configure("WARNING")
    try:
        results = asyncio.run(measure(args.seconds, args.groups))
    except NotMeasuredError as exc:
        print(f"benchmark invalid: {exc}", file=sys.stderr)
        return 1
    print_results(results, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
