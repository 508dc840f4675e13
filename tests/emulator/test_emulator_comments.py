"""wall.getComments over HTTP: every parameter of VK_API.md §2.4, against the dataset."""

from __future__ import annotations

from typing import Any

import pytest

from vk_emulator import EmulatorServer, Post

from support.emulator import COMMUNITY_TOKEN, SERVICE_TOKEN, vk_call


def response(envelope: dict[str, Any]) -> Any:
    assert "response" in envelope, envelope
    return envelope["response"]


def error_code(envelope: dict[str, Any]) -> int:
    assert "error" in envelope, envelope
    code: int = envelope["error"]["error_code"]
    return code


def featured(server: EmulatorServer) -> Post:
    post = server.dataset.posts(1)[2]
    assert post.featured
    return post


def comments(server: EmulatorServer, post: Post, **params: Any) -> Any:
    return response(
        vk_call(server, "wall.getComments", owner_id=post.owner_id, post_id=post.id, **params)
    )


def test_paging_the_top_level_by_offset(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    tree = emulator.dataset.comment_tree(post.owner_id, post.id)
    ids: list[int] = []
    offset = 0
    while True:
        page = comments(emulator, post, offset=offset, count=100, preview_length=0)
        assert page["count"] == tree.total == post.comments_count
        assert page["current_level_count"] == len(tree.top) == 120
        assert page["can_post"] is True
        assert page["show_reply_button"] is True
        assert page["groups_can_post"] is True
        ids.extend(item["id"] for item in page["items"])
        offset += 100
        if offset >= page["current_level_count"]:
            break
    assert ids == [comment.id for comment in tree.top]
    assert tree.total > len(tree.top)  # count includes the replies


def test_sort_count_and_defaults(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    tree = emulator.dataset.comment_tree(post.owner_id, post.id)
    default = comments(emulator, post)
    assert [item["id"] for item in default["items"]] == [c.id for c in tree.top[:10]]
    descending = comments(emulator, post, sort="desc", count=5)
    assert [item["id"] for item in descending["items"]] == [c.id for c in tree.top[::-1][:5]]
    capped = comments(emulator, post, count=1000)
    assert len(capped["items"]) == 100
    assert (
        error_code(vk_call(emulator, "wall.getComments", owner_id=-1, post_id=post.id, sort="x"))
        == 100
    )


def test_preview_length(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    tree = emulator.dataset.comment_tree(post.owner_id, post.id)
    full = {c.id: c.text for c in tree.top}
    long_ids = [c.id for c in tree.top if len(c.text) > 90]
    assert long_ids
    default = comments(emulator, post, count=100)["items"]
    untruncated = comments(emulator, post, count=100, preview_length=0)["items"]
    short = comments(emulator, post, count=100, preview_length=20)["items"]
    for item in default:
        assert item["text"] == full[item["id"]][:90]
    assert any(len(item["text"]) == 90 and len(full[item["id"]]) > 90 for item in default)
    for item in untruncated:
        assert item["text"] == full[item["id"]]
    assert max(len(item["text"]) for item in short) == 20


def test_likes_only_with_need_likes(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    without = comments(emulator, post, count=20, thread_items_count=2)["items"]
    assert all("likes" not in item for item in without)
    assert all("likes" not in reply for item in without for reply in item["thread"]["items"])
    with_likes = comments(emulator, post, count=20, need_likes=1, thread_items_count=2)["items"]
    tree = emulator.dataset.comment_tree(post.owner_id, post.id)
    for item in with_likes:
        assert item["likes"]["count"] == tree.by_id[item["id"]].likes
        assert set(item["likes"]) == {"count", "user_likes", "can_like", "can_publish"}
    assert all("likes" in reply for item in with_likes for reply in item["thread"]["items"])


def test_embedded_threads_are_capped(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    tree = emulator.dataset.comment_tree(post.owner_id, post.id)
    first = tree.top[0]
    replies = tree.replies[first.id]
    assert len(replies) == 15
    plain = comments(emulator, post, count=1)["items"][0]
    assert plain["thread"]["count"] == 15
    assert plain["thread"]["items"] == []
    three = comments(emulator, post, count=1, thread_items_count=3)["items"][0]["thread"]
    assert [reply["id"] for reply in three["items"]] == [r.id for r in replies[:3]]
    assert {"count", "items", "can_post", "show_reply_button", "groups_can_post"} <= set(three)
    many = comments(emulator, post, count=1, thread_items_count=50)["items"][0]["thread"]
    assert len(many["items"]) == 10
    assert many["count"] == 15
    for reply in many["items"]:
        assert reply["parents_stack"] == [first.id]
        assert "thread" not in reply


def test_thread_paging_with_comment_id(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    tree = emulator.dataset.comment_tree(post.owner_id, post.id)
    root = tree.top[0]
    expected = tree.replies[root.id]
    ids: list[int] = []
    offset = 0
    while offset < len(expected):
        page = comments(emulator, post, comment_id=root.id, offset=offset, count=4)
        assert page["current_level_count"] == len(expected)
        assert page["count"] == len(expected)
        for item in page["items"]:
            assert item["parents_stack"] == [root.id]
            assert item["reply_to_comment"] in {root.id} | {r.id for r in expected}
            assert "reply_to_user" in item
        ids.extend(item["id"] for item in page["items"])
        offset += 4
    assert ids == [reply.id for reply in expected]
    via_reply = comments(emulator, post, comment_id=expected[3].id, count=100)
    assert [item["id"] for item in via_reply["items"]] == ids
    assert (
        error_code(
            vk_call(emulator, "wall.getComments", owner_id=-1, post_id=post.id, comment_id=1)
        )
        == 100
    )


def test_start_comment_id(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    tree = emulator.dataset.comment_tree(post.owner_id, post.id)
    start = tree.top[37]
    page = comments(emulator, post, start_comment_id=start.id, count=5)
    assert [item["id"] for item in page["items"]] == [c.id for c in tree.top[37:42]]
    assert page["real_offset"] == 37
    shifted = comments(emulator, post, start_comment_id=start.id, offset=2, count=1)
    assert shifted["items"][0]["id"] == tree.top[39].id
    backwards = comments(emulator, post, start_comment_id=start.id, sort="desc", count=2)
    assert [item["id"] for item in backwards["items"]] == [tree.top[37].id, tree.top[36].id]


def test_deleted_comments(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    item = comments(emulator, post, count=3, preview_length=0)["items"][2]
    assert item["deleted"] is True
    assert item["text"] == ""


def test_extended(emulator: EmulatorServer) -> None:
    post = featured(emulator)
    page = comments(emulator, post, count=30, extended=1, thread_items_count=3, fields="photo_100")
    authors = {item["from_id"] for item in page["items"] if not item.get("deleted")}
    authors |= {
        r["from_id"]
        for item in page["items"]
        for r in item["thread"]["items"]
        if not r.get("deleted")
    }
    assert {p["id"] for p in page["profiles"]} == {a for a in authors if a > 0}
    assert all("photo_100" in profile for profile in page["profiles"])
    assert 1 in {group["id"] for group in page["groups"]}
    assert page["post_author_id"] == post.from_id
    assert "profiles" not in comments(emulator, post, count=1)


def test_comments_match_the_dataset_for_ordinary_posts(emulator: EmulatorServer) -> None:
    for post in emulator.dataset.posts(3)[:8]:
        if post.comments_disabled:
            continue
        page = comments(emulator, post, count=100, preview_length=0)
        tree = emulator.dataset.comment_tree(post.owner_id, post.id)
        assert page["count"] == post.comments_count
        assert [item["id"] for item in page["items"]] == [c.id for c in tree.top[:100]]


def test_errors(emulator: EmulatorServer) -> None:
    disabled = next(post for post in emulator.dataset.posts(1) if post.comments_disabled)
    envelope = vk_call(emulator, "wall.getComments", owner_id=-1, post_id=disabled.id)
    assert envelope["error"]["error_code"] == 212
    assert envelope["error"]["error_msg"] == "Access to post comments denied"
    missing = vk_call(emulator, "wall.getComments", owner_id=-1, post_id=10**9)
    assert missing["error"]["error_code"] == 15
    assert missing["error"]["error_msg"] == "Access denied: post was not found check post_id param"
    closed = vk_call(emulator, "wall.getComments", owner_id=-6, post_id=1)
    assert closed["error"]["error_code"] == 15
    assert error_code(vk_call(emulator, "wall.getComments", owner_id=-1)) == 100
    post = featured(emulator)
    assert (
        error_code(
            vk_call(emulator, "wall.getComments", COMMUNITY_TOKEN, owner_id=-1, post_id=post.id)
        )
        == 27
    )
    by_service = vk_call(emulator, "wall.getComments", SERVICE_TOKEN, owner_id=-1, post_id=post.id)
    assert len(response(by_service)["items"]) == 10


@pytest.mark.parametrize("verb", ["GET", "POST"])
def test_comment_ids_repeat_across_walls(emulator: EmulatorServer, verb: str) -> None:
    def ids(group_id: int) -> set[int]:
        found: set[int] = set()
        for post in emulator.dataset.posts(group_id):
            if post.comments_count and not post.comments_disabled:
                page = comments(emulator, post, count=100, verb=verb)
                found.update(item["id"] for item in page["items"])
        return found

    assert ids(1) & ids(2)
