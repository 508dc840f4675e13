"""The chaos suite's figures: each run records what it injected and how long recovery
took; they go to ``<basetemp>/chaos-figures.json`` and into pytest's terminal summary
(shown with or without ``-s``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

_FIGURES = pytest.StashKey[list[dict[str, Any]]]()


@pytest.fixture
def chaos_figures(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """Append one dict per run; they are printed at the end of the session."""
    return request.config.stash.setdefault(_FIGURES, [])


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    figures = config.stash.get(_FIGURES, [])
    if not figures:
        return
    base = Path(str(config._tmp_path_factory.getbasetemp()))  # type: ignore[attr-defined]
    target = base / "chaos-figures.json"
    target.write_text(json.dumps(figures, indent=2, default=str))
    terminalreporter.section("chaos figures")
    for run in figures:
        terminalreporter.write_line(f"{run['run']}:")
        for key, value in run.items():
            if key != "run":
                terminalreporter.write_line(f"  {key}: {value}")
    terminalreporter.write_line(f"(also in {target})")
