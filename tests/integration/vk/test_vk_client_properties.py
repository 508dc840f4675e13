"""Properties of the client over real HTTP, each emulator started once for the module.

* collecting a post's comments through ``execute`` gives exactly what single calls give,
  and both give the dataset;
* with 20 % injected transient faults (errors 1, 6, 10, HTTP 5xx, non-JSON bodies) the
  client returns exactly the fault-free data.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from vk_collector.settings import VkSettings
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import FetchedComment, fetch_recent_posts
from vk_emulator import Dataset, EmulatorConfig, EmulatorServer, FaultConfig

from support.emulator import USER_TOKEN
from support.vk import post_comments

PROPERTY_SETTINGS = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


pytestmark = pytest.mark.instant_retries  # backoff waits are zero (tests/conftest.py)


@pytest.fixture(scope="module")
def clean_server(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator_config) as server:
        yield server


@pytest.fixture(scope="module")
def faulty_server(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    faults = FaultConfig(
        error_1=0.04, error_6=0.04, error_10=0.04, http_5xx=0.04, non_json=0.04, seed=11
    )
    with EmulatorServer(dataclasses.replace(emulator_config, faults=faults)) as server:
        yield server


def client_for(server: EmulatorServer, redis: aioredis.Redis, **overrides: Any) -> VkClient:
    values: dict[str, Any] = {"rps_user": 10_000, "max_retries": 3} | overrides
    settings = VkSettings(api_url=server.url, tokens=[SecretStr(USER_TOKEN)], **values)
    return VkClient(settings, redis=redis, key_prefix=f"test-vk-{uuid.uuid4().hex[:8]}")


def readable_posts(dataset: Dataset) -> list[tuple[int, int]]:
    return [
        (post.owner_id, post.id)
        for group_id in dataset.group_ids()
        if dataset.group(group_id).kind == "open"
        for post in dataset.posts(group_id)
        if not post.comments_disabled and post.comments_count
    ]


def by_id(comment: FetchedComment) -> int:
    return comment.comment_id


def draw_post(data: st.DataObject, dataset: Dataset) -> tuple[int, int]:
    """One post of an open community with comments, drawn by Hypothesis."""
    return data.draw(st.sampled_from(readable_posts(dataset)), label="post")


def as_stored(comments: list[FetchedComment]) -> dict[int, Any]:
    """What the tests compare of each fetched comment, by id (see ``expected``)."""
    return {c.comment_id: (c.parent_comment_id, c.deleted, c.text, c.likes) for c in comments}


def expected(dataset: Dataset, key: tuple[int, int], include_replies: bool) -> dict[int, Any]:
    return {
        c.id: (c.thread_root, c.deleted, c.text, c.likes)
        for c in dataset.comments(*key)
        if include_replies or c.thread_root is None
    }


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_execute_and_single_calls_collect_the_same_comments(
    clean_server: EmulatorServer, redis_url: str, data: st.DataObject
) -> None:
    dataset = clean_server.dataset
    key = draw_post(data, dataset)
    include_replies = data.draw(st.booleans(), label="include_replies")
    redis = aioredis.Redis.from_url(redis_url)
    async with (
        client_for(clean_server, redis, use_execute=True) as batched,
        client_for(clean_server, redis, use_execute=False) as single,
    ):
        via_execute = await post_comments(batched, *key, include_replies)
        via_single = await post_comments(single, *key, include_replies)
    await redis.aclose()
    # answers are absorbed as they arrive: the order may differ, the comments may not
    assert sorted(via_execute, key=by_id) == sorted(via_single, key=by_id)
    assert as_stored(via_execute) == expected(dataset, key, include_replies)


@PROPERTY_SETTINGS
@given(data=st.data())
async def test_transient_faults_do_not_change_the_data(
    faulty_server: EmulatorServer, redis_url: str, data: st.DataObject
) -> None:
    dataset = faulty_server.dataset
    key = draw_post(data, dataset)
    use_execute = data.draw(st.booleans(), label="use_execute")
    limit = data.draw(st.integers(1, 40), label="limit")
    wanted = data.draw(
        st.lists(st.integers(1, dataset.size + 5), min_size=1, max_size=8, unique=True),
        label="group ids",
    )
    redis = aioredis.Redis.from_url(redis_url)
    async with client_for(faulty_server, redis, use_execute=use_execute, max_retries=12) as client:
        comments = await post_comments(client, *key)
        posts = await fetch_recent_posts(client, key[0], limit)
        lookup = await client.groups_get_by_id(wanted)
    await redis.aclose()

    assert as_stored(comments) == expected(dataset, key, True)
    newest = sorted(dataset.posts(-key[0]), key=lambda p: p.date, reverse=True)[:limit]
    assert [p.id for p in posts] == [p.id for p in newest]
    assert sorted(g.id for g in lookup.groups) == sorted(i for i in wanted if i <= dataset.size)
    assert set(lookup.missing) == {i for i in wanted if i > dataset.size}


async def test_faults_are_really_injected_and_survived(
    faulty_server: EmulatorServer, redis_url: str
) -> None:
    dataset = faulty_server.dataset
    # the biggest posts, single calls: enough requests for the 20 % of faults to land
    keys = sorted(readable_posts(dataset), key=lambda k: len(dataset.comments(*k)))[-6:]
    before = sum(faulty_server.stats()["faults"].values())
    redis = aioredis.Redis.from_url(redis_url)
    async with client_for(faulty_server, redis, use_execute=False, max_retries=12) as client:
        fetched = {key: await post_comments(client, *key) for key in keys}
    await redis.aclose()
    assert sum(faulty_server.stats()["faults"].values()) > before
    for key, comments in fetched.items():
        assert {c.comment_id for c in comments} == set(expected(dataset, key, True))
