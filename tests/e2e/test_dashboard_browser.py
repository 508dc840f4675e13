"""The dashboard in real headless Chromium against the whole stack.

Valkey, SQLite, the VK emulator and the API with its in-process workers all run for
real; Playwright drives Debian's Chromium through the page as a person would: drop a
groups file on the upload form, start a collection, watch the progress bar reach
100 %, page through the results and download the CSV export.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from vk_collector.export import EXPORT_COLUMNS
from vk_collector.settings import Settings, VkSettings
from vk_collector.storage import Database, TaskType
from vk_collector.tasks import TaskService
from vk_emulator import EmulatorServer

from support.browser import CHROMIUM_ARGS, ApiServer, ensure_chromium, ensure_playwright
from support.emulator import USER_TOKEN

# Communities 1-5 of the emulator are open and have posts with comments; the file names
# them in every way a person writes them, plus one line that is not a community.
GROUPS_FILE = (
    "1\n"
    "https://vk.com/club2\n"
    "vkc_group_3\n"
    "public4\n"
    "vk.com/vkc_group_5\n"
    "not a community at all!\n"
    "1\n"
)
EXPECTED_VK_IDS = {1, 2, 3, 4, 5}
POSTS_PER_COMMUNITY = 3
WAIT_MS = 30_000


@pytest.fixture(scope="session")
def chromium() -> Path:
    try:
        ensure_playwright()
        return ensure_chromium()
    except (RuntimeError, OSError) as exc:
        pytest.fail(f"the dashboard test needs Chromium and Playwright: {exc}", pytrace=False)


@pytest.fixture
def api_server(settings: Settings, emulator: EmulatorServer) -> Iterator[ApiServer]:
    queues = settings.queues.model_copy(
        update={"vk_collect": settings.queues.vk_collect.model_copy(update={"delay_ms": 0})}
    )
    stack = settings.model_copy(
        update={
            "vk": VkSettings(api_url=emulator.url, tokens=[USER_TOKEN], rps_user=50),
            "queues": queues,
        }
    )
    with ApiServer(stack, stack.redis.url or "") as server:
        yield server


@pytest.fixture
def page(chromium: Path, tmp_path: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS, headless=True
        )
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, accept_downloads=True
        )
        context.set_default_timeout(WAIT_MS)
        try:
            yield context.new_page()
        finally:
            context.close()
            browser.close()


def test_upload_collect_watch_and_export(api_server: ApiServer, page: Any, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    # A failed request logs "Failed to load resource"; the page shows those itself.
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console: {msg.text}")
            if msg.type == "error" and "Failed to load resource" not in msg.text
            else None
        ),
    )
    base = api_server.url

    # The header's health badge turns green once the workers' heartbeats are in.
    page.goto(f"{base}/#/upload")
    expect(page.locator("#health-badge")).to_have_text("Healthy")

    # Drop the file on the drop zone, as a person drags it from their file manager.
    transfer = page.evaluate_handle(
        """(text) => {
            const data = new DataTransfer();
            data.items.add(new File([text], "groups.txt", { type: "text/plain" }));
            return data;
        }""",
        GROUPS_FILE,
    )
    page.dispatch_event("#upload-dropzone", "drop", {"dataTransfer": transfer})
    expect(page.locator("#upload-file-name")).to_contain_text("groups.txt")
    page.select_option("#upload-encoding", "utf-8")
    page.click("#upload-submit")

    expect(page.locator("#upload-send-progress [role=progressbar]")).to_have_attribute(
        "aria-valuenow", "100"
    )
    expect(page.locator("#upload-identifiers")).to_have_text("5")
    expect(page.locator("#upload-invalid-count")).to_have_text("1")
    expect(page.locator("#upload-duplicate-count")).to_have_text("1")
    expect(page.locator("#upload-invalid tbody tr")).to_have_count(1)
    expect(page.locator("#upload-invalid tbody td").first).to_have_text("6")
    expect(page.locator("#upload-done")).to_be_visible()
    expect(page.locator("#upload-task-progress [role=progressbar]")).to_have_attribute(
        "aria-valuenow", "100"
    )

    # The communities page lists what the upload resolved.
    page.click("#upload-done a[href='#/groups']")
    expect(page.locator("#groups-table tbody tr")).to_have_count(len(EXPECTED_VK_IDS))
    page.fill("#groups-search", "nothing-is-called-this")
    expect(page.locator("#groups-table tbody")).to_contain_text("No communities")
    page.fill("#groups-search", "")
    expect(page.locator("#groups-table tbody tr")).to_have_count(len(EXPECTED_VK_IDS))

    # Start a collection of every stored community.
    page.click("a[href='#/tasks']")
    page.click("text=New collection")
    page.check("#scope-all")
    page.fill("#collect-limit", str(POSTS_PER_COMMUNITY))
    expect(page.locator("#collect-replies")).to_be_checked()
    page.click("#collect-submit")
    expect(page).to_have_url(re.compile(r"#/tasks/\d+$"))
    task_id = int(page.url.rsplit("/", 1)[1])

    # Watch it: the live bar reaches 100 % and the task reads completed.
    bar = page.locator("#task-progress [role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(page.locator("#task-status")).to_have_text("completed")
    expect(page.locator("[data-stat=groupsCompleted]")).to_have_text(str(len(EXPECTED_VK_IDS)))

    # The results: the table pages through the collected posts.
    summary = httpx.get(f"{base}/api/results/{task_id}/summary", timeout=10).json()["data"]
    assert summary["totalPosts"] == POSTS_PER_COMMUNITY * len(EXPECTED_VK_IDS)
    assert summary["totalComments"] > 0
    rows = page.locator("#results-table tbody tr:not(.detail-row)")
    expect(rows).to_have_count(10)
    expect(page.locator(".pager-info").last).to_have_text(f"1\u201310 of {summary['totalPosts']}")
    commented = rows.filter(has=page.get_by_role("button", name=re.compile(r"^Show [1-9]"))).first
    commented.get_by_role("button", name=re.compile(r"^Show")).click()
    expect(page.locator("#results-table .detail-row:not([hidden]) .comment").first).to_be_visible()
    # authors by name ("First Last" or the community's), not as bare ids
    author = page.locator("#results-table .detail-row:not([hidden]) .comment-author").first
    expect(author).not_to_have_text(re.compile(r"^id-?\d+$"))
    expect(author).to_have_attribute("title", re.compile(r"^id-?\d+$"))
    page.get_by_role("button", name="Next page").last.click()
    expect(page.locator(".pager-info").last).to_have_text(
        f"11\u2013{summary['totalPosts']} of {summary['totalPosts']}"
    )
    page.fill("#results-search", "no post says this 0xdeadbeef")
    expect(page.locator("#results-table tbody")).to_contain_text("No posts match.")
    page.fill("#results-search", "")
    expect(rows).to_have_count(10)

    # Download the CSV export through its button and read it back.
    with page.expect_download() as download_info:
        page.click(".exports a[data-format=csv]")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    text = saved.read_bytes().decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text, newline="")))
    assert tuple(table[0]) == EXPORT_COLUMNS
    body = table[1:]
    assert len(body) == summary["totalComments"]
    owner_ids = {int(row[0]) for row in body}
    assert owner_ids <= {-vk_id for vk_id in EXPECTED_VK_IDS}
    assert owner_ids

    assert not problems, problems


def test_the_health_badge_shows_degraded_and_its_reasons(settings: Settings, page: Any) -> None:
    from playwright.sync_api import expect

    with ApiServer(settings, settings.redis.url or "", workers=False) as server:
        page.goto(f"{server.url}/#/upload")
        badge = page.locator("#health-badge")
        expect(badge).to_have_text("Degraded")
        expect(badge).to_have_class(re.compile(r"\bbadge-warn\b"))
        expect(page.locator("#health-panel")).to_contain_text(
            "vk-collect: no live worker (workers)"
        )


def test_a_task_is_cancelled_from_its_page(
    api_server: ApiServer, page: Any, settings: Settings
) -> None:
    from playwright.sync_api import expect

    async def pending_task() -> int:
        async with Database.from_settings(settings) as db:
            task = await TaskService(db).create(TaskType.FETCH_COMMENTS, {"groups": []})
        return task.id

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # Playwright owns this loop
        task_id = pool.submit(asyncio.run, pending_task()).result()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    page.goto(f"{api_server.url}/#/tasks/{task_id}")
    expect(page.locator("#task-status")).to_have_text("pending")
    page.click("#task-cancel")
    page.click("#confirm-ok")
    expect(page.locator("#task-status")).to_have_text("cancelled")
    expect(page.locator("#task-cancel")).to_be_hidden()
    task = httpx.get(f"{api_server.url}/api/tasks/{task_id}", timeout=10).json()["data"]
    assert task["status"] == "cancelled"
    assert problems == []
