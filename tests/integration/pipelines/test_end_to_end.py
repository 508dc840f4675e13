"""Upload, resolve, collect, compare with what the emulator serves: none missing, none twice."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from vk_collector.bootstrap import Runtime
from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.pipelines import CollectRequest
from vk_collector.storage import TaskStatus
from vk_emulator import EmulatorServer

from support.pipelines import expected_comments, wait_finished

GROUPS_FILE = "\n".join(
    [
        "# communities to watch",
        "1",
        "https://vk.com/vkc_group_2",
        "club3  # a comment",
        "@vkc_group_4",
        "-5",
        "vk.com/club6",  # closed
        "id123",  # a user: bad line
        "999999",  # not on VK
        "club1",  # duplicate of line 2
    ]
).encode()


async def stored_comments(runtime: Runtime) -> list[tuple[int, int, int | None, str, bool]]:
    async with runtime.db.unit_of_work(read_only=True) as uow:
        rows = await uow.session.execute(
            text("SELECT owner_id, comment_id, parent_comment_id, text, deleted FROM comments")
        )
        return [(r[0], r[1], r[2], r[3], bool(r[4])) for r in rows]


async def test_upload_then_collect_stores_exactly_what_vk_serves(
    runtime: Runtime, emulator: EmulatorServer
) -> None:
    upload = await runtime.pipelines.upload_groups(GROUPS_FILE, file_name="g.txt", max_bytes=10_000)
    resolved = await wait_finished(runtime, upload.task.id)

    assert resolved.status is TaskStatus.COMPLETED, resolved.error_message
    assert resolved.result is not None
    stats = resolved.result["stats"]
    assert stats == {"total": 7, "valid": 6, "invalid": 1, "duplicate": 0, "saved": 6}
    errors = {e["identifier"]: e["error"] for e in resolved.errors}
    assert errors["999999"] == "not found on VK"
    assert any("id123" in e["error"] or e["identifier"] == "line 8" for e in resolved.errors)

    task = await runtime.pipelines.start_collection(
        CollectRequest(vk_ids=[1, 2, 3, 4, 5, 6], limit=4)
    )
    done = await wait_finished(runtime, task.id, within=90)

    assert done.status is TaskStatus.COMPLETED, done.error_message
    assert done.progress == 100
    assert done.result is not None
    assert [e["groupId"] for e in done.result["errors"]] == ["6"]  # closed wall, recorded
    posts, comments = expected_comments(emulator.dataset, [1, 2, 3, 4, 5], limit=4)
    stored = await stored_comments(runtime)
    assert len(stored) == len(set(stored))  # none twice
    assert set(stored) == comments  # none missing, none extra
    assert done.result["commentsCollected"] == len(comments)
    assert done.result["postsProcessed"] == len(posts)
    await _authors_are_named_as_vk_names_them(runtime, emulator)


async def _authors_are_named_as_vk_names_them(runtime: Runtime, emulator: EmulatorServer) -> None:
    """extended=1 pages name every author: a user "First Last", a community its name."""
    async with runtime.db.unit_of_work(read_only=True) as uow:
        rows = (
            await uow.session.execute(
                text("SELECT from_id, author_id, author_name FROM comments WHERE deleted = false")
            )
        ).all()
    authors = {(r[0], r[1], r[2]) for r in rows if r[0] != 0}
    assert any(from_id > 0 for from_id, _, _ in authors)  # users among the authors
    for from_id, author_id, name in authors:
        assert author_id == from_id
        if from_id > 0:
            profile = emulator.dataset.profile(from_id)
            assert name == f"{profile.first_name} {profile.last_name}"
        else:
            group = emulator.dataset.find_group(-from_id)
            assert group is not None
            assert name == group.name


async def test_uploading_the_same_file_twice_counts_everything_as_duplicate(
    runtime: Runtime,
) -> None:
    first = await runtime.pipelines.upload_groups(b"1\n2\n", max_bytes=1000)
    await wait_finished(runtime, first.task.id)
    second = await runtime.pipelines.upload_groups(b"1\n2\n", max_bytes=1000)
    again = await wait_finished(runtime, second.task.id)

    assert again.status is TaskStatus.COMPLETED
    assert again.result is not None
    assert again.result["stats"]["duplicate"] == 2
    assert again.result["stats"]["saved"] == 0


async def test_a_file_with_nothing_on_vk_fails_with_a_reason(runtime: Runtime) -> None:
    upload = await runtime.pipelines.upload_groups(b"999998\n999999\nclub8\n", max_bytes=1000)
    task = await wait_finished(runtime, upload.task.id)

    assert task.status is TaskStatus.FAILED
    assert task.error_message is not None
    assert "none of the 3 identifiers is a live VK community" in task.error_message


async def test_collect_with_no_stored_groups_is_refused_and_creates_nothing(
    runtime: Runtime,
) -> None:
    with pytest.raises(ValidationError) as err:
        await runtime.pipelines.start_collection(CollectRequest(all_groups=True))
    assert err.value.code is ErrorCode.NOT_FOUND
    assert (await runtime.tasks.list()).total == 0


async def test_filter_words_keep_only_matching_comments(
    runtime: Runtime, emulator: EmulatorServer
) -> None:
    upload = await runtime.pipelines.upload_groups(b"1\n", max_bytes=1000)
    await wait_finished(runtime, upload.task.id)
    _, all_comments = expected_comments(emulator.dataset, [1], limit=2)
    word = next(c[3].split()[0] for c in sorted(all_comments) if c[3].strip())

    task = await runtime.pipelines.start_collection(
        CollectRequest(vk_ids=[1], limit=2, filter_words=[word.upper()])
    )
    done = await wait_finished(runtime, task.id)

    assert done.status is TaskStatus.COMPLETED
    stored = await stored_comments(runtime)
    assert stored
    assert all(word.casefold() in c[3].casefold() for c in stored)
    assert {c for c in all_comments if word.casefold() in c[3].casefold()} == set(stored)
