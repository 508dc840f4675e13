"""The continuous comment stream (vk_collector.vk.collect.stream_comments) over real HTTP.

- No round barrier: while one ``execute`` answer is held back, the other senders keep
  sending and absorbing (with a barrier nothing else would complete until it returns).
- Order: a post's ``done`` batch comes after every batch that holds its comments, and
  the comments equal what the emulator serves.
- A fatal error (invalid token) ends the stream with that error.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import pytest

from vk_collector.errors import ErrorSeverity, VkApiError
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import CommentBatch, PostKey, stream_comments
from vk_emulator import Dataset, EmulatorServer

from support.vk import comment_texts

pytestmark = pytest.mark.instant_retries

HOLD_LIMIT_S = 10.0  # a barrier would keep the held answer until here: the test fails


class HoldFirstExecute(httpx.AsyncBaseTransport):
    """Real loopback HTTP, except that the first ``execute`` answer is held back until
    ``others_needed`` other requests have completed (or ``HOLD_LIMIT_S`` passed)."""

    def __init__(self, others_needed: int) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._others_needed = others_needed
        self._held = False
        self.completed_meanwhile = 0
        self.released_by_others = asyncio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if not self._held:
            self._held = True
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.released_by_others.wait(), HOLD_LIMIT_S)
            return response
        self.completed_meanwhile += 1
        if self.completed_meanwhile >= self._others_needed:
            self.released_by_others.set()
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


def posts_of(dataset: Dataset, groups: range) -> list[PostKey]:
    return [(p.owner_id, p.id) for g in groups for p in dataset.posts(g)]


async def collect(client: VkClient, posts: list[PostKey]) -> list[CommentBatch]:
    got: list[CommentBatch] = []
    async with contextlib.aclosing(stream_comments(client, posts)) as stream:
        async for batches in stream:
            got.extend(batches)
    return got


async def test_requests_keep_flowing_while_one_answer_is_slow(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    posts = posts_of(emulator.dataset, range(1, 6))  # ~125 posts: 5+ full first requests
    transport = HoldFirstExecute(others_needed=4)
    batches = await collect(vk_client_factory(transport), posts)

    assert transport.released_by_others.is_set(), transport.completed_meanwhile
    done = {(b.owner_id, b.post_id) for b in batches if b.done}
    assert done == set(posts)
    assert emulator.stats()["methods"]["execute"] >= 5


async def test_a_posts_done_batch_comes_after_all_its_comments(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    dataset = emulator.dataset
    posts = posts_of(dataset, range(1, 4))
    batches = await collect(vk_client_factory(), posts)

    finished: set[PostKey] = set()
    got: dict[PostKey, set[tuple[int, int | None, str]]] = {}
    for batch in batches:
        key = (batch.owner_id, batch.post_id)
        assert key not in finished, f"{key}: comments after its done batch"
        got.setdefault(key, set()).update(
            (c.comment_id, c.parent_comment_id, c.text) for c in batch.comments
        )
        if batch.done:
            finished.add(key)
    assert finished == set(posts)
    several = [k for k in posts if sum(1 for b in batches if (b.owner_id, b.post_id) == k) > 1]
    assert several, "no post spread over several answers: the order was not exercised"
    for key in posts:
        if not dataset.post(*key).comments_disabled:  # type: ignore[union-attr]
            assert got[key] == comment_texts(dataset, key)


async def test_an_invalid_token_ends_the_stream_with_its_error(
    emulator: EmulatorServer, vk_client_factory: type[VkClient]
) -> None:
    posts = posts_of(emulator.dataset, range(1, 3))
    with pytest.raises(VkApiError) as caught:
        await collect(vk_client_factory(token="not-a-known-token-123"), posts)
    assert caught.value.error_code == 5
    assert caught.value.severity is ErrorSeverity.PERMANENT
    errors = emulator.stats()["errors"]
    assert set(errors) == {"5"}
    assert 1 <= errors["5"] <= 3  # at most one request per sender, none retried
