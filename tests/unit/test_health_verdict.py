"""The health verdict from plain observations: every rule, no Redis."""

from __future__ import annotations

import pytest

from vk_collector.errors import ValidationError
from vk_collector.queue.health import (
    QueueActivity,
    QueueObservation,
    WorkerObservation,
    evaluate,
)
from vk_collector.settings import QueuesSettings, load_settings

VK = "vk-collect"
PG = "process-groups"
SETTINGS = QueuesSettings(health_stuck_after_s=60, health_window_s=300)


def queue(name: str, **counts: int) -> QueueObservation:
    due = counts.pop("due", 0)
    age = counts.pop("age", None)
    paused = bool(counts.pop("queue_paused", 0))
    return QueueObservation(name, counts, due_delayed=due, paused=paused, oldest_due_age_s=age)


def worker(
    name: str, *, running: bool = True, paused: bool = False, age: float | None = 1.0
) -> WorkerObservation:
    return WorkerObservation(name, running=running, paused=paused, heartbeat_age_s=age)


LIVE = [worker(VK), worker(PG)]


def verdict(
    queues: list[QueueObservation],
    workers: list[WorkerObservation],
    activity: dict[str, QueueActivity] | None = None,
    redis_error: str | None = None,
    settings: QueuesSettings = SETTINGS,
) -> tuple[str, list[tuple[str, str, str]], list[str]]:
    status, reasons, states = evaluate(
        settings,
        redis_error=redis_error,
        queues=queues,
        workers=workers,
        activity=activity if activity is not None else {},
    )
    return status, [(r.check, r.status, r.message) for r in reasons], list(states)


def test_live_workers_and_nothing_wrong_is_healthy() -> None:
    status, reasons, states = verdict([queue(VK, waiting=2, active=1), queue(PG)], LIVE)
    assert (status, reasons, states) == ("healthy", [], ["healthy", "healthy"])


def test_no_worker_and_nothing_to_do_is_degraded() -> None:
    status, reasons, _ = verdict([queue(VK), queue(PG)], [])
    assert status == "degraded"
    assert reasons == [
        ("workers", "degraded", "vk-collect: no live worker"),
        ("workers", "degraded", "process-groups: no live worker"),
    ]


@pytest.mark.parametrize(
    ("counts", "message"),
    [
        ({"waiting": 3}, "vk-collect: 3 jobs wait and no worker takes them"),
        ({"prioritized": 1}, "vk-collect: 1 job waits and no worker takes them"),
        ({"delayed": 5, "due": 2}, "vk-collect: 2 jobs wait and no worker takes them"),
    ],
)
def test_work_without_a_live_worker_is_unhealthy(counts: dict[str, int], message: str) -> None:
    status, reasons, _ = verdict([queue(VK, **counts), queue(PG)], [worker(PG)])
    assert status == "unhealthy"
    assert reasons == [("processing", "unhealthy", message)]


def test_delayed_jobs_that_are_not_due_are_no_work() -> None:
    status, reasons, _ = verdict([queue(VK, delayed=4, due=0), queue(PG)], [worker(PG)])
    assert status == "degraded"
    assert reasons == [("workers", "degraded", "vk-collect: no live worker")]


def test_paused_workers_take_nothing_and_say_so() -> None:
    status, reasons, states = verdict(
        [queue(VK, waiting=1), queue(PG)], [worker(VK, paused=True), worker(PG)]
    )
    assert status == "unhealthy"
    assert states == ["paused", "healthy"]
    assert reasons == [
        (
            "processing",
            "unhealthy",
            "vk-collect: 1 job waits and no worker takes them (1 worker paused)",
        )
    ]


def test_a_paused_queue_with_jobs_is_degraded_not_unhealthy() -> None:
    status, reasons, _ = verdict([queue(VK, waiting=3, due=1, queue_paused=1), queue(PG)], [])
    assert status == "degraded"
    assert reasons == [
        ("processing", "degraded", "vk-collect: the queue is paused with 4 jobs"),
        ("workers", "degraded", "process-groups: no live worker"),
    ]


def test_a_stale_worker_is_listed_degraded_and_not_live() -> None:
    workers = [worker(VK, age=SETTINGS.heartbeat_stale_s + 0.1), worker(PG)]
    status, reasons, states = verdict([queue(VK), queue(PG)], workers)
    assert states == ["stale", "healthy"]
    assert status == "degraded"
    assert ("workers", "degraded", "vk-collect: 1 worker stopped sending heartbeats") in reasons
    assert ("workers", "degraded", "vk-collect: no live worker") in reasons

    status, reasons, _ = verdict([queue(VK, waiting=1), queue(PG)], workers)
    assert status == "unhealthy"


def test_a_worker_that_is_not_running_is_degraded() -> None:
    status, reasons, states = verdict([queue(VK), queue(PG)], [*LIVE, worker(PG, running=False)])
    assert states == ["healthy", "healthy", "unhealthy"]
    assert (status, reasons) == (
        "degraded",
        [("workers", "degraded", "process-groups: 1 worker not running")],
    )


def test_a_live_worker_that_takes_nothing_while_jobs_are_due_is_unhealthy() -> None:
    stuck = [queue(VK, waiting=2, age=61), queue(PG)]
    status, reasons, _ = verdict(stuck, LIVE)
    assert status == "unhealthy"
    assert reasons == [
        (
            "processing",
            "unhealthy",
            "vk-collect: 2 jobs wait for 61 s and none of 1 live worker takes them",
        )
    ]
    # not stuck: due for less than the threshold, a job running, or one started lately
    assert verdict([queue(VK, waiting=2, age=59), queue(PG)], LIVE)[0] == "healthy"
    assert verdict([queue(VK, waiting=2, active=1, age=600), queue(PG)], LIVE)[0] == "healthy"
    recent = {VK: QueueActivity(last_active_age_s=5)}
    assert verdict(stuck, LIVE, recent)[0] == "healthy"
    long_ago = {VK: QueueActivity(last_active_age_s=120)}
    assert verdict(stuck, LIVE, long_ago)[0] == "unhealthy"


def test_a_backlog_over_the_threshold_is_degraded() -> None:
    settings = SETTINGS.model_copy(update={"backlog_threshold": 5})
    status, reasons, _ = verdict(
        [queue(VK, waiting=5, active=1), queue(PG)], LIVE, settings=settings
    )
    assert (status, reasons) == (
        "degraded",
        [("backlog", "degraded", "vk-collect: 5 waiting jobs, threshold 5")],
    )


def test_stalled_jobs_over_the_threshold_are_degraded() -> None:
    settings = SETTINGS.model_copy(update={"health_stalled_max": 1})
    one = {PG: QueueActivity(stalled=1)}
    assert verdict([queue(VK), queue(PG)], LIVE, one, settings=settings)[0] == "healthy"
    two = {PG: QueueActivity(stalled=2)}
    status, reasons, _ = verdict([queue(VK), queue(PG)], LIVE, two, settings=settings)
    assert (status, reasons) == (
        "degraded",
        [("stalled", "degraded", "process-groups: 2 jobs stalled in the last 5 min")],
    )


def test_a_high_failure_rate_is_degraded_once_enough_jobs_finished() -> None:
    few = {VK: QueueActivity(completed=2, failed=7)}
    assert verdict([queue(VK), queue(PG)], LIVE, few)[0] == "healthy"
    many = {VK: QueueActivity(completed=4, failed=6)}
    status, reasons, _ = verdict([queue(VK), queue(PG)], LIVE, many)
    assert (status, reasons) == (
        "degraded",
        [("failures", "degraded", "vk-collect: 6 of 10 jobs failed in the last 5 min")],
    )
    half = {VK: QueueActivity(completed=5, failed=5)}
    assert verdict([queue(VK), queue(PG)], LIVE, half)[0] == "healthy"


def test_redis_down_is_unhealthy_and_names_no_address() -> None:
    status, reasons, _ = evaluate(
        SETTINGS, redis_error="Error 111 connecting to 10.0.0.5:6379", queues=None,
        workers=[], activity=None,
    )  # fmt: skip
    assert status == "unhealthy"
    assert [(r.check, r.message) for r in reasons] == [("redis", "redis: no answer")]


def test_unreadable_counts_or_events_are_reported() -> None:
    status, reasons, _ = evaluate(
        SETTINGS, redis_error=None, queues=None, workers=[], activity=None
    )
    assert status == "unhealthy"
    assert [r.check for r in reasons] == ["queues", "activity"]


def test_heartbeat_settings_keep_interval_below_stale_below_ttl() -> None:
    defaults = QueuesSettings()
    assert (
        defaults.heartbeat_interval_s,
        defaults.heartbeat_stale_s,
        defaults.heartbeat_ttl_s,
    ) == (
        5.0,
        15.0,
        60.0,
    )
    with pytest.raises(ValueError, match="interval < stale < ttl"):
        QueuesSettings(heartbeat_stale_s=60, heartbeat_ttl_s=60)
    with pytest.raises(ValueError, match="STUCK_AFTER_S must not exceed"):
        QueuesSettings(health_stuck_after_s=301, health_window_s=300)


def test_a_ttl_under_the_stale_threshold_is_refused_naming_the_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VKC_QUEUE_HEARTBEAT_TTL_S", "10")
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert "VKC_QUEUE_HEARTBEAT_TTL_S" in caught.value.message
    assert "interval < stale < ttl" in caught.value.message
