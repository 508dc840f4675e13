"""Groups endpoints: upload (and its limits), status, listing, deletes, stats."""

from __future__ import annotations

import base64
from typing import Any

from conftest import Api, StartApi
from vk_collector.settings import Settings
from vk_collector.storage import GroupData, GroupStatus

MAX = 10 * 1024 * 1024


async def _store(api: Api, *groups: GroupData) -> list[int]:
    async with api.runtime.db.unit_of_work() as uow:
        await uow.groups.upsert_many(list(groups))
        await uow.commit()
        page = await uow.groups.list(limit=1000)
    return [g.id for g in page.items]


async def upload(
    api: Api, content: bytes, *, name: str = "g.txt", query: str = "", **form: str
) -> Any:
    """The ``data`` of an accepted (202) upload of ``content`` as the file ``name``, with
    ``query`` after the path and ``form`` fields beside the file."""
    files = {"file": (name, content)}
    return await api.ok("POST", f"/api/groups/upload{query}", 202, files=files, data=form or None)


def _groups() -> list[GroupData]:
    return [
        GroupData(vk_id=1, name="Alpha news", screen_name="alpha", members_count=10),
        GroupData(vk_id=2, name="Бета клуб", screen_name="beta", members_count=30),
        GroupData(vk_id=3, name="Gamma", screen_name="gamma_news", members_count=20),
        GroupData(vk_id=4, name="Dead", status=GroupStatus.INVALID, deactivated="deleted"),
    ]


async def test_upload_answers_202_with_the_parse_report_and_queues_a_job(api: Api) -> None:
    content = b"club1\nhttps://vk.com/durov_fans\n-3\nclub1\nnot a group!!\n\n"
    data = await api.ok(
        "POST", "/api/groups/upload", 202, files={"file": ("groups.txt", content, "text/plain")}
    )
    assert data["status"] == "pending"
    assert data["identifiers"] == 3
    assert data["duplicateLines"] == 1
    assert data["invalidLines"] == 1
    assert data["totalLines"] >= 5
    assert data["fileName"] == "groups.txt"
    assert len(data["errors"]) == 1
    assert "5" in data["errors"][0]
    job = await api.runtime.queue.get_job(f"process-groups-{data['taskId']}")
    assert job is not None
    status = await api.ok("GET", f"/api/groups/upload/{data['taskId']}/status")
    assert status["status"] == "pending"
    assert status["progress"] == {"processed": 0, "total": 3, "percentage": 0}
    assert status["errorDetails"][0]["identifier"] == "line 5"
    assert status["errors"][0].startswith("line 5: ")  # text, as the original sent
    assert status["errorDetails"][0]["error"] in status["errors"][0]


async def test_upload_takes_the_encoding_from_the_form_or_the_query(api: Api) -> None:
    content = "клуб\nclub7\n".encode("windows-1251")
    by_form = await upload(api, content, encoding="cp1251")
    assert by_form["encoding"] == "windows-1251"
    by_query = await upload(api, content, query="?encoding=windows-1251")
    assert by_query["encoding"] == "windows-1251"
    error = await api.error(
        "POST", "/api/groups/upload?encoding=ebcdic", 400, files={"file": ("g.txt", content)}
    )
    assert "ebcdic" in error["message"]


async def test_upload_takes_base64_and_hex_like_the_original_route(api: Api) -> None:
    listed = "club1\napiclub # Новости\n".encode("cp1251")
    by_query = await upload(api, base64.encodebytes(listed), name="g.b64", query="?encoding=base64")
    assert (by_query["identifiers"], by_query["encoding"]) == (2, "windows-1251")
    by_form = await upload(api, listed.hex().encode(), name="g.hex", encoding="hex")
    assert by_form["identifiers"] == 2
    job = await api.runtime.queue.get_job(f"process-groups-{by_form['taskId']}")
    assert job is not None
    assert job.data["metadata"]["groupIdentifiers"] == ["1", "apiclub"]
    error = await api.error(
        "POST", "/api/groups/upload?encoding=base64", 415, files={"file": ("g.txt", b"club1!")}
    )
    assert "not valid base64 text" in error["message"]


async def test_a_large_upload_is_parsed_from_its_spooled_file(api: Api) -> None:
    """Past 1 MiB the multipart part is spooled to disk; it is parsed from there."""
    content = b"".join(f"club{n % 50_000 + 1}\n".encode() for n in range(150_000))
    assert len(content) > 1024 * 1024
    data = await api.ok("POST", "/api/groups/upload", 202, files={"file": ("g.txt", content)})
    assert (data["identifiers"], data["duplicateLines"]) == (50_000, 100_000)
    job = await api.runtime.queue.get_job(f"process-groups-{data['taskId']}")
    assert job is not None
    assert job.data["metadata"]["groupIdentifiers"][:2] == ["1", "2"]
    assert len(job.data["metadata"]["groupIdentifiers"]) == 50_000


async def test_upload_refuses_oversized_files_with_413(api: Api) -> None:
    too_big = b"club1\n" + b"x" * (MAX + 1 - 6)
    assert len(too_big) == MAX + 1
    error = await api.error("POST", "/api/groups/upload", 413, files={"file": ("g.txt", too_big)})
    assert error["code"] == "FILE_TOO_LARGE"
    assert str(MAX) in error["message"]
    # far too big: refused from Content-Length, before reading
    huge = b"1\n" * (MAX // 2 + 100_000)
    error = await api.error("POST", "/api/groups/upload", 413, files={"file": ("g.txt", huge)})
    assert error["code"] == "FILE_TOO_LARGE"


async def test_upload_accepts_a_file_of_exactly_the_limit(
    start_api: StartApi, settings: Settings
) -> None:
    api = await start_api(settings.model_copy(update={"max_upload_bytes": 1000}))
    exact = (b"club1\n" * 200)[:1000]
    await api.ok("POST", "/api/groups/upload", 202, files={"file": ("g.txt", exact)})
    error = await api.error(
        "POST", "/api/groups/upload", 413, files={"file": ("g.txt", exact + b"1")}
    )
    assert "1000" in error["message"]


async def test_upload_bad_requests(api: Api) -> None:
    error = await api.error("POST", "/api/groups/upload", 415, json={"file": "club1"})
    assert "multipart/form-data" in error["message"]
    error = await api.error(
        "POST", "/api/groups/upload", 400, data={"other": "x"}, files={"x": ("a", b"1")}
    )
    assert "file" in error["message"]
    error = await api.error("POST", "/api/groups/upload", 400, files={"file": ("g.txt", b"")})
    assert "empty" in error["message"]
    error = await api.error(
        "POST", "/api/groups/upload", 400, files={"file": ("g.txt", b"!!!\n???\n")}
    )
    assert "no valid community identifier" in error["message"]
    binary = bytes(range(256)) * 10
    error = await api.error("POST", "/api/groups/upload", 415, files={"file": ("g.bin", binary)})
    assert error["code"] == "UNSUPPORTED_FILE"
    error = await api.error(
        "POST",
        "/api/groups/upload",
        400,
        content=b"garbage",
        headers={"content-type": "multipart/form-data"},
    )


async def test_upload_status_of_unknown_or_non_upload_tasks_is_404(api: Api) -> None:
    error = await api.error("GET", "/api/groups/upload/999/status", 404)
    assert "999" in error["message"]
    task = await api.runtime.tasks.create("fetch_comments", {})
    error = await api.error("GET", f"/api/groups/upload/{task.id}/status", 404)
    assert "not an upload" in error["message"]
    error = await api.error("GET", "/api/groups/upload/abc/status", 400)
    assert "task_id" in error["message"]


async def test_list_search_filter_sort_and_paginate(api: Api) -> None:
    await _store(api, *_groups())
    first = await api.client.get("/api/groups", params={"limit": 2})
    body = first.json()
    assert [g["vkId"] for g in body["data"]] == [1, 2]
    assert body["pagination"] == {
        "page": 1,
        "limit": 2,
        "total": 4,
        "totalPages": 2,
        "hasNext": True,
        "hasPrev": False,
    }
    assert set(body["data"][0]) >= {"id", "vkId", "name", "screenName", "photo50", "membersCount"}
    second = (await api.client.get("/api/groups", params={"limit": 2, "page": 2})).json()
    assert second["pagination"]["hasPrev"] is True
    assert second["pagination"]["hasNext"] is False
    found = await api.ok("GET", "/api/groups", params={"search": "NEWS"})
    assert {g["vkId"] for g in found} == {1, 3}
    found = await api.ok("GET", "/api/groups", params={"search": "бета"})
    assert [g["vkId"] for g in found] == [2]
    invalid = await api.ok("GET", "/api/groups", params={"status": "invalid"})
    assert [g["vkId"] for g in invalid] == [4]
    ordered = await api.ok(
        "GET", "/api/groups", params={"sortBy": "membersCount", "sortOrder": "desc"}
    )
    assert [g["vkId"] for g in ordered] == [2, 3, 1, 4]


async def test_list_rejects_bad_parameters_naming_them(api: Api) -> None:
    for params, field in (
        ({"limit": 10001}, "limit"),
        ({"limit": 0}, "limit"),
        ({"page": 0}, "page"),
        ({"sortBy": "password"}, "sortBy"),
        ({"sortOrder": "sideways"}, "sortOrder"),
        ({"status": "pending-ish"}, "status"),
    ):
        error = await api.error("GET", "/api/groups", 400, params=params)
        assert error["code"] == "INVALID_INPUT"
        assert error["message"].startswith(f"invalid request: {field}"), error


async def test_delete_one_and_many(api: Api) -> None:
    ids = await _store(api, *_groups())
    deleted = await api.ok("DELETE", f"/api/groups/{ids[0]}")
    assert deleted == {"deleted": 1, "requested": 1}
    await api.error("DELETE", f"/api/groups/{ids[0]}", 404)
    many = await api.ok("DELETE", "/api/groups", json={"groupIds": [ids[1], ids[2], 9999]})
    assert many == {"deleted": 2, "requested": 3}
    stats = await api.ok("GET", "/api/stats/groups")
    assert stats == {"total": 1, "valid": 0, "invalid": 1, "duplicate": 0, "closed": 0}


async def test_batch_delete_validates_its_body(api: Api) -> None:
    error = await api.error("DELETE", "/api/groups", 400, json={"groupIds": []})
    assert "groupIds" in error["message"]
    error = await api.error("DELETE", "/api/groups", 400, json={"groupIds": list(range(1, 1002))})
    assert "groupIds" in error["message"]
    error = await api.error("DELETE", "/api/groups", 400, json={"groupIds": ["x"]})
    assert "groupIds.0" in error["message"]
    error = await api.error("DELETE", "/api/groups", 400, json={})
    assert "groupIds" in error["message"]
    error = await api.error("DELETE", "/api/groups", 415, content=b"groupIds=1")
    assert "application/json" in error["message"]
    error = await api.error(
        "DELETE", "/api/groups", 400, content=b"{bad", headers={"content-type": "application/json"}
    )
    await api.error("DELETE", "/api/groups/0", 400)
    await api.error("DELETE", f"/api/groups/{2**40}", 400)
