from __future__ import annotations

from vk_collector.vk.models import (
    Comment,
    CommentsPage,
    Group,
    GroupsLookup,
    Post,
    match_group,
)


def test_group_ignores_unknown_fields() -> None:
    group = Group.model_validate(
        {"id": 1, "name": "A", "screen_name": "a", "is_closed": 1, "type": "page", "zzz": 5}
    )
    assert group.is_closed == 1
    assert group.deactivated is None
    assert group.members_count is None


def test_match_group_by_id_alias_and_name() -> None:
    groups = [Group(id=1, name="A", screen_name="Apiclub"), Group(id=22, name="B")]
    by_id = {g.id: g for g in groups}
    by_name = {g.screen_name.lower(): g for g in groups if g.screen_name}
    for ident in (1, -1, "1", "-1", "club1", "PUBLIC1", "apiclub", " APICLUB "):
        assert match_group(ident, by_id, by_name) is groups[0], ident
    assert match_group("event22", by_id, by_name) is groups[1]
    assert match_group("nobody", by_id, by_name) is None
    assert match_group(3, by_id, by_name) is None


def test_groups_lookup_distinct_groups() -> None:
    group = Group(id=1, name="A")
    lookup = GroupsLookup(found={1: group, "club1": group}, missing=["x"])
    assert lookup.groups == [group]


def test_post_comment_and_page_parsing() -> None:
    post = Post.model_validate(
        {"id": 3, "owner_id": -1, "date": 10, "is_pinned": 1, "comments": {"count": 4}}
    )
    assert post.is_pinned
    assert post.comments_count == 4
    page = CommentsPage.model_validate(
        {
            "count": 5,
            "items": [{"id": 1, "from_id": 2, "date": 3, "text": "t", "thread": {"count": 4}}],
        }
    )
    assert page.level_count == 5
    assert page.items[0].thread_count == 4
    deleted = Comment.model_validate({"id": 9, "deleted": True})
    assert deleted.deleted
    assert deleted.text == ""
