"""QueueJobHandler on its own, per the seed's test plan.

``FlakyQueue`` wraps a real bullmq queue and fails its first adds with a connection
error, the way a Redis failover looks to a client.  Retry waits are switched off
through the ``instant_retries`` marker (vk_collector.retries), not by patching sleeps.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.exceptions
from bullmq import Job, Queue

from vk_collector.errors import ErrorCode, QueueError, ValidationError
from vk_collector.queue.config import QueueName, queue_configs
from vk_collector.queue.init_handler import QueueInitHandler, QueueResources
from vk_collector.queue.job_handler import QueueJobHandler
from vk_collector.queue.job_info import JobInfo
from vk_collector.redaction import register_secret
from vk_collector.retries import set_instant_retries
from vk_collector.settings import QueuesSettings, Settings

PG = QueueName.PROCESS_GROUPS.value


class FlakyQueue:
    def __init__(self, queue: Queue, failures: int) -> None:
        self._queue = queue
        self.failures = failures
        self.calls = 0

    async def add(self, name: str, data: Any, opts: dict[str, Any]) -> Job:
        self.calls += 1
        if self.calls <= self.failures:
            raise redis.exceptions.ConnectionError("connection reset by peer")
        return await self._queue.add(name, data, opts)

    def __getattr__(self, item: str) -> Any:
        return getattr(self._queue, item)


pytestmark = pytest.mark.instant_retries  # enqueue retry waits are zero


@pytest.fixture
async def resources(settings: Settings, redis_url: str) -> AsyncIterator[QueueResources]:
    init = QueueInitHandler(settings, redis_url, list(queue_configs(settings.queues).values()))
    yield await init.initialize()
    await init.cleanup()


def flaky_handler(
    resources: QueueResources, queues: QueuesSettings, failures: int
) -> tuple[FlakyQueue, QueueJobHandler]:
    """A handler whose process-groups queue fails its first ``failures`` adds."""
    flaky = FlakyQueue(resources.queues[PG], failures=failures)
    resources.queues[PG] = flaky  # type: ignore[assignment]
    return flaky, QueueJobHandler(resources, queues)


def quick_retries(settings: Settings) -> QueuesSettings:
    """Queue settings whose first enqueue retry waits 0.1 s (then doubles)."""
    return settings.queues.model_copy(update={"enqueue_retry_min_s": 0.1})


def identifiers(*items: str) -> dict[str, Any]:
    return {"metadata": {"groupIdentifiers": list(items), "source": "manual"}}


async def test_add_merges_queue_defaults_caller_options_and_the_job_id(
    resources: QueueResources, settings: Settings
) -> None:
    handler = QueueJobHandler(resources, settings.queues)

    job = await handler.add_job(PG, identifiers("apiclub"), 12, {"priority": 3, "attempts": 7})

    stored = await resources.queues[PG].getJob("process-groups-12")
    assert job.id == stored.id == "process-groups-12"
    assert stored.opts["attempts"] == 7  # caller wins
    assert stored.opts["backoff"] == {"type": "exponential", "delay": 5000}  # queue default
    assert stored.opts["priority"] == 3
    assert stored.data["taskId"] == 12
    assert stored.data["type"] == "process_groups"


async def test_a_caller_job_id_is_kept(resources: QueueResources, settings: Settings) -> None:
    handler = QueueJobHandler(resources, settings.queues)
    job = await handler.add_job(PG, identifiers("apiclub"), 12, {"jobId": "custom-1"})
    assert job.id == "custom-1"


async def test_transient_redis_failures_are_retried(
    resources: QueueResources, settings: Settings
) -> None:
    flaky, handler = flaky_handler(resources, settings.queues, failures=3)

    job = await handler.add_process_groups_job(identifiers("apiclub"), 5)

    assert flaky.calls == 4  # three retries, then success
    assert await flaky.getJob(job.id) is not None


async def test_add_gives_up_after_three_retries(
    resources: QueueResources, settings: Settings
) -> None:
    flaky, handler = flaky_handler(resources, settings.queues, failures=10)

    with pytest.raises(QueueError) as err:
        await handler.add_process_groups_job(identifiers("apiclub"), 5)

    assert err.value.code is ErrorCode.ADD_JOB_FAILED
    assert isinstance(err.value.__cause__, redis.exceptions.ConnectionError)
    assert flaky.calls == 4


async def test_validation_errors_are_not_retried_and_enqueue_nothing(
    resources: QueueResources, settings: Settings
) -> None:
    flaky, handler = flaky_handler(resources, settings.queues, failures=0)

    with pytest.raises(ValidationError, match="source"):
        await handler.add_process_groups_job(
            {"metadata": {"groupIdentifiers": ["a"], "source": "fax"}}, 5
        )

    assert flaky.calls == 0


async def test_an_unknown_queue_is_queue_not_found(
    resources: QueueResources, settings: Settings
) -> None:
    handler = QueueJobHandler(resources, settings.queues)
    with pytest.raises(QueueError) as err:
        await handler.add_job("analyze-posts", identifiers("a"), 1)
    assert err.value.code is ErrorCode.QUEUE_NOT_FOUND


async def test_get_job_finds_jobs_in_any_queue_and_none_otherwise(
    resources: QueueResources, settings: Settings
) -> None:
    handler = QueueJobHandler(resources, settings.queues)
    await handler.add_vk_collect_job({}, 8)
    await handler.add_process_groups_job(identifiers("a"), 8)

    found = await handler.get_job("vk-collect-8")
    assert found is not None
    assert found.queue.name == "vk-collect"
    other = await handler.get_job("process-groups-8")
    assert other is not None
    assert other.queue.name == PG
    assert await handler.get_job("vk-collect-999") is None


async def test_jobs_of_the_original_node_system_are_read(
    resources: QueueResources, settings: Settings
) -> None:
    # the shape the original Node.js producer wrote, token included
    original = {
        "taskId": 77,
        "type": "fetch_comments",
        "metadata": {
            "groups": [{"vkId": 1, "name": "Group 1"}],
            "options": {"limit": 5, "includeReplies": True, "token": "node-token-xyz"},
        },
    }
    await resources.queues["vk-collect"].add("vk-collect", original, {"jobId": "vk-collect-77"})

    handler = QueueJobHandler(resources, settings.queues)
    job = await handler.get_job("vk-collect-77")

    assert job is not None
    from vk_collector.queue.jobs import VkCollectJobData

    data = VkCollectJobData.model_validate(job.data)
    assert data.task_id == 77
    assert data.metadata.groups is not None
    assert data.metadata.groups[0].vk_id == 1
    assert data.metadata.options.token is not None
    assert data.metadata.options.token.get_secret_value() == "node-token-xyz"
    assert "node-token-xyz" not in repr(data)
    assert "token" not in data.to_wire()["metadata"]["options"]


async def test_bulk_add_validates_everything_before_adding_anything(
    resources: QueueResources, settings: Settings
) -> None:
    handler = QueueJobHandler(resources, settings.queues)
    with pytest.raises(ValidationError):
        await handler.add_jobs(PG, [(identifiers("a"), 1), ({"metadata": {}}, 2)])
    assert await resources.queues[PG].getJobCounts("waiting") == {"waiting": 0}

    jobs = await handler.add_jobs(PG, [(identifiers("a"), 1), (identifiers("b"), 2)])

    assert [j.id for j in jobs] == ["process-groups-1", "process-groups-2"]
    assert await resources.queues[PG].getJobCounts("waiting") == {"waiting": 2}


async def test_job_info_reads_a_job_once_and_redacts_what_people_see(
    resources: QueueResources, settings: Settings
) -> None:
    secret = "job-info-secret-token-0123456789"
    register_secret(secret)
    data = {"taskId": 5, "metadata": {"note": f"uses {secret}"}}
    queue = resources.queues["vk-collect"]
    job = await queue.add("vk-collect", data, {"jobId": "vk-collect-5", "attempts": 4})
    await job.updateProgress({"message": f"token {secret}", "percentage": 10})

    found = await QueueJobHandler(resources, settings.queues).get_job("vk-collect-5")
    assert found is not None
    info = JobInfo.of(found, "waiting")

    assert (info.id, info.queue, info.state, info.attempts_made, info.attempts) == (
        "vk-collect-5",
        "vk-collect",
        "waiting",
        0,
        4,
    )
    assert info.timestamp is not None
    assert info.processed_on is None
    assert secret not in repr(info)
    assert info.data["metadata"]["note"].startswith("uses ")
    assert info.progress["percentage"] == 10


@pytest.fixture
def real_waits() -> Iterator[None]:
    """Retry waits as in production for one test (the module's marker zeroes them)."""
    set_instant_retries(False)
    try:
        yield
    finally:
        set_instant_retries(True)


@pytest.mark.usefixtures("real_waits")
async def test_retries_wait_the_minimum_doubling(
    resources: QueueResources, settings: Settings
) -> None:
    flaky, handler = flaky_handler(resources, quick_retries(settings), failures=3)
    started = time.monotonic()
    await handler.add_process_groups_job(identifiers("apiclub"), 5)
    assert flaky.calls == 4
    assert time.monotonic() - started >= 0.1 + 0.2 + 0.4


@pytest.mark.usefixtures("real_waits")
async def test_a_deadline_stops_the_retries_before_it_passes(
    resources: QueueResources, settings: Settings
) -> None:
    """Waits 0.1 then 0.2 s: the second wait would end at 0.3 s, past the 0.25 s deadline."""
    flaky, handler = flaky_handler(resources, quick_retries(settings), failures=10)
    started = time.monotonic()
    with pytest.raises(QueueError) as err:
        await handler.add_process_groups_job(identifiers("apiclub"), 5, deadline_s=0.25)
    assert time.monotonic() - started < 0.25
    assert err.value.code is ErrorCode.ADD_JOB_FAILED
    assert "Redis is unreachable" in err.value.message
    assert flaky.calls == 2

    blip = FlakyQueue(flaky._queue, failures=1)  # a blip within the deadline is ridden out
    resources.queues[PG] = blip  # type: ignore[assignment]
    job = await handler.add_process_groups_job(identifiers("apiclub"), 6, deadline_s=0.25)
    assert blip.calls == 2
    assert job.id == "process-groups-6"
