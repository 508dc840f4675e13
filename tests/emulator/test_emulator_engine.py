from __future__ import annotations

import json
import pickle
from collections import Counter

import pytest

from vk_emulator import EmulatorConfig, FaultConfig, VkQuirks, mask_token
from vk_emulator.engine import Engine
from vk_emulator.limits import FaultInjector, QuotaBook, RateLimiter
from vk_emulator.stats import Stats


def test_rate_limiter_allows_three_in_any_second() -> None:
    limiter = RateLimiter()
    times = (0.0, 0.1, 0.2, 0.3, 0.9, 1.01, 1.05, 1.15, 1.25)
    accepted = [t for t in times if limiter.allow("t", 3.0, t)]
    # 0.3 and 0.9 are refused (three in the last second); 1.01 gets the slot 0.0 freed,
    # 1.05 finds 0.1 and 0.2 still inside the window, 1.15 and 1.25 get their slots
    assert accepted == [0.0, 0.1, 0.2, 1.01, 1.15, 1.25]


def test_rate_limiter_is_per_token_and_can_be_off() -> None:
    limiter = RateLimiter()
    assert limiter.allow("a", 1.0, 0.0)
    assert not limiter.allow("a", 1.0, 0.5)
    assert limiter.allow("b", 1.0, 0.5)
    assert all(limiter.allow("c", None, 0.0) for _ in range(1000))
    assert all(limiter.allow("c", 0.0, 0.0) for _ in range(1000))


def test_fractional_rates() -> None:
    limiter = RateLimiter()
    # 0.5/s: one request per 2 s
    assert [limiter.allow("t", 0.5, t) for t in (0.0, 1.0, 1.99, 2.0)] == [True, False, False, True]
    limiter.reset()
    # 2.5/s: two requests per 0.8 s
    assert [limiter.allow("t", 2.5, t) for t in (0.0, 0.1, 0.5, 0.81)] == [True, True, False, True]


def test_quota_book() -> None:
    quotas = QuotaBook(2, {"wall.get": 3}, period_s=100.0)
    assert [quotas.consume("t", "groups.getById", 0.0) for _ in range(3)] == [True, True, False]
    assert [quotas.consume("t", "wall.get", 0.0) for _ in range(4)] == [True, True, True, False]
    assert quotas.consume("other", "wall.get", 0.0)
    assert quotas.used("t", "wall.get") == 3
    assert all(quotas.consume("t", "execute", 0.0) for _ in range(10))
    assert quotas.consume("t", "wall.get", 100.0)  # a new window
    assert QuotaBook(None, {}).consume("t", "wall.get", 0.0)


def test_fault_injector_is_seeded_and_roughly_honours_rates() -> None:
    faults = FaultConfig(error_10=0.2, http_5xx=0.1, slow=0.3, slow_ms=40)
    first = [FaultInjector(faults, 7).draw() for _ in range(1)]
    injector = FaultInjector(faults, 7)
    draws = [injector.draw() for _ in range(5000)]
    again = FaultInjector(faults, 7)
    assert [again.draw() for _ in range(5000)] == draws
    assert first[0] == draws[0]
    other = FaultInjector(faults, 8)
    assert [other.draw() for _ in range(100)] != draws[:100]
    kinds = Counter(draw.kind for draw in draws)
    assert 0.17 < kinds["error_10"] / 5000 < 0.23
    assert 0.07 < kinds["http_5xx"] / 5000 < 0.13
    assert set(kinds) == {None, "error_10", "http_5xx"}
    slow = [draw for draw in draws if draw.delay_s]
    assert 0.26 < len(slow) / 5000 < 0.34
    assert {draw.delay_s for draw in slow} == {0.04}
    assert {draw.status for draw in draws} <= {500, 502, 503, 504}
    injector.reset()
    assert injector.draw() == draws[0]


def test_fault_config_validation() -> None:
    with pytest.raises(ValueError, match="sum"):
        FaultConfig(error_1=0.6, error_10=0.6)
    with pytest.raises(ValueError, match="within"):
        FaultConfig(slow=1.5)
    assert not FaultConfig().enabled
    assert FaultConfig(slow=0.1).enabled


def test_config_validation_and_coercion() -> None:
    config = EmulatorConfig(user_tokens=["a", " b ", ""], community_tokens="c")  # type: ignore[arg-type]
    assert config.user_tokens == ("a", "b")
    assert config.community_tokens == ("c",)
    assert config.getbyid_object_from == (5, 194)
    assert config.fault_seed == 42
    assert EmulatorConfig(faults=FaultConfig(seed=9)).fault_seed == 9
    with pytest.raises(ValueError, match="one kind"):
        EmulatorConfig(user_tokens=("x",), service_tokens=("x",))
    with pytest.raises(ValueError, match="version"):
        EmulatorConfig(groups_getbyid_object_from_version="five")
    with pytest.raises(ValueError, match="posts_per_group"):
        EmulatorConfig(posts_per_group=(3, 10))
    with pytest.raises(ValueError, match="missing_token_error"):
        VkQuirks(missing_token_error=6)


def test_stats_windows_and_masking() -> None:
    stats = Stats()
    for now in (0.0, 0.2, 0.4, 0.6, 1.5, 1.55):
        stats.request("secret-token-value", "wall.get", now, 1000.0 + now)
    stats.request(None, "wall.get", 2.0, 1002.0)
    snapshot = stats.snapshot()
    key = mask_token("secret-token-value")
    assert snapshot["max_per_second"][key] == 4
    assert snapshot["per_second"][key] == {"1000": 4, "1001": 2}
    assert snapshot["tokens"] == {key: 6, "-": 1}
    assert "secret-token-value" not in json.dumps(snapshot)
    assert key.startswith("secr")
    assert mask_token("secret-token-other") != key


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def call(
    engine: Engine, method: str = "utils.resolveScreenName", token: str = "u"
) -> dict[str, object]:
    reply = engine.handle(method, [("v", "5.199"), ("screen_name", "vkc_group_1")], token)
    data: dict[str, object] = json.loads(reply.body)
    return data


def test_engine_rate_limit_with_a_fake_clock() -> None:
    clock = FakeClock()
    config = EmulatorConfig(
        groups=3, user_tokens=("u",), community_tokens=("c",), service_tokens=()
    )
    engine = Engine(config, clock=clock, wall_clock=clock)
    codes = []
    for step in range(8):
        clock.now = 100.0 + step * 0.25
        reply = call(engine)
        codes.append(reply["error"]["error_code"] if "error" in reply else 0)  # type: ignore[index]
    # three per second: 0.0, 0.25, 0.5 pass; 0.75 is refused; 1.0, 1.25 and 1.5 take the
    # slots freed by the first three; 1.75 is refused again
    assert codes == [0, 0, 0, 6, 0, 0, 0, 6]
    community = [call(engine, token="c") for _ in range(25)]
    assert sum("error" in reply for reply in community) == 5  # 20/s for community tokens


def test_engine_execute_takes_one_rate_slot() -> None:
    clock = FakeClock()
    config = EmulatorConfig(groups=3, user_tokens=("u",), community_tokens=(), service_tokens=())
    engine = Engine(config, clock=clock, wall_clock=clock)
    code = "return [" + ",".join(["API.utils.resolveScreenName({screen_name: 'x'})"] * 20) + "];"
    for _ in range(3):
        reply = json.loads(engine.handle("execute", [("v", "5.199"), ("code", code)], "u").body)
        assert reply["response"] == [[]] * 20
    assert "error" in call(engine)


def test_config_pickles_for_child_processes() -> None:
    config = EmulatorConfig(method_quotas={"wall.get": 5}, faults=FaultConfig(error_1=0.1))
    copy = pickle.loads(pickle.dumps(config))
    assert copy == config
    assert copy.method_quotas["wall.get"] == 5
    with pytest.raises(TypeError):
        copy.method_quotas["wall.get"] = 6
