"""The emulator the collection benchmarks measure against, in a process of its own:
*heavy* walls (every post that takes comments has 1,001-3,000 top-level ones) or the
ordinary ones, comment trees built before any clock starts, 3 requests/s for one user
token.  Used by ``collect_end_to_end.py`` and ``scale_out_processes.py``."""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import time
from multiprocessing.connection import Connection
from typing import Any

import httpx

from vk_collector.gc_tuning import tune_for_service
from vk_emulator.config import EmulatorConfig
from vk_emulator.dataset import Dataset
from vk_emulator.server import EmulatorServer

RPS = 3.0
SEED = 7
ANCHOR = 1_767_225_600


class HeavyDataset(Dataset):
    """The emulator's dataset, but every post that takes comments has 1,001-3,000."""

    def _plan_threads(self, rng: random.Random, featured: bool) -> tuple[int, ...]:
        sizes = [
            min(self._thread_size(rng), self.max_replies_per_comment)
            for _ in range(min(rng.randint(1001, 3000), self.max_comments_per_post))
        ]
        return tuple(sizes)


class NotMeasuredError(RuntimeError):
    """The run did not do the work it reports."""


def emulator_options(groups: int, limit: int) -> dict[str, Any]:
    # EmulatorConfig holds a mappingproxy and does not pickle: the child builds its own
    return {
        "seed": SEED,
        "groups": max(200, 3 * groups),
        "rps": RPS,
        "max_comments_per_post": 3000,
        "posts_per_group": (max(25, limit + 5), max(70, limit + 10)),
        "anchor_time": ANCHOR,
    }


def build_dataset(options: dict[str, Any], *, heavy: bool) -> Dataset:
    config = EmulatorConfig(**options)
    return HeavyDataset.from_config(config) if heavy else Dataset.from_config(config)


def _serve(
    options: dict[str, Any], heavy: bool, warm: list[tuple[int, int]], conn: Connection
) -> None:
    """The emulator process: build the walls, pre-build the trees, serve until told."""
    config = EmulatorConfig(**options)
    dataset = build_dataset(options, heavy=heavy)
    started = time.monotonic()
    for owner_id, post_id in warm:
        dataset.comment_tree(owner_id, post_id)
    warm_s = time.monotonic() - started
    tune_for_service()  # the trees stay out of every collection, as in `vk-collector emulator`
    with EmulatorServer(config, dataset=dataset) as server:
        conn.send((server.url, warm_s))
        while conn.recv() == "cpu":  # anything else (or the pipe closing) stops the server
            conn.send(time.process_time())


class EmulatorProcess:
    """The emulator in a spawned process: ``url``, ``stats()``, ``reset_stats()``,
    ``cpu_s()`` (its own CPU time so far)."""

    def __init__(
        self, options: dict[str, Any], *, heavy: bool, warm: list[tuple[int, int]]
    ) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(options, heavy, warm, child), daemon=True
        )
        self._process.start()
        child.close()
        if not self._conn.poll(300):
            self.stop()
            raise NotMeasuredError("the emulator did not start within 300 s")
        self.url, self.warm_s = self._conn.recv()
        self._base = self.url.removesuffix("method/")

    def stats(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(self._base + "stats", timeout=30).json()
        return data

    def reset_stats(self) -> None:
        httpx.post(self._base + "stats/reset", timeout=30).raise_for_status()

    def cpu_s(self) -> float:
        self._conn.send("cpu")
        return float(self._conn.recv())

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send("stop")
        self._process.join(30)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()


def recent_posts(dataset: Dataset, group_id: int, limit: int) -> list[Any]:
    return sorted(dataset.posts(group_id), key=lambda p: (p.date, p.id), reverse=True)[:limit]


def open_groups(dataset: Dataset, wanted: int, *, skip: int = 0) -> list[int]:
    ids = dataset.ids_by_kind()["open"]
    return [int(i) for i in ids[skip : skip + wanted]]
