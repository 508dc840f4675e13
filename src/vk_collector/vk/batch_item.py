"""One call in the execute batcher's hands (:mod:`vk_collector.vk.page_batcher`): a
stream's page or a one-off call with its future, how often it was tried, and how its
answer becomes a value."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from vk_collector.vk.comment_flow import CommentFlow
from vk_collector.vk.errors import transport_error
from vk_collector.vk.execute import ApiCall, CallResult

__all__ = ["BatchItem", "RawParser", "parsed_result"]

RawParser = Callable[[msgspec.Raw], Any]
"""Builds one call's value from its answer's bytes; raises ``ValueError`` if malformed."""


@dataclass(eq=False, slots=True)
class BatchItem:
    """One call in the batcher's hands: a flow's page or a one-off with its future."""

    call: ApiCall
    parse: RawParser
    flow: CommentFlow | None = None
    future: asyncio.Future[Any] | None = None
    attempt: int = 0
    single: bool = False

    @property
    def wanted(self) -> bool:
        if self.flow is not None:
            return self.flow.active
        return self.future is not None and not self.future.done()


def parsed_result(item: BatchItem, raw: Any) -> CallResult:
    """``item``'s value from its answer's bytes, or a transient error if malformed."""
    method = item.call.method
    try:
        if not isinstance(raw, msgspec.Raw):
            raise ValueError("no response")
        return CallResult(item.call, value=item.parse(raw))
    except ValueError as exc:
        return CallResult(item.call, error=transport_error(method, "malformed answer", exc))
