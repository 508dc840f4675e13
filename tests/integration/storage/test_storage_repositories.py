"""The repository behaviour suite: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from vk_collector.errors import ValidationError
from vk_collector.storage import (
    CommentData,
    Database,
    GroupData,
    GroupStatus,
    PostData,
    TaskGroupState,
    TaskType,
)
from vk_collector.vk.collect import FetchedComment


def _group(vk_id: int, name: str, screen_name: str | None = None, **extra: object) -> GroupData:
    return GroupData(vk_id=vk_id, name=name, screen_name=screen_name, **extra)  # type: ignore[arg-type]


def _post(owner_id: int, post_id: int, *, likes: int = 0, text: str = "") -> PostData:
    return PostData(
        owner_id=owner_id, post_id=post_id, date=1_700_000_000 + post_id, text=text, likes=likes
    )


def _comment(owner_id: int, post_id: int, comment_id: int, text: str = "c") -> CommentData:
    return CommentData(
        owner_id=owner_id,
        comment_id=comment_id,
        post_id=post_id,
        date=1_700_000_000 + comment_id,
        from_id=comment_id,
        text=text,
    )


async def _task(db: Database) -> int:
    async with db.unit_of_work() as uow:
        task = await uow.tasks.create(TaskType.FETCH_COMMENTS, {})
        await uow.commit()
    return task.id


# --- groups -------------------------------------------------------------------------


async def test_group_upsert_is_idempotent_and_reports_existing(any_database: Database) -> None:
    upload = await _task(any_database)
    groups = [_group(1, "Alpha", "alpha"), _group(2, "Beta", "beta"), _group(1, "Alpha")]
    async with any_database.unit_of_work() as uow:
        first = await uow.groups.upsert_many(groups, upload_task_id=upload)
        await uow.commit()
    assert first.inserted_keys == {1, 2}
    assert first.existing_keys == frozenset()

    async with any_database.unit_of_work() as uow:
        second = await uow.groups.upsert_many(
            [_group(2, "Beta renamed", "beta"), _group(3, "Gamma")], upload_task_id=None
        )
        await uow.commit()
    assert (second.inserted, second.existing) == (1, 1)
    assert second.existing_keys == {2}

    async with any_database.unit_of_work() as uow:
        assert await uow.groups.count() == 3
        (beta,) = await uow.groups.get_by_vk_ids([2])
    assert beta.name == "Beta renamed"
    assert beta.upload_task_id == upload  # the first upload keeps the community
    assert beta.updated_at >= beta.created_at


async def test_group_search_is_case_insensitive_and_unicode_aware(any_database: Database) -> None:
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many(
            [
                _group(1, "Новости Москвы", "msk_news"),
                _group(2, "Cats 100%", "cats"),
                _group(3, "Dogs", "DOG_lovers"),
            ]
        )
        await uow.commit()

        async def names(search: str) -> list[str]:
            return [g.name for g in (await uow.groups.list(search=search)).items]

        assert await names("москв") == ["Новости Москвы"]
        assert await names("НОВОСТИ") == ["Новости Москвы"]
        assert await names("dog_") == ["Dogs"]
        assert await names("100%") == ["Cats 100%"]
        assert await names("%") == ["Cats 100%"]  # escaped
        assert (await uow.groups.list(search="   ")).total == 3


async def test_group_listing_pages_sorts_and_filters(any_database: Database) -> None:
    groups = [
        _group(i, f"group {i:02d}", members_count=100 - i, status=GroupStatus.VALID)
        for i in range(1, 26)
    ]
    groups.append(_group(99, "broken", status=GroupStatus.INVALID))
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many(groups)
        await uow.commit()
        page = await uow.groups.list(page=2, limit=10, sort_by="vk_id", sort_order="desc")
        assert [g.vk_id for g in page.items] == list(range(16, 6, -1))
        assert (page.total, page.page, page.pages) == (26, 2, 3)
        by_members = await uow.groups.list(limit=3, sort_by="members_count")
        assert [g.vk_id for g in by_members.items] == [25, 24, 23]  # NULL last, both backends
        by_members = await uow.groups.list(limit=2, sort_by="members_count", sort_order="desc")
        assert [g.vk_id for g in by_members.items] == [1, 2]
        invalid = await uow.groups.list(status=GroupStatus.INVALID)
        assert [g.vk_id for g in invalid.items] == [99]
        assert invalid.total == 1
        past_the_end = await uow.groups.list(page=5, limit=10, status=GroupStatus.VALID)
        assert (past_the_end.items, past_the_end.total) == ([], 25)
        stats = await uow.groups.stats()
        assert (stats.total, stats.valid, stats.invalid, stats.duplicate) == (26, 25, 1, 0)
        with pytest.raises(ValidationError, match="cannot sort"):
            await uow.groups.list(sort_by="password")
        with pytest.raises(ValidationError, match="limit"):
            await uow.groups.list(limit=0)


async def test_group_lookup_and_delete(any_database: Database) -> None:
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many([_group(i, f"g{i}") for i in range(1, 6)])
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        by_vk = await uow.groups.get_by_vk_ids([5, 1, 404])
        assert [g.vk_id for g in by_vk] == [1, 5]
        ids = [g.id for g in by_vk]
        assert [g.vk_id for g in await uow.groups.get_by_ids([*ids, 999_999])] == [1, 5]
        assert await uow.groups.delete(ids[0]) is True
        assert await uow.groups.delete(ids[0]) is False
        others = [g.id for g in await uow.groups.get_by_vk_ids([2, 3])]
        assert await uow.groups.delete_many([*others, 999_999]) == 2
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        assert await uow.groups.existing_vk_ids(range(1, 6)) == {4, 5}


# --- posts and comments ---------------------------------------------------------------


async def test_post_upsert_is_idempotent_and_keeps_first_task(any_database: Database) -> None:
    first, second = await _task(any_database), await _task(any_database)
    async with any_database.unit_of_work() as uow:
        await uow.posts.upsert_many([_post(-1, 1), _post(-1, 2)], task_id=first)
        await uow.posts.upsert_many([_post(-1, 1), _post(-1, 2)], task_id=first)
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        await uow.posts.upsert_many([_post(-1, 2, likes=7), _post(-2, 1)], task_id=second)
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        assert await uow.posts.count() == 3
        refreshed = await uow.posts.get(-1, 2)
        assert refreshed is not None
        assert (refreshed.likes, refreshed.first_task_id) == (7, first)
        # each task's results are exactly the posts it collected
        mine = await uow.posts.list_for_task(first)
        theirs = await uow.posts.list_for_task(second)
    assert sorted(p.key for p in mine.items) == [(-1, 1), (-1, 2)]
    assert sorted(p.key for p in theirs.items) == [(-2, 1), (-1, 2)]


async def test_posts_for_a_task_page_and_filter(any_database: Database) -> None:
    task = await _task(any_database)
    posts = [_post(-1, i, text=f"post {i}") for i in range(1, 31)]
    posts.append(_post(-2, 1, text="Привет, МИР"))
    async with any_database.unit_of_work() as uow:
        await uow.posts.upsert_many(posts, task_id=task)
        await uow.commit()
        page = await uow.posts.list_for_task(task, limit=10, offset=10, owner_id=-1)
        assert page.total == 30
        assert [p.post_id for p in page.items] == list(range(20, 10, -1))  # newest first
        found = await uow.posts.list_for_task(task, search="мир")
        assert [p.key for p in found.items] == [(-2, 1)]
        one = await uow.posts.list_for_task(task, owner_id=-1, post_id=7)
        assert [p.text for p in one.items] == ["post 7"]
        assert await uow.posts.count_for_task(task, search="post 1") == 11
        with pytest.raises(ValidationError):
            await uow.posts.list_for_task(task, offset=-1)


async def test_equal_comment_ids_on_two_walls_are_two_rows(any_database: Database) -> None:
    task = await _task(any_database)
    async with any_database.unit_of_work() as uow:
        await uow.posts.upsert_many([_post(-1, 1), _post(-2, 1)], task_id=task)
        comments = [_comment(-1, 1, 100, "wall one"), _comment(-2, 1, 100, "wall two")]
        assert await uow.comments.upsert_many(comments) == 2
        assert await uow.comments.upsert_many(comments) == 2
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        assert await uow.comments.count() == 2
        assert await uow.comments.count_for_task(task) == 2
        texts = {
            owner: [c.text for c in (await uow.comments.list_for_post(owner, 1)).items]
            for owner in (-1, -2)
        }
    assert texts == {-1: ["wall one"], -2: ["wall two"]}


async def test_comment_upsert_chunks_and_refreshes(any_database: Database) -> None:
    task = await _task(any_database)
    comments = [_comment(-1, 1 + i % 3, i) for i in range(1, 1204)]
    async with any_database.unit_of_work() as uow:
        await uow.posts.upsert_many([_post(-1, 1), _post(-1, 2), _post(-1, 3)], task_id=task)
        assert await uow.comments.upsert_many(comments) == 1203
        await uow.commit()
    edited = [CommentData(owner_id=-1, comment_id=5, post_id=3, date=1, text="", deleted=True)]
    async with any_database.unit_of_work() as uow:
        await uow.comments.upsert_many([*comments, *edited])  # the last version wins
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        assert await uow.comments.count_for_task(task) == 1203
        pages = [
            await uow.comments.list_for_task(task, limit=500, offset=offset)
            for offset in (0, 500, 1000)
        ]
    assert [len(page.items) for page in pages] == [500, 500, 203]
    flat = [c for page in pages for c in page.items]
    assert [(c.post_id, c.comment_id) for c in flat] == sorted(
        (c.post_id, c.comment_id) for c in flat
    )
    (deleted,) = [c for c in flat if c.comment_id == 5]
    assert (deleted.deleted, deleted.text) == (True, "")


async def test_fetched_comments_are_upserted_in_bulk(any_database: Database) -> None:
    """The collector's rows (FetchedComment) go in as they are: a comment twice in one
    batch is one row, the later version; fetched again later, the row is updated."""

    def fetched(cid: int, text: str, likes: int, name: str | None) -> FetchedComment:
        return FetchedComment(
            owner_id=-1, comment_id=cid, post_id=1, date=1_700_000_000, from_id=5,
            text=text, likes=likes, deleted=False, parent_comment_id=None,
            reply_to_comment=None, author_id=5, author_name=name,
        )  # fmt: skip

    task = await _task(any_database)
    async with any_database.unit_of_work() as uow:
        await uow.posts.upsert_many([_post(-1, 1)], task_id=task)
        batch = [
            fetched(7, "first", 1, None),
            fetched(8, "other", 0, "B"),
            fetched(7, "2nd", 2, "A"),
        ]
        assert await uow.comments.upsert_many(batch) == 2
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        assert await uow.comments.upsert_many([fetched(7, "edited", 9, "A B")]) == 1
        await uow.commit()
    async with any_database.unit_of_work(read_only=True) as uow:
        rows = (await uow.comments.list_for_post(-1, 1)).items
    assert [(c.comment_id, c.text, c.likes, c.author_name) for c in rows] == [
        (7, "edited", 9, "A B"),
        (8, "other", 0, "B"),
    ]


async def test_a_comment_needs_its_post(any_database: Database) -> None:
    async with any_database.unit_of_work() as uow:
        with pytest.raises(IntegrityError):
            await uow.comments.upsert_many([_comment(-9, 1, 1)])


async def test_comments_done_is_the_per_task_resume_marker(any_database: Database) -> None:
    first, second = await _task(any_database), await _task(any_database)
    async with any_database.unit_of_work() as uow:
        await uow.posts.upsert_many([_post(-1, 1), _post(-1, 2), _post(-3, 1)], task_id=first)
        await uow.posts.upsert_many([_post(-1, 1)], task_id=second)
        assert await uow.posts.mark_comments_done(first, -1, 1) is True
        assert await uow.posts.mark_comments_done(first, -7, 7) is False
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        assert await uow.posts.pending_comments(first) == [(-3, 1), (-1, 2)]
        assert await uow.posts.pending_comments(first, owner_id=-1) == [(-1, 2)]
        assert await uow.posts.pending_comments(second) == [(-1, 1)]
        post = await uow.posts.get(-1, 1)
        assert post is not None
        assert post.comments_done
        # re-linking (a retried job) keeps the marker
        await uow.posts.upsert_many([_post(-1, 1)], task_id=first)
        assert await uow.posts.pending_comments(first) == [(-3, 1), (-1, 2)]


# --- task groups and cascades ---------------------------------------------------------


async def test_task_groups_track_state_for_resume(any_database: Database) -> None:
    task = await _task(any_database)
    async with any_database.unit_of_work() as uow:
        await uow.task_groups.init(task, {1: "one", 2: "two", 3: None})
        await uow.task_groups.mark(
            task, 1, TaskGroupState.DONE, posts_done=10, comments_collected=99
        )
        await uow.task_groups.mark(task, 2, TaskGroupState.FAILED, error="access_token=abc denied")
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        await uow.task_groups.init(task, {1: "one", 2: "two", 3: None, 4: "four"})  # retry
        assert await uow.task_groups.mark(task, 404, TaskGroupState.DONE) is False
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        rows = {row.group_vk_id: row for row in await uow.task_groups.list(task)}
        assert [row.group_vk_id for row in await uow.task_groups.pending(task)] == [3, 4]
        counts = await uow.task_groups.counts(task)
    assert (rows[1].state, rows[1].posts_done, rows[1].comments_collected) == ("done", 10, 99)
    assert rows[2].error == "access_token=*** denied"
    assert counts[TaskGroupState.PENDING] == 2
    assert counts[TaskGroupState.SKIPPED] == 0


async def test_deleting_a_task_cascades_to_its_links_only(any_database: Database) -> None:
    task = await _task(any_database)
    async with any_database.unit_of_work() as uow:
        await uow.groups.upsert_many([_group(1, "one")], upload_task_id=task)
        await uow.task_groups.init(task, {1: "one"})
        await uow.posts.upsert_many([_post(-1, 1)], task_id=task)
        await uow.comments.upsert_many([_comment(-1, 1, 1)])
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        assert await uow.tasks.delete(task) is True
        await uow.commit()
    async with any_database.unit_of_work() as uow:
        assert await uow.task_groups.list(task) == []
        assert await uow.posts.count_for_task(task) == 0
        post = await uow.posts.get(-1, 1)
        (group,) = await uow.groups.get_by_vk_ids([1])
        assert await uow.comments.count() == 1
    assert post is not None
    assert post.first_task_id is None
    assert group.upload_task_id is None
