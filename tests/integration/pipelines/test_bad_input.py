"""Bad input is refused with a reason a person can act on, and changes nothing.

Every case raises ``ValidationError``; afterwards no task row exists and no job is
queued.  The runtime has no workers, so a job that slipped through would stay waiting
and show in the counts.
"""

from __future__ import annotations

import pytest

from vk_collector.bootstrap import Runtime
from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.pipelines import CollectRequest
from vk_collector.storage import GroupData

MAX_BYTES = 10 * 1024 * 1024


@pytest.fixture
def with_workers() -> bool:
    """Nothing here may reach a worker: bad input is refused before a job exists."""
    return False


async def assert_nothing_changed(runtime: Runtime) -> None:
    assert (await runtime.tasks.list()).total == 0
    counts = await runtime.queue.get_job_counts_by_queue()
    assert sum(counts["total"].values()) == 0, counts
    async with runtime.db.unit_of_work(read_only=True) as uow:
        assert (await uow.groups.list(page=1, limit=10)).items == []


# (file bytes, encoding named, error code, words the message must hold)
BAD_FILES = {
    "empty": (b"", None, ErrorCode.INVALID_INPUT, ["empty"]),
    "blank lines only": (b"\n  \r\n\t\n", None, ErrorCode.INVALID_INPUT, ["empty"]),
    "comments only": (b"# nothing\n# here\n", None, ErrorCode.INVALID_INPUT, ["no identifiers"]),
    "binary": (
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        None,
        ErrorCode.UNSUPPORTED_FILE,
        ["binary"],
    ),
    "not utf-8 though named so": (
        "1\nclub2\n# сообщества\n".encode("windows-1251"),
        "utf-8",
        ErrorCode.UNSUPPORTED_FILE,
        ["utf-8"],
    ),
    "unknown encoding": (b"1\n2\n", "latin-9000", ErrorCode.INVALID_INPUT, ["latin-9000"]),
    "10 MB + 1 byte": (
        b"1\n" * (MAX_BYTES // 2) + b"1",
        None,
        ErrorCode.FILE_TOO_LARGE,
        ["too large", "10", "limit"],
    ),
    "only invalid lines": (
        b"id123\nhttps://example.com/club1\n!!!\n",
        None,
        ErrorCode.INVALID_INPUT,
        ["no valid community identifier", "line 1", "line 2", "line 3"],
    ),
}


@pytest.mark.parametrize("case", list(BAD_FILES), ids=list(BAD_FILES))
async def test_a_bad_groups_file_is_refused_and_stores_nothing(runtime: Runtime, case: str) -> None:
    data, encoding, code, words = BAD_FILES[case]

    with pytest.raises(ValidationError) as err:
        await runtime.pipelines.upload_groups(
            data, file_name="groups.txt", encoding=encoding, max_bytes=MAX_BYTES
        )

    assert err.value.code is code, err.value.message
    message = err.value.message.lower()
    for word in words:
        assert word.lower() in message, err.value.message
    await assert_nothing_changed(runtime)


async def test_exactly_ten_megabytes_is_accepted(runtime: Runtime) -> None:
    """The limit is inclusive: the case above fails by one byte, not by some other rule."""
    data = b"1  # " + b"x" * (MAX_BYTES - 6) + b"\n"  # one line (short lines parse slowly)
    assert len(data) == MAX_BYTES
    upload = await runtime.pipelines.upload_groups(data, max_bytes=MAX_BYTES)
    assert [str(ref) for ref in upload.parsed.identifiers] == ["1"]
    counts = await runtime.queue.get_job_counts_by_queue()
    assert counts["queues"]["process-groups"]["waiting"] == 1


async def test_an_unknown_task_id_is_not_found(runtime: Runtime) -> None:
    with pytest.raises(ValidationError) as err:
        await runtime.tasks.get(999)
    assert err.value.code is ErrorCode.NOT_FOUND
    assert "999" in err.value.message
    with pytest.raises(ValidationError) as err:
        await runtime.pipelines.delete_task(999)
    assert err.value.code is ErrorCode.NOT_FOUND
    await assert_nothing_changed(runtime)


@pytest.mark.parametrize(
    ("request_", "code", "words"),
    [
        (CollectRequest(all_groups=True), ErrorCode.NOT_FOUND, ["no communities", "upload"]),
        (CollectRequest(vk_ids=[1, 2]), ErrorCode.NOT_FOUND, ["not stored", "1, 2", "upload"]),
        (CollectRequest(group_ids=[7]), ErrorCode.NOT_FOUND, ["not stored", "7"]),
        (CollectRequest(), ErrorCode.INVALID_INPUT, ["choose the communities"]),
        (
            CollectRequest(vk_ids=[1], all_groups=True),
            ErrorCode.INVALID_INPUT,
            ["choose the communities"],
        ),
    ],
    ids=["all with none stored", "vk ids not stored", "group id not stored", "none", "two"],
)
async def test_collect_without_stored_groups_is_refused_and_creates_nothing(
    runtime: Runtime, request_: CollectRequest, code: ErrorCode, words: list[str]
) -> None:
    with pytest.raises(ValidationError) as err:
        await runtime.pipelines.start_collection(request_)

    assert err.value.code is code, err.value.message
    for word in words:
        assert word in err.value.message, err.value.message
    await assert_nothing_changed(runtime)


@pytest.mark.parametrize(
    ("limit", "words"),
    [(0, ["limit", "between 1 and 1000", "0"]), (1001, ["limit", "1001"])],
)
async def test_collect_with_a_bad_limit_is_refused_and_creates_nothing(
    runtime: Runtime, limit: int, words: list[str]
) -> None:
    async with runtime.db.unit_of_work() as uow:
        await uow.groups.upsert_many([GroupData(vk_id=1, name="one")])
        await uow.commit()

    with pytest.raises(ValidationError) as err:
        await runtime.pipelines.start_collection(CollectRequest(vk_ids=[1], limit=limit))

    for word in words:
        assert word in err.value.message, err.value.message
    assert (await runtime.tasks.list()).total == 0
    counts = await runtime.queue.get_job_counts_by_queue()
    assert sum(counts["total"].values()) == 0, counts
