"""The figures of one ``scale_out.py`` run and how they are printed."""

from __future__ import annotations

import argparse
import platform
from dataclasses import dataclass, field

import psutil
from scale_out_cpu import CpuUse, MoreMachine
from scale_out_processes import PER_TOKEN, RPS


@dataclass
class Run:
    """One collection: what it stored in how many ``seconds`` (enqueue to completion),
    the emulator's counters over it (HTTP ``requests``, ``wall.getComments`` ``pages``,
    ``errors_6``), the CPU-seconds of every part (``cpu``; ``worker_cpu_s`` and
    ``emulator_cpu_s`` repeat theirs) and the workers' peak memory in MB.  The ratio to
    VK's limit is (req/s per token / 3) x (pages per request / 25) x (comments per page
    / 100)."""

    backend: str
    tokens: int
    processes: int
    comments: int
    posts: int
    seconds: float
    requests: int
    pages: int
    errors_6: int
    worker_cpu_s: list[float] = field(default_factory=list)
    emulator_cpu_s: float = 0.0
    concurrency: int = 2
    groups: int = 0
    cpu: CpuUse | None = None
    worker_peak_mb: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.comments / self.seconds

    @property
    def of_limit(self) -> float:
        return self.per_second / (self.tokens * PER_TOKEN)

    @property
    def cpu_per_100k(self) -> float:
        """Worker CPU-seconds per 100,000 stored comments (all processes together)."""
        return sum(self.worker_cpu_s) * 100_000 / max(1, self.comments)

    def more_machine(self) -> MoreMachine:
        """One more machine of this many cores, running workers only."""
        cores = self.cpu.cores if self.cpu else psutil.cpu_count() or 1
        return MoreMachine.from_cpu(cores, self.cpu_per_100k, PER_TOKEN)


TARGET = 0.8
"""Issue 11's target ratio to N x 7,500 where the CPUs are not the limit."""

HEADER = (
    f"{'db':<9}{'c':>3}{'N':>3}{'K':>3}{'groups':>7}{'comments':>10}{'s':>7}"
    f"{'comments/s':>11}{'of Nx7500':>10}{'pg/req':>7}{'req/s/N':>8}{'err6':>5}{'cpu/100k':>9}"
    f"{'busy':>6}{'load':>11}  limit"
)


def print_run(r: Run, *, flush: bool = False) -> None:
    """Three lines: the throughput row, the CPU-seconds of every part, and what one
    more machine of workers would add."""
    cpu = r.cpu
    busy = f"{cpu.busy_share:.0%}" if cpu else "-"
    load = f"{cpu.load_before:.1f}->{cpu.load_after:.1f}" if cpu else "-"
    # issue 11's target: 0.8 x N x 7,500 wherever the CPUs are not the limit
    limit = "CPU-bound" if cpu and cpu.cpu_bound else "not CPU"
    limit += ", 0.8 met" if r.of_limit >= TARGET else ", 0.8 not met"
    print(
        f"{r.backend:<9}{r.concurrency:>3}{r.tokens:>3}{r.processes:>3}{r.groups:>7}"
        f"{r.comments:>10,}{r.seconds:>7.1f}{r.per_second:>11,.0f}{r.of_limit:>10.3f}"
        f"{r.pages / max(1, r.requests):>7.1f}{r.requests / r.seconds / r.tokens:>8.2f}"
        f"{r.errors_6:>5}{r.cpu_per_100k:>9.2f}"
        f"{busy:>6}{load:>11}  {limit}",
        flush=flush,
    )
    if cpu:
        parts = "; ".join(f"{name} {s:.1f}" for name, s in cpu.parts.items())
        peak = ", ".join(f"{mb:.0f}" for mb in r.worker_peak_mb)
        print(f"{'':9}CPU-s: {parts}; other {cpu.other_s:.1f}; worker peak MB {peak}")
    more = r.more_machine()
    at_target = ""
    if cpu:
        # CPU-s per comment x the target rate: the cores the target would take
        rate = TARGET * r.tokens * PER_TOKEN / max(1, r.comments)
        ours = sum(s for name, s in cpu.parts.items() if name != "coordinator")
        at_target = (
            f"; at {TARGET:g} x N x 7,500: workers {sum(r.worker_cpu_s) * rate:.2f} cores, "
            f"every part but the coordinator {ours * rate:.2f} of {cpu.cores}"
        )
    print(
        f"{'':9}one more {more.cores}-core machine of workers: +{more.comments_per_s:,.0f} "
        f"comments/s, {more.tokens:.1f} tokens at the limit{at_target}",
        flush=flush,
    )


def print_report(runs: list[Run], args: argparse.Namespace) -> None:
    size = (
        f"communities holding {args.seconds:g} s x N x 7,500 comments (at least {args.groups})"
        if args.seconds
        else f"{args.groups} communities"
    )
    print(
        f"\nScale-out: {size} x {args.limit} recent posts, top-level comments, heavy walls; "
        f"user tokens at {RPS:g} req/s each; Python {platform.python_version()}, "
        f"{psutil.cpu_count()} CPUs (shared); c = communities at once per process"
    )
    print(HEADER)
    for r in runs:
        print_run(r)
