"""A page of tasks built in one validation (``task_outs``) is the same, on the wire,
as each task built on its own (``task_out``), redaction included."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vk_collector.api.schemas import task_out, task_outs
from vk_collector.storage import TaskRecord, TaskStatus, TaskType

START = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def _records() -> list[TaskRecord]:
    done = TaskRecord(
        id=7,
        type=TaskType.FETCH_COMMENTS,
        status=TaskStatus.COMPLETED,
        progress=100,
        stage="done",
        stats={"groupsCompleted": 2, "totalGroups": "3"},
        errors=[{"message": "GET https://api.vk.com/x?access_token=abc123 failed"}],
        parameters={"groups": [1, 2, "x"], "token": "vk1.a.secret"},
        result={"posts": 4, "url": "redis://:hunter2@host/0"},
        error_message="Bearer abc.def failed",
        current_group={"id": 1, "name": "g"},
        created_at=START,
        updated_at=START + timedelta(seconds=5),
        started_at=START + timedelta(seconds=1),
        finished_at=START + timedelta(seconds=4, milliseconds=250),
    )
    pending = TaskRecord(
        id=8,
        type=TaskType.PROCESS_GROUPS,
        status=TaskStatus.PENDING,
        progress=0,
        stage=None,
        stats={},
        errors=[],
        parameters={"identifiers": 12},
        result=None,
        error_message=None,
        current_group=None,
        created_at=START,
        updated_at=START,
        started_at=None,
        finished_at=None,
    )
    return [done, pending]


def test_a_page_built_at_once_is_built_as_task_by_task() -> None:
    records = _records()
    one_by_one = [task_out(r).model_dump(mode="json", by_alias=True) for r in records]
    at_once = [t.model_dump(mode="json", by_alias=True) for t in task_outs(records)]

    assert at_once == one_by_one
    assert at_once[0]["progress"] == {"percentage": 100, "processed": 2, "total": 3}
    assert at_once[0]["executionTime"] == 3250
    assert at_once[0]["groups"] == [1, 2]
    for secret in ("secret", "hunter2", "abc123", "abc.def"):
        assert secret not in str(at_once)
    assert at_once[1]["progress"] == {"percentage": 0, "processed": 0, "total": 12}
