"""The task service on SQLite and PostgreSQL: lifecycle, clamping, scrubbing."""

from __future__ import annotations

import pytest

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.storage import Database, TaskStatus, TaskType
from vk_collector.tasks import MAX_TASK_ERRORS, TaskService


@pytest.fixture
def service(any_database: Database) -> TaskService:
    return TaskService(any_database)


async def test_lifecycle(service: TaskService) -> None:
    task = await service.create(TaskType.FETCH_COMMENTS, {"groupIds": [1, 2]})
    assert (task.status, task.progress, task.started_at) == (TaskStatus.PENDING, 0, None)

    started = await service.start(task.id)
    assert started.status is TaskStatus.PROCESSING
    assert started.started_at is not None

    progress = await service.update_progress(
        task.id,
        42.4,
        "fetching_comments",
        {"groupsCompleted": 1, "totalGroups": 2},
        current_group={"vkId": 1, "name": "one", "progress": 50},
    )
    assert (progress.progress, progress.stage) == (42, "fetching_comments")
    assert progress.stats == {"groupsCompleted": 1, "totalGroups": 2}
    assert progress.current_group == {"vkId": 1, "name": "one", "progress": 50}

    kept = await service.update_progress(task.id, 50)
    assert (kept.stage, kept.stats, kept.current_group) == (
        "fetching_comments",
        {"groupsCompleted": 1, "totalGroups": 2},
        None,
    )

    done = await service.complete(task.id, {"commentsCollected": 10})
    assert (done.status, done.progress, done.result) == (
        TaskStatus.COMPLETED,
        100,
        {"commentsCollected": 10},
    )
    assert done.finished_at is not None
    assert done.finished_at >= done.started_at >= done.created_at  # type: ignore[operator]
    assert (await service.get(task.id)) == done


async def test_progress_is_clamped_and_never_lowers_a_finished_task(service: TaskService) -> None:
    task = await service.create("process_groups")
    await service.start(task.id)
    assert (await service.update_progress(task.id, 150)).progress == 100
    assert (await service.update_progress(task.id, -3)).progress == 0
    assert (await service.update_progress(task.id, float("nan"))).progress == 0
    await service.complete(task.id, {})
    late = await service.update_progress(task.id, 10, "fetching")
    assert (late.status, late.progress, late.stage) == (TaskStatus.COMPLETED, 100, None)


async def test_fail_and_restart(service: TaskService) -> None:
    task = await service.create(TaskType.FETCH_COMMENTS, {})
    first_start = (await service.start(task.id)).started_at
    failed = await service.fail(
        task.id,
        "VK said no: https://api.vk.ru/method/wall.get?access_token=secret123",
        [{"groupId": 1, "error": "blocked"}],
    )
    assert failed.status is TaskStatus.FAILED
    assert failed.error_message == "VK said no: https://api.vk.ru/method/wall.get?access_token=***"
    assert failed.errors == [{"groupId": 1, "error": "blocked"}]
    assert (await service.update_progress(task.id, 80)).progress == 0  # finished: ignored

    again = await service.start(task.id)  # a retried job
    assert (again.status, again.finished_at, again.error_message) == (
        TaskStatus.PROCESSING,
        None,
        None,
    )
    assert again.started_at == first_start
    assert again.errors == failed.errors


async def test_errors_are_appended_and_capped(service: TaskService) -> None:
    task = await service.create(TaskType.FETCH_COMMENTS)
    await service.add_errors(task.id, [{"groupId": 1, "error": "a"}])
    await service.add_errors(task.id, [])
    many = [{"groupId": i, "error": "x"} for i in range(MAX_TASK_ERRORS + 5)]
    record = await service.add_errors(task.id, many)
    assert len(record.errors) == MAX_TASK_ERRORS
    assert record.errors[-1] == many[-1]  # the most recent are kept


async def test_tokens_never_reach_the_database(
    service: TaskService, any_database: Database
) -> None:
    task = await service.create(
        TaskType.FETCH_COMMENTS,
        {
            "token": "vk1.a.top-level",
            "options": {"limit": 5, "token": "vk1.a.nested", "filterWords": ["a"]},
            "groups": [{"vkId": 1, "access_token": "vk1.a.deep"}],
        },
    )
    assert task.parameters == {
        "options": {"limit": 5, "filterWords": ["a"]},
        "groups": [{"vkId": 1}],
    }
    await service.complete(task.id, {"token": "vk1.a.result", "ok": True})
    await service.add_errors(task.id, [{"error": "failed", "token": "vk1.a.err"}])
    async with any_database.engine.connect() as connection:
        raw = (await connection.exec_driver_sql("SELECT * FROM tasks")).all()
    assert "vk1.a." not in repr(raw)


async def test_unknown_task_is_not_found(service: TaskService) -> None:
    for call in (
        service.get(123),
        service.start(123),
        service.update_progress(123, 5),
        service.complete(123, {}),
        service.fail(123, "x"),
        service.add_errors(123, [{}]),
        service.delete(123),
    ):
        with pytest.raises(ValidationError) as caught:
            await call
        assert caught.value.code is ErrorCode.NOT_FOUND
        assert caught.value.message == "task 123 not found"


async def test_unknown_type_is_invalid(service: TaskService) -> None:
    with pytest.raises(ValidationError) as caught:
        await service.create("analyze_posts")
    assert caught.value.code is ErrorCode.INVALID_INPUT


async def test_list_filters_and_pages_newest_first(service: TaskService) -> None:
    ids = [(await service.create(TaskType.FETCH_COMMENTS)).id for _ in range(5)]
    groups_task = await service.create(TaskType.PROCESS_GROUPS)
    await service.start(ids[0])
    page = await service.list(page=1, limit=3, type=TaskType.FETCH_COMMENTS)
    assert [t.id for t in page.items] == ids[::-1][:3]
    assert (page.total, page.pages) == (5, 2)
    assert [t.id for t in (await service.list(status=TaskStatus.PROCESSING)).items] == [ids[0]]
    assert [t.id for t in (await service.list(type=TaskType.PROCESS_GROUPS)).items] == [
        groups_task.id
    ]
    await service.delete(ids[1])
    assert (await service.list()).total == 5
    second = await service.list(page=2, limit=3, type=TaskType.FETCH_COMMENTS)
    assert [t.id for t in second.items] == [ids[0]]
    assert second.total == 4
    past_the_end = await service.list(page=9, limit=3)
    assert (past_the_end.items, past_the_end.total) == ([], 5)
