"""API fixtures: the real app served by a real uvicorn on a free loopback port.

``start_api(settings=None, *, workers=False, key=None)`` starts ``create_app`` (its
lifespan builds and starts the Runtime: real Valkey, SQLite in tmp_path) and returns
an :class:`Api` with an ``httpx.AsyncClient`` pointed at it; everything stops at
teardown.  ``with_key(settings, key)`` returns settings that require an API key.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr

from vk_collector.api import create_app
from vk_collector.bootstrap import Runtime
from vk_collector.settings import ApiSettings, Settings

from support.polling import eventually

API_KEY = "test-api-key-0123456789"


def with_key(settings: Settings, key: str = API_KEY) -> Settings:
    return settings.model_copy(update={"api": ApiSettings(key=SecretStr(key))})


@dataclass
class Api:
    app: FastAPI
    client: httpx.AsyncClient
    url: str

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime

    async def ok(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        """The ``data`` of a successful enveloped answer (asserts the envelope)."""
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        body = response.json()
        assert body["success"] is True
        assert body["requestId"] == response.headers["x-request-id"]
        return body["data"]

    async def error(self, method: str, path: str, status: int, **kwargs: Any) -> dict[str, Any]:
        """``{code, message, details?}`` of a failed enveloped answer (asserts the
        envelope: ``error`` is the message text, repeated as ``message``, ``code`` and
        ``details`` beside it)."""
        response = await self.client.request(method, path, **kwargs)
        assert response.status_code == status, response.text
        body = response.json()
        assert body["success"] is False, body
        assert set(body) - {"details"} == {
            "success",
            "error",
            "message",
            "code",
            "timestamp",
            "requestId",
            "executionTime",
        }, body
        assert body["requestId"] == response.headers["x-request-id"]
        assert isinstance(body["error"], str), body
        assert body["error"], body
        assert body["message"] == body["error"], body  # the original client reads either
        assert isinstance(body["code"], str), body
        assert body["code"], body
        assert isinstance(body["executionTime"], int), body
        assert body["executionTime"] >= 0
        error = {"code": body["code"], "message": body["error"]}
        if "details" in body:
            error["details"] = body["details"]
        return error


StartApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def start_api(settings: Settings) -> AsyncIterator[StartApi]:
    stack = contextlib.AsyncExitStack()

    async def start(
        custom: Settings | None = None,
        *,
        workers: bool = False,
        key: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Api:
        chosen = custom or settings
        if key is not None:
            chosen = with_key(chosen, key)
        app = create_app(chosen, chosen.redis.url or "", workers=workers, sse_ping_s=0.5)
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=0,
            log_config=None,
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())

        async def stop() -> None:
            server.should_exit = True
            await asyncio.wait_for(task, 15)

        stack.push_async_callback(stop)
        await eventually(lambda: server.started or task.done(), within=15, every=0.01)
        if task.done():
            task.result()
            raise AssertionError("uvicorn stopped during start-up")
        port = server.servers[0].sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        client = httpx.AsyncClient(base_url=url, timeout=30, headers=headers)
        stack.push_async_callback(client.aclose)
        return Api(app=app, client=client, url=url)

    yield start
    await stack.aclose()


@pytest.fixture
async def api(start_api: StartApi) -> Api:
    return await start_api()
