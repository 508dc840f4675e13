"""Jobs in both directions with the original system's own client, Node.js BullMQ 5:
its producer's job is collected by our worker, our jobs are read by its consumer, and
its QueueEvents sees progress and results in its own shapes."""

from __future__ import annotations

import asyncio
import json

from vk_collector.bootstrap import Runtime
from vk_collector.queue.jobs import (
    ProcessGroupsJobData,
    ProcessGroupsMetadata,
    VkCollectGroup,
    VkCollectJobData,
    VkCollectMetadata,
    VkCollectOptions,
)
from vk_collector.queue.service import QueueService
from vk_collector.settings import Settings
from vk_collector.storage import GroupData, TaskStatus, TaskType
from vk_emulator import EmulatorServer

from support.node import NodeInterop
from support.pipelines import expected_comments, wait_finished

STAGES = {"starting", "fetching_posts", "fetching_comments", "saving_data", "completing"}
RESULT_KEYS = {
    "success",
    "taskId",
    "commentsCollected",
    "postsProcessed",
    "groupsProcessed",
    "errors",
    "processingTime",
    "finalStatus",
}


async def test_a_node_job_without_groups_is_collected_from_our_task_record(
    runtime: Runtime,
    emulator: EmulatorServer,
    node_interop: NodeInterop,
    redis_url: str,
    settings: Settings,
) -> None:
    async with runtime.db.unit_of_work() as uow:
        await uow.groups.upsert_many(
            [GroupData(vk_id=1, name="One"), GroupData(vk_id=2, name="Two")]
        )
        await uow.commit()
    task = await runtime.tasks.create(TaskType.FETCH_COMMENTS, {"groups": [1, 2]})
    job_id = f"vk-collect-{task.id}"
    prefix = settings.queues.prefix
    events = await node_interop.start("events", redis_url, prefix, "vk-collect", job_id)
    assert await events.line() == {"ready": True}

    producer = await node_interop.start(
        "produce", redis_url, prefix, str(task.id), json.dumps({"limit": 2})
    )
    assert await producer.line() == {"jobId": job_id}
    assert await producer.finish() == 0

    progress = []
    while (message := await events.line(within=60))["event"] == "progress":
        progress.append(message["data"])
    assert message["event"] == "completed", message
    done = await wait_finished(runtime, task.id)

    assert done.status is TaskStatus.COMPLETED, done.error_message
    posts, comments = expected_comments(emulator.dataset, [1, 2], limit=2)
    assert done.result is not None
    assert done.result["commentsCollected"] == len(comments)
    assert done.result["postsProcessed"] == len(posts)
    # the original's result, read by its QueueEvents listener
    result = message["returnvalue"]
    if isinstance(result, str):  # BullMQ 5 hands the stored JSON text on
        result = json.loads(result)
    assert set(result) >= RESULT_KEYS
    assert result["taskId"] == task.id
    assert result["finalStatus"] == "completed"
    assert result["commentsCollected"] == len(comments)
    # the original's progress: strings where it had strings
    assert progress, "no progress event reached the Node listener"
    assert progress[-1]["percentage"] == 100
    for data in progress:
        assert data["stage"] in STAGES
        assert isinstance(data["percentage"], int)
        assert set(data["stats"]) == {
            "groupsCompleted",
            "totalGroups",
            "postsProcessed",
            "commentsCollected",
        }
        assert data["stats"]["totalGroups"] == 2
    current = [data["currentGroup"] for data in progress if data.get("currentGroup")]
    assert current, progress
    for group in current:
        assert isinstance(group["vkId"], str)
        assert group["vkId"] in {"1", "2"}
        assert isinstance(group["name"], str)
        assert isinstance(group["progress"], int)


async def test_our_jobs_are_read_by_the_originals_processors(
    settings: Settings, redis_url: str, node_interop: NodeInterop
) -> None:
    queues = settings.queues.model_copy(deep=True)
    queues.vk_collect.delay_ms = 0
    service = QueueService(settings.model_copy(update={"queues": queues}), redis_url)
    await service.initialize(start_workers=False, listen_events=False)
    try:
        prefix = settings.queues.prefix
        vk = await node_interop.start("consume", redis_url, prefix, "vk-collect", "1")
        groups = await node_interop.start("consume", redis_url, prefix, "process-groups", "1")
        assert await vk.line() == {"ready": True}
        assert await groups.line() == {"ready": True}
        options = VkCollectOptions(
            limit=3, include_replies=False, filter_words=["кот"], token="vk1.a.secret"
        )
        await service.add_vk_collect_job(
            VkCollectJobData(
                task_id=7,
                metadata=VkCollectMetadata(
                    groups=[VkCollectGroup(vk_id=1, name="One")], options=options
                ),
            ),
            7,
        )
        await service.add_process_groups_job(
            ProcessGroupsJobData(
                task_id=8,
                metadata=ProcessGroupsMetadata(
                    group_identifiers=["1", "durov", "club3"], original_file_name="g.txt"
                ),
            ),
            8,
        )
        read_vk, read_groups = await asyncio.gather(vk.line(), groups.line())
    finally:
        await service.cleanup()

    assert read_vk == {
        "id": "vk-collect-7",
        "name": "vk-collect",
        "attempts": 5,
        "data": {
            "taskId": 7,
            "type": "fetch_comments",
            "limit": 3,
            "includeReplies": False,
            "filterWords": ["кот"],
            "hasToken": False,  # a token never reaches Redis
        },
    }
    assert read_groups["id"] == "process-groups-8"
    assert read_groups["data"] == {
        "taskId": 8,
        "type": "process_groups",
        "groupIdentifiers": ["1", "durov", "club3"],
        "source": "file",
        "originalFileName": "g.txt",
    }
    assert await vk.finish() == 0
    assert await groups.finish() == 0
