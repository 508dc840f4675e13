"""VK JSON objects built from the dataset (``groups_group_full``, ``wall_wallpost_full``,
``wall_wall_comment``, ``users_user``), with only the fields VK would send."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vk_emulator.dataset import Dataset
from vk_emulator.models import Comment, Group, Post, Profile

__all__ = ["comment_object", "extended", "group_object", "post_object", "profile_object"]

PHOTO_BASE = "https://photos.vk-emulator.invalid"
_GROUP_FIELDS = frozenset(
    {"members_count", "description", "activity", "status", "site", "verified", "can_post"}
    | {"wall", "fixed_post", "counters", "cover", "deactivated", "is_closed", "screen_name"}
    | {"type", "photo_50", "photo_100", "photo_200", "can_see_all_posts"}
)
_PROFILE_FIELDS = frozenset({"photo_50", "photo_100", "photo_200", "sex", "screen_name", "domain"})


def _photos(prefix: str, ident: int) -> dict[str, str]:
    return {f"photo_{size}": f"{PHOTO_BASE}/{prefix}{ident}_{size}.jpg" for size in (50, 100, 200)}


def group_object(
    group: Group,
    fields: Iterable[str] = (),
    *,
    pinned_post_id: int | None = None,
    member_flags: bool = False,
) -> dict[str, Any]:
    """A group object; ``member_flags`` adds is_admin/is_member/is_advertiser (user tokens)."""
    data: dict[str, Any] = {
        "id": group.id,
        "name": group.name,
        "screen_name": group.screen_name,
        "is_closed": group.is_closed,
        "type": group.type,
        **_photos("g", group.id),
    }
    if group.deactivated is not None:
        data["deactivated"] = group.deactivated
        return data
    if member_flags:
        data.update(is_admin=0, is_member=0, is_advertiser=0)
    wanted = _GROUP_FIELDS.intersection(fields)
    extra: dict[str, Any] = {
        "members_count": group.members_count,
        "description": group.description,
        "activity": group.activity,
        "status": group.status,
        "site": group.site,
        "verified": group.verified,
        "can_post": 0,
        "can_see_all_posts": 0 if group.wall_error else 1,
        "wall": 0 if group.wall_disabled else 2 if group.is_closed else 1,
        "cover": {"enabled": 0},
        "counters": {},
    }
    for name in sorted(wanted):
        if name in extra:
            data[name] = extra[name]
    if "fixed_post" in wanted and pinned_post_id is not None:
        data["fixed_post"] = pinned_post_id
    return data


def profile_object(profile: Profile, fields: Iterable[str] = ()) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": profile.id,
        "first_name": profile.first_name,
        "last_name": profile.last_name,
        "can_access_closed": not profile.is_closed,
        "is_closed": profile.is_closed,
    }
    if profile.deactivated is not None:
        data["deactivated"] = profile.deactivated
    wanted = _PROFILE_FIELDS.intersection(fields) | {"photo_50", "photo_100", "sex"}
    values: dict[str, Any] = {
        **_photos("u", profile.id),
        "sex": profile.sex,
        "screen_name": profile.screen_name,
        "domain": profile.screen_name,
    }
    for name in sorted(wanted):
        data[name] = values[name]
    return data


def post_object(post: Post, dataset: Dataset) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": post.id,
        "owner_id": post.owner_id,
        "from_id": post.from_id,
        "date": post.date,
        "post_type": "post",
        "text": post.text,
        "marked_as_ads": 0,
        "hash": f"{abs(post.owner_id):x}{post.id:06x}",
        "comments": {
            "count": post.comments_count,
            "can_post": 0 if post.comments_disabled else 1,
            "groups_can_post": not post.comments_disabled,
            "can_close": 0,
            "can_open": 0,
            "can_view": 0 if post.comments_disabled else 1,
        },
        "likes": {"count": post.likes, "user_likes": 0, "can_like": 1, "can_publish": 1},
        "reposts": {"count": post.reposts, "wall_count": post.reposts, "mail_count": 0},
        "views": {"count": post.views},
        "attachments": _attachments(post),
        "post_source": {"type": "vk"},
    }
    if post.is_pinned:
        data["is_pinned"] = 1
    if post.from_id > 0:
        data["signer_id"] = post.from_id
    if post.copy_of is not None:
        owner_id, post_id = post.copy_of
        data["copy_history"] = [
            {
                "id": post_id,
                "owner_id": owner_id,
                "from_id": owner_id,
                "date": post.date - 86_400,
                "post_type": "post",
                "text": f"Repost of {owner_id}_{post_id}",
                "attachments": [],
            }
        ]
    return data


def _attachments(post: Post) -> list[dict[str, Any]]:
    if post.attachment == "photo":
        photo_id = 456_000_000 + post.id
        url = f"{PHOTO_BASE}/p{post.owner_id}_{post.id}.jpg"
        sizes = [{"type": "x", "width": 604, "height": 403, "url": url}]
        photo = {"id": photo_id, "owner_id": post.owner_id, "date": post.date, "sizes": sizes}
        return [{"type": "photo", "photo": photo}]
    if post.attachment == "link":
        link = {"url": f"https://example.org/news/{post.id}", "title": "Ссылка", "caption": ""}
        return [{"type": "link", "link": link}]
    return []


def comment_object(
    comment: Comment, *, need_likes: bool, preview_length: int, can_post: bool = True
) -> dict[str, Any]:
    """One comment; text is cut to ``preview_length`` characters unless that is 0."""
    text = comment.text
    if preview_length > 0 and len(text) > preview_length:
        text = text[:preview_length]
    data: dict[str, Any] = {
        "id": comment.id,
        "from_id": comment.from_id,
        "date": comment.date,
        "text": text,
        "post_id": comment.post_id,
        "owner_id": comment.owner_id,
        "parents_stack": comment.parents_stack,
    }
    if comment.deleted:
        data["deleted"] = True
    if comment.reply_to_comment is not None:
        data["reply_to_comment"] = comment.reply_to_comment
        data["reply_to_user"] = comment.reply_to_user
    if need_likes:
        data["likes"] = {
            "count": comment.likes,
            "user_likes": 0,
            "can_like": int(not comment.deleted),
            "can_publish": int(can_post),
        }
    return data


def extended(
    dataset: Dataset,
    author_ids: Iterable[int],
    fields: Iterable[str] = (),
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(profiles, groups)`` for every author id (users positive, communities negative)."""
    wanted = list(fields)
    users = sorted({author for author in author_ids if author > 0})
    groups = sorted({-author for author in author_ids if author < 0})
    profiles = [profile_object(dataset.profile(user_id), wanted) for user_id in users]
    group_objects = []
    for group_id in groups:
        group = dataset.find_group(group_id)
        if group is not None:
            group_objects.append(group_object(group, wanted))
    return profiles, group_objects
