"""The original system's environment names: aliases of ours, ours win, and a pair
that disagrees stops start-up with a message naming both (never a secret)."""

from __future__ import annotations

import os

import pytest

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.settings import load_settings

_ORIGINAL = ("DB_URL", "PORT", "CORS_ORIGINS", "MAX_FILE_SIZE")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for name in list(os.environ):
        if name.startswith(("VKC_", "VK_", "REDIS_")) or name in {
            "DATABASE_URL",
            "API_KEY",
            *_ORIGINAL,
        }:
            monkeypatch.delenv(name)
    monkeypatch.chdir(str(tmp_path))


def _refused() -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert caught.value.code is ErrorCode.INVALID_SETTINGS
    return caught.value


def test_the_originals_names_alone_configure_everything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_URL", "postgresql://u:p@db:5432/vk_analyzer")
    monkeypatch.setenv("VK_ACCESS_TOKEN", "vk1.a.secret")
    monkeypatch.setenv("REDIS_HOST", "cache")
    monkeypatch.setenv("REDIS_PORT", "6380")
    monkeypatch.setenv("REDIS_PASSWORD", "p@ss/word")
    monkeypatch.setenv("REDIS_DB", "3")
    monkeypatch.setenv("PORT", "3000")
    monkeypatch.setenv("CORS_ORIGINS", "http://localhost:5173, https://ui.example/")
    monkeypatch.setenv("MAX_FILE_SIZE", "1048576")

    settings = load_settings()

    assert settings.database_url == "postgresql+asyncpg://u:p@db:5432/vk_analyzer"
    assert [t.get_secret_value() for t in settings.vk.tokens] == ["vk1.a.secret"]
    assert settings.redis.url == "redis://:p%40ss%2Fword@cache:6380/3"
    assert settings.api.port == 3000
    assert settings.api.cors_origins == ["http://localhost:5173", "https://ui.example"]
    assert settings.max_upload_bytes == 1_048_576


def test_only_redis_host_gives_the_default_port_and_db(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_HOST", "cache")
    assert load_settings().redis.url == "redis://cache:6379/0"


def test_ours_win_when_both_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql+asyncpg://u:p@db/vk")
    monkeypatch.setenv("DB_URL", "postgres://u:p@db/vk")
    monkeypatch.setenv("VK_TOKENS", "a,b")
    monkeypatch.setenv("VK_ACCESS_TOKEN", "b")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/1")
    monkeypatch.setenv("REDIS_HOST", "cache")
    monkeypatch.setenv("REDIS_DB", "1")
    monkeypatch.setenv("VKC_API_PORT", "8001")
    monkeypatch.setenv("PORT", "8001")

    settings = load_settings()

    assert settings.database_url == "postgresql+asyncpg://u:p@db/vk"
    assert [t.get_secret_value() for t in settings.vk.tokens] == ["a", "b"]
    assert settings.redis.url == "redis://cache:6379/1"
    assert settings.api.port == 8001


@pytest.mark.parametrize(
    ("ours", "original", "named"),
    [
        ({"VKC_API_PORT": "8000"}, {"PORT": "3000"}, "VKC_API_PORT and the original system's PORT"),
        (
            {"REDIS_URL": "redis://cache:6379/0"},
            {"REDIS_HOST": "other"},
            "REDIS_URL and the original system's REDIS_HOST",
        ),
        (
            {"VKC_MAX_UPLOAD_BYTES": "10"},
            {"MAX_FILE_SIZE": "20"},
            "VKC_MAX_UPLOAD_BYTES and the original system's MAX_FILE_SIZE",
        ),
        (
            {"VKC_API_CORS_ORIGINS": "http://a"},
            {"CORS_ORIGINS": "http://b"},
            "VKC_API_CORS_ORIGINS and the original system's CORS_ORIGINS",
        ),
    ],
)
def test_a_disagreement_names_both_variables(
    monkeypatch: pytest.MonkeyPatch, ours: dict[str, str], original: dict[str, str], named: str
) -> None:
    for name, value in {**ours, **original}.items():
        monkeypatch.setenv(name, value)
    error = _refused()
    assert named in error.message
    assert "unset one of them" in error.message


def test_a_disagreement_on_a_secret_never_shows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VK_TOKENS", "tok-ours-123")
    monkeypatch.setenv("VK_ACCESS_TOKEN", "tok-theirs-456")
    monkeypatch.setenv("REDIS_URL", "redis://:pw-ours@cache:6379/0")
    monkeypatch.setenv("REDIS_PASSWORD", "pw-theirs")
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:dbpw-ours@db/vk")
    monkeypatch.setenv("DB_URL", "postgresql://u:dbpw-theirs@db/vk")
    error = _refused()
    assert "VK_TOKENS and the original system's VK_ACCESS_TOKEN" in error.message
    assert "REDIS_URL and the original system's REDIS_PASSWORD" in error.message
    assert "DATABASE_URL and the original system's DB_URL" in error.message
    for secret in ("tok-ours", "tok-theirs", "pw-ours", "pw-theirs", "dbpw"):
        assert secret not in error.message
        assert secret not in str(error.details)


def test_an_env_file_is_read_too(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    with open(os.path.join(str(tmp_path), ".env"), "w", encoding="utf-8") as env:
        env.write("PORT=3000\n")
    assert load_settings().api.port == 3000
    monkeypatch.setenv("VKC_API_PORT", "3000")
    assert load_settings().api.port == 3000


def test_the_legacy_names_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "3000")
    assert load_settings(legacy_env=False).api.port == 8000
