"""The original system's web client (andr-235/fullstack-parser 2db60e4, frontend/src)
replayed against our API: its exact requests, and the fields its code reads."""

from __future__ import annotations

from typing import Any

import httpx

from conftest import Api, StartApi
from vk_collector.settings import Settings
from vk_collector.storage import CommentData, GroupData, GroupStatus, PostData, TaskType


async def _store_groups(api: Api) -> list[int]:
    async with api.runtime.db.unit_of_work() as uow:
        await uow.groups.upsert_many(
            [
                GroupData(vk_id=11, name="Alpha", screen_name="alpha", members_count=5),
                GroupData(vk_id=22, name="Beta", screen_name="beta", members_count=50),
                GroupData(vk_id=33, name="Dead", status=GroupStatus.INVALID),
            ]
        )
        await uow.commit()
        page = await uow.groups.list(limit=100)
    return [g.id for g in page.items]


def _json(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_groups_page_loads_pages_searches_and_sorts(api: Api) -> None:
    ids = await _store_groups(api)
    # stores/groups.ts fetchGroups() with its default filters
    body = _json(
        await api.client.get(
            "/api/groups?page=1&limit=20&status=all&search=&sortBy=uploaded_at&sortOrder=desc"
        ),
        200,
    )
    assert body["success"] is True
    assert body["pagination"]["total"] == 3
    row = body["data"][0]
    for field in ("id", "vkId", "name", "screenName", "photo50", "membersCount", "isClosed"):
        assert field in row
    assert row["uploadedAt"]
    assert "taskId" in row
    # GroupsFilters.vue spellings and the original's status names
    for query in (
        "sortBy=uploadedAt&sortOrder=asc",
        "sortBy=id&sortOrder=DESC",
        "sortBy=status&sortOrder=asc",
        "sortBy=name&sortOrder=desc",
    ):
        assert _json(await api.client.get(f"/api/groups?{query}"), 200)["success"] is True
    active = _json(await api.client.get("/api/groups?status=active"), 200)["data"]
    assert sorted(g["vkId"] for g in active) == [11, 22]
    inactive = _json(await api.client.get("/api/groups?status=inactive"), 200)["data"]
    assert [g["vkId"] for g in inactive] == [33]
    by_id = _json(await api.client.get(f"/api/groups?search={ids[1]}"), 200)["data"]
    assert [g["id"] for g in by_id] == [ids[1]]
    # getAllGroups() for the "VK Collect" dialog
    everything = _json(await api.client.get("/api/groups?limit=10000&page=1"), 200)
    assert len(everything["data"]) == 3


async def test_groups_filter_panel_sorts_and_extra_filters(api: Api) -> None:
    ids = await _store_groups(api)
    # GroupsFiltersPanel.vue onFilterChange(): no status when "all", its own sort names,
    # and its date and error-count fields, which filter nothing here
    extra = "dateFrom=2020-01-01&dateTo=2100-01-01&errorsMin=0&errorsMax=5"
    orders = {
        "groupId": [11, 22, 33],
        "name": [11, 22, 33],
        "errorsCount": [11, 22, 33],  # no community has errors recorded: by id
    }
    for sort_by, vk_ids in orders.items():
        for order, expected in (("asc", vk_ids), ("desc", vk_ids[::-1])):
            body = _json(
                await api.client.get(
                    f"/api/groups?page=1&limit=20&sortBy={sort_by}&sortOrder={order}&{extra}"
                ),
                200,
            )
            assert [g["vkId"] for g in body["data"]] == expected, (sort_by, order)
    for sort_by in ("status", "uploadedAt", "lastCheckedAt"):
        body = _json(await api.client.get(f"/api/groups?sortBy={sort_by}&sortOrder=asc"), 200)
        assert sorted(g["id"] for g in body["data"]) == sorted(ids)
    refused = await api.client.get("/api/groups?sortBy=errors_count")
    assert refused.status_code == 400
    assert "sortBy" in refused.json()["error"]


async def test_groups_single_batch_and_clear_all_deletes(api: Api) -> None:
    ids = await _store_groups(api)
    _json(await api.client.delete(f"/api/groups/{ids[0]}"), 200)
    batch = _json(
        await api.client.request("DELETE", "/api/groups/batch", json={"groupIds": [ids[1]]}), 200
    )
    assert batch["data"]["deletedCount"] == 1
    assert batch["data"]["deletedGroupIds"] == [ids[1]]
    cleared = _json(await api.client.delete("/api/groups/all"), 200)
    assert cleared["data"]["deletedCount"] == 1
    left = _json(await api.client.get("/api/groups?page=1&limit=20"), 200)
    assert left["pagination"]["total"] == 0


async def test_upload_with_the_clients_encodings_and_string_errors(api: Api) -> None:
    for encoding in ("utf-8", "windows-1251", "koi8-r", "iso-8859-1", "ascii"):
        body = _json(
            await api.client.post(
                f"/api/groups/upload?encoding={encoding}",
                files={"file": ("groups.txt", b"club1\nnot a group!!\n", "text/plain")},
            ),
            202,
        )
        task_id = body["data"]["taskId"]
        status = _json(await api.client.get(f"/api/groups/upload/{task_id}/status"), 200)
        data = status["data"]
        assert data["status"] in ("pending", "processing", "completed", "failed")
        assert set(data["progress"]) >= {"processed", "total", "percentage"}
        assert all(isinstance(e, str) for e in data["errors"]), data["errors"]


async def test_task_creation_details_and_start(api: Api) -> None:
    ids = await _store_groups(api)
    # CreateCommentsTaskModal -> POST /api/tasks
    created = _json(
        await api.client.post("/api/tasks", json={"ownerId": -11, "postId": 5, "token": "t0k"}),
        201,
    )
    assert created["data"]["status"] == "created"
    assert created["data"]["type"] == "fetch_comments"
    post_task = created["data"]["taskId"]
    whole = _json(await api.client.get(f"/api/tasks/{post_task}"), 200)
    # TaskDetailsView keeps the whole answer as the task: its fields sit at the top too
    assert whole["id"] == post_task
    assert whole["status"] == "pending"
    assert whole["type"] == "fetch_comments"
    details = whole["data"]
    assert "t0k" not in str(details)
    for field in ("completedAt", "error", "executionTime", "groups", "priority", "errors"):
        assert field in details
    # CreateVkCollectTaskModal -> POST /api/tasks/collect {groups: internal ids}
    collect = _json(await api.client.post("/api/tasks/collect", json={"groups": ids[:2]}), 201)
    task_id = collect["data"]["taskId"]
    task = _json(await api.client.get(f"/api/tasks/{task_id}"), 200)["data"]
    assert task["groups"] == [11, 22]
    assert set(task["progress"]) >= {"processed", "total"}
    # TaskDetailsView "start" -> POST /api/collect/:id (never existed in the original)
    started = _json(await api.client.post(f"/api/collect/{task_id}"), 202)
    assert started["data"]["taskId"] == task_id
    assert started["data"]["queued"] is False  # its job is queued already
    again = _json(await api.client.post(f"/api/vk/collect/{task_id}/start"), 202)
    assert again["data"]["taskId"] == task_id
    refused = _json(await api.client.post(f"/api/collect/{post_task}"), 409)
    assert isinstance(refused["error"], str)
    # TasksView list
    listed = _json(await api.client.get("/api/tasks?page=1&limit=20"), 200)
    assert listed["pagination"]["total"] == 2
    assert listed["data"][0]["id"] == task_id  # newest first
    everything = _json(await api.client.get("/api/tasks?page=1&limit=10000"), 200)
    assert len(everything["data"]) == 2


async def test_vk_collect_by_vk_ids_with_names(api: Api) -> None:
    await _store_groups(api)
    body = _json(
        await api.client.post(
            "/api/vk/collect", json={"groups": [11, "22", {"id": 11, "name": "x"}]}
        ),
        201,
    )
    data = body["data"]
    assert data["groupsCount"] == 2
    assert data["groups"] == [{"id": 11, "name": "Alpha"}, {"id": 22, "name": "Beta"}]
    job = await api.runtime.queue.get_job(f"vk-collect-{data['taskId']}")
    assert job is not None


async def test_comments_as_results_table_reads_them(api: Api) -> None:
    task = await api.runtime.tasks.create(TaskType.FETCH_COMMENTS, {"groups": [11]})
    async with api.runtime.db.unit_of_work() as uow:
        await uow.posts.upsert_many([PostData(owner_id=-11, post_id=7, date=1)], task_id=task.id)
        await uow.comments.upsert_many(
            [
                CommentData(
                    owner_id=-11,
                    comment_id=c,
                    post_id=7,
                    date=2,
                    text=f"c{c}",
                    from_id=5,
                    author_id=5 if c == 2 else None,
                    author_name="Иван Петров" if c == 2 else None,
                )
                for c in (1, 2, 3)
            ]
        )
        await uow.commit()
    # services/api.ts getResults(): task_id, limit, offset (+ groupId/postId/sentiment)
    body = _json(
        await api.client.get(f"/api/comments?task_id={task.id}&limit=2&offset=1&groupId=11"), 200
    )
    assert body["total"] == 3  # ResultsTable reads response.data.results/total
    assert body["data"]["total"] == 3  # stores/comments.ts reads response.data.data
    assert [c["text"] for c in body["results"]] == ["c2", "c3"]
    first = body["results"][0]
    assert first["groupId"] == 11
    assert first["postId"] == 7
    assert first["authorId"] == 5
    assert first["content"] == "c2"
    assert first["authorName"] == "Иван Петров"
    assert body["results"][1]["authorName"] is None  # stored before authors were
    assert body["results"][1]["authorId"] == 5  # from_id stands in
    nested = _json(await api.client.get(f"/api/results/{task.id}"), 200)["data"]
    named = [c for p in nested["posts"] for c in p["comments"] if c["commentId"] == 2]
    assert named[0]["authorName"] == "Иван Петров"
    other = _json(
        await api.client.get(f"/api/comments?task_id={task.id}&sentiment=positive&postId=8"), 200
    )
    assert other["total"] == 0
    _json(await api.client.get("/api/comments?task_id=999999"), 404)


async def test_stats_routes(api: Api) -> None:
    await _store_groups(api)
    summary = _json(await api.client.get("/api/stats/groups/summary"), 200)["data"]
    assert summary["totalGroups"] == 3
    assert summary["activeGroups"] == 2
    activity = _json(await api.client.get("/api/stats/groups/activity"), 200)["data"]
    assert set(activity["activityScore"]) == {"high", "medium", "low", "none"}
    assert len(activity["recentlyAddedGroups"]) == 3
    upload = _json(
        await api.client.post("/api/groups/upload", files={"file": ("g.txt", b"club1\n")}), 202
    )
    by_task = _json(await api.client.get(f"/api/stats/groups/{upload['data']['taskId']}"), 200)
    assert by_task["data"]["total"] == 0
    _json(await api.client.get("/api/stats/groups/999999"), 404)


async def test_errors_are_text_the_client_can_show(api: Api) -> None:
    body = _json(await api.client.get("/api/groups?limit=10001"), 400)
    # useApiError / stores read data.error || data.message as text
    assert isinstance(body["error"], str)
    assert "limit" in body["error"]
    assert body["code"] == "INVALID_INPUT"
    assert body["details"]["fields"][0]["field"] == "limit"
    assert isinstance(body["executionTime"], int)
    missing = _json(await api.client.get("/api/tasks/424242"), 404)
    assert missing["error"] == "task 424242 not found"
    # GroupsUploadForm.vue and stores/groups.ts show data.message alone
    empty = _json(
        await api.client.post(
            "/api/groups/upload?encoding=utf-8",
            files={"file": ("groups.txt", b"", "text/plain")},
        ),
        400,
    )
    assert empty["message"] == empty["error"] == "the file is empty"
    gone = _json(await api.client.delete("/api/groups/424242"), 404)
    assert gone["message"] == gone["error"]
    assert "424242" in gone["message"]


async def test_cors_lets_the_clients_own_origin_call_the_api(
    start_api: StartApi, settings: Settings
) -> None:
    origin = "http://localhost:5173"
    api_settings = settings.api.model_copy(update={"cors_origins": [origin]})
    api = await start_api(settings.model_copy(update={"api": api_settings}))
    preflight = await api.client.options(
        "/api/groups/batch",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "DELETE",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == origin
    assert "DELETE" in preflight.headers["access-control-allow-methods"]
    answer = await api.client.get("/api/groups?page=1&limit=20", headers={"Origin": origin})
    assert answer.headers["access-control-allow-origin"] == origin
    assert "x-request-id" in answer.headers["access-control-expose-headers"].lower()
    other = await api.client.get("/api/groups", headers={"Origin": "http://evil.example"})
    assert "access-control-allow-origin" not in other.headers


async def test_no_cors_headers_without_configured_origins(api: Api) -> None:
    answer = await api.client.get("/api/groups", headers={"Origin": "http://localhost:5173"})
    assert answer.status_code == 200
    assert "access-control-allow-origin" not in answer.headers
