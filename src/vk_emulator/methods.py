"""Handlers of groups.getById, utils.resolveScreenName and wall.get (VK_API.md §2.1-2.3).

A handler takes the call's :class:`MethodContext` and its :class:`Params` and returns the
``response`` value, or raises :class:`VkError`.  Token-type checks, rate limits and
quotas happen before a handler runs (see ``engine.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from vk_emulator.config import EmulatorConfig, TokenKind
from vk_emulator.dataset import Dataset
from vk_emulator.models import Group, Post
from vk_emulator.objects import extended, group_object, post_object
from vk_emulator.protocol import Params, VkError, invalid_param

__all__ = [
    "MethodContext",
    "groups_get_by_id",
    "readable_wall",
    "utils_resolve_screen_name",
    "wall_get",
]

GETBYID_MAX_IDS = 500
WALL_GET_DEFAULT_COUNT = 20  # [U]: VK's default is not documented
WALL_GET_MAX_COUNT = 100
_WALL_FILTERS = frozenset({"all", "owner", "others", "postponed", "suggests", "archived", "donut"})


@dataclass(frozen=True, slots=True)
class MethodContext:
    config: EmulatorConfig
    dataset: Dataset
    token_kind: TokenKind
    version: tuple[int, int]
    # Runs another method for execute: the same token and version, quota-checked;
    # returns the response value or raises VkError.
    call: Callable[[str, Params], Any]


def groups_get_by_id(ctx: MethodContext, params: Params) -> Any:
    """Unknown ids are left out; all unknown gives 100 unless the quirk is switched off."""
    idents = params.csv("group_ids") or params.csv("group_id")
    if not idents:
        raise invalid_param("group_ids is undefined")
    if len(idents) > GETBYID_MAX_IDS:
        raise invalid_param(f"group_ids is too long, maximum is {GETBYID_MAX_IDS}")
    fields = params.csv("fields")
    found: list[Group] = []
    seen: set[int] = set()
    for ident in idents:
        group = ctx.dataset.find_group(ident)
        if group is not None and group.id not in seen:
            seen.add(group.id)
            found.append(group)
    if not found and ctx.config.quirks.getbyid_all_unknown_error:
        raise invalid_param("group_ids is undefined")
    objects = []
    for group in found:
        pinned = ctx.dataset.pinned_post(group.id) if "fixed_post" in fields else None
        objects.append(
            group_object(
                group,
                fields,
                pinned_post_id=None if pinned is None else pinned.id,
                member_flags=ctx.token_kind is TokenKind.USER,
            )
        )
    if ctx.version >= ctx.config.getbyid_object_from:
        return {"groups": objects, "profiles": []}
    return objects


def utils_resolve_screen_name(ctx: MethodContext, params: Params) -> Any:
    """``{"object_id", "type"}``, or ``[]`` (not an error) when nothing has that name."""
    resolved = ctx.dataset.resolve_screen_name(params.require("screen_name"))
    if resolved is None:
        return []
    kind, object_id = resolved
    return {"object_id": object_id, "type": kind}


def readable_wall(ctx: MethodContext, owner_id: int) -> Group:
    """The community owning ``owner_id``'s wall, or the error VK gives for that wall."""
    if owner_id > 0:
        raise VkError(30)
    group = ctx.dataset.find_group(-owner_id) if owner_id else None
    if group is None:
        raise invalid_param("owner_id is incorrect")
    if group.wall_error is not None:
        raise VkError(15, group.wall_error.removeprefix("Access denied: "))
    return group


def wall_get(ctx: MethodContext, params: Params) -> Any:
    """``owner_id`` wins over ``domain`` when both are sent ([U])."""
    owner_id = params.optional_int("owner_id")
    if owner_id is None:
        domain = params.get("domain")
        if domain is None:
            raise invalid_param("owner_id is undefined")
        group = ctx.dataset.find_group(domain)
        if group is None:
            raise invalid_param("domain is incorrect")
        owner_id = group.owner_id
    group = readable_wall(ctx, owner_id)
    offset = params.integer("offset", 0, minimum=0)
    count = params.integer(
        "count", WALL_GET_DEFAULT_COUNT, minimum=0, maximum=WALL_GET_MAX_COUNT, clamp=True
    )
    wall_filter = params.get("filter", "all")
    if wall_filter not in _WALL_FILTERS:
        raise invalid_param("filter is invalid")
    posts = _filtered(ctx.dataset.posts(group.id), wall_filter)
    page = posts[offset : offset + count]
    response: dict[str, Any] = {
        "count": len(posts),
        "items": [post_object(post, ctx.dataset) for post in page],
    }
    if params.flag("extended"):
        authors = [post.from_id for post in page] + [group.owner_id]
        authors += [post.copy_of[0] for post in page if post.copy_of is not None]
        profiles, groups = extended(ctx.dataset, authors, params.csv("fields"))
        response.update(profiles=profiles, groups=groups)
    return response


def _filtered(posts: list[Post], wall_filter: str) -> list[Post]:
    if wall_filter == "all":
        return posts
    if wall_filter == "owner":
        return [post for post in posts if post.from_id == post.owner_id]
    if wall_filter == "others":
        return [post for post in posts if post.from_id != post.owner_id]
    return []  # postponed, suggests, archived, donut: nothing visible to an outsider
