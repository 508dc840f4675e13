"""How the execute batcher (vk_collector.vk.page_batcher) handles VK's failures, against
a small in-memory fake of VK (``httpx.MockTransport``; the limiter and token pool still
run against the suite's real Valkey):

- a page failing transiently inside ``execute`` is sent again, in a later request;
- error 13 for a whole ``execute`` halves the chunk and every page still arrives, and
  the chunk grows back after ten successful requests;
- a quota error (29) whose cool-down cannot be recorded still retries the page;
- closing the client ends a call in flight (no caller waits forever);
- error 28 for ``execute`` makes the pages go one per request;
- a page failing transiently on every attempt ends its stream with that error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import redis.asyncio as aioredis

from vk_collector.errors import VkApiError
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import CommentBatch, PostKey, fetch_recent_posts, stream_comments

from support.vk import fast_vk_settings

pytestmark = pytest.mark.instant_retries

TOKEN = "batcher-fake-token-5f6e7d8c9b0a"
POSTS: list[PostKey] = [(-1, post_id) for post_id in range(1, 41)]
_CALL_RE = re.compile(r"API\.([a-zA-Z.]+)\((\{.*?\})\)")

Answer = Callable[[int, dict[str, Any]], Any]
"""``(request number, call params)`` -> the page, ``False`` with an error, or a body."""


def page(post_id: int) -> dict[str, Any]:
    comment = {"id": post_id * 10, "from_id": 7, "date": 1, "text": f"c{post_id}"}
    return {"count": 1, "current_level_count": 1, "items": [comment]}


class FakeVk:
    """Answers ``execute`` with one page per ``wall.getComments`` call (or what
    ``execute_answer`` says), single calls with their page; records each request."""

    def __init__(self, execute_answer: Callable[[int, list[dict[str, Any]]], Any]) -> None:
        self.execute_answer = execute_answer
        self.requests: list[tuple[str, list[int]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        if method == "execute":
            calls = [json.loads(args) for _, args in _CALL_RE.findall(form["code"])]
            self.requests.append((method, [int(c["post_id"]) for c in calls]))
            body = self.execute_answer(len(self.requests), calls)
        else:
            self.requests.append((method, [int(form["post_id"])]))
            body = {"response": page(int(form["post_id"]))}
        return httpx.Response(200, json=body)


def all_pages(calls: list[dict[str, Any]]) -> dict[str, Any]:
    return {"response": [page(int(c["post_id"])) for c in calls]}


@pytest.fixture
def run(redis_client: aioredis.Redis) -> Callable[..., Any]:
    async def run_stream(
        fake: FakeVk,
        concurrency: int = 3,
        posts: list[PostKey] = POSTS,
        prepare: Callable[[VkClient], None] = lambda _: None,
        **overrides: Any,
    ) -> list[CommentBatch]:
        settings = fast_vk_settings("http://vk.test/method/", [TOKEN], **overrides)
        async with VkClient(
            settings,
            redis=redis_client,
            transport=httpx.MockTransport(fake),
            key_prefix=f"test-batcher-{uuid.uuid4().hex[:8]}",
            concurrency=concurrency,
        ) as client:
            prepare(client)
            got: list[CommentBatch] = []
            async with contextlib.aclosing(stream_comments(client, posts, False)) as stream:
                async for batches in stream:
                    got.extend(batches)
            return got

    return run_stream


def assert_complete(batches: list[CommentBatch], posts: list[PostKey] = POSTS) -> None:
    comments = {c.comment_id for b in batches for c in b.comments}
    assert comments == {post_id * 10 for _, post_id in posts}
    assert {b.post_id for b in batches if b.done} == {post_id for _, post_id in posts}


async def test_a_page_failing_inside_execute_is_sent_again(run: Callable[..., Any]) -> None:
    def answer(number: int, calls: list[dict[str, Any]]) -> Any:
        body = all_pages(calls)
        if number == 1:  # the first page of the first request fails once, transiently
            body["response"][0] = False
            body["execute_errors"] = [{"method": "wall.getComments", "error_code": 10}]
        return body

    fake = FakeVk(answer)
    assert_complete(await run(fake))
    first_failed = fake.requests[0][1][0]
    assert [first_failed in ids for _, ids in fake.requests].count(True) == 2


async def test_error_13_halves_the_chunk(run: Callable[..., Any]) -> None:
    def answer(number: int, calls: list[dict[str, Any]]) -> Any:
        if number == 1:
            return {"error": {"error_code": 13, "error_msg": "runtime error"}}
        return all_pages(calls)

    fake = FakeVk(answer)
    assert_complete(await run(fake, concurrency=1))  # one sender: requests in order
    sizes = [len(ids) for _, ids in fake.requests]
    assert sizes[0] == 25
    assert max(sizes[1:]) == 12, sizes


async def test_a_halved_chunk_grows_back(run: Callable[..., Any]) -> None:
    """One oversized answer must not halve every later request of the process."""

    def answer(number: int, calls: list[dict[str, Any]]) -> Any:
        if number == 1:
            return {"error": {"error_code": 13, "error_msg": "runtime error"}}
        return all_pages(calls)

    posts: list[PostKey] = [(-1, post_id) for post_id in range(1, 501)]
    fake = FakeVk(answer)
    assert_complete(await run(fake, concurrency=1, posts=posts), posts)
    sizes = [len(ids) for _, ids in fake.requests]
    assert sizes[:12] == [25] + [12] * 10 + [24], sizes  # doubled after ten in a row
    assert sizes[11:22] == [24] * 10 + [25], sizes  # and again, capped at 25


async def test_a_quota_error_is_retried_when_its_cool_down_cannot_be_recorded(
    run: Callable[..., Any],
) -> None:
    def answer(number: int, calls: list[dict[str, Any]]) -> Any:
        body = all_pages(calls)
        if number == 1:
            body["response"][0] = False
            body["execute_errors"] = [{"method": "wall.getComments", "error_code": 29}]
        return body

    async def redis_away(*_: Any) -> None:
        raise ConnectionError("Redis is away")

    def break_cool_down(client: VkClient) -> None:
        client.pool.cool_down = redis_away  # type: ignore[method-assign]

    fake = FakeVk(answer)
    async with asyncio.timeout(10):  # a sender that died on the cool-down left it waiting
        assert_complete(await run(fake, prepare=break_cool_down))
    first_failed = fake.requests[0][1][0]
    assert sum(first_failed in ids for _, ids in fake.requests) == 2


async def test_closing_the_client_ends_a_call_in_flight(redis_client: aioredis.Redis) -> None:
    arrived = asyncio.Event()

    async def never_answer(request: httpx.Request) -> httpx.Response:
        arrived.set()
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    client = VkClient(
        fast_vk_settings("http://vk.test/method/", [TOKEN]),
        redis=redis_client,
        transport=httpx.MockTransport(never_answer),
        key_prefix=f"test-batcher-{uuid.uuid4().hex[:8]}",
    )
    caller = asyncio.create_task(fetch_recent_posts(client, -1, 5))
    await asyncio.wait_for(arrived.wait(), 5)
    await client.aclose()
    done, _ = await asyncio.wait({caller}, timeout=5)
    assert done, "the caller still waits for its wall.get"
    assert caller.cancelled()


async def test_error_28_sends_one_page_per_request(run: Callable[..., Any]) -> None:
    def answer(number: int, calls: list[dict[str, Any]]) -> Any:
        return {"error": {"error_code": 28, "error_msg": "Application authorization failed"}}

    fake = FakeVk(answer)
    assert_complete(await run(fake))
    methods = [method for method, _ in fake.requests]
    assert methods[0] == "execute"
    assert methods[1:] == ["wall.getComments"] * len(POSTS)


async def test_a_page_failing_every_time_ends_the_stream(run: Callable[..., Any]) -> None:
    def answer(number: int, calls: list[dict[str, Any]]) -> Any:
        body = all_pages(calls)
        for index, call in enumerate(calls):
            if int(call["post_id"]) == 3:
                body["response"][index] = False
                body["execute_errors"] = [{"method": "wall.getComments", "error_code": 10}]
        return body

    fake = FakeVk(answer)
    with pytest.raises(VkApiError) as caught:
        await run(fake, max_retries=2)
    assert caught.value.error_code == 10
    assert sum(3 in ids for _, ids in fake.requests) == 3  # the first try and 2 retries
