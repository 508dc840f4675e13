"""Contract tests: every client method and every error class against the VK emulator."""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
import structlog

from vk_collector.errors import ErrorSeverity, VkApiError
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import (
    FetchedComment,
    fetch_recent_posts,
    iter_posts_comments,
)
from vk_collector.vk.errors import (
    VkBatchError,
    VkObjectError,
    VkQuotaError,
)
from vk_collector.vk.execute import ApiCall
from vk_emulator import Dataset, EmulatorServer, FaultConfig, VkQuirks

from support.emulator import COMMUNITY_TOKEN, SERVICE_TOKEN, USER_TOKEN, EmulatorFactory
from support.vk import fast_vk_settings, post_comment_batches, post_comments

MakeClient = Callable[..., VkClient]


pytestmark = pytest.mark.instant_retries  # backoff waits are zero (tests/conftest.py)


@pytest.fixture
async def make_client(redis_client: aioredis.Redis) -> AsyncIterator[MakeClient]:
    prefix = f"test-vk-{uuid.uuid4().hex[:8]}"
    made: list[VkClient] = []

    def make(server: EmulatorServer, *tokens: str, **overrides: Any) -> VkClient:
        settings = fast_vk_settings(server.url, tokens or (USER_TOKEN,), **overrides)
        client = VkClient(settings, redis=redis_client, key_prefix=prefix)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def open_groups(dataset: Dataset) -> list[int]:
    return [g for g in dataset.group_ids() if dataset.group(g).kind == "open"]


def expected_comments(dataset: Dataset, owner_id: int, post_id: int) -> dict[int, Any]:
    return {
        c.id: (c.thread_root, c.deleted, c.text, c.from_id, c.likes)
        for c in dataset.comments(owner_id, post_id)
    }


def as_expected(comments: list[FetchedComment]) -> dict[int, Any]:
    return {
        c.comment_id: (c.parent_comment_id, c.deleted, c.text, c.from_id, c.likes) for c in comments
    }


def biggest_post(dataset: Dataset, group_id: int = 1) -> tuple[int, int]:
    post = max(
        (p for p in dataset.posts(group_id) if not p.comments_disabled),
        key=lambda p: p.comments_count,
    )
    return post.owner_id, post.id


# -- methods ---------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["5.199", "5.131"])
async def test_groups_get_by_id(
    emulator: EmulatorServer, make_client: MakeClient, version: str
) -> None:
    client = make_client(emulator, api_version=version)
    wanted: list[int | str] = [1, "VKC_GROUP_2", "club3", "public4", "-5", 8, 9, 404, "ghost"]
    lookup = await client.groups_get_by_id(wanted)
    assert lookup.missing == [404, "ghost"]
    assert [lookup.found[i].id for i in wanted[:7]] == [1, 2, 3, 4, 5, 8, 9]
    expected = emulator.dataset.group(1)
    group = lookup.found[1]
    assert (group.name, group.screen_name, group.type) == (
        expected.name,
        expected.screen_name,
        expected.type,
    )
    assert group.members_count == expected.members_count
    assert group.description == expected.description
    assert group.photo_200
    assert lookup.found[8].deactivated == "deleted"
    assert lookup.found[9].deactivated == "banned"
    assert emulator.stats()["methods"]["groups.getById"] == 1  # unknown ids are left out


async def test_groups_get_by_id_all_unknown(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    lookup = await make_client(emulator).groups_get_by_id(["nobody_here", 99999])
    assert lookup.found == {}
    assert lookup.missing == ["nobody_here", 99999]


async def test_wall_get_pages_in_wall_order(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    client = make_client(emulator)
    expected = emulator.dataset.posts(1)
    first = await client.wall_get(-1, 0, 10)
    second = await client.wall_get(None, 10, 100, domain="vkc_group_1")
    assert first.count == second.count == len(expected)
    assert [p.id for p in first.items + second.items] == [p.id for p in expected]
    assert first.items[0].is_pinned
    assert first.items[0].comments_count == expected[0].comments_count


@pytest.mark.parametrize("limit", [1, 3, 5, 8, 200])
async def test_fetch_recent_posts_counts_pinned_only_by_date(
    emulator: EmulatorServer, make_client: MakeClient, limit: int
) -> None:
    posts = emulator.dataset.posts(2)
    assert posts[0].is_pinned
    newest = sorted(posts, key=lambda p: p.date, reverse=True)[:limit]
    got = await fetch_recent_posts(make_client(emulator), -2, limit)
    assert [p.id for p in got] == [p.id for p in newest]
    assert any(p.is_pinned for p in got) == any(p.is_pinned for p in newest)


async def test_execute_returns_values_and_per_call_errors(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    client = make_client(emulator)
    disabled = next(p for p in emulator.dataset.posts(1) if p.comments_disabled)
    calls = [
        ApiCall("groups.getById", {"group_ids": [1, 2]}),
        ApiCall("wall.getComments", {"owner_id": -1, "post_id": disabled.id}),
        ApiCall("wall.get", {"owner_id": -6, "count": 1}),
        ApiCall("utils.resolveScreenName", {"screen_name": "vkc_group_7"}),
    ] * 8  # 32 calls: two execute requests
    results = await client.execute(calls)
    assert len(results) == 32
    assert emulator.stats()["methods"]["execute"] == 2
    for index in range(0, 32, 4):
        groups, comments, wall, resolved = results[index : index + 4]
        assert [g["id"] for g in groups.value["groups"]] == [1, 2]
        assert isinstance(comments.error, VkObjectError)
        assert comments.error.error_code == 212
        assert comments.error.method == "wall.getComments"
        assert isinstance(wall.error, VkObjectError)
        assert wall.error.error_code == 15
        assert resolved.value["object_id"] == 7


async def test_execute_compile_error_is_a_batch_error(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    client = make_client(emulator)
    with pytest.raises(VkBatchError) as caught:
        await client.call("execute", {"code": "return API.wall.get({;"})
    assert caught.value.error_code == 12
    assert caught.value.severity is ErrorSeverity.PERMANENT


# -- comments --------------------------------------------------------------------------


@pytest.mark.parametrize("use_execute", [True, False])
async def test_fetch_post_comments_returns_every_comment(
    emulator: EmulatorServer, make_client: MakeClient, use_execute: bool
) -> None:
    owner_id, post_id = biggest_post(emulator.dataset)
    client = make_client(emulator, use_execute=use_execute)
    comments = await post_comments(client, owner_id, post_id)
    assert len(comments) == len({c.comment_id for c in comments})
    assert as_expected(comments) == expected_comments(emulator.dataset, owner_id, post_id)
    assert any(c.deleted for c in comments)
    methods = emulator.stats()["methods"]
    assert ("execute" in methods) is use_execute
    assert ("wall.getComments" in methods) is not use_execute


async def test_comments_without_replies_and_in_batches(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    owner_id, post_id = biggest_post(emulator.dataset)
    client = make_client(emulator)
    top = await post_comments(client, owner_id, post_id, include_replies=False)
    tree = emulator.dataset.comment_tree(owner_id, post_id)
    assert sorted(c.comment_id for c in top) == sorted(c.id for c in tree.top)
    batches = await post_comment_batches(client, owner_id, post_id)
    assert len(batches) >= 2  # the first page, then the rest
    assert sum(len(b) for b in batches) == len(emulator.dataset.comments(owner_id, post_id))


async def test_iter_posts_comments_packs_posts_and_reports_per_post(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    dataset = emulator.dataset
    posts = [(p.owner_id, p.id) for p in dataset.posts(1) + dataset.posts(2)]
    client = make_client(emulator)
    got: dict[tuple[int, int], list[FetchedComment]] = {}
    errors: dict[tuple[int, int], VkApiError] = {}
    done: set[tuple[int, int]] = set()
    async for batch in iter_posts_comments(client, posts):
        key = (batch.owner_id, batch.post_id)
        assert key not in done
        got.setdefault(key, []).extend(batch.comments)
        if batch.error is not None:
            errors[key] = batch.error
        if batch.done:
            done.add(key)
    assert done == set(posts)
    for key in posts:
        if dataset.post(*key).comments_disabled:  # type: ignore[union-attr]
            assert errors[key].error_code == 212
        else:
            assert as_expected(got[key]) == expected_comments(dataset, *key)
    pages = emulator.stats()["inner_calls"]["wall.getComments"]
    assert emulator.stats()["methods"]["execute"] <= pages // 25 + 4


async def test_disabled_and_missing_posts_are_object_errors(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    client = make_client(emulator)
    disabled = next(p for p in emulator.dataset.posts(1) if p.comments_disabled)
    with pytest.raises(VkObjectError) as caught:
        await post_comments(client, -1, disabled.id)
    assert caught.value.error_code == 212
    with pytest.raises(VkObjectError) as missing:
        await post_comments(client, -1, 10**9)
    assert missing.value.error_code == 15


@pytest.mark.parametrize("group_id", [6, 7, 10])
async def test_closed_walls_are_object_errors(
    emulator: EmulatorServer, make_client: MakeClient, group_id: int
) -> None:
    with pytest.raises(VkObjectError) as caught:
        await fetch_recent_posts(make_client(emulator), -group_id, 10)
    assert caught.value.error_code == 15
    assert caught.value.severity is ErrorSeverity.PERMANENT


async def test_execute_refused_with_28_falls_back_to_single_calls(
    emulator_factory: EmulatorFactory, make_client: MakeClient
) -> None:
    server = emulator_factory(quirks=VkQuirks(execute_service_token_error=True))
    owner_id, post_id = biggest_post(server.dataset)
    client = make_client(server, SERVICE_TOKEN)
    comments = await post_comments(client, owner_id, post_id)
    assert as_expected(comments) == expected_comments(server.dataset, owner_id, post_id)
    assert not client.execute_available()
    methods = server.stats()["methods"]
    assert methods["execute"] == 1  # refused once, then remembered
    assert methods["wall.getComments"] > 1


# -- errors ----------------------------------------------------------------------------


async def test_unknown_token_is_fatal(emulator: EmulatorServer, make_client: MakeClient) -> None:
    client = make_client(emulator, "not-a-known-token-123")
    with pytest.raises(VkApiError) as caught:
        await client.wall_get(-1)
    assert caught.value.error_code == 5
    assert caught.value.severity is ErrorSeverity.PERMANENT
    assert emulator.stats()["total_requests"] == 1


async def test_community_token_gets_27(emulator: EmulatorServer, make_client: MakeClient) -> None:
    lone = make_client(emulator, COMMUNITY_TOKEN)
    with pytest.raises(VkApiError) as caught:
        await lone.wall_get(-1)
    assert caught.value.error_code == 27
    assert caught.value.severity is ErrorSeverity.PERMANENT
    assert await lone.groups_get_by_id([1])  # community tokens may call groups.getById

    mixed = make_client(emulator, COMMUNITY_TOKEN, USER_TOKEN)
    for _ in range(3):
        assert (await mixed.wall_get(-1, count=1)).count > 0
    assert {t.kind for t in mixed.pool.tokens} == {"community", "user"}


async def test_a_community_token_is_learnt_from_27_inside_execute(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    """The community token gets the requests the user token's limiter cannot take yet:
    inside ``execute`` VK answers 27 per call, the pool learns the token's kind and the
    calls go again on the user token."""
    client = make_client(emulator, COMMUNITY_TOKEN, USER_TOKEN, rps_user=5)
    group = open_groups(emulator.dataset)[0]
    compared = 0
    for post in await fetch_recent_posts(client, -group, 5):
        try:
            comments = await post_comments(client, post.owner_id, post.id)
        except VkObjectError as exc:
            if exc.error_code != 212:  # comments closed on this post
                raise
            continue
        assert as_expected(comments) == expected_comments(emulator.dataset, -group, post.id)
        compared += len(comments)
    assert compared > 0
    # learnt from a 27 (tokens start as user tokens): the community token was tried
    assert {t.kind for t in client.pool.tokens} == {"community", "user"}


async def test_quota_rotates_tokens_then_stops(
    emulator_factory: EmulatorFactory, make_client: MakeClient
) -> None:
    second = "demo-user-token-2"
    server = emulator_factory(user_tokens=(USER_TOKEN, second), method_quotas={"wall.get": 2})
    client = make_client(server, USER_TOKEN, second)
    for _ in range(4):
        await client.wall_get(-1, count=1)
    with pytest.raises(VkQuotaError) as caught:
        await client.wall_get(-1, count=1)
    assert caught.value.error_code == 29
    assert caught.value.severity is ErrorSeverity.PERMANENT
    assert "wall.get" in str(caught.value)
    stats = server.stats()
    assert stats["errors"]["29"] == 2  # one per token; later calls skip cooling tokens
    assert (await client.groups_get_by_id([1])).groups  # other methods keep their quota


TRANSIENT, PERMANENT = ErrorSeverity.TRANSIENT, ErrorSeverity.PERMANENT


@pytest.mark.parametrize(
    ("fault", "max_retries", "code", "severity", "tries"),
    [
        ("error_1", 2, 1, TRANSIENT, 3),
        ("error_6", 2, 6, TRANSIENT, 3),
        ("error_10", 2, 10, TRANSIENT, 3),
        ("http_5xx", 2, 0, TRANSIENT, 3),
        ("non_json", 2, 0, TRANSIENT, 3),
        # captcha and flood control give up early, however many retries are allowed
        ("error_14", 10, 14, PERMANENT, 3),
        ("error_9", 10, 9, PERMANENT, 4),
    ],
)
async def test_injected_faults_end_after_their_tries(
    emulator_factory: EmulatorFactory,
    make_client: MakeClient,
    fault: str,
    max_retries: int,
    code: int,
    severity: ErrorSeverity,
    tries: int,
) -> None:
    """Transient faults exhaust ``max_retries``; captcha and flood control do not."""
    rates: dict[str, Any] = {fault: 1.0}
    server = emulator_factory(faults=FaultConfig(**rates))
    client = make_client(server, max_retries=max_retries)
    with pytest.raises(VkApiError) as caught:
        await client.wall_get(-1)
    assert caught.value.error_code == code
    assert caught.value.severity is severity
    assert server.stats()["total_requests"] == tries


async def test_some_faults_are_survived(
    emulator_factory: EmulatorFactory, make_client: MakeClient
) -> None:
    server = emulator_factory(faults=FaultConfig(error_10=0.3, http_5xx=0.2, seed=3))
    page = await make_client(server, max_retries=8).wall_get(-1, count=100)
    assert [p.id for p in page.items] == [p.id for p in server.dataset.posts(1)]
    assert server.stats()["total_requests"] > 1


# -- secrets ---------------------------------------------------------------------------


@pytest.fixture
def log_stream(log_capture: Callable[[str], io.StringIO]) -> io.StringIO:
    return log_capture("console")


async def test_tokens_stay_out_of_logs_and_errors(
    emulator_factory: EmulatorFactory, make_client: MakeClient, log_stream: io.StringIO
) -> None:
    server = emulator_factory(faults=FaultConfig(error_10=0.5, non_json=0.2, seed=5))
    client = make_client(server, USER_TOKEN, max_retries=1)
    caught: list[VkApiError] = []
    for _ in range(10):
        try:
            await client.wall_get(-1, count=5)
        except VkApiError as exc:
            caught.append(exc)
            structlog.get_logger("test").error("collect.failed", error=exc, exc_info=exc)
    with pytest.raises(VkApiError) as fatal:
        await client.wall_get(-1, token="job-token-unknown-to-vk-42")
    caught.append(fatal.value)
    # stdlib records with exc_info are left out: log.configure renders their tracebacks
    # (with locals) after redaction in console mode, a leak reported to log.py's owner.
    logging.getLogger("test").error("failed: %r", fatal.value)
    output = log_stream.getvalue()
    assert "vk.retry" in output
    assert caught
    for secret in (USER_TOKEN, "job-token-unknown-to-vk-42"):
        assert secret not in output
        for error in caught:
            assert secret not in f"{error} {error!r} {error.details} {error.to_dict()}"


async def test_execute_runtime_errors_shrink_the_batch(
    emulator_factory: EmulatorFactory, make_client: MakeClient
) -> None:
    server = emulator_factory(quirks=VkQuirks(execute_max_calls=2))
    owner_id, post_id = biggest_post(server.dataset)
    comments = await post_comments(make_client(server), owner_id, post_id)
    assert as_expected(comments) == expected_comments(server.dataset, owner_id, post_id)
    stats = server.stats()
    assert stats["errors"]["13"] >= 1
    assert "wall.getComments" not in stats["methods"]  # still batched, in smaller batches


async def test_short_threads_come_embedded_and_cost_no_request(
    emulator: EmulatorServer, make_client: MakeClient
) -> None:
    dataset = emulator.dataset
    owner_id, post_id = next(
        (p.owner_id, p.id)
        for group_id in range(1, 6)
        for p in dataset.posts(group_id)
        if not p.comments_disabled
        and 0 < max(p.thread_sizes, default=0) <= 10
        and p.top_level_count <= 100
    )

    comments = await post_comments(make_client(emulator), owner_id, post_id)

    assert as_expected(comments) == expected_comments(dataset, owner_id, post_id)
    assert any(c.parent_comment_id for c in comments)  # replies are there
    assert emulator.stats()["inner_calls"]["wall.getComments"] == 1  # one page, no thread pages
