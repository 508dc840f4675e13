"""The CLI as a user drives it: real processes, real Valkey, SQLite and the emulator."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vk_collector.embedded import free_port
from vk_collector.queue.service import QueueService
from vk_collector.settings import Settings
from vk_emulator import EmulatorServer

CLI = [sys.executable, "-m", "vk_collector.cli"]


@pytest.fixture
def env(
    tmp_path: Path, redis_url: str, queue_prefix: str, emulator: EmulatorServer
) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VKC_", "VK_"))}
    return {
        **clean,
        "REDIS_URL": redis_url,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
        "VK_API_URL": emulator.url,
        "VK_TOKENS": "demo-user-token",
        "VKC_DATA_DIR": str(tmp_path / "data"),
        "VKC_QUEUE_PREFIX": queue_prefix,
        "VKC_QUEUE_VK_COLLECT__DELAY_MS": "0",
        "COLUMNS": "200",
    }


def cli(env: dict[str, str], *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_help_lists_every_command() -> None:
    result = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True)
    for command in ("demo", "upload", "groups", "collect", "tasks", "export", "worker",
                    "health", "queues", "jobs", "redis", "emulator"):  # fmt: skip
        assert command in result.stdout


def test_upload_collect_show_and_export(env: dict[str, str], tmp_path: Path) -> None:
    groups = tmp_path / "groups.txt"
    groups.write_text("1\nclub2\nid5\n", encoding="utf-8")

    upload = cli(env, "upload", str(groups), "--json")
    assert upload.returncode == 0, upload.stderr
    resolved = json.loads(upload.stdout)
    assert resolved["status"] == "completed"
    assert resolved["result"]["stats"]["saved"] == 2
    assert any("user page" in e["error"] for e in resolved["errors"])

    listed = cli(env, "groups", "list", "--json")
    assert sorted(g["vkId"] for g in json.loads(listed.stdout)["items"]) == [1, 2]

    collect = cli(env, "collect", "--groups", "1,2", "--limit", "2", "--no-replies", "--json")
    assert collect.returncode == 0, collect.stderr
    task = json.loads(collect.stdout)
    assert task["status"] == "completed"
    comments = task["result"]["commentsCollected"]
    assert comments > 0

    shown = cli(env, "tasks", "show", str(task["taskId"]), "--json")
    assert json.loads(shown.stdout)["result"]["commentsCollected"] == comments
    tasks = json.loads(cli(env, "tasks", "list", "--json").stdout)
    assert [t["taskId"] for t in tasks] == [task["taskId"], resolved["taskId"]]
    ended = cli(env, "tasks", "cancel", str(task["taskId"]))
    assert ended.returncode != 0
    assert "already completed" in ended.stderr

    exported = cli(env, "export", str(task["taskId"]), "--format", "csv", "-o", "-")
    assert exported.returncode == 0, exported.stderr
    rows = list(csv.DictReader(io.StringIO(exported.stdout.lstrip("\ufeff"))))
    assert len(rows) == comments
    assert all(row["parent_comment_id"] == "" for row in rows)  # --no-replies


def test_user_mistakes_get_one_line_and_a_usage_exit_code(
    env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    cases = [
        (["upload", str(empty)], "the file is empty"),
        (["upload", str(tmp_path / "missing.txt")], "cannot read"),
        (["collect", "--groups", "abc"], "not one"),
        (["collect"], "--groups ID,... or --all"),
        (["collect", "--all"], "no communities are stored yet"),
        (["tasks", "show", "999"], "task 999 not found"),
        (["tasks", "cancel", "999"], "task 999 not found"),
        (["export", "1", "--format", "pdf"], "unknown export format"),
    ]
    for args, message in cases:
        result = cli(env, *args)
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_bad_configuration_names_the_variable(env: dict[str, str]) -> None:
    result = cli({**env, "REDIS_URL": "localhost:6379"}, "health")
    assert result.returncode == 2
    assert "REDIS_URL" in result.stderr


def test_health_queues_and_jobs(env: dict[str, str]) -> None:
    health = cli(env, "health", "--json")
    assert health.returncode == 2, health.stderr  # degraded: no worker anywhere
    result = json.loads(health.stdout)
    assert result["status"] == "degraded"
    assert [r["message"] for r in result["reasons"]] == [
        "vk-collect: no live worker",
        "process-groups: no live worker",
        "vk-collect-group: no live worker",
    ]

    paused = cli(env, "queues", "pause", "vk-collect")
    assert paused.returncode == 0
    queues = json.loads(cli(env, "queues", "--json").stdout)
    assert {q["name"]: q["paused"] for q in queues} == {
        "vk-collect": True,
        "process-groups": False,
        "vk-collect-group": False,
    }
    assert cli(env, "queues", "resume").returncode == 0

    missing = cli(env, "jobs", "show", "vk-collect-404")
    assert missing.returncode == 1
    assert "not found" in missing.stderr


def test_a_dead_redis_makes_health_fail_fast(env: dict[str, str]) -> None:
    result = cli({**env, "REDIS_URL": "redis://127.0.0.1:9/0"}, "health", timeout=30)
    assert result.returncode == 1
    assert "does not answer" in result.stderr


def test_the_worker_exits_zero_on_sigterm(env: dict[str, str]) -> None:
    worker = subprocess.Popen(
        [*CLI, "worker", "--queue", "process-groups"], env=env, stderr=subprocess.PIPE, text=True
    )
    assert worker.stderr is not None
    start_up = []
    for line in worker.stderr:
        start_up.append(line)
        if "worker ready" in line:
            break
    # a long-running worker collects garbage rarely (vk_collector/gc_tuning.py)
    assert any("gc tuned" in line and "50000" in line for line in start_up), start_up
    health = json.loads(cli(env, "health", "--json").stdout)
    assert [w["details"]["queueName"] for w in health["details"]["workers"]] == ["process-groups"]

    worker.send_signal(signal.SIGTERM)

    assert worker.wait(timeout=30) == 0


async def _enqueue_groups_job(settings: Settings) -> None:
    async with QueueService(settings, str(settings.redis.url)) as service:
        await service.add_process_groups_job({"metadata": {"groupIdentifiers": ["1"]}}, 1)


def test_health_exits_0_when_healthy_and_1_when_jobs_wait_for_no_worker(
    env: dict[str, str], settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with log.open("wb") as out:
        worker = subprocess.Popen([*CLI, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 30
            while "worker ready" not in log.read_text(errors="replace"):
                assert worker.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "the worker did not start"
                time.sleep(0.05)
            healthy = cli(env, "health")
            assert healthy.returncode == 0, healthy.stdout + healthy.stderr
            assert "status: healthy" in healthy.stdout
            assert f"pid {worker.pid}" in healthy.stdout

            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=30) == 0
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)

    asyncio.run(_enqueue_groups_job(settings))
    unhealthy = cli(env, "health", "--json")
    assert unhealthy.returncode == 1, unhealthy.stderr
    result = json.loads(unhealthy.stdout)
    assert result["status"] == "unhealthy"
    assert {
        "check": "processing",
        "status": "unhealthy",
        "message": "process-groups: 1 job waits and no worker takes them",
    } in result["reasons"]


def test_a_redis_password_is_never_printed(env: dict[str, str]) -> None:
    dead = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    result = cli({**env, "REDIS_URL": dead, "VKC_REDIS_CONNECT_TIMEOUT_S": "0.5"}, "queues")
    assert result.returncode != 0
    assert "redis://:***@127.0.0.1" in result.stderr, result.stderr
    assert "hunter2-secret" not in result.stderr + result.stdout


def test_an_unreachable_postgresql_is_one_line_and_health_json_is_json(
    env: dict[str, str],
) -> None:
    dead = {**env, "DATABASE_URL": f"postgresql://vkc:pg-secret-9@127.0.0.1:{free_port()}/vkc"}
    listed = cli(dead, "tasks", "list")
    assert listed.returncode == 1
    assert "Traceback" not in listed.stderr
    assert len(listed.stderr.strip().splitlines()) == 1, listed.stderr
    assert "database does not answer" in listed.stderr or "cannot connect" in listed.stderr
    assert "pg-secret-9" not in listed.stderr

    health = cli(dead, "health", "--json")
    assert health.returncode == 1
    report = json.loads(health.stdout)
    assert report["status"] == "unhealthy"
    assert report["error"]
    assert "pg-secret-9" not in health.stdout + health.stderr
