"""The process-wide execute batcher (vk_collector.vk.page_batcher) over real HTTP.

- Pages of two concurrent streams (two communities) share ``execute`` requests, and the
  requests are as full as the pages allow.
- A community's ``wall.get`` rides in an ``execute`` with comment pages.
- A whole-request failure reaches every stream with pages in it.
- Closing one stream leaves the other's data complete; the senders stop once no
  stream is open, and once a cancelled call was their only work.
- Closing the client ends a stream still open with an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from urllib.parse import parse_qs

import httpx
import pytest

from vk_collector.errors import VkApiError
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import CommentBatch, PostKey, fetch_recent_posts, stream_comments
from vk_collector.vk.page_batcher import batcher_for
from vk_emulator import Dataset, EmulatorServer

from support.polling import eventually
from support.vk import comment_texts

pytestmark = pytest.mark.instant_retries

_CALL_RE = re.compile(r"API\.([a-zA-Z.]+)\((\{.*?\})\)")


class RecordingTransport(httpx.AsyncBaseTransport):
    """Real loopback HTTP; records the calls of every ``execute`` request as
    ``(method, owner_id)`` pairs, one list per request."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.executes: list[list[tuple[str, int]]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/execute"):
            form = parse_qs((await request.aread()).decode())
            code = form["code"][0]
            calls = [(m, int(json.loads(args)["owner_id"])) for m, args in _CALL_RE.findall(code)]
            self.executes.append(calls)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


def posts_of(dataset: Dataset, group_id: int) -> list[PostKey]:
    return [(p.owner_id, p.id) for p in dataset.posts(group_id)]


async def collect(
    client: VkClient, posts: list[PostKey], include_replies: bool = True
) -> list[CommentBatch]:
    got: list[CommentBatch] = []
    async with contextlib.aclosing(stream_comments(client, posts, include_replies)) as stream:
        async for batches in stream:
            got.extend(batches)
    return got


async def test_pages_of_two_communities_share_execute_requests(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    dataset = emulator.dataset
    first, second = posts_of(dataset, 1), posts_of(dataset, 2)
    transport = RecordingTransport()
    client = vk_client_factory(transport, rps=5)  # spaced grants: answers come back between them

    one, two = await asyncio.gather(
        collect(client, first, include_replies=False),
        collect(client, second, include_replies=False),
    )

    assert {(b.owner_id, b.post_id) for b in one if b.done} == set(first)
    assert {(b.owner_id, b.post_id) for b in two if b.done} == set(second)
    owners = [{owner for _, owner in calls} for calls in transport.executes]
    assert any(len(seen) == 2 for seen in owners), owners
    pages = emulator.stats()["inner_calls"]["wall.getComments"]
    assert pages == sum(len(calls) for calls in transport.executes)
    # two streams with their own senders would need at least one partial request each
    assert len(transport.executes) <= math.ceil(pages / 25) + 2, [len(c) for c in owners]


async def test_wall_get_rides_with_comment_pages(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    dataset = emulator.dataset
    transport = RecordingTransport()
    client = vk_client_factory(transport, rps=20)

    batches, posts = await asyncio.gather(
        collect(client, posts_of(dataset, 1), include_replies=False),
        fetch_recent_posts(client, -2, 5),
    )

    newest = sorted(dataset.posts(2), key=lambda p: (p.date, p.id), reverse=True)[:5]
    assert [p.id for p in posts] == [p.id for p in newest]
    assert any(b.done for b in batches)
    mixed = [
        calls
        for calls in transport.executes
        if {m for m, _ in calls} == {"wall.get", "wall.getComments"}
    ]
    assert mixed, transport.executes
    stats = emulator.stats()
    assert "wall.get" not in stats["methods"]  # never a request of its own
    assert stats["inner_calls"]["wall.get"] >= 1


async def test_a_failed_request_reaches_every_stream_in_it(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    dataset = emulator.dataset
    client = vk_client_factory(token="a-token-vk-does-not-know-7")  # VK answers 5 to anything

    outcomes = await asyncio.gather(
        collect(client, posts_of(dataset, 1)[:5]),
        collect(client, posts_of(dataset, 2)[:5]),
        return_exceptions=True,
    )

    for outcome in outcomes:
        assert isinstance(outcome, VkApiError), outcome
        assert outcome.error_code == 5
    assert emulator.stats()["total_requests"] == 1  # one request held the pages of both


async def test_closing_one_stream_leaves_the_other_complete(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    dataset = emulator.dataset
    client = vk_client_factory()
    kept_posts = posts_of(dataset, 2)

    async def close_early() -> int:
        stream = stream_comments(client, posts_of(dataset, 1))
        async with contextlib.aclosing(stream):
            async for batches in stream:
                return len(batches)
        raise AssertionError("the stream yielded nothing")

    taken, kept = await asyncio.gather(close_early(), collect(client, kept_posts))

    assert taken > 0
    got: dict[PostKey, set[tuple[int, int | None, str]]] = {key: set() for key in kept_posts}
    for batch in kept:
        got[(batch.owner_id, batch.post_id)] |= {
            (c.comment_id, c.parent_comment_id, c.text) for c in batch.comments
        }
    assert got == {key: comment_texts(dataset, key) for key in kept_posts}
    assert {(b.owner_id, b.post_id) for b in kept if b.done} == set(kept_posts)
    batcher = batcher_for(client)
    await eventually(lambda: batcher.senders == 0, within=5)


async def test_a_cancelled_call_leaves_no_sender_behind(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    client = vk_client_factory(rps=2)  # the second grant is 0.57 s away
    batcher = batcher_for(client)
    assert len(await fetch_recent_posts(client, -1, 1)) == 1  # takes the first slot

    waiting = asyncio.create_task(fetch_recent_posts(client, -2, 1))
    await eventually(lambda: batcher.senders > 0, within=5)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting

    await eventually(lambda: batcher.senders == 0, within=5)
    assert len(await fetch_recent_posts(client, -3, 1)) == 1  # the batcher still serves


async def test_closing_the_client_ends_an_open_stream(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    client = vk_client_factory(rps=2)
    batcher = batcher_for(client)
    stream = stream_comments(client, posts_of(emulator.dataset, 1))
    async with contextlib.aclosing(stream):
        first = await anext(stream)
        assert first
        assert batcher.senders > 0
        await client.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            async for _ in stream:
                pass
    assert batcher.senders == 0
