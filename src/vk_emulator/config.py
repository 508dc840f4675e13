"""Configuration of the VK API emulator: dataset size, tokens, limits, faults and quirks.

Everything is a frozen dataclass, so a config can be shared between threads and
varied with :func:`dataclasses.replace`.  Defaults follow VK_API.md: 3 requests/s per
user or service token, 20/s per community token, no daily quota, no faults.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

__all__ = [
    "FAULT_KINDS",
    "EmulatorConfig",
    "FaultConfig",
    "TokenKind",
    "VkQuirks",
    "parse_version",
]

# Mutually exclusive per-request faults, in the order they are drawn.
FAULT_KINDS = ("error_1", "error_6", "error_9", "error_10", "error_14", "http_5xx", "non_json")


class TokenKind(StrEnum):
    USER = "user"
    COMMUNITY = "community"
    SERVICE = "service"


def parse_version(value: str) -> tuple[int, int] | None:
    """``"5.199"`` → ``(5, 199)``; ``None`` when ``value`` is not ``<int>[.<int>]``."""
    major, _, minor = value.strip().partition(".")
    if not major.isdigit() or (minor and not minor.isdigit()):
        return None
    return int(major), int(minor or 0)


@dataclass(frozen=True)
class FaultConfig:
    """Probabilities (0..1, per request) of injected failures.

    The seven ``FAULT_KINDS`` exclude each other, so their sum must not exceed 1.
    ``slow`` is independent of them: a slow answer is delayed by ``slow_ms`` and then
    answered normally (or with the fault drawn for it).  Draws come from their own
    ``random.Random(seed)``, ``seed`` defaulting to the emulator's seed, so a given
    sequence of requests meets the same faults on every run.
    """

    error_1: float = 0.0
    error_6: float = 0.0
    error_9: float = 0.0
    error_10: float = 0.0
    error_14: float = 0.0
    http_5xx: float = 0.0
    non_json: float = 0.0
    slow: float = 0.0
    slow_ms: int = 1500
    seed: int | None = None

    def __post_init__(self) -> None:
        for name in (*FAULT_KINDS, "slow"):
            rate = getattr(self, name)
            if not 0.0 <= rate <= 1.0:
                raise ValueError(f"fault rate {name} must be within 0..1, got {rate}")
        if sum(getattr(self, name) for name in FAULT_KINDS) > 1.0 + 1e-9:
            raise ValueError("the fault rates other than slow must sum to at most 1")
        if self.slow_ms < 0:
            raise ValueError("slow_ms must be >= 0")

    @property
    def enabled(self) -> bool:
        return any(getattr(self, name) > 0 for name in (*FAULT_KINDS, "slow"))


@dataclass(frozen=True)
class VkQuirks:
    """Behaviours VK_API.md marks as unconfirmed [U]; each can be switched here."""

    # groups.getById where no id is known: error 100 "...group_ids is undefined",
    # or (False) an empty answer.  Known ids among unknown ones are always answered.
    getbyid_all_unknown_error: bool = True
    # More than this many API calls in one execute fails the whole call.
    execute_max_calls: int = 25
    execute_too_many_calls_error: int = 13
    # A service token calling execute gets error 28 (vk-io's reading) instead of an answer.
    execute_service_token_error: bool = False
    # A request without a token: 8 "method is unavailable without access token" or 5.
    missing_token_error: int = 8
    # Prefix request_params with the legacy {"oauth": "1"} and {"method": name} entries.
    legacy_request_params: bool = False

    def __post_init__(self) -> None:
        if self.execute_max_calls < 1:
            raise ValueError("execute_max_calls must be >= 1")
        if self.missing_token_error not in (5, 8):
            raise ValueError("missing_token_error must be 5 or 8")


def _tokens(value: str | Iterable[str]) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value)
    return tuple(token.strip() for token in items if token and token.strip())


@dataclass(frozen=True)
class EmulatorConfig:
    """What the emulator serves and how strictly.

    ``groups``: communities 1..groups exist (ids, screen names ``vkc_group_<id>``).
    ``rps`` / ``rps_community``: requests per second per token, counted over a sliding
    window at the emulator; ``None`` or 0 means unlimited.  ``daily_quota``: calls per
    token and method per 24 h before error 29 (``None`` = off); ``method_quotas``
    overrides it for single methods (``{"wall.get": 5000}``).
    ``max_comments_per_post`` caps top-level comments of a post and
    ``max_replies_per_comment`` the replies of one comment, and ``posts_per_group`` bounds
    the number of posts on an open wall, so tests can keep data small.
    ``anchor_time`` (unix seconds) is the newest date in the dataset; ``None`` means the
    current UTC hour, taken when the dataset is built.
    """

    seed: int = 42
    groups: int = 200
    user_tokens: tuple[str, ...] = ("demo-user-token",)
    community_tokens: tuple[str, ...] = ("demo-community-token",)
    service_tokens: tuple[str, ...] = ("demo-service-token",)
    rps: float | None = 3.0
    rps_community: float | None = 20.0
    daily_quota: int | None = None
    method_quotas: Mapping[str, int] = field(default_factory=dict)
    faults: FaultConfig = field(default_factory=FaultConfig)
    groups_getbyid_object_from_version: str = "5.194"
    max_comments_per_post: int = 3000
    max_replies_per_comment: int = 60
    posts_per_group: tuple[int, int] = (25, 70)
    anchor_time: int | None = None
    quirks: VkQuirks = field(default_factory=VkQuirks)

    def __post_init__(self) -> None:
        for name in ("user_tokens", "community_tokens", "service_tokens"):
            object.__setattr__(self, name, _tokens(getattr(self, name)))
        object.__setattr__(self, "method_quotas", MappingProxyType(dict(self.method_quotas)))
        if self.groups < 0:
            raise ValueError("groups must be >= 0")
        for name in ("rps", "rps_community"):
            rate = getattr(self, name)
            if rate is not None and (rate < 0 or math.isnan(rate)):
                raise ValueError(f"{name} must be >= 0 or None")
        if self.daily_quota is not None and self.daily_quota < 0:
            raise ValueError("daily_quota must be >= 0 or None")
        if parse_version(self.groups_getbyid_object_from_version) is None:
            raise ValueError("groups_getbyid_object_from_version must look like 5.194")
        if self.max_comments_per_post < 0 or self.max_replies_per_comment < 0:
            raise ValueError("comment caps must be >= 0")
        low, high = self.posts_per_group
        if not 8 <= low <= high:
            raise ValueError("posts_per_group must be (low, high) with 8 <= low <= high")
        all_tokens = [*self.user_tokens, *self.community_tokens, *self.service_tokens]
        if len(set(all_tokens)) != len(all_tokens):
            raise ValueError("a token may belong to one kind only")

    def __getstate__(self) -> dict[str, Any]:
        # MappingProxyType does not pickle; configs cross process boundaries (spawn).
        state = {name: getattr(self, name) for name in self.__dataclass_fields__}
        state["method_quotas"] = dict(self.method_quotas)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name, value in state.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "method_quotas", MappingProxyType(dict(self.method_quotas)))

    @property
    def fault_seed(self) -> int:
        return self.seed if self.faults.seed is None else self.faults.seed

    @property
    def getbyid_object_from(self) -> tuple[int, int]:
        version = parse_version(self.groups_getbyid_object_from_version)
        assert version is not None  # checked in __post_init__
        return version

    def token_kinds(self) -> dict[str, TokenKind]:
        kinds = dict.fromkeys(self.user_tokens, TokenKind.USER)
        kinds.update(dict.fromkeys(self.community_tokens, TokenKind.COMMUNITY))
        kinds.update(dict.fromkeys(self.service_tokens, TokenKind.SERVICE))
        return kinds

    def rps_for(self, kind: TokenKind) -> float | None:
        """Requests/s allowed for a token of ``kind``; ``None`` when unlimited."""
        rate = self.rps_community if kind is TokenKind.COMMUNITY else self.rps
        return rate if rate else None
