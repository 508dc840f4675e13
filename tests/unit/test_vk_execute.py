from __future__ import annotations

import asyncio
import inspect
import json
import re

import pytest

from vk_collector.errors import ErrorSeverity
from vk_collector.vk.errors import VkObjectError
from vk_collector.vk.execute import (
    ApiCall,
    bounded_gather,
    build_code,
    comments_call,
    encode_params,
    split_results,
)


def test_encode_params() -> None:
    assert encode_params(
        {"ids": [1, "a", 3], "flag": True, "off": False, "skip": None, "obj": {"a": 1}, "n": 5}
    ) == {"ids": "1,a,3", "flag": "1", "off": "0", "obj": '{"a":1}', "n": "5"}


def test_build_code_embeds_json_arguments() -> None:
    code = build_code(
        [
            ApiCall("wall.getComments", {"owner_id": -1, "post_id": 2, "need_likes": True}),
            ApiCall("groups.getById", {"group_ids": ["a", 'b"c'], "skip": None}),
        ]
    )
    match = re.fullmatch(
        r"return \[API\.wall\.getComments\((.*)\),API\.groups\.getById\((.*)\)\];", code
    )
    assert match is not None
    assert json.loads(match.group(1)) == {"owner_id": -1, "post_id": 2, "need_likes": 1}
    assert json.loads(match.group(2)) == {"group_ids": 'a,b"c'}


def test_build_code_limits() -> None:
    with pytest.raises(ValueError, match="at most 25"):
        build_code([ApiCall("users.get")] * 26)
    with pytest.raises(ValueError, match="at least one"):
        build_code([])
    with pytest.raises(ValueError, match="not a VK method"):
        ApiCall("wall.get({}); API.x")


def test_split_results_maps_each_false_to_its_error_in_order() -> None:
    calls = [ApiCall("wall.get", {"owner_id": i}) for i in range(4)]
    results = split_results(
        calls,
        [{"count": 0}, False, {"count": 1}, False],
        [
            {"method": "wall.get", "error_code": 15, "error_msg": "Access denied"},
            {"method": "wall.get", "error_code": 10, "error_msg": "Internal"},
        ],
    )
    assert [r.ok for r in results] == [True, False, True, False]
    assert results[0].value == {"count": 0}
    assert isinstance(results[1].error, VkObjectError)
    assert results[3].error is not None
    assert results[3].error.severity is ErrorSeverity.TRANSIENT


def test_split_results_without_error_entries_and_bad_shapes() -> None:
    calls = [ApiCall("wall.get")]
    (result,) = split_results(calls, [False], None)
    assert result.error is not None
    assert result.error.severity is ErrorSeverity.UNKNOWN
    with pytest.raises(Exception, match="execute returned"):
        split_results(calls, {"a": 1}, None)


def test_comments_call_parameters() -> None:
    call = comments_call(-5, 7, offset=200, count=500, comment_id=9)
    assert call.method == "wall.getComments"
    assert call.params == {
        "owner_id": -5,
        "post_id": 7,
        "offset": 200,
        "count": 100,
        "sort": "asc",
        "need_likes": True,
        "preview_length": 0,
        "comment_id": 9,
        "thread_items_count": 0,
    }


async def test_bounded_gather_leaves_no_coroutine_unawaited_when_cancelled() -> None:
    started = asyncio.Event()

    async def slow() -> int:
        started.set()
        await asyncio.sleep(60)
        return 1

    jobs = [slow() for _ in range(5)]
    gathering = asyncio.ensure_future(bounded_gather(jobs, asyncio.Semaphore(1)))
    await started.wait()
    gathering.cancel()
    with pytest.raises(asyncio.CancelledError):
        await gathering
    assert all(inspect.getcoroutinestate(job) == "CORO_CLOSED" for job in jobs)
