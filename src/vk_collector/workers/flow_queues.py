"""The bullmq ``Queue`` handles a worker needs beside its own: the parent of a collection
task adds its communities' jobs to ``vk-collect-group``, and each of those reaches its
parent on ``vk-collect`` (its token, its progress).

Created on first use with the queues' command client (each command gives up after
``redis.command_timeout_s``), closed by :meth:`FlowQueues.close`; nothing connects in
the constructor.
"""

from __future__ import annotations

import contextlib

from bullmq import Queue

from vk_collector.queue.config import QueueName, command_client, queue_configs
from vk_collector.settings import Settings

__all__ = ["FlowQueues"]


class FlowQueues:
    def __init__(self, settings: Settings, redis_url: str) -> None:
        self._settings = settings
        self._redis_url = redis_url
        self._queues: dict[QueueName, Queue] = {}

    def get(self, name: QueueName) -> Queue:
        """The queue called ``name``, with that queue's default job options."""
        queue = self._queues.get(name)
        if queue is None:
            redis = self._settings.redis
            queue = Queue(
                name.value,
                {
                    "connection": command_client(
                        self._redis_url, redis.connect_timeout_s, redis.command_timeout_s
                    ),
                    "prefix": self._settings.queues.prefix,
                    "defaultJobOptions": queue_configs(self._settings.queues)[name].job_options(),
                },
            )
            self._queues[name] = queue
        return queue

    async def close(self) -> None:
        queues, self._queues = self._queues, {}
        for queue in queues.values():
            with contextlib.suppress(Exception):  # Redis gone: nothing left to release
                await queue.close()
