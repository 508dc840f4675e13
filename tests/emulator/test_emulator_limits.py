"""Rate limits, quotas and fault injection over HTTP."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from vk_emulator import FaultConfig, mask_token
from vk_emulator.limits import FaultInjector

from support.emulator import COMMUNITY_TOKEN, SERVICE_TOKEN, USER_TOKEN, EmulatorFactory, vk_call

PARAMS = {"v": "5.199", "access_token": USER_TOKEN, "group_ids": "1"}


def outcome(response: httpx.Response) -> str:
    """``ok``, ``error_<code>``, ``http_<status>`` or ``non_json`` for one answer."""
    if response.status_code != 200:
        return f"http_{response.status_code}"
    try:
        data: dict[str, Any] = response.json()
    except ValueError:
        return "non_json"
    return "ok" if "response" in data else f"error_{data['error']['error_code']}"


def test_rate_limit_answers_error_6(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(rps=3)
    with httpx.Client(base_url=server.url) as client:
        burst = [client.get("groups.getById", params=PARAMS) for _ in range(10)]
        assert [outcome(r) for r in burst] == ["ok"] * 3 + ["error_6"] * 7
        assert burst[3].json()["error"]["error_msg"] == "Too many requests per second"
        other = client.get("groups.getById", params={**PARAMS, "access_token": SERVICE_TOKEN})
        assert outcome(other) == "ok"  # the limit is per token
        deadline = time.monotonic() + 3
        while outcome(client.get("groups.getById", params=PARAMS)) != "ok":
            assert time.monotonic() < deadline, "the window never reopened"
            time.sleep(0.05)
    stats = server.stats()
    key = mask_token(USER_TOKEN)
    assert stats["max_per_second"][key] >= 10  # every request counts in the stats windows
    assert stats["errors"]["6"] >= 7


def test_a_paced_client_stays_within_the_windows(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(rps=3)
    with httpx.Client(base_url=server.url) as client:
        started = time.monotonic()
        for n in range(7):
            while time.monotonic() < started + n * 0.34:
                time.sleep(0.005)
            assert outcome(client.get("groups.getById", params=PARAMS)) == "ok"
    stats = server.stats()
    key = mask_token(USER_TOKEN)
    assert stats["max_per_second"][key] <= 3
    assert max(stats["per_second"][key].values()) <= 3
    assert sum(stats["per_second"][key].values()) == 7
    assert stats["errors"] == {}


def test_community_tokens_get_twenty_per_second(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(rps=3, rps_community=20)
    params = {**PARAMS, "access_token": COMMUNITY_TOKEN}
    with httpx.Client(base_url=server.url) as client:
        answers = [outcome(client.get("groups.getById", params=params)) for _ in range(24)]
    assert answers == ["ok"] * 20 + ["error_6"] * 4


def test_daily_quota_answers_error_29(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(daily_quota=2)
    answers = [vk_call(server, "wall.get", owner_id=-1, count=1) for _ in range(3)]
    assert [("response" in a) for a in answers] == [True, True, False]
    assert answers[2]["error"]["error_code"] == 29
    assert answers[2]["error"]["error_msg"] == "Rate limit reached"
    assert "response" in vk_call(server, "groups.getById", group_id=1)  # per method
    assert "response" in vk_call(server, "wall.get", SERVICE_TOKEN, owner_id=-1)  # per token
    server.reset_limits()
    assert "response" in vk_call(server, "wall.get", owner_id=-1, count=1)


def test_faults_are_seeded_and_roughly_honoured(emulator_factory: EmulatorFactory) -> None:
    faults = FaultConfig(error_10=0.25, error_1=0.05, http_5xx=0.1, non_json=0.1, seed=5)
    server = emulator_factory(faults=faults)

    def run() -> list[str]:
        with httpx.Client(base_url=server.url) as client:
            return [outcome(client.get("groups.getById", params=PARAMS)) for _ in range(300)]

    first = run()
    server.reset_limits()  # restarts the fault sequence
    assert run() == first
    injector = FaultInjector(faults, 5)
    expected = []
    for _ in range(300):
        draw = injector.draw()
        if draw.kind is None:
            expected.append("ok")
        elif draw.kind == "http_5xx":
            expected.append(f"http_{draw.status}")
        else:
            expected.append(draw.kind)
    assert first == expected
    share = {kind: first.count(kind) / 300 for kind in set(first)}
    assert 0.15 < share["error_10"] < 0.35
    assert 0.38 < share["ok"] < 0.62  # 50% expected
    assert 0.04 < sum(v for k, v in share.items() if k.startswith("http_5")) < 0.18
    assert 0.04 < share["non_json"] < 0.18
    stats = server.stats()
    assert stats["faults"]["error_10"] == 2 * first.count("error_10")


def test_another_fault_seed_gives_another_sequence(emulator_factory: EmulatorFactory) -> None:
    runs = []
    for seed in (1, 2):
        server = emulator_factory(faults=FaultConfig(error_10=0.5, seed=seed))
        with httpx.Client(base_url=server.url) as client:
            runs.append([outcome(client.get("groups.getById", params=PARAMS)) for _ in range(40)])
    assert runs[0] != runs[1]


@pytest.mark.parametrize(("kind", "code"), [("error_1", 1), ("error_6", 6), ("error_9", 9)])
def test_injected_errors(emulator_factory: EmulatorFactory, kind: str, code: int) -> None:
    rates: dict[str, Any] = {kind: 1.0}
    server = emulator_factory(faults=FaultConfig(**rates))
    envelope = vk_call(server, "wall.get", owner_id=-1)
    assert envelope["error"]["error_code"] == code
    assert {"key": "owner_id", "value": "-1"} in envelope["error"]["request_params"]


def test_captcha_payload(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(faults=FaultConfig(error_14=1.0))
    first = vk_call(server, "wall.get", owner_id=-1)["error"]
    second = vk_call(server, "wall.get", owner_id=-1)["error"]
    assert first["error_code"] == 14
    assert first["error_msg"] == "Captcha needed"
    assert first["captcha_sid"] != second["captcha_sid"]
    assert first["captcha_img"].endswith(f"sid={first['captcha_sid']}&s=1")


def test_transport_faults(emulator_factory: EmulatorFactory) -> None:
    broken = emulator_factory(faults=FaultConfig(http_5xx=1.0))
    response = httpx.get(broken.url + "groups.getById", params=PARAMS)
    assert response.status_code in (500, 502, 503, 504)
    assert response.headers["content-type"].startswith("text/html")
    garbled = emulator_factory(faults=FaultConfig(non_json=1.0))
    response = httpx.get(garbled.url + "groups.getById", params=PARAMS)
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        response.json()


def test_slow_answers(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(faults=FaultConfig(slow=1.0, slow_ms=150))
    started = time.monotonic()
    envelope = vk_call(server, "groups.getById", group_id=1)
    assert time.monotonic() - started >= 0.15
    assert "response" in envelope
