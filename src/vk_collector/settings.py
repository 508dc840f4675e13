"""One typed ``Settings`` object, read from the environment and an optional ``.env``.

Names people set most often have short names of their own: ``REDIS_URL``,
``DATABASE_URL``, ``VK_API_URL``, ``VK_TOKENS``, ``API_KEY``.  Everything else lives
under the ``VKC_`` prefix, one group per concern: ``VKC_DATA_DIR``, ``VKC_LOG_LEVEL``,
``VKC_VK_RPS_USER``, ``VKC_QUEUE_VK_COLLECT__ATTEMPTS`` and so on.  Build it once with
:func:`load_settings` at start-up and pass it down; nothing reads the environment later.
The original system's names (``DB_URL``, ``REDIS_HOST``, ``PORT``, ...) are read as
aliases of ours by :func:`load_settings` (see :mod:`vk_collector.legacy_env`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SecretStr,
    field_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, NoDecode

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.legacy_env import legacy_overrides, read_environment
from vk_collector.queue_settings import QueueOptions, QueuesSettings
from vk_collector.settings_env import ENV_FILE, env_config, plain_or_prefixed

__all__ = [
    "ApiSettings",
    "DatabaseSettings",
    "LogSettings",
    "QueueOptions",
    "QueuesSettings",
    "RedisSettings",
    "Settings",
    "VkSettings",
    "load_settings",
]


class RedisSettings(BaseSettings):
    model_config = env_config("VKC_REDIS_")

    url: str | None = plain_or_prefixed(
        "REDIS_URL",
        default=None,
        description="redis:// or rediss:// URL; unset starts a private embedded Valkey",
    )
    connect_timeout_s: float = Field(default=2.0, gt=0)
    command_timeout_s: float = Field(
        default=3.0,
        gt=0,
        le=120,
        description="a queue command (not a blocking read) gives up after it: 503 in the API",
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value


class DatabaseSettings(BaseSettings):
    model_config = env_config("VKC_DATABASE_")

    url: str | None = plain_or_prefixed(
        "DATABASE_URL",
        default=None,
        description="SQLAlchemy async URL; unset means SQLite in the data directory",
    )
    echo: bool = False
    pool_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=300,
        description="seconds a request waits for a pooled connection before a 503",
    )
    connect_timeout_s: float = Field(
        default=5.0, gt=0, le=300, description="seconds to open a PostgreSQL connection"
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if value.startswith("postgres://"):
            value = "postgresql://" + value.removeprefix("postgres://")
        if value.startswith("postgresql://"):
            value = "postgresql+asyncpg://" + value.removeprefix("postgresql://")
        if value.startswith("sqlite://"):
            value = "sqlite+aiosqlite://" + value.removeprefix("sqlite://")
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError("must be a postgresql:// or sqlite:// URL")
        return value


class VkSettings(BaseSettings):
    model_config = env_config("VKC_VK_")

    api_url: str = plain_or_prefixed("VK_API_URL", default="https://api.vk.ru/method/")
    tokens: Annotated[list[SecretStr], NoDecode] = plain_or_prefixed(
        "VK_TOKENS",
        default_factory=list,
        description="comma-separated access tokens",
    )
    api_version: str = "5.199"
    timeout_s: float = Field(default=15.0, gt=0)
    rps_user: float = Field(default=3.0, gt=0, description="requests/s per user or service token")
    rps_community: float = Field(default=20.0, gt=0, description="requests/s per community token")
    max_retries: int = Field(default=5, ge=0, le=20)
    backoff_base_s: float = Field(default=0.5, gt=0)
    backoff_max_s: float = Field(default=30.0, gt=0)
    quota_cooldown_s: float = Field(default=3600.0, gt=0, description="pause after error 29")
    use_execute: bool = True

    @field_validator("api_url")
    @classmethod
    def _check_api_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value if value.endswith("/") else value + "/"

    @field_validator("tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


_LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1", "[::1]"]


class ApiSettings(BaseSettings):
    """The HTTP API: its key, address and the limits that keep one client (with or
    without the key) from exhausting the server.  See docs/OPERATIONS.md, Security."""

    model_config = env_config("VKC_API_")

    key: SecretStr | None = plain_or_prefixed("API_KEY", default=None)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="comma-separated origins allowed to call the API from a browser "
        "(e.g. http://localhost:5173, or *); empty: same origin only",
    )

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    max_json_bytes: int = Field(
        default=1024 * 1024, ge=1024, description="largest JSON request body (413 past it)"
    )
    max_concurrent_exports: int = Field(
        default=4, ge=1, le=1000, description="exports streaming at once (429 past it)"
    )
    max_concurrent_uploads: int = Field(
        default=2, ge=1, le=100, description="groups files parsed at once (429 past it)"
    )
    timeout_keep_alive_s: float = Field(
        default=5.0, gt=0, le=600, description="idle keep-alive connections close after it"
    )
    timeout_request_s: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="a request's headers must arrive within it (else the connection closes)",
    )
    timeout_body_idle_s: float = Field(
        default=15.0,
        gt=0,
        le=3600,
        description="most seconds between two chunks of a request body (else the connection "
        "closes); a body that keeps arriving is never cut",
    )
    limit_concurrency: int = Field(
        default=500, ge=10, description="open connections and requests (503 past it)"
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names served besides the loopback names and the listen address",
    )
    trusted_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="origins (scheme://host[:port]) allowed to change state from a browser",
    )

    @field_validator("allowed_hosts", "trusted_origins", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("trusted_origins")
    @classmethod
    def _check_origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not origin.startswith(("http://", "https://")) or origin.count("/") != 2:
                raise ValueError(f"{origin!r} is not an origin like https://example.org")
        return [origin.lower() for origin in value]

    @field_validator("key")
    @classmethod
    def _refuse_placeholder(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        secret = value.get_secret_value()
        if not secret.strip():
            raise ValueError("is only whitespace; set a real random key or leave it empty")
        if secret != secret.strip():
            raise ValueError(
                "has leading or trailing whitespace (a newline from a file?); remove it"
            )
        if secret.lower() in {"changeme", "change-me", "secret", "apikey"}:
            raise ValueError("is a placeholder; set a real random key")
        if len(secret) < 8:
            raise ValueError("must be at least 8 characters")
        return value

    def served_hosts(self) -> frozenset[str]:
        """Host names (lower case, without port) the API answers for."""
        names = {*_LOOPBACK_HOSTS, self.host.lower(), *(h.lower() for h in self.allowed_hosts)}
        return frozenset(names)


class LogSettings(BaseSettings):
    model_config = env_config("VKC_LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["console", "json"] = "console"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _normalise(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            return value.upper() if info.field_name == "level" else value.lower()
        return value


class Settings(BaseSettings):
    model_config = env_config("VKC_")

    data_dir: Path = Field(default=Path("./data"))
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    max_upload_identifiers: int = Field(
        default=100_000, ge=1, description="identifiers in one groups file (422 past it)"
    )
    redis: RedisSettings = Field(default_factory=RedisSettings)
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    vk: VkSettings = Field(default_factory=VkSettings)
    queues: QueuesSettings = Field(default_factory=QueuesSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    log: LogSettings = Field(default_factory=LogSettings)

    @property
    def database_url(self) -> str:
        """The configured URL, or SQLite in the data directory."""
        if self.database.url:
            return self.database.url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'vk_collector.db').resolve()}"


_VARIABLE_NAMES = {
    ("redis", "url"): "REDIS_URL",
    ("database", "url"): "DATABASE_URL",
    ("vk", "api_url"): "VK_API_URL",
    ("vk", "tokens"): "VK_TOKENS",
    ("api", "key"): "API_KEY",
}


def _variable_name(model: type[BaseSettings], loc: tuple[int | str, ...]) -> str:
    prefix = str(model.model_config.get("env_prefix", ""))
    if not loc:  # a check across several fields of the group
        return prefix + "*"
    field = str(loc[0])
    group = prefix.removeprefix("VKC_").rstrip("_").lower()
    known = _VARIABLE_NAMES.get((group, field))
    if known:
        return known
    if field in {"REDIS_URL", "DATABASE_URL", "VK_API_URL", "VK_TOKENS", "API_KEY"}:
        return field
    return (prefix + "__".join(str(part) for part in loc)).upper()


def load_settings(*, legacy_env: bool = True, **overrides: Any) -> Settings:
    """Read settings; a bad value raises ``ValidationError`` naming the variable.
    ``legacy_env``: also read the original system's variable names (ours win; a pair
    that disagrees is an error)."""
    groups: dict[str, type[BaseSettings]] = {
        "redis": RedisSettings,
        "database": DatabaseSettings,
        "vk": VkSettings,
        "queues": QueuesSettings,
        "api": ApiSettings,
        "log": LogSettings,
    }
    values: dict[str, Any] = dict(overrides)
    legacy: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    if legacy_env:
        legacy, problems = legacy_overrides(read_environment(ENV_FILE))
    for field, value in legacy.get("root", {}).items():
        values.setdefault(field, value)
    for name, model in groups.items():
        if name in values:
            continue
        try:
            values[name] = model(**legacy.get(name, {}))
        except PydanticValidationError as exc:
            for error in exc.errors():
                problems.append(f"{_variable_name(model, error['loc'])}: {error['msg']}")
    if not problems:
        try:
            return Settings(**values)
        except PydanticValidationError as exc:
            for error in exc.errors():
                problems.append(f"{_variable_name(Settings, error['loc'])}: {error['msg']}")
    raise ValidationError(
        "invalid configuration: " + "; ".join(problems),
        ErrorCode.INVALID_SETTINGS,
        details={"problems": problems},
    )
