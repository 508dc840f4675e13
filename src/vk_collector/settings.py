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
    AliasChoices,
    BaseModel,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from vk_collector.errors import ErrorCode, ValidationError
from vk_collector.legacy_env import legacy_overrides, read_environment

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

_ENV_FILE = ".env"


def _config(prefix: str, nested_delimiter: str | None = None) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=_ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        env_nested_delimiter=nested_delimiter,
    )


def _plain_or_prefixed(name: str, **field: Any) -> Any:
    """A field read from the original's plain variable (``REDIS_URL``) or from this
    project's prefixed one (``VKC_REDIS_URL``); ``field`` goes to pydantic's ``Field``."""
    return Field(validation_alias=AliasChoices(name, f"VKC_{name}"), **field)


class RedisSettings(BaseSettings):
    model_config = _config("VKC_REDIS_")

    url: str | None = _plain_or_prefixed(
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
    model_config = _config("VKC_DATABASE_")

    url: str | None = _plain_or_prefixed(
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
    model_config = _config("VKC_VK_")

    api_url: str = _plain_or_prefixed("VK_API_URL", default="https://api.vk.ru/method/")
    tokens: Annotated[list[SecretStr], NoDecode] = _plain_or_prefixed(
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


class QueueOptions(BaseModel):
    """Job and worker options of one queue (DESIGN.md, Queue configuration)."""

    attempts: int = Field(default=3, ge=1, le=100)
    backoff_delay_ms: int = Field(default=5000, ge=0)
    delay_ms: int = Field(default=0, ge=0)
    remove_on_complete: int = Field(default=100, ge=0)
    remove_on_fail: int = Field(default=50, ge=0)
    concurrency: int = Field(default=1, ge=1, le=1000)
    stalled_interval_ms: int = Field(default=30000, ge=1000)
    max_stalled_count: int = Field(default=1, ge=0)
    lock_duration_ms: int = Field(default=30000, ge=1000)


class VkCollectQueueOptions(QueueOptions):
    """vk-collect: 5 attempts, added with a 2 s delay, one job at a time per worker."""

    attempts: int = Field(default=5, ge=1, le=100)
    delay_ms: int = Field(default=2000, ge=0)


class VkCollectGroupQueueOptions(QueueOptions):
    """vk-collect-group (one community of a collection task, a child of the task's
    vk-collect job): 5 attempts, no delay, eight communities at a time per worker; finished
    children are kept (1000) so a re-run parent finds them and adds no duplicates.

    Eight, not two: the communities of a process share ``execute`` requests (the
    process-wide batcher), and a new community's ``wall.get`` and first pages take
    about a second before its pages are planned, so more at once keep requests full.
    On 3-post walls (benchmarks/scale_out.py, docs/PERFORMANCE.md "Scale-out") a
    request carried 22.6-23.3 of 25 pages with four and 23.8-24.2 with eight, and the
    runs reached 0.77-0.79 and 0.81-0.82 of N x 7,500, for 0-30 MB more per worker.
    Each community in flight holds at most its flow's backlog (50,000 rows) in memory."""

    attempts: int = Field(default=5, ge=1, le=100)
    concurrency: int = Field(default=8, ge=1, le=1000)
    remove_on_complete: int = Field(default=1000, ge=0)
    remove_on_fail: int = Field(default=1000, ge=0)


class ProcessGroupsQueueOptions(QueueOptions):
    """process-groups: 3 attempts, no delay, two jobs at a time per worker."""

    concurrency: int = Field(default=2, ge=1, le=1000)


class QueuesSettings(BaseSettings):
    model_config = _config("VKC_QUEUE_", "__")

    prefix: str = Field(default="bull", min_length=1)
    # one class per queue, so setting one option from the environment keeps the others
    vk_collect: VkCollectQueueOptions = Field(default_factory=VkCollectQueueOptions)
    process_groups: ProcessGroupsQueueOptions = Field(default_factory=ProcessGroupsQueueOptions)
    vk_collect_group: VkCollectGroupQueueOptions = Field(default_factory=VkCollectGroupQueueOptions)
    backlog_threshold: int = Field(default=1000, ge=1, description="waiting jobs per queue")
    health_timeout_s: float = Field(default=1.5, gt=0, description="per health check")
    heartbeat_interval_s: float = Field(default=5.0, gt=0)
    heartbeat_stale_s: float = Field(
        default=15.0, gt=0, description="a worker without a heartbeat this long is stale"
    )
    heartbeat_ttl_s: float = Field(
        default=60.0, gt=0, description="heartbeat key lifetime; a stale worker is listed until"
    )
    health_window_s: float = Field(
        default=300.0, gt=0, description="window of the stalled-job and failure-rate checks"
    )
    health_stalled_max: int = Field(default=0, ge=0, description="stalled jobs per window")
    health_failure_rate_max: float = Field(default=0.5, ge=0, le=1)
    health_failure_min_jobs: int = Field(
        default=10, ge=1, description="jobs before the rate counts"
    )
    health_stuck_after_s: float = Field(
        default=60.0, gt=0, description="due jobs that long with idle live workers: stuck"
    )
    shutdown_timeout_s: float = Field(default=30.0, gt=0)
    enqueue_retries: int = Field(default=3, ge=0)
    enqueue_retry_min_s: float = Field(default=1.0, ge=0)
    enqueue_request_deadline_s: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="the most an add made for someone waiting (API request, CLI) may take, "
        "retries included; past it the request answers 503 (s)",
    )
    reconcile_grace_s: float = Field(
        default=30.0, ge=0, description="how long an unfinished task may lack a job (s)"
    )
    reconcile_interval_s: float = Field(
        default=15.0, gt=0, description="between reconciliation passes (s), across processes"
    )

    @model_validator(mode="after")
    def _check_orders(self) -> QueuesSettings:
        # A worker must miss beats before it is stale, and must stay listed as stale
        # for a while before its key expires.
        if not self.heartbeat_interval_s < self.heartbeat_stale_s < self.heartbeat_ttl_s:
            raise ValueError(
                "heartbeat settings must satisfy interval < stale < ttl, got "
                f"interval {self.heartbeat_interval_s} s, stale {self.heartbeat_stale_s} s, "
                f"ttl {self.heartbeat_ttl_s} s (VKC_QUEUE_HEARTBEAT_INTERVAL_S, "
                "VKC_QUEUE_HEARTBEAT_STALE_S, VKC_QUEUE_HEARTBEAT_TTL_S)"
            )
        if self.health_stuck_after_s > self.health_window_s:
            raise ValueError(
                "VKC_QUEUE_HEALTH_STUCK_AFTER_S must not exceed VKC_QUEUE_HEALTH_WINDOW_S "
                f"(got {self.health_stuck_after_s} s and {self.health_window_s} s): the "
                "check looks for recently started jobs within the window"
            )
        return self


_LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1", "[::1]"]


class ApiSettings(BaseSettings):
    """The HTTP API: its key, address and the limits that keep one client (with or
    without the key) from exhausting the server.  See docs/OPERATIONS.md, Security."""

    model_config = _config("VKC_API_")

    key: SecretStr | None = _plain_or_prefixed("API_KEY", default=None)
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
    model_config = _config("VKC_LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["console", "json"] = "console"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _normalise(cls, value: Any, info: Any) -> Any:
        if isinstance(value, str):
            return value.upper() if info.field_name == "level" else value.lower()
        return value


class Settings(BaseSettings):
    model_config = _config("VKC_")

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
        legacy, problems = legacy_overrides(read_environment(_ENV_FILE))
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
