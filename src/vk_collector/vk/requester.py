"""What the request helpers need of the VK client, as a protocol.

:mod:`vk_collector.vk.execute_requests` and :mod:`vk_collector.vk.group_lookup` send
through :class:`~vk_collector.vk.client.VkClient`, which calls them in turn; typing
them against :class:`Requester` instead of the client keeps the two modules from
importing each other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from typing import Any, Protocol

from vk_collector.settings import VkSettings
from vk_collector.vk.tokens import Token, TokenPool

__all__ = ["Decoder", "Requester"]

Decoder = Callable[[bytes], dict[str, Any]]
"""Parses a response body into the envelope (``response``/``error``/...) in one pass;
raises ``ValueError`` (pydantic's ``ValidationError`` is one) on a malformed body."""


class Requester(Protocol):
    """:class:`~vk_collector.vk.client.VkClient` as its request helpers see it."""

    settings: VkSettings

    @property
    def pool(self) -> TokenPool: ...

    @property
    def semaphore(self) -> asyncio.Semaphore: ...

    async def call(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        token: str | None = None,
        decode: Decoder | None = None,
    ) -> Any: ...

    async def request(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        token: str | None,
        methods: Collection[str],
        decode: Decoder | None = None,
        slot: tuple[Token, float] | None = None,
    ) -> tuple[dict[str, Any], Token]: ...
