"""Every Redis key and job id this project spells, in one place (BullMQ's own keys
come from ``Queue.keys``; these are the ones on top of them).

* job id: ``<queue>-<taskId>`` (``vk-collect-12``): one job per task and queue, so
  adding a task's job twice is a no-op (DESIGN.md, wire compatibility with the original);
* child job id: ``vk-collect-group-<taskId>-<vkId>`` (``vk-collect-group-12-1``), one
  job per community of a collection task, child of ``vk-collect-<taskId>``: a re-run
  parent adding its children again adds nothing new;
* worker heartbeat: ``<prefix>:vkc:heartbeat:<queue>:<worker id>`` (a JSON object with
  a TTL, :mod:`vk_collector.queue.worker_contract`);
* VK client state (rate limits, token bans): keys under ``<prefix>:vkc:vk``.

``prefix`` is the queue key prefix of the settings (``queues.prefix``, ``bull`` by default).
"""

from __future__ import annotations

__all__ = ["group_job_id", "heartbeat_key", "heartbeat_pattern", "job_id", "vk_key_prefix"]


def job_id(queue_name: str, task_id: int) -> str:
    """The id of the job of task ``task_id`` on ``queue_name``."""
    return f"{queue_name}-{task_id}"


def group_job_id(task_id: int, vk_id: int) -> str:
    """The id of the child job collecting community ``vk_id`` for task ``task_id``."""
    return f"vk-collect-group-{task_id}-{vk_id}"


def vk_token_key(prefix: str) -> str:
    """The rotating start offset of the shared token pool (an integer, INCR'd)."""
    return f"{vk_key_prefix(prefix)}:pool:next"


def heartbeat_key(prefix: str, queue_name: str, worker_id: str) -> str:
    return f"{prefix}:vkc:heartbeat:{queue_name}:{worker_id}"


def heartbeat_pattern(prefix: str, queue_name: str = "*") -> str:
    """A SCAN pattern for the heartbeats of ``queue_name`` (``*``: every queue)."""
    return heartbeat_key(prefix, queue_name, "*")


def vk_key_prefix(prefix: str) -> str:
    """The prefix of the VK client's keys in Redis."""
    return f"{prefix}:vkc:vk"
