"""Every benchmark, run with tiny sizes: it must still measure real work.

Each benchmark checks its own figures (rows stored equal the rows the emulator serves,
jobs added are in the queue, requests were counted) and raises ``NotMeasuredError``
otherwise; these runs make a refactor that breaks one fail here, not silently in a
figure nobody reruns.  They assert nothing about speed.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(autouse=True)
def _benchmarks_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    # on sys.path, not loaded from a file: spawned child processes import them by name
    monkeypatch.syspath_prepend(str(BENCHMARKS))


def benchmark(name: str) -> ModuleType:
    return importlib.import_module(name)


async def test_collect_end_to_end_stores_what_the_emulator_serves() -> None:
    bench = benchmark("collect_end_to_end")
    report = await bench.measure(groups=1, limit=2, baseline_seconds=0.5, heavy=True)
    # heavy walls: every post that takes comments has 1,001-3,000 top-level ones
    assert report.expected_comments >= 1001
    assert report.pipeline.comments == report.expected_comments
    assert report.pipeline.posts == report.expected_posts == 2
    assert report.pipeline.requests > 0
    assert report.original.requests > 0
    assert report.original.comments > 0


def test_collect_end_to_end_refuses_figures_of_work_not_done() -> None:
    bench = benchmark("collect_end_to_end")
    stored = bench.Figures("pipeline (execute)", 2435, 5, 40, 300, 0, 1.0)
    original = bench.Figures("original loop", 300, 10, 4, 3, 0, 1.0)
    report = bench.Report(stored, original, expected_posts=5, expected_comments=57012, warm_s=0)
    with pytest.raises(bench.NotMeasuredError, match="stored 5 posts and 2435 comments"):
        report.check()
    idle = bench.Figures("original loop", 0, 0, 0, 0, 0, 1.0)
    matching = bench.Figures("pipeline (execute)", 57012, 5, 40, 300, 0, 1.0)
    report = bench.Report(matching, idle, expected_posts=5, expected_comments=57012, warm_s=0)
    with pytest.raises(bench.NotMeasuredError, match="0 requests"):
        report.check()


async def test_vk_fetch_throughput_fetches_every_comment_it_counts() -> None:
    bench = benchmark("vk_fetch_throughput")
    results = await bench.measure(seconds=0.2, groups=20)
    assert [r.name for r in results] == ["execute", "single", "execute+replies"]
    for result in results:
        assert result.comments == result.expected > 0
        assert result.requests > 0


async def test_queue_throughput_adds_and_processes_every_job() -> None:
    bench = benchmark("queue_throughput")
    rows = await bench.measure(jobs=20, rounds=1)
    assert len(rows) == 6
    assert all(row.service > 0 and row.raw > 0 for row in rows)


def test_api_latency_answers_every_request() -> None:
    bench = benchmark("api_latency")
    args = argparse.Namespace(clients=2, requests=5, seconds=2.0, rps=20.0)
    results, state = bench.run_benchmark(args)
    assert state.startswith("collection task")
    for phases in results.values():
        assert set(phases) == {"idle", "loaded"}
        for sample in phases.values():
            assert len(sample.latencies_ms) == 5
            assert sample.errors == 0


def test_wrk_baseline_counts_requests_on_both_apps(tmp_path: Path) -> None:
    bench = benchmark("wrk_baseline")
    results = bench.compare(connections=2, seconds=1.0, tasks=3, data_dir=tmp_path)
    assert results, "no endpoint was measured"
    for result in results:
        assert result.ours > 0
        assert result.minimal > 0


def test_upload_memory_parses_every_identifier_it_wrote(tmp_path: Path) -> None:
    bench = benchmark("upload_memory")
    path = tmp_path / "groups.txt"
    expected = bench.write_file(path, 1, 110)
    assert path.stat().st_size == 1024 * 1024
    result = bench.measure(path, expected, traced=True)
    assert result["found"] == expected == 1024 * 1024 // 110
    assert result["peak"] > 0
    with pytest.raises(bench.NotMeasuredError, match=f"parsed {expected} identifiers"):
        bench.measure(path, expected + 1, traced=False)


async def test_scale_out_stores_what_the_emulator_serves_from_worker_processes() -> None:
    bench = benchmark("scale_out")
    # SQLite only, to stay quick: the PostgreSQL path differs by its database URL alone
    runs = await bench.measure(groups=2, limit=1, matrix=[(2, 2)], backends=["sqlite"])
    assert [(r.backend, r.tokens, r.processes) for r in runs] == [("sqlite", 2, 2)]
    for run in runs:
        # heavy walls: every post that takes comments has 1,001-3,000 top-level ones
        assert run.comments >= 1001
        assert run.posts == 2
        assert run.requests > 0
        assert run.pages / run.requests > 1  # execute batches pages
        assert len(run.worker_cpu_s) == 2
        assert sum(run.worker_cpu_s) > 0
        # every part's CPU is accounted for, and the machine's share is a share
        assert run.cpu is not None
        assert {"worker 1", "worker 2", "emulator", "valkey", "coordinator"} <= set(run.cpu.parts)
        assert run.cpu.parts["emulator"] > 0
        assert 0 < run.cpu.busy_share <= 1
        assert run.more_machine().comments_per_s > 0


def test_scale_out_refuses_figures_of_work_not_done() -> None:
    bench = benchmark("scale_out")
    walls = bench.Walls([1, 2], posts=2, comments=2500)
    short = bench.Run("sqlite", 2, 2, comments=2435, posts=2, seconds=1.0, requests=9,
                      pages=30, errors_6=0)  # fmt: skip
    with pytest.raises(bench.NotMeasuredError, match="stored 2 posts and 2435 comments"):
        bench.check(short, walls)
    idle = bench.Run("sqlite", 2, 2, comments=2500, posts=2, seconds=1.0, requests=0,
                     pages=0, errors_6=0)  # fmt: skip
    with pytest.raises(bench.NotMeasuredError, match="0 requests"):
        bench.check(idle, walls)
