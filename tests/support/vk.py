"""VK client helpers: community references, fast settings for a test client, and one
post's comments through the client's batched walk (vk_collector.vk.collect)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import SecretStr

from vk_collector.settings import VkSettings
from vk_collector.vk.client import VkClient
from vk_collector.vk.collect import FetchedComment, iter_posts_comments
from vk_collector.vk.identifiers import GroupRef
from vk_emulator import Dataset

APICLUB = GroupRef(screen_name="apiclub")


def group(group_id: int) -> GroupRef:
    """A community reference by numeric id."""
    return GroupRef(group_id=group_id)


def fast_vk_settings(api_url: str, tokens: Iterable[str], **overrides: Any) -> VkSettings:
    """Client settings that never wait on the rate limiter (10,000 requests/s per token)
    and retry 3 times; ``overrides`` replace any field."""
    values: dict[str, Any] = {"rps_user": 10_000, "rps_community": 10_000, "max_retries": 3}
    return VkSettings(
        api_url=api_url, tokens=[SecretStr(t) for t in tokens], **(values | overrides)
    )


async def post_comment_batches(
    client: VkClient, owner_id: int, post_id: int, include_replies: bool = True
) -> list[list[FetchedComment]]:
    """The non-empty batches of one post, in the order the walk yields them.

    Raises the post's :class:`~vk_collector.vk.errors.VkObjectError` when its comments
    cannot be read (212, 15), as the workers see it.
    """
    batches = []
    async for batch in iter_posts_comments(client, [(owner_id, post_id)], include_replies):
        if batch.error is not None:
            raise batch.error
        if batch.comments:
            batches.append(batch.comments)
    return batches


async def post_comments(
    client: VkClient, owner_id: int, post_id: int, include_replies: bool = True
) -> list[FetchedComment]:
    """Every comment of one post, as stored (in the order the answers came)."""
    batches = await post_comment_batches(client, owner_id, post_id, include_replies)
    return [comment for batch in batches for comment in batch]


def comment_texts(dataset: Dataset, key: tuple[int, int]) -> set[tuple[int, int | None, str]]:
    """What the emulator serves for one post, as ``(id, thread_root, text)``."""
    return {(c.id, c.thread_root, c.text) for c in dataset.comments(*key)}
