"""The ``emulator`` command: help text, serving in a child process, stopping on signals."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
import typer
from typer.testing import CliRunner

from vk_collector.cli.emulator import emulator

RUN_COMMAND = "import typer; from vk_collector.cli.emulator import emulator; typer.run(emulator)"


def test_help_names_every_knob() -> None:
    app = typer.Typer()
    app.command("emulator")(emulator)
    app.callback()(lambda: None)
    result = CliRunner().invoke(app, ["emulator", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--port",
        "--seed",
        "--groups",
        "--user-tokens",
        "--community-tokens",
        "--service-tokens",
        "--rps",
        "--daily-quota",
        "--fault-error-10",
        "--fault-http-5xx",
        "--fault-non-json",
        "--slow-ms",
        "--fault-seed",
    ):
        assert option in result.output


def test_bad_fault_rates_are_refused() -> None:
    app = typer.Typer()
    app.command("emulator")(emulator)
    app.callback()(lambda: None)
    result = CliRunner().invoke(
        app, ["emulator", "--port", "0", "--fault-error-1", "0.7", "--fault-error-10", "0.7"]
    )
    assert result.exit_code == 2
    assert "sum to at most 1" in result.output


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serves_until_stopped(stop: signal.Signals) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-c", RUN_COMMAND, "--port", "0", "--groups", "5", "--seed", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        match = re.search(r"VK_API_URL=(\S+) VK_TOKENS=demo-user-token", "".join(lines))
        assert match, lines
        url = match.group(1)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/method/", url)
        answer = httpx.get(
            url + "groups.getById",
            params={"group_ids": "5", "v": "5.199", "access_token": "demo-user-token"},
        ).json()
        assert answer["response"]["groups"][0]["screen_name"] == "vkc_group_5"
        process.send_signal(stop)
        _, stderr = process.communicate(timeout=15)
        assert process.returncode == 0
        assert "emulator stopped" in stderr
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
