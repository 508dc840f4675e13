"""Settings: the names users set, defaults, and errors that name the variable."""

from __future__ import annotations

import pytest

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.settings import load_settings

pytestmark = pytest.mark.usefixtures("clean_environment")


def test_defaults_are_the_embedded_ones() -> None:
    settings = load_settings()
    assert settings.redis.url is None
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert settings.database_url.endswith("data/vk_collector.db")
    assert settings.vk.api_url == "https://api.vk.ru/method/"
    assert settings.vk.tokens == []
    assert settings.queues.vk_collect.attempts == 5
    assert settings.queues.vk_collect.delay_ms == 2000
    assert settings.queues.process_groups.concurrency == 2
    assert settings.queues.vk_collect_group.concurrency == 8


def test_short_names_users_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/2")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/vk")
    monkeypatch.setenv("VK_API_URL", "http://127.0.0.1:8081/method")
    monkeypatch.setenv("VK_TOKENS", "one, two ,,community:three")
    monkeypatch.setenv("API_KEY", "a-long-random-key")
    monkeypatch.setenv("VKC_LOG_LEVEL", "debug")
    monkeypatch.setenv("VKC_DATA_DIR", "/srv/vkc")

    settings = load_settings()

    assert settings.redis.url == "redis://cache:6379/2"
    assert settings.database_url == "postgresql+asyncpg://u:p@db/vk"
    assert settings.vk.api_url == "http://127.0.0.1:8081/method/"
    assert [t.get_secret_value() for t in settings.vk.tokens] == ["one", "two", "community:three"]
    assert "one" not in repr(settings)
    assert settings.api.key is not None
    assert settings.log.level == "DEBUG"
    assert str(settings.data_dir) == "/srv/vkc"


def test_one_queue_option_from_the_environment_keeps_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VKC_QUEUE_VK_COLLECT__STALLED_INTERVAL_MS", "1000")
    monkeypatch.setenv("VKC_QUEUE_PROCESS_GROUPS__ATTEMPTS", "7")

    queues = load_settings().queues

    assert queues.vk_collect.stalled_interval_ms == 1000
    assert queues.vk_collect.attempts == 5
    assert queues.vk_collect.delay_ms == 2000
    assert queues.process_groups.attempts == 7
    assert queues.process_groups.concurrency == 2


@pytest.mark.parametrize(
    ("name", "value", "named"),
    [
        ("REDIS_URL", "localhost:6379", "REDIS_URL"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL"),
        ("VK_API_URL", "api.vk.ru", "VK_API_URL"),
        ("API_KEY", "changeme", "API_KEY"),
        ("API_KEY", "          ", "API_KEY"),
        ("API_KEY", "a-long-random-key\n", "API_KEY"),
        ("API_KEY", " a-long-random-key", "API_KEY"),
        ("VKC_API_TRUSTED_ORIGINS", "evil.example", "VKC_API_TRUSTED_ORIGINS"),
        ("VKC_LOG_FORMAT", "xml", "VKC_LOG_FORMAT"),
        ("VKC_VK_RPS_USER", "-1", "VKC_VK_RPS_USER"),
        ("VKC_QUEUE_VK_COLLECT__ATTEMPTS", "0", "VKC_QUEUE_VK_COLLECT__ATTEMPTS"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, named: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as err:
        load_settings()
    assert err.value.code is ErrorCode.INVALID_SETTINGS
    assert named in err.value.message
    assert value not in err.value.message or name != "API_KEY"


def test_hosts_and_trusted_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VKC_API_ALLOWED_HOSTS", "vkc.internal, Example.org")
    monkeypatch.setenv("VKC_API_TRUSTED_ORIGINS", "https://Dash.example.org")
    api = load_settings().api
    assert {"vkc.internal", "example.org", "localhost", "127.0.0.1", "[::1]"} <= (
        api.served_hosts()
    )
    assert api.trusted_origins == ["https://dash.example.org"]
