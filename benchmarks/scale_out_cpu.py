"""CPU accounting of ``scale_out.py``: the CPU-seconds each part used over one run, the
machine's busy share over the same time, and what one more machine would add.

A part is one process (a worker, the emulator, Valkey, this coordinator) or a process
with its children (the PostgreSQL postmaster and its backends: a backend's CPU counts
while it lives and, once the postmaster has reaped it, in the postmaster's
``children_*`` times, so the sum covers backends that come and go).  "other" is the
machine's busy CPU-seconds less every part's: the other programs sharing the machine.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

CPU_BOUND = 0.85
"""Machine busy share (0-1) from which a run is reported as CPU-bound."""


def own_cpu_s(process: psutil.Process) -> float:
    """User + system CPU-seconds of ``process`` alone; 0 once it has ended."""
    try:
        times = process.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    return float(times.user + times.system)


def tree_cpu_s(process: psutil.Process) -> float:
    """CPU-seconds of ``process``, its reaped children and its live children."""
    try:
        times = process.cpu_times()
        children = process.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0
    total = times.user + times.system + times.children_user + times.children_system
    return float(total) + sum(own_cpu_s(child) for child in children)


def peak_rss_mb(pid: int) -> float:
    """Peak resident memory (``VmHWM``) of a live process in MB; 0 where unknown."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _machine_times() -> tuple[float, float]:
    """(busy, total) CPU-seconds of the whole machine since boot, every core."""
    times = psutil.cpu_times()
    total = float(sum(times))
    # guest time is already counted in user on Linux
    total -= getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    idle = float(times.idle + getattr(times, "iowait", 0.0))
    return total - idle, total


@dataclass
class CpuUse:
    """CPU over one run: ``parts`` in CPU-seconds by name (workers as ``worker 1``...),
    ``busy_share`` of the machine (0-1, every core), ``cores`` and ``seconds``."""

    parts: dict[str, float]
    busy_share: float
    cores: int
    seconds: float
    load_before: float = 0.0
    load_after: float = 0.0

    @property
    def workers(self) -> list[float]:
        return [v for k, v in self.parts.items() if k.startswith("worker")]

    @property
    def other_s(self) -> float:
        """Busy CPU-seconds of the machine that no part of the run accounts for."""
        busy = self.busy_share * self.cores * self.seconds
        return max(0.0, busy - sum(self.parts.values()))

    @property
    def cpu_bound(self) -> bool:
        return self.busy_share >= CPU_BOUND


@dataclass
class CpuMeter:
    """Measures named parts (each a function giving its CPU-seconds so far) and the
    machine between :meth:`start` and :meth:`stop`."""

    parts: dict[str, Callable[[], float]]
    _before: dict[str, float] = field(default_factory=dict)
    _machine: tuple[float, float] = (0.0, 0.0)
    _started: float = 0.0
    _load: float = 0.0

    def start(self) -> None:
        self._load = psutil.getloadavg()[0]
        self._before = {name: read() for name, read in self.parts.items()}
        self._machine = _machine_times()
        self._started = time.monotonic()

    def stop(self) -> CpuUse:
        seconds = time.monotonic() - self._started
        busy, total = _machine_times()
        used = {name: read() - self._before[name] for name, read in self.parts.items()}
        elapsed = total - self._machine[1]
        share = (busy - self._machine[0]) / elapsed if elapsed > 0 else 0.0
        cores = psutil.cpu_count() or 1
        return CpuUse(used, share, cores, seconds, self._load, psutil.getloadavg()[0])


@dataclass(frozen=True)
class MoreMachine:
    """What one more machine of ``cores`` running only workers would store: comments/s
    (``cores`` x 100,000 / the workers' CPU-seconds per 100,000 comments) and the user
    tokens at VK's limit that rate is (``per_token`` comments/s each)."""

    cores: int
    comments_per_s: float
    tokens: float

    @classmethod
    def from_cpu(cls, cores: int, cpu_per_100k: float, per_token: float) -> MoreMachine:
        rate = cores * 100_000 / cpu_per_100k if cpu_per_100k > 0 else 0.0
        return cls(cores, rate, rate / per_token)
