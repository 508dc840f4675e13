"""Fixtures for the VK API emulator (a pytest plugin, registered in conftest.py).

- ``emulator_config``: seed 42, 30 communities, no rate limits, small data (20-30 posts
  per wall, at most 120 top-level comments per post and 15 replies per thread; community
  1 still has a post with 120 top-level comments and a 15-reply thread).
- ``emulator``: one server for the whole session running ``emulator_config``; every test
  gets it with fresh stats, rate windows, quotas and fault sequence.  Compare results
  with ``emulator.dataset``.
- ``emulator_factory(**overrides)``: starts a server with ``emulator_config`` changed by
  ``dataclasses.replace`` (``rps=3``, ``faults=FaultConfig(...)``, ...); stopped at
  teardown.

``vk_call(server, method, token=..., **params)`` sends one request as a VK client would.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from vk_emulator import EmulatorConfig, EmulatorServer

EmulatorFactory = Callable[..., EmulatorServer]


@pytest.fixture(scope="session")
def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(
        seed=42,
        groups=30,
        rps=0,
        rps_community=0,
        max_comments_per_post=120,
        max_replies_per_comment=15,
        posts_per_group=(20, 30),
    )


@pytest.fixture(scope="session")
def emulator_session(emulator_config: EmulatorConfig) -> Iterator[EmulatorServer]:
    with EmulatorServer(emulator_config) as server:
        yield server


@pytest.fixture
def emulator(emulator_session: EmulatorServer) -> EmulatorServer:
    emulator_session.reset_stats()
    emulator_session.reset_limits()
    return emulator_session


@pytest.fixture
def emulator_factory(emulator_config: EmulatorConfig) -> Iterator[EmulatorFactory]:
    started: list[EmulatorServer] = []

    def start(**overrides: Any) -> EmulatorServer:
        server = EmulatorServer(dataclasses.replace(emulator_config, **overrides))
        started.append(server.start())
        return server

    yield start
    for server in reversed(started):
        server.stop()


USER_TOKEN = "demo-user-token"
COMMUNITY_TOKEN = "demo-community-token"
SERVICE_TOKEN = "demo-service-token"
API_VERSION = "5.199"


def vk_call(
    server: EmulatorServer,
    method: str,
    token: str | None = USER_TOKEN,
    *,
    verb: str = "GET",
    **params: Any,
) -> dict[str, Any]:
    """One request to ``server`` as a VK client sends it; returns the JSON envelope.

    ``v`` defaults to 5.199; pass ``v=None`` to leave it out.  Values go as strings.
    """
    values = {"v": API_VERSION, **params}
    if token is not None:
        values["access_token"] = token
    sent = {key: str(value) for key, value in values.items() if value is not None}
    # Plain HTTP on loopback: verify=False only skips loading CA certificates (~25 ms).
    with httpx.Client(timeout=10, verify=False) as client:
        if verb == "GET":
            response = client.get(server.url + method, params=sent)
        else:
            response = client.post(server.url + method, data=sent)
    assert response.status_code == 200, response.text
    data: dict[str, Any] = response.json()
    return data
