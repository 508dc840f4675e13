"""How every group of settings reads the environment: its prefix, the optional
``.env`` file, and fields that take the original system's plain variable names."""

from __future__ import annotations

from typing import Any

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

__all__ = ["ENV_FILE", "env_config", "plain_or_prefixed"]

ENV_FILE = ".env"


def env_config(prefix: str, nested_delimiter: str | None = None) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix,
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        env_nested_delimiter=nested_delimiter,
    )


def plain_or_prefixed(name: str, **field: Any) -> Any:
    """A field read from the original's plain variable (``REDIS_URL``) or from this
    project's prefixed one (``VKC_REDIS_URL``); ``field`` goes to pydantic's ``Field``."""
    return Field(validation_alias=AliasChoices(name, f"VKC_{name}"), **field)
