"""Cleanup that a cancel cannot cut short (vk_collector.cancellation)."""

from __future__ import annotations

import asyncio

import pytest

from vk_collector.cancellation import finish_despite_cancellation


async def test_the_work_runs_to_its_end_under_repeated_cancels_then_the_cancel_is_raised() -> None:
    steps: list[int] = []
    started = asyncio.Event()

    async def cleanup() -> str:
        started.set()
        for step in range(5):
            await asyncio.sleep(0.01)
            steps.append(step)
        return "done"

    task = asyncio.create_task(finish_despite_cancellation(cleanup()))
    await started.wait()
    while not task.done():  # as cancel_until_done does, every turn of the loop
        task.cancel()
        await asyncio.sleep(0)
    assert task.cancelled()
    assert steps == [0, 1, 2, 3, 4]


async def test_a_cancel_wins_over_the_works_own_error() -> None:
    started = asyncio.Event()

    async def failing_cleanup() -> None:
        started.set()
        await asyncio.sleep(0.01)
        raise RuntimeError("rollback failed")

    task = asyncio.create_task(finish_despite_cancellation(failing_cleanup()))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()


async def test_without_a_cancel_the_result_or_error_comes_back() -> None:
    async def value() -> int:
        return 7

    async def error() -> None:
        raise RuntimeError("rollback failed")

    assert await finish_despite_cancellation(value()) == 7
    with pytest.raises(RuntimeError, match="rollback failed"):
        await finish_despite_cancellation(error())


async def test_work_that_never_ends_is_given_up_after_the_bound() -> None:
    gave_up = asyncio.Event()

    async def hung() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            gave_up.set()
            raise

    with pytest.raises(TimeoutError, match=r"within 0\.05 s"):
        await finish_despite_cancellation(hung(), within_s=0.05)
    assert gave_up.is_set()
