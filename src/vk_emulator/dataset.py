"""The deterministic dataset: communities, walls and comment trees derived from a seed.

Nothing is generated up front.  Community ``i`` comes from ``random.Random(f"{seed}:{i}")``,
its wall from ``f"{seed}:{i}:wall"`` and each post's comments from their own stream, so
``groups=200`` costs nothing until a wall is read, and the same seed always gives the
same data (for the same ``anchor_time``).

Fixed facts, whatever the seed:

- communities 1-5 are open, have a pinned post that is older than at least five newer
  posts, and one post with comments disabled (wall position ``-3`` counted from the
  newest, i.e. the third newest post);
- community 1's second newest post is *featured*: over 1000 top-level comments (capped
  by ``max_comments_per_post``), its first comment has a thread of 25 replies (capped by
  ``max_replies_per_comment``) and its third comment is deleted;
- community 6 is closed, 7 private, 8 deleted, 9 banned and 10 open with its wall
  disabled; from 11 on the kind is drawn (mostly open).
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from vk_emulator import words
from vk_emulator.comments import build_tree
from vk_emulator.config import EmulatorConfig
from vk_emulator.models import Comment, CommentTree, Group, GroupKind, Post, Profile

__all__ = ["SCREEN_NAME_PREFIX", "Dataset"]

SCREEN_NAME_PREFIX = "vkc_group_"

_ALWAYS_OPEN = 5
_FIXED_KINDS: dict[int, GroupKind] = {
    6: "closed",
    7: "private",
    8: "deleted",
    9: "banned",
    10: "wall_disabled",
}
_KINDS: tuple[GroupKind, ...] = ("open", "closed", "private", "deleted", "banned", "wall_disabled")
_TYPES: tuple[Literal["group", "page", "event"], ...] = ("group", "page", "event")
_KIND_WEIGHTS = (78, 8, 4, 4, 3, 3)
_SCREEN_NAME = re.compile(rf"^(?:{SCREEN_NAME_PREFIX}|club|public|event)([1-9][0-9]*)$")
_USER_SCREEN_NAME = re.compile(r"^id([1-9][0-9]*)$")
_MAX_USER_ID = 500_000
_TREE_CACHE_SIZE = 256
"""Comment trees kept built by default (``Dataset(tree_cache_size=...)``)."""
_PROFILE_CACHE_SIZE = 200_000
"""Profiles kept once drawn (~150 bytes each): an extended comment page names up to 100
authors, and drawing one seeds a ``random.Random`` (6 µs of the emulator's CPU)."""


@dataclass(frozen=True, slots=True)
class _Wall:
    chronological: tuple[Post, ...]  # oldest first
    ordered: tuple[Post, ...]  # as wall.get lists them: pinned first, then newest first
    by_id: dict[int, Post]


class Dataset:
    """Read-only view of the generated data; safe to share between threads."""

    def __init__(
        self,
        seed: int = 42,
        groups: int = 200,
        *,
        max_comments_per_post: int = 3000,
        max_replies_per_comment: int = 60,
        posts_per_group: tuple[int, int] = (25, 70),
        anchor_time: int | None = None,
        tree_cache_size: int = _TREE_CACHE_SIZE,
    ) -> None:
        self.seed = seed
        self.tree_cache_size = tree_cache_size
        self.size = groups
        self.max_comments_per_post = max_comments_per_post
        self.max_replies_per_comment = max_replies_per_comment
        self.posts_per_group = posts_per_group
        self.anchor_time = (
            anchor_time if anchor_time is not None else int(time.time()) // 3600 * 3600
        )
        self._groups: dict[int, Group] = {}
        self._walls: dict[int, _Wall] = {}
        self._trees: OrderedDict[tuple[int, int], CommentTree] = OrderedDict()
        self._profiles: dict[int, Profile] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(
        cls, config: EmulatorConfig, *, tree_cache_size: int = _TREE_CACHE_SIZE
    ) -> Dataset:
        """The dataset ``config`` describes; ``tree_cache_size`` comment trees (each
        ~2 MB and 45 ms of CPU for a 2,000-comment post) stay built, least recently
        read dropped first."""
        return cls(
            config.seed,
            config.groups,
            max_comments_per_post=config.max_comments_per_post,
            max_replies_per_comment=config.max_replies_per_comment,
            posts_per_group=config.posts_per_group,
            anchor_time=config.anchor_time,
            tree_cache_size=tree_cache_size,
        )

    # communities

    def group_ids(self) -> range:
        return range(1, self.size + 1)

    def group(self, group_id: int) -> Group:
        """The community ``group_id``; ``KeyError`` outside ``1..size``."""
        if not 1 <= group_id <= self.size:
            raise KeyError(group_id)
        found = self._groups.get(group_id)
        if found is None:
            found = self._groups.setdefault(group_id, self._make_group(group_id))
        return found

    def find_group(self, ident: str | int) -> Group | None:
        """A community by id, ``vkc_group_<id>``, ``club<id>``, ``public<id>`` or ``event<id>``."""
        text = str(ident).strip().lower()
        if text.isdigit():
            group_id = int(text)
        elif match := _SCREEN_NAME.match(text):
            group_id = int(match.group(1))
        else:
            return None
        return self.group(group_id) if 1 <= group_id <= self.size else None

    def resolve_screen_name(self, screen_name: str) -> tuple[str, int] | None:
        """``(type, object_id)`` as utils.resolveScreenName reports it, or ``None``."""
        text = screen_name.strip().lower()
        if match := _USER_SCREEN_NAME.match(text):
            user_id = int(match.group(1))
            return ("user", user_id) if user_id <= _MAX_USER_ID else None
        if text.isdigit():
            return None
        group = self.find_group(text)
        return None if group is None else (group.type, group.id)

    def ids_by_kind(self) -> dict[GroupKind, list[int]]:
        """Community ids grouped by kind; every kind is present as a key."""
        result: dict[GroupKind, list[int]] = {kind: [] for kind in _KINDS}
        for group_id in self.group_ids():
            result[self.group(group_id).kind].append(group_id)
        return result

    # walls

    def posts(self, group_id: int) -> list[Post]:
        """The wall of a community in wall.get order (pinned first, then newest first).

        Empty when the wall cannot be read (closed, private, deleted, banned, disabled).
        """
        return list(self._wall(group_id).ordered)

    def post(self, owner_id: int, post_id: int) -> Post | None:
        if owner_id >= 0 or -owner_id > self.size:
            return None
        return self._wall(-owner_id).by_id.get(post_id)

    def pinned_post(self, group_id: int) -> Post | None:
        ordered = self._wall(group_id).ordered
        return ordered[0] if ordered and ordered[0].is_pinned else None

    # comments

    def comment_tree(self, owner_id: int, post_id: int) -> CommentTree:
        """Comments of a post; ``KeyError`` when the post does not exist."""
        post = self.post(owner_id, post_id)
        if post is None:
            raise KeyError((owner_id, post_id))
        key = (owner_id, post_id)
        with self._lock:
            tree = self._trees.get(key)
            if tree is not None:
                self._trees.move_to_end(key)
                return tree
        tree = build_tree(self.seed, post, self.anchor_time)
        with self._lock:
            self._trees[key] = tree
            while len(self._trees) > self.tree_cache_size:
                self._trees.popitem(last=False)
        return tree

    def comments(self, owner_id: int, post_id: int) -> list[Comment]:
        """Every comment of a post, replies and deleted ones included, by ascending id."""
        return self.comment_tree(owner_id, post_id).all()

    # people

    def profile(self, user_id: int) -> Profile:
        """The user's profile: drawn from the seed and the id, so always the same."""
        known = self._profiles.get(user_id)
        if known is not None:
            return known
        rng = random.Random(f"{self.seed}:user:{user_id}")
        first, last, sex = words.person_name(rng)
        roll = rng.random()
        deactivated: Literal["deleted", "banned"] | None = None
        if roll < 0.02:
            deactivated = "deleted" if roll < 0.015 else "banned"
        drawn = Profile(user_id, first, last, sex, deactivated, rng.random() < 0.2)
        if len(self._profiles) >= _PROFILE_CACHE_SIZE:
            self._profiles.clear()
        self._profiles[user_id] = drawn
        return drawn

    # generation

    def _make_group(self, group_id: int) -> Group:
        rng = random.Random(f"{self.seed}:{group_id}")
        drawn = rng.choices(_KINDS, weights=_KIND_WEIGHTS)[0]
        kind = "open" if group_id <= _ALWAYS_OPEN else _FIXED_KINDS.get(group_id, drawn)
        group_type = rng.choices(_TYPES, weights=(40, 50, 10))[0]
        members = int(rng.lognormvariate(7.5, 2.0)) + 1
        if group_id <= _ALWAYS_OPEN:
            members += 1000
        return Group(
            id=group_id,
            screen_name=f"{SCREEN_NAME_PREFIX}{group_id}",
            name=words.community_name(rng),
            type=group_type,
            is_closed={"closed": 1, "private": 2}.get(kind, 0),
            deactivated="deleted" if kind == "deleted" else "banned" if kind == "banned" else None,
            wall_disabled=kind == "wall_disabled",
            members_count=members,
            description=words.text(rng, long=rng.random() < 0.5),
            activity=rng.choice(("Новости", "Городское сообщество", "Музыка", "Спорт", "Кафе")),
            status=words.sentence(rng, rng.randint(2, 5)) if rng.random() < 0.5 else "",
            site=f"https://example.org/{group_id}" if rng.random() < 0.3 else "",
            verified=1 if rng.random() < 0.05 else 0,
        )

    def _wall(self, group_id: int) -> _Wall:
        wall = self._walls.get(group_id)
        if wall is None:
            wall = self._walls.setdefault(group_id, self._make_wall(self.group(group_id)))
        return wall

    def _make_wall(self, group: Group) -> _Wall:
        if group.wall_error is not None:
            return _Wall((), (), {})
        gid = group.id
        rng = random.Random(f"{self.seed}:{gid}:wall")
        count = rng.randint(*self.posts_per_group)
        has_pinned = gid <= _ALWAYS_OPEN or rng.random() < 0.7
        pinned = count - 1 - rng.randint(5, min(15, count - 2)) if has_pinned else None
        featured = count - 2 if gid == 1 else None
        disabled = count - 3 if gid <= _ALWAYS_OPEN else None
        dates: list[int] = []
        moment = self.anchor_time - rng.randint(3600, 6 * 3600)
        for _ in range(count):
            dates.append(moment)
            moment -= rng.randint(1800, 30 * 3600)
        dates.reverse()
        next_id = rng.randint(1, 20)
        posts: list[Post] = []
        for index, date in enumerate(dates):
            prng = random.Random(f"{self.seed}:{gid}:post:{index}")
            is_disabled = index == disabled or (index != featured and prng.random() < 0.05)
            sizes = () if is_disabled else self._plan_threads(prng, index == featured)
            by_owner = prng.random() >= 0.1 or index == pinned
            repost = prng.random() < 0.05
            copy_group = prng.randint(1, _ALWAYS_OPEN)  # independent of the dataset size
            repost = repost and copy_group != gid and copy_group <= self.size
            posts.append(
                Post(
                    id=next_id,
                    owner_id=-gid,
                    from_id=-gid if by_owner else prng.randint(1, _MAX_USER_ID),
                    date=date,
                    text="" if prng.random() < 0.05 else words.text(prng, long=prng.random() < 0.3),
                    is_pinned=index == pinned,
                    comments_disabled=is_disabled,
                    comments_count=len(sizes) + sum(sizes),
                    likes=int(prng.paretovariate(1.2) * 3),
                    reposts=prng.randint(0, 30),
                    views=prng.randint(100, 100_000),
                    attachment=prng.choice((None, None, "photo", "link")),
                    copy_of=(-copy_group, prng.randint(1, 500)) if repost else None,
                    first_comment_id=next_id + 1,
                    thread_sizes=sizes,
                    index=index,
                    featured=index == featured,
                )
            )
            next_id += 1 + len(sizes) + sum(sizes) + rng.randint(0, 2)
        newest_first = [post for post in reversed(posts) if not post.is_pinned]
        ordered = [post for post in posts if post.is_pinned] + newest_first
        return _Wall(tuple(posts), tuple(ordered), {post.id: post for post in posts})

    def _plan_threads(self, rng: random.Random, featured: bool) -> tuple[int, ...]:
        roll = rng.random()
        if featured or roll >= 0.985:
            top = rng.randint(1001, 3000)
        elif roll < 0.25:
            top = 0
        elif roll < 0.75:
            top = rng.randint(1, 30)
        else:
            top = rng.randint(31, 300)
        sizes = [
            min(self._thread_size(rng), self.max_replies_per_comment)
            for _ in range(min(top, self.max_comments_per_post))
        ]
        if featured and sizes:
            sizes[0] = min(max(sizes[0], 25), self.max_replies_per_comment)
        return tuple(sizes)

    @staticmethod
    def _thread_size(rng: random.Random) -> int:
        roll = rng.random()
        if roll < 0.8:
            return 0
        if roll < 0.95:
            return rng.randint(1, 5)
        if roll < 0.99:
            return rng.randint(6, 10)
        return rng.randint(11, 40)
