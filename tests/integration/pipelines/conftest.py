"""The runtime the pipeline tests share: workers on, against the session's emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from vk_collector.bootstrap import Runtime
from vk_collector.settings import Settings
from vk_emulator import EmulatorServer

from support.pipelines import pipeline_settings, running


@pytest.fixture
async def runtime(
    settings: Settings, redis_url: str, emulator: EmulatorServer
) -> AsyncIterator[Runtime]:
    async with running(pipeline_settings(settings, emulator), redis_url, with_workers=True) as rt:
        yield rt
