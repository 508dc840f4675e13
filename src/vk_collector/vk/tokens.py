"""The token pool: kinds, Redis-held quota cool-downs (error 29), and the choice of a
token with capacity now, shared by every process through Redis.

``VK_TOKENS`` entries may carry a kind prefix: ``community:<token>``, ``service:<token>``,
``user:<token>``; a bare token is a user token.  A token's identity outside this process
(Redis keys, logs) is :attr:`Token.key`, a SHA-256 prefix; the value itself is registered
with the redaction layer and appears nowhere else.

Choosing (:meth:`TokenPool.pick_ready`): every process asks each token's limiter in
Redis (:mod:`vk_collector.vk.ratelimit`) for a slot without waiting, starting at a
rotating offset, and takes the first token that grants one; when none does, it sleeps
the shortest wait the limiters returned and asks again.  So a request goes out on
whichever token has capacity now, wherever the other requests come from, and no token
idles while work waits.  Error 6 slows, and error 29 cools down, only the token that
got it: a slowed token simply grants less often, a cooling one is skipped.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

import redis.asyncio as aioredis

from vk_collector.errors import ErrorCode, ErrorSeverity, VkApiError
from vk_collector.redaction import register_secret
from vk_collector.settings import VkSettings
from vk_collector.vk.errors import VkQuotaError
from vk_collector.vk.ratelimit import RateLimiter

__all__ = ["USER_ONLY_METHODS", "Token", "TokenKind", "TokenPool", "parse_token", "token_key"]

USER_ONLY_METHODS = frozenset({"wall.get", "wall.getComments"})
"""Methods that a community token may not call (VK answers 27)."""


class TokenKind(StrEnum):
    USER = "user"
    COMMUNITY = "community"
    SERVICE = "service"


def token_key(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Token:
    value: str = field(repr=False)
    kind: TokenKind = TokenKind.USER
    key: str = ""

    def __post_init__(self) -> None:
        if not self.key:
            object.__setattr__(self, "key", token_key(self.value))


def parse_token(raw: str) -> Token:
    """``"community:abc"`` -> community token ``abc``; registers the value as a secret."""
    kind = TokenKind.USER
    value = raw.strip()
    prefix, sep, rest = value.partition(":")
    if sep and prefix.lower() in TokenKind.__members__.values():
        kind, value = TokenKind(prefix.lower()), rest.strip()
    register_secret(value)
    register_secret(raw)
    return Token(value, kind)


class TokenPool:
    """Chooses a token with capacity now, from a rotating offset (:meth:`pick_ready`),
    skipping those cooling down for a method after error 29."""

    def __init__(
        self,
        tokens: Sequence[Token],
        redis: aioredis.Redis,
        *,
        prefix: str = "vkc:vk:quota",
        quota_cooldown_s: float = 3600.0,
    ) -> None:
        self._tokens = list(tokens)
        for token in self._tokens:
            register_secret(token.value)
        self._redis = redis
        self._prefix = prefix
        self._cooldown_ms = max(1, int(quota_cooldown_s * 1000))
        self._turn = itertools.count()

    @classmethod
    def from_settings(
        cls, settings: VkSettings, redis: aioredis.Redis, *, prefix: str = "vkc:vk:quota"
    ) -> TokenPool:
        tokens = [parse_token(secret.get_secret_value()) for secret in settings.tokens]
        return cls(tokens, redis, prefix=prefix, quota_cooldown_s=settings.quota_cooldown_s)

    @property
    def tokens(self) -> list[Token]:
        return list(self._tokens)

    def __len__(self) -> int:
        return len(self._tokens)

    def _key(self, token: Token, method: str) -> str:
        return f"{self._prefix}:{{{token.key}}}:{method}"

    def learn_kind(self, token: Token, kind: TokenKind) -> Token:
        """Record what VK told us about a token (27 means community); returns the new token."""
        learned = replace(token, kind=kind)
        self._tokens = [learned if t.key == token.key else t for t in self._tokens]
        return learned

    def kind_of(self, token: Token) -> TokenKind:
        for known in self._tokens:
            if known.key == token.key:
                return known.kind
        return token.kind

    async def cool_down(self, token: Token, method: str) -> None:
        await self._redis.set(self._key(token, method), "1", px=self._cooldown_ms)

    async def cooldown_s(self, token: Token, methods: Collection[str]) -> float:
        """Seconds until ``token`` may call every one of ``methods`` again (0.0 if now)."""
        if not methods:
            return 0.0
        async with self._redis.pipeline(transaction=False) as pipe:
            for method in methods:
                pipe.pttl(self._key(token, method))
            ttls = await pipe.execute()
        return max(0, *(int(ttl) for ttl in ttls)) / 1000

    async def pick_ready(
        self,
        methods: Collection[str],
        limiter: RateLimiter,
        settings: VkSettings,
        *,
        exclude: Collection[str] = (),
    ) -> tuple[Token, float]:
        """A usable token for a request calling ``methods``, with one rate-limiter slot
        already taken for it (send the request on it: no ``acquire``), and the seconds
        spent waiting for one.

        Tries the usable tokens' limiters (``settings.rps_user`` or ``rps_community``
        per token) without waiting, from a rotating offset (known community tokens
        skipped for user-only methods while other tokens exist); sleeps the shortest
        returned wait when none grants.
        Raises ``VkApiError`` (``VK_NO_TOKENS``) for an empty pool and
        :class:`VkQuotaError` when every candidate is cooling down for one of
        ``methods``."""
        waited = 0.0
        while True:
            rotated, shortest_cooldown = await self._usable(methods, exclude)
            if not rotated:
                self._raise_all_cooling(methods, shortest_cooldown)
            shortest = float("inf")
            for token in rotated:
                rps = (
                    settings.rps_community
                    if token.kind is TokenKind.COMMUNITY
                    else (settings.rps_user)
                )
                wait = await limiter.try_acquire(token.key, rps)
                if wait <= 0:
                    return token, waited
                shortest = min(shortest, wait)
            waited += shortest
            await asyncio.sleep(shortest)

    async def _usable(
        self, methods: Collection[str], exclude: Collection[str]
    ) -> tuple[list[Token], float]:
        """The candidates not cooling down, rotated; and the shortest cool-down (s) of
        those that are."""
        candidates = [t for t in self._tokens if t.key not in exclude]
        if not candidates:
            raise VkApiError(
                "no VK token configured (set VK_TOKENS) or usable for this request",
                code=ErrorCode.VK_NO_TOKENS,
                severity=ErrorSeverity.PERMANENT,
                method=",".join(sorted(methods)) or None,
            )
        start = next(self._turn) % len(candidates)
        rotated = candidates[start:] + candidates[:start]
        if USER_ONLY_METHODS.intersection(methods):
            # known community tokens only when nothing else is left (they answer 27)
            others = [t for t in rotated if t.kind is not TokenKind.COMMUNITY]
            rotated = others or rotated
        usable: list[Token] = []
        shortest = float("inf")
        for token in rotated:
            remaining = await self.cooldown_s(token, methods)
            if remaining <= 0:
                usable.append(token)
            else:
                shortest = min(shortest, remaining)
        return usable, shortest

    @staticmethod
    def _raise_all_cooling(methods: Collection[str], shortest: float) -> None:
        names = ", ".join(sorted(methods))
        raise VkQuotaError(
            f"every VK token has reached its daily quota for {names} (error 29); "
            f"the first frees in {shortest:.0f} s",
            method=names,
            retry_after_s=shortest,
        )
