"""Prometheus metrics of one process, on a registry per :class:`Metrics` instance.

The API builds one :class:`Metrics` per app and installs it for its lifetime.  Code
that has no handle on the app (the VK client, the rate limiter) reports through the
module functions below; they are no-ops while no instance is installed, so calling
them costs a lookup and nothing else::

    record_vk_request("wall.get", "ok")          # outcome: ok | error | transport_error
    record_vk_error(6)                           # VK's own error code
    record_rate_limit_wait(0.33)                 # seconds a request waited for its slot
    record_reconcile("requeued")                 # requeued | failed | completed

Nothing touches prometheus-client's global default registry, so two apps (two tests)
never share counters.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = [
    "Metrics",
    "install",
    "record_rate_limit_wait",
    "record_reconcile",
    "record_vk_error",
    "record_vk_request",
    "uninstall",
]

_DURATION_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
_WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.jobs = Gauge(
            "vkc_queue_jobs",
            "Jobs per queue and state (read at scrape time)",
            ["queue", "state"],
            registry=r,
        )
        self.jobs_completed = Counter(
            "vkc_jobs_completed",
            "Jobs completed, seen by this process's QueueEvents",
            ["queue"],
            registry=r,
        )
        self.jobs_failed = Counter(
            "vkc_jobs_failed",
            "Jobs failed for good, seen by this process's QueueEvents",
            ["queue"],
            registry=r,
        )
        self.job_duration = Histogram(
            "vkc_job_duration_seconds",
            "From active to completed or failed, per queue",
            ["queue"],
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.tasks = Gauge(
            "vkc_tasks",
            "Tasks per status (read from the database at scrape time)",
            ["status"],
            registry=r,
        )
        self.vk_requests = Counter(
            "vkc_vk_requests",
            "VK API requests by method and outcome",
            ["method", "outcome"],
            registry=r,
        )
        self.vk_errors = Counter(
            "vkc_vk_errors", "VK API errors by VK error code", ["code"], registry=r
        )
        self.scrape_ok = Gauge(
            "vkc_scrape_source_up",
            "1 when this scrape could read the source (redis: job counts; database: task "
            "counts), 0 when it could not: the gauges read from it then keep old values",
            ["source"],
            registry=r,
        )
        self.rate_limit_wait = Histogram(
            "vkc_rate_limit_wait_seconds",
            "Time VK requests waited for the rate limiter",
            buckets=_WAIT_BUCKETS,
            registry=r,
        )
        self.reconcile_actions = Counter(
            "vkc_reconcile_actions",
            "Tasks set right by reconciliation with Redis, by action",
            ["action"],
            registry=r,
        )

    def set_job_counts(self, counts: Mapping[str, Mapping[str, int]]) -> None:
        """``counts``: ``{queue: {state: n}}``, i.e.
        ``QueueService.get_job_counts_by_queue()["queues"]``."""
        for queue, states in counts.items():
            for state, value in states.items():
                self.jobs.labels(queue, state).set(value)

    def set_task_counts(self, counts: Mapping[str, int]) -> None:
        for status, value in counts.items():
            self.tasks.labels(status).set(value)

    def render(self) -> bytes:
        return generate_latest(self.registry)


_lock = threading.Lock()
_installed: tuple[Metrics, ...] = ()


def install(metrics: Metrics) -> None:
    """Make the module functions feed ``metrics`` too (until :func:`uninstall`)."""
    global _installed
    with _lock:
        _installed = (*_installed, metrics)


def uninstall(metrics: Metrics) -> None:
    global _installed
    with _lock:
        _installed = tuple(m for m in _installed if m is not metrics)


def record_vk_request(method: str, outcome: str) -> None:
    for metrics in _installed:
        metrics.vk_requests.labels(method, outcome).inc()


def record_vk_error(code: int) -> None:
    for metrics in _installed:
        metrics.vk_errors.labels(str(code)).inc()


def record_rate_limit_wait(seconds: float) -> None:
    for metrics in _installed:
        metrics.rate_limit_wait.observe(max(0.0, seconds))


def record_reconcile(action: str) -> None:
    for metrics in _installed:
        metrics.reconcile_actions.labels(action).inc()
