"""Without an API key (loopback), other sites must not change state: only the served
host names are answered, and state changes from another origin are refused."""

from __future__ import annotations

import os
import stat

from conftest import API_KEY, Api, StartApi
from vk_collector.settings import ApiSettings, Settings

PAUSE = "/api/queues/vk-collect/pause"


async def test_only_served_host_names_are_answered(
    api: Api, start_api: StartApi, settings: Settings
) -> None:
    for host in ("evil.example", "evil.example:8000", "127.0.0.1.nip.io"):
        error = await api.error("GET", "/api/tasks", 400, headers={"Host": host})
        assert error["code"] == "INVALID_HOST"
        assert "VKC_API_ALLOWED_HOSTS" in error["message"]
    for host in ("localhost", "LOCALHOST:8000", "[::1]:8000", "127.0.0.1"):
        await api.ok("GET", "/api/tasks", headers={"Host": host})
    custom = settings.model_copy(update={"api": ApiSettings(allowed_hosts=["vkc.internal"])})
    named = await start_api(custom)
    await named.ok("GET", "/api/tasks", headers={"Host": "vkc.internal:8000"})
    await named.error("GET", "/api/tasks", 400, headers={"Host": "evil.example"})


async def test_state_changes_from_another_origin_are_refused(api: Api) -> None:
    origin = api.url  # http://127.0.0.1:<port>, the Host httpx sends
    for headers in (
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # another port is another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ):
        error = await api.error("POST", PAUSE, 403, headers=headers)
        assert error["code"] == "CROSS_ORIGIN", headers
        error = await api.error(
            "POST", "/api/groups/upload", 403, headers=headers, files={"file": ("g", b"club1")}
        )
    assert await api.ok("GET", "/api/queues", headers={"Origin": "http://evil.example"})
    paused = await api.ok("POST", PAUSE, headers={"Origin": origin})
    assert paused["paused"] is True
    await api.ok("POST", PAUSE, headers={"Sec-Fetch-Site": "same-origin"})
    await api.ok("POST", PAUSE)  # curl and scripts send neither header


async def test_trusted_origins_may_change_state(start_api: StartApi, settings: Settings) -> None:
    custom = settings.model_copy(
        update={"api": ApiSettings(trusted_origins=["https://dash.example.org"])}
    )
    api = await start_api(custom, key=None)
    await api.ok("POST", PAUSE, headers={"Origin": "https://dash.example.org"})
    await api.error("POST", PAUSE, 403, headers={"Origin": "https://other.example.org"})


async def test_named_cors_origins_may_change_state_a_wildcard_may_not(
    start_api: StartApi, settings: Settings
) -> None:
    named = settings.model_copy(update={"api": ApiSettings(cors_origins=["http://localhost:5173"])})
    api = await start_api(named, key=None)
    await api.ok("POST", PAUSE, headers={"Origin": "http://localhost:5173"})
    await api.error("POST", PAUSE, 403, headers={"Origin": "http://evil.example"})
    wildcard = settings.model_copy(update={"api": ApiSettings(cors_origins=["*"])})
    api = await start_api(wildcard, key=None)
    await api.ok("GET", "/api/queues", headers={"Origin": "http://evil.example"})
    error = await api.error("POST", PAUSE, 403, headers={"Origin": "http://evil.example"})
    assert error["code"] == "CROSS_ORIGIN"


async def test_with_a_key_the_origin_is_checked_before_the_key(start_api: StartApi) -> None:
    api = await start_api(key=API_KEY)
    error = await api.error(
        "POST", PAUSE, 403, headers={"Origin": "http://evil.example", "X-API-Key": API_KEY}
    )
    assert error["code"] == "CROSS_ORIGIN"
    await api.ok("POST", PAUSE, headers={"X-API-Key": API_KEY})


async def test_the_sqlite_file_is_readable_by_its_owner_only(api: Api, settings: Settings) -> None:
    path = settings.data_dir / "test.db"
    assert path.exists()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
