"""The emulator's HTTP surface: verbs, bodies, tokens, envelopes, stats, start and stop."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import httpx
import pytest

from vk_emulator import (
    EmulatorConfig,
    EmulatorServer,
    VkQuirks,
    create_app,
    mask_token,
)

from support.emulator import USER_TOKEN, EmulatorFactory, vk_call


def params_of(envelope: dict[str, Any]) -> dict[str, str]:
    return {item["key"]: item["value"] for item in envelope["error"]["request_params"]}


def error_code(envelope: dict[str, Any]) -> int:
    assert "error" in envelope, envelope
    code: int = envelope["error"]["error_code"]
    return code


def test_get_and_post_form_are_equivalent(emulator: EmulatorServer) -> None:
    by_get = vk_call(emulator, "wall.get", owner_id=-1, count=5)
    by_post = vk_call(emulator, "wall.get", verb="POST", owner_id=-1, count=5)
    assert by_get == by_post
    assert len(by_get["response"]["items"]) == 5


def test_multipart_body(emulator: EmulatorServer) -> None:
    files = {"owner_id": (None, "-1"), "count": (None, "2"), "v": (None, "5.199")}
    response = httpx.post(
        emulator.url + "wall.get", params={"access_token": USER_TOKEN}, files=files, timeout=10
    )
    assert response.status_code == 200
    assert len(response.json()["response"]["items"]) == 2


def test_body_wins_over_query(emulator: EmulatorServer) -> None:
    response = httpx.post(
        emulator.url + "wall.get",
        params={"access_token": USER_TOKEN, "v": "5.199", "count": "1"},
        data={"owner_id": "-1", "count": "3"},
        timeout=10,
    )
    assert len(response.json()["response"]["items"]) == 3


def test_json_body_is_refused_with_error_8(emulator: EmulatorServer) -> None:
    response = httpx.post(
        emulator.url + "wall.get",
        params={"access_token": USER_TOKEN},
        json={"owner_id": -1, "v": "5.199"},
        timeout=10,
    )
    assert response.status_code == 200
    envelope = response.json()
    assert error_code(envelope) == 8
    assert "access_token" not in params_of(envelope)
    assert USER_TOKEN not in response.text


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_bearer_header_carries_the_token(emulator: EmulatorServer, verb: str) -> None:
    headers = {"Authorization": f"Bearer {USER_TOKEN}"}
    values = {"v": "5.199", "screen_name": "vkc_group_4"}
    if verb == "GET":
        response = httpx.get(
            emulator.url + "utils.resolveScreenName", params=values, headers=headers
        )
    else:
        response = httpx.post(
            emulator.url + "utils.resolveScreenName", data=values, headers=headers
        )
    assert response.json()["response"]["object_id"] == 4
    bad = httpx.get(
        emulator.url + "utils.resolveScreenName",
        params=values,
        headers={"Authorization": "Bearer not-a-token"},
    )
    assert error_code(bad.json()) == 5


@pytest.mark.parametrize(
    ("version", "detail"),
    [(None, "v (version) is required"), ("abc", "format"), ("4.104", "below 5.0")],
)
def test_version_is_required(emulator: EmulatorServer, version: str | None, detail: str) -> None:
    envelope = vk_call(emulator, "groups.getById", v=version, group_ids=1)
    assert error_code(envelope) == 8
    assert envelope["error"]["error_msg"].startswith("Invalid request: ")
    assert detail in envelope["error"]["error_msg"]


def test_missing_and_unknown_tokens(emulator: EmulatorServer) -> None:
    missing = vk_call(emulator, "wall.get", None, owner_id=-1)
    assert error_code(missing) == 8
    assert missing["error"]["error_msg"] == (
        "Invalid request: method is unavailable without access token"
    )
    unknown = vk_call(emulator, "wall.get", "nope", owner_id=-1)
    assert error_code(unknown) == 5
    assert unknown["error"]["error_msg"].startswith(
        "User authorization failed: invalid access_token"
    )


def test_missing_token_can_answer_error_5(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(quirks=VkQuirks(missing_token_error=5))
    envelope = vk_call(server, "wall.get", None, owner_id=-1)
    assert error_code(envelope) == 5
    assert envelope["error"]["error_msg"] == "User authorization failed: no access_token passed."


@pytest.mark.parametrize("name", ["wall.Get", "Wall.get", "wall.getcomments", "nothing", "wall"])
def test_unknown_and_miscased_methods(emulator: EmulatorServer, name: str) -> None:
    envelope = vk_call(emulator, name, owner_id=-1)
    assert error_code(envelope) == 3
    assert envelope["error"]["error_msg"] == "Unknown method passed"


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_request_params_echo_everything_but_the_token(emulator: EmulatorServer, verb: str) -> None:
    envelope = vk_call(emulator, "wall.get", verb=verb, owner_id=-6, count=7, lang="ru")
    assert error_code(envelope) == 15
    items = envelope["error"]["request_params"]
    assert all(set(item) == {"key", "value"} for item in items)
    assert params_of(envelope) == {"v": "5.199", "owner_id": "-6", "count": "7", "lang": "ru"}
    assert USER_TOKEN not in json.dumps(envelope)


def test_legacy_request_params(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(quirks=VkQuirks(legacy_request_params=True))
    envelope = vk_call(server, "wall.get", owner_id=-6)
    assert envelope["error"]["request_params"][:2] == [
        {"key": "oauth", "value": "1"},
        {"key": "method", "value": "wall.get"},
    ]


def test_health_and_stats(emulator: EmulatorServer) -> None:
    assert httpx.get(emulator.base_url + "health").json()["status"] == "ok"
    vk_call(emulator, "groups.getById", group_ids=1)
    vk_call(emulator, "wall.get", owner_id=-6)
    vk_call(emulator, "wall.get", "bad-token", owner_id=-1)
    stats = emulator.stats()
    assert stats["total_requests"] == 3
    assert stats["methods"] == {"groups.getById": 1, "wall.get": 2}
    assert stats["tokens"] == {mask_token(USER_TOKEN): 2, mask_token("bad-token"): 1}
    assert stats["errors"] == {"5": 1, "15": 1}
    assert stats["http_statuses"] == {"200": 3}
    assert stats["max_per_second"][mask_token(USER_TOKEN)] in (1, 2)
    assert sum(stats["per_second"][mask_token(USER_TOKEN)].values()) == 2
    assert USER_TOKEN not in json.dumps(stats)
    over_http = httpx.get(emulator.base_url + "stats").json()
    assert over_http == stats
    assert httpx.post(emulator.base_url + "stats/reset").json() == {"ok": True}
    assert emulator.stats()["total_requests"] == 0
    assert httpx.post(emulator.base_url + "limits/reset").status_code == 200
    assert httpx.get(emulator.base_url + "method/").status_code == 404


def test_server_picks_a_free_port_and_stops_cleanly() -> None:
    before = set(threading.enumerate())
    server = EmulatorServer(EmulatorConfig(groups=3, rps=0))
    with server:
        assert server.url == f"http://127.0.0.1:{server.port}/method/"
        assert server.base_url == f"http://127.0.0.1:{server.port}/"
        with httpx.Client() as client:  # a kept-alive connection must not block the stop
            assert client.get(server.base_url + "health").status_code == 200
            port = server.port
    assert set(threading.enumerate()) <= before
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port), 1):
        pass


def test_a_busy_port_fails_at_start() -> None:
    with EmulatorServer(EmulatorConfig(groups=1)) as first:
        second = EmulatorServer(EmulatorConfig(groups=1), port=first.port)
        with pytest.raises(OSError, match="in use"):
            second.start()
        assert not second.running


async def test_async_context_manager() -> None:
    async with (
        EmulatorServer(EmulatorConfig(groups=2, rps=0)) as server,
        httpx.AsyncClient() as client,
    ):
        response = await client.get(
            server.url + "groups.getById",
            params={"group_id": "2", "v": "5.131", "access_token": USER_TOKEN},
        )
        assert response.json()["response"][0]["id"] == 2
    assert not server.running


async def test_create_app_serves_without_a_socket() -> None:
    app = create_app(EmulatorConfig(groups=2))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.vk.ru") as client:
        response = await client.post(
            "/method/utils.resolveScreenName",
            data={"screen_name": "club2", "v": "5.199", "access_token": USER_TOKEN},
        )
    assert response.json() == {
        "response": {"object_id": 2, "type": app.state.engine.dataset.group(2).type}
    }


def test_keep_alive_requests_are_fast(emulator: EmulatorServer) -> None:
    # Without TCP_NODELAY on accepted sockets each keep-alive request waited ~40 ms.
    with httpx.Client() as client:
        client.get(emulator.base_url + "health")
        started = time.perf_counter()
        for _ in range(20):
            client.get(emulator.base_url + "health")
        assert time.perf_counter() - started < 0.4
