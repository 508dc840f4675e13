"""Garbage-collector settings for the long-running processes (``worker``, ``serve``,
the emulator).

A collection allocates objects fast: each ``execute`` answer decodes about 2,500
comments into structs and storage rows, several answers a second.  With CPython's
default thresholds (700, 10, 10) a full (generation 2) collection ran about once a
second in a worker and took 85-260 ms, traversing every object the process held; the
event loop stood still meanwhile.  A request granted its rate-limit slot just before
such a pause went out late and reached VK close behind the next one: error 6, and the
token paused for it.  The emulator, holding hundreds of megabytes of comment trees,
paused the same way and counted requests late.

:func:`tune_for_service` moves everything built so far (modules, settings, metadata,
an emulator's dataset) out of the collector's sight (``gc.freeze``) and collects the
young generation every :data:`YOUNG_THRESHOLD` allocations instead of 700, so the
short-lived objects of an answer die between collections and full collections become
rare.  Cycles are still collected; only less often.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_for_service"]

YOUNG_THRESHOLD = 50_000
"""Allocations (net of deallocations) between young-generation collections."""


def tune_for_service() -> None:
    """Freeze what the process has built so far and raise the young threshold; call it
    once start-up is done, in a process that runs until it is stopped."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 10)
