from __future__ import annotations

import time

import pytest

from vk_emulator import Dataset, EmulatorConfig

ANCHOR = 1_700_000_000


def small(seed: int = 42, groups: int = 30) -> Dataset:
    return Dataset(
        seed,
        groups,
        max_comments_per_post=120,
        max_replies_per_comment=15,
        posts_per_group=(20, 30),
        anchor_time=ANCHOR,
    )


def snapshot(dataset: Dataset, group_ids: range) -> list[object]:
    data: list[object] = []
    for group_id in group_ids:
        data.append(dataset.group(group_id))
        for post in dataset.posts(group_id)[:6]:
            data.append(post)
            data.extend(dataset.comments(post.owner_id, post.id))
    return data


def test_same_seed_gives_the_same_data() -> None:
    assert snapshot(small(), range(1, 13)) == snapshot(small(), range(1, 13))


def test_another_seed_gives_other_data() -> None:
    first, second = small(42), small(43)
    assert [first.group(i).name for i in range(1, 31)] != [
        second.group(i).name for i in range(1, 31)
    ]
    assert [post.id for post in first.posts(1)] != [post.id for post in second.posts(1)]
    assert snapshot(first, range(1, 4)) != snapshot(second, range(1, 4))


def test_a_community_does_not_depend_on_how_many_there_are() -> None:
    assert small(groups=30).group(7) == small(groups=200).group(7)
    assert small(groups=30).posts(3) == small(groups=200).posts(3)


def test_generation_is_lazy() -> None:
    started = time.monotonic()
    huge = Dataset(42, 10_000_000, anchor_time=ANCHOR)
    assert huge.group(9_999_999).screen_name == "vkc_group_9999999"
    assert time.monotonic() - started < 1.0


def test_fixed_community_kinds() -> None:
    dataset = small()
    assert [dataset.group(i).kind for i in range(1, 11)] == [
        "open",
        "open",
        "open",
        "open",
        "open",
        "closed",
        "private",
        "deleted",
        "banned",
        "wall_disabled",
    ]
    assert dataset.group(6).is_closed == 1
    assert dataset.group(7).is_closed == 2
    assert dataset.group(8).deactivated == "deleted"
    assert dataset.group(9).deactivated == "banned"
    kinds = dataset.ids_by_kind()
    assert sorted(i for ids in kinds.values() for i in ids) == list(range(1, 31))
    assert kinds["open"][:5] == [1, 2, 3, 4, 5]


def test_group_lookup_by_id_and_screen_names() -> None:
    dataset = small()
    assert dataset.group(3).screen_name == "vkc_group_3"
    for ident in ("3", 3, "vkc_group_3", "VKC_GROUP_3", "club3", "public3", "event3"):
        found = dataset.find_group(ident)
        assert found is not None
        assert found.id == 3
    for ident in ("0", "31", "vkc_group_31", "vkc_group_03", "nobody", "id3", "-3"):
        assert dataset.find_group(ident) is None
    with pytest.raises(KeyError):
        dataset.group(31)
    assert dataset.resolve_screen_name("vkc_group_2") == (dataset.group(2).type, 2)
    assert dataset.resolve_screen_name("id77") == ("user", 77)
    assert dataset.resolve_screen_name("nobody") is None


def test_closed_walls_have_no_posts() -> None:
    dataset = small()
    for group_id in (6, 7, 8, 9, 10):
        assert dataset.posts(group_id) == []
        assert dataset.group(group_id).wall_error is not None
    assert dataset.group(1).wall_error is None


@pytest.mark.parametrize("group_id", [1, 2, 3, 4, 5])
def test_wall_order_has_an_old_pinned_post_first(group_id: int) -> None:
    posts = small().posts(group_id)
    assert 20 <= len(posts) <= 30
    pinned, rest = posts[0], posts[1:]
    assert pinned.is_pinned
    assert not any(post.is_pinned for post in rest)
    assert [post.date for post in rest] == sorted((post.date for post in rest), reverse=True)
    assert sum(post.date > pinned.date for post in rest) >= 5
    assert any(post.comments_disabled for post in posts)
    assert all(post.date <= ANCHOR for post in posts)


def test_post_and_comment_ids_share_one_sequence_per_wall() -> None:
    dataset = small()
    ids: list[int] = []
    for post in dataset.posts(2):
        ids.append(post.id)
        ids.extend(comment.id for comment in dataset.comments(post.owner_id, post.id))
    assert len(ids) == len(set(ids))


def test_comment_ids_repeat_across_walls() -> None:
    dataset = small()

    def comment_ids(group_id: int) -> set[int]:
        return {
            comment.id
            for post in dataset.posts(group_id)
            for comment in dataset.comments(post.owner_id, post.id)
        }

    assert comment_ids(1) & comment_ids(2)


def test_comment_trees_are_consistent() -> None:
    dataset = small()
    for group_id in (1, 2, 3):
        for post in dataset.posts(group_id):
            tree = dataset.comment_tree(post.owner_id, post.id)
            assert tree.total == post.comments_count
            assert [c.id for c in tree.top] == sorted(c.id for c in tree.top)
            for comment in tree.all():
                assert post.date < comment.date <= ANCHOR
                assert comment.post_id == post.id
                assert comment.owner_id == post.owner_id
                assert (comment.text == "") == comment.deleted
            for root_id, replies in tree.replies.items():
                assert tree.by_id[root_id].thread_root is None
                members = {root_id} | {reply.id for reply in replies}
                for reply in replies:
                    assert reply.id > root_id
                    assert reply.parents_stack == [root_id]
                    assert reply.reply_to_comment in members
                    target = tree.by_id[reply.reply_to_comment or 0]
                    assert reply.reply_to_user == target.from_id
                    assert target.id < reply.id


def test_featured_post_of_community_one() -> None:
    dataset = small()
    featured = [post for post in dataset.posts(1) if post.featured]
    assert len(featured) == 1
    post = featured[0]
    assert post is dataset.posts(1)[2]  # second newest, after the pinned post
    tree = dataset.comment_tree(-1, post.id)
    assert len(tree.top) == 120  # capped from over 1000
    assert len(tree.replies[tree.top[0].id]) == 15  # capped from 25
    assert tree.top[2].deleted
    assert tree.top[2].text == ""
    assert any(len(comment.text) > 90 for comment in tree.all())


def test_default_scale_has_posts_with_thousands_of_comments() -> None:
    dataset = Dataset(42, 200, anchor_time=ANCHOR)
    featured = dataset.posts(1)[2]
    assert featured.featured
    assert featured.top_level_count > 1000
    assert max(featured.thread_sizes) >= 25
    walls = [dataset.posts(group_id) for group_id in range(1, 41)]
    assert sum(post.comments_count > 1000 for wall in walls for post in wall) >= 3


def test_caps_hold_everywhere() -> None:
    dataset = small()
    for group_id in dataset.ids_by_kind()["open"]:
        for post in dataset.posts(group_id):
            assert post.top_level_count <= 120
            assert max(post.thread_sizes, default=0) <= 15


def test_dataset_from_config_follows_the_config() -> None:
    config = EmulatorConfig(groups=12, max_comments_per_post=7, anchor_time=ANCHOR)
    dataset = Dataset.from_config(config)
    assert list(dataset.group_ids()) == list(range(1, 13))
    assert max(post.top_level_count for post in dataset.posts(1)) == 7


def test_profiles_are_deterministic() -> None:
    assert small().profile(12345) == small().profile(12345)
    assert small().profile(12345).screen_name == "id12345"


def test_tree_cache_keeps_as_many_trees_as_asked() -> None:
    config = EmulatorConfig(groups=12, max_comments_per_post=7, anchor_time=ANCHOR)
    posts = Dataset.from_config(config).posts(1)[:3]
    for size, first_kept in ((3, True), (2, False)):
        dataset = Dataset.from_config(config, tree_cache_size=size)
        trees = [dataset.comment_tree(p.owner_id, p.id) for p in posts]
        # the first tree is still the built one only while the cache holds all three
        assert (dataset.comment_tree(posts[0].owner_id, posts[0].id) is trees[0]) is first_kept
