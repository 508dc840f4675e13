"""Fixture plugin: a process environment without any setting of ours or the
original system's, and a working directory without a ``.env`` file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

__all__ = ["clean_environment"]

# The original system's names that share no prefix with ours (vk_collector.legacy_env).
ORIGINAL_NAMES = frozenset({"DB_URL", "PORT", "CORS_ORIGINS", "MAX_FILE_SIZE"})
_OURS = frozenset({"DATABASE_URL", "API_KEY"})


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Unset every ``VKC_*``, ``VK_*`` and ``REDIS_*`` variable, ``DATABASE_URL``,
    ``API_KEY`` and the original system's names, and run in ``tmp_path``."""
    for name in list(os.environ):
        if name.startswith(("VKC_", "VK_", "REDIS_")) or name in _OURS | ORIGINAL_NAMES:
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
