"""The runtime the pipeline tests share: workers on, against the session's emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vk_collector.bootstrap import Runtime
from vk_collector.settings import Settings
from vk_emulator import EmulatorServer

from support.pipelines import pipeline_settings, running


@pytest.fixture
def with_workers() -> bool:
    """Whether ``runtime`` runs workers; a module that wants none overrides this fixture."""
    return True


@pytest.fixture
async def runtime(
    settings: Settings, redis_url: str, emulator: EmulatorServer, with_workers: bool
) -> AsyncIterator[Runtime]:
    configured = pipeline_settings(settings, emulator)
    async with running(configured, redis_url, with_workers=with_workers) as rt:
        yield rt
