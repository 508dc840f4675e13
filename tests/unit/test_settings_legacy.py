"""The original system's environment names: aliases of ours, ours win, and a pair
that disagrees stops start-up with a message naming both (never a secret)."""

from __future__ import annotations

import os

import pytest

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.settings import Settings, load_settings

pytestmark = pytest.mark.usefixtures("clean_environment")


def _refused() -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        load_settings()
    assert caught.value.code is ErrorCode.INVALID_SETTINGS
    return caught.value


def _seen(settings: Settings) -> dict[str, object]:
    return {
        "database_url": settings.database_url,
        "tokens": [t.get_secret_value() for t in settings.vk.tokens],
        "redis_url": settings.redis.url,
        "port": settings.api.port,
        "cors_origins": settings.api.cors_origins,
        "max_upload_bytes": settings.max_upload_bytes,
    }


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        pytest.param(
            {
                "DB_URL": "postgresql://u:p@db:5432/vk_analyzer",
                "VK_ACCESS_TOKEN": "vk1.a.secret",
                "REDIS_HOST": "cache",
                "REDIS_PORT": "6380",
                "REDIS_PASSWORD": "p@ss/word",
                "REDIS_DB": "3",
                "PORT": "3000",
                "CORS_ORIGINS": "http://localhost:5173, https://ui.example/",
                "MAX_FILE_SIZE": "1048576",
            },
            {
                "database_url": "postgresql+asyncpg://u:p@db:5432/vk_analyzer",
                "tokens": ["vk1.a.secret"],
                "redis_url": "redis://:p%40ss%2Fword@cache:6380/3",
                "port": 3000,
                "cors_origins": ["http://localhost:5173", "https://ui.example"],
                "max_upload_bytes": 1_048_576,
            },
            id="the-originals-names-alone-configure-everything",
        ),
        pytest.param(
            {"REDIS_HOST": "cache"},
            {"redis_url": "redis://cache:6379/0"},
            id="only-redis-host-gives-the-default-port-and-db",
        ),
        pytest.param(
            {
                "DATABASE_URL": "postgresql+asyncpg://u:p@db/vk",
                "DB_URL": "postgres://u:p@db/vk",
                "VK_TOKENS": "a,b",
                "VK_ACCESS_TOKEN": "b",
                "REDIS_URL": "redis://cache:6379/1",
                "REDIS_HOST": "cache",
                "REDIS_DB": "1",
                "VKC_API_PORT": "8001",
                "PORT": "8001",
            },
            {
                "database_url": "postgresql+asyncpg://u:p@db/vk",
                "tokens": ["a", "b"],
                "redis_url": "redis://cache:6379/1",
                "port": 8001,
            },
            id="ours-win-when-both-agree",
        ),
    ],
)
def test_the_originals_names_configure_what_ours_leave_unset(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str], expected: dict[str, object]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    seen = _seen(load_settings())
    assert {key: seen[key] for key in expected} == expected


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
