"""Queue settings (``VKC_QUEUE_*``): the options of each queue (DESIGN.md, Queue
configuration), the health thresholds, heartbeats, enqueue retries and
reconciliation.  Part of :class:`vk_collector.settings.Settings`."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings

from vk_collector.settings_env import env_config

__all__ = [
    "ProcessGroupsQueueOptions",
    "QueueOptions",
    "QueuesSettings",
    "VkCollectGroupQueueOptions",
    "VkCollectQueueOptions",
]


class QueueOptions(BaseModel):
    """Job and worker options of one queue (DESIGN.md, Queue configuration)."""

    attempts: int = Field(default=3, ge=1, le=100)
    backoff_delay_ms: int = Field(default=5000, ge=0)
    delay_ms: int = Field(default=0, ge=0)
    remove_on_complete: int = Field(default=100, ge=0)
    remove_on_fail: int = Field(default=50, ge=0)
    concurrency: int = Field(default=1, ge=1, le=1000)
    stalled_interval_ms: int = Field(default=30000, ge=1000)
    max_stalled_count: int = Field(default=1, ge=0)
    lock_duration_ms: int = Field(default=30000, ge=1000)


class VkCollectQueueOptions(QueueOptions):
    """vk-collect: 5 attempts, added with a 2 s delay, one job at a time per worker."""

    attempts: int = Field(default=5, ge=1, le=100)
    delay_ms: int = Field(default=2000, ge=0)


class VkCollectGroupQueueOptions(QueueOptions):
    """vk-collect-group (one community of a collection task, a child of the task's
    vk-collect job): 5 attempts, no delay, eight communities at a time per worker; finished
    children are kept (1000) so a re-run parent finds them and adds no duplicates.

    Eight, not two: the communities of a process share ``execute`` requests (the
    process-wide batcher), and a new community's ``wall.get`` and first pages take
    about a second before its pages are planned, so more at once keep requests full.
    On 3-post walls (benchmarks/scale_out.py, docs/PERFORMANCE.md "Scale-out") a
    request carried 22.6-23.3 of 25 pages with four and 23.8-24.2 with eight, and the
    runs reached 0.77-0.79 and 0.81-0.82 of N x 7,500, for 0-30 MB more per worker.
    Each community in flight holds at most its flow's backlog (50,000 rows) in memory."""

    attempts: int = Field(default=5, ge=1, le=100)
    concurrency: int = Field(default=8, ge=1, le=1000)
    remove_on_complete: int = Field(default=1000, ge=0)
    remove_on_fail: int = Field(default=1000, ge=0)


class ProcessGroupsQueueOptions(QueueOptions):
    """process-groups: 3 attempts, no delay, two jobs at a time per worker."""

    concurrency: int = Field(default=2, ge=1, le=1000)


class QueuesSettings(BaseSettings):
    model_config = env_config("VKC_QUEUE_", "__")

    prefix: str = Field(default="bull", min_length=1)
    # one class per queue, so setting one option from the environment keeps the others
    vk_collect: VkCollectQueueOptions = Field(default_factory=VkCollectQueueOptions)
    process_groups: ProcessGroupsQueueOptions = Field(default_factory=ProcessGroupsQueueOptions)
    vk_collect_group: VkCollectGroupQueueOptions = Field(default_factory=VkCollectGroupQueueOptions)
    backlog_threshold: int = Field(default=1000, ge=1, description="waiting jobs per queue")
    health_timeout_s: float = Field(default=1.5, gt=0, description="per health check")
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    heartbeat_stale_s: float = Field(
        default=15.0, gt=0, description="a worker without a heartbeat this long is stale"
    )
    heartbeat_ttl_s: float = Field(
        default=60.0, gt=0, description="heartbeat key lifetime; a stale worker is listed until"
    )
    health_window_s: float = Field(
        default=300.0, gt=0, description="window of the stalled-job and failure-rate checks"
    )
    health_stalled_max: int = Field(default=0, ge=0, description="stalled jobs per window")
    health_failure_rate_max: float = Field(default=0.5, ge=0, le=1)
    health_failure_min_jobs: int = Field(
        default=10, ge=1, description="jobs before the rate counts"
    )
    health_stuck_after_s: float = Field(
        default=60.0, gt=0, description="due jobs that long with idle live workers: stuck"
    )
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    enqueue_retries: int = Field(default=3, ge=0)
    enqueue_retry_min_s: float = Field(default=1.0, ge=0)
    enqueue_request_deadline_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="the most an add made for someone waiting (API request, CLI) may take, "
        "retries included; past it the request answers 503 (s)",
    )
    reconcile_grace_s: float = Field(
        default=30.0, ge=0, description="how long an unfinished task may lack a job (s)"
    )
    reconcile_interval_s: float = Field(
        default=15.0, gt=0, description="between reconciliation passes (s), across processes"
    )

    @model_validator(mode="after")
    def _check_orders(self) -> QueuesSettings:
        # A worker must miss beats before it is stale, and must stay listed as stale
        # for a while before its key expires.
        if not self.heartbeat_interval_s < self.heartbeat_stale_s < self.heartbeat_ttl_s:
            raise ValueError(
                "heartbeat settings must satisfy interval < stale < ttl, got "
                f"interval {self.heartbeat_interval_s} s, stale {self.heartbeat_stale_s} s, "
                f"ttl {self.heartbeat_ttl_s} s (VKC_QUEUE_HEARTBEAT_INTERVAL_S, "
                "VKC_QUEUE_HEARTBEAT_STALE_S, VKC_QUEUE_HEARTBEAT_TTL_S)"
            )
        if self.health_stuck_after_s > self.health_window_s:
            raise ValueError(
                "VKC_QUEUE_HEALTH_STUCK_AFTER_S must not exceed VKC_QUEUE_HEALTH_WINDOW_S "
                f"(got {self.health_stuck_after_s} s and {self.health_window_s} s): the "
                "check looks for recently started jobs within the window"
            )
        return self
