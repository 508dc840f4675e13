"""Edge cases of classification and retries, against a small in-memory fake of VK.

The fake is an ``httpx.MockTransport``; the rate limiter and the token pool still run
against the suite's real Valkey.
"""

from __future__ import annotations

import io
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import redis.asyncio as aioredis
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vk_collector.errors import ErrorCode, ErrorSeverity, VkApiError
from vk_collector.vk.client import VkClient
from vk_collector.vk.errors import (
    VkObjectError,
    VkQuotaError,
)
from vk_collector.vk.execute import ApiCall

from support.vk import fast_vk_settings

TOKEN = "unit-client-token-a1b2c3d4e5f6"
TOKEN_2 = "unit-client-token-second-99887766"

Handler = Callable[[str, dict[str, str]], Any]


pytestmark = pytest.mark.instant_retries  # backoff waits are zero (tests/conftest.py)


class FakeVk:
    """Records requests; ``handler(method, form)`` returns a JSON-able body, bytes or raises."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[tuple[str, dict[str, str], httpx.Request]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        method = request.url.path.rsplit("/", 1)[-1]
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        self.requests.append((method, form, request))
        body = self.handler(method, form)
        if isinstance(body, httpx.Response):
            return body
        return httpx.Response(200, json=body)

    @property
    def methods(self) -> list[str]:
        return [method for method, _, _ in self.requests]


def ok(value: Any) -> dict[str, Any]:
    return {"response": value}


def err(code: int, msg: str = "failed") -> dict[str, Any]:
    return {"error": {"error_code": code, "error_msg": msg, "request_params": []}}


def sequence(*bodies: Any) -> Handler:
    items = list(bodies)

    def handler(method: str, form: dict[str, str]) -> Any:
        body = items.pop(0) if len(items) > 1 else items[0]
        if isinstance(body, Exception):
            raise body
        return body

    return handler


@pytest.fixture
def vk_prefix() -> str:
    return f"test-vk-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_client(redis_client: aioredis.Redis, vk_prefix: str) -> Callable[..., VkClient]:
    prefix = vk_prefix

    def make(handler: Handler, *, tokens: tuple[str, ...] = (TOKEN,), **overrides: Any) -> VkClient:
        settings = fast_vk_settings("http://vk.test/method/", tokens, **overrides)
        return VkClient(
            settings,
            redis=redis_client,
            transport=httpx.MockTransport(FakeVk(handler)),
            key_prefix=prefix,
        )

    return make


def fake_of(client: VkClient) -> FakeVk:
    transport = client._http._transport  # test-only peek at the injected fake
    assert isinstance(transport, httpx.MockTransport)
    fake = transport.handler
    assert isinstance(fake, FakeVk)
    return fake


@pytest.fixture
async def client(make_client: Callable[..., VkClient]) -> AsyncIterator[VkClient]:
    async with make_client(sequence(ok(1))) as made:
        yield made


async def test_request_is_a_form_post_without_secrets_in_the_url(
    make_client: Callable[..., VkClient],
) -> None:
    async with make_client(sequence(ok({"object_id": 1, "type": "group"}))) as client:
        await client.call("utils.resolveScreenName", {"screen_name": "apiclub", "flags": [1, 2]})
        ((_method, form, request),) = fake_of(client).requests
    assert request.method == "POST"
    assert str(request.url) == "http://vk.test/method/utils.resolveScreenName"
    assert TOKEN not in str(request.url)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert form == {"screen_name": "apiclub", "flags": "1,2", "access_token": TOKEN, "v": "5.199"}


@pytest.mark.parametrize(
    "failure",
    [
        err(1),
        err(6),
        err(10),
        err(36),
        err(43),
        httpx.Response(502, text="bad gateway"),
        httpx.Response(200, text="<html>oops</html>"),
        httpx.Response(200, json={"neither": 1}),
        httpx.ReadTimeout("slow"),
        httpx.ConnectError("refused"),
    ],
    ids=["1", "6", "10", "36", "43", "502", "html", "envelope", "timeout", "connect"],
)
async def test_transient_failures_are_retried(
    make_client: Callable[..., VkClient], failure: Any
) -> None:
    async with make_client(sequence(failure, failure, ok("done"))) as client:
        assert await client.call("users.get") == "done"
        assert len(fake_of(client).requests) == 3


async def test_retries_are_bounded(make_client: Callable[..., VkClient]) -> None:
    async with make_client(sequence(err(10, "Internal server error"))) as client:
        with pytest.raises(VkApiError) as caught:
            await client.call("users.get")
        assert caught.value.severity is ErrorSeverity.TRANSIENT
        assert caught.value.error_code == 10
        assert len(fake_of(client).requests) == 4  # 1 + max_retries


async def test_transport_failure_is_classified(make_client: Callable[..., VkClient]) -> None:
    async with make_client(sequence(httpx.Response(503))) as client:
        with pytest.raises(VkApiError) as caught:
            await client.call("users.get")
    assert caught.value.code is ErrorCode.VK_TRANSPORT_ERROR
    assert caught.value.severity is ErrorSeverity.TRANSIENT
    assert "HTTP 503" in str(caught.value)


@pytest.mark.parametrize("code", [5, 7, 8, 17, 24, 101])
async def test_fatal_errors_are_not_retried(
    make_client: Callable[..., VkClient], code: int
) -> None:
    async with make_client(sequence(err(code))) as client:
        with pytest.raises(VkApiError) as caught:
            await client.call("wall.get")
        assert caught.value.severity is ErrorSeverity.PERMANENT
        assert caught.value.error_code == code
        assert len(fake_of(client).requests) == 1


async def test_object_errors_are_not_retried(make_client: Callable[..., VkClient]) -> None:
    async with make_client(sequence(err(15, "Access denied: wall is disabled"))) as client:
        with pytest.raises(VkObjectError) as caught:
            await client.wall_get(-1)
        assert caught.value.severity is ErrorSeverity.PERMANENT
        assert len(fake_of(client).requests) == 1


async def test_captcha_becomes_permanent_after_a_few_tries(
    make_client: Callable[..., VkClient],
) -> None:
    async with make_client(sequence(err(14, "Captcha needed")), max_retries=10) as client:
        with pytest.raises(VkApiError) as caught:
            await client.call("wall.get")
        assert caught.value.error_code == 14
        assert caught.value.severity is ErrorSeverity.PERMANENT
        assert len(fake_of(client).requests) == 3


async def test_error_6_pauses_the_token_for_every_process(
    make_client: Callable[..., VkClient], redis_client: aioredis.Redis
) -> None:
    """The retry after error 6 goes out no sooner than the pause (1.133 s), and the pause
    lives in the token's limiter key in Redis, where every process reads it."""
    own_token = f"unit-penalty-{uuid.uuid4().hex}"
    sent: list[float] = []

    def handler(method: str, form: dict[str, str]) -> Any:
        sent.append(time.monotonic())
        return err(6, "Too many requests per second") if len(sent) == 1 else ok(1)

    async with make_client(handler, tokens=(own_token,)) as client:
        assert await client.call("users.get") == 1
        token = client.pool.tokens[0]
    assert len(sent) == 2
    assert sent[1] - sent[0] >= 1.1
    keys = await redis_client.keys(f"*{token.key}*")
    assert [k.rsplit(":", 1)[-1] for k in keys if ":rl:" in k] == ["tat"]


async def test_quota_rotates_tokens_then_fails_for_now(
    make_client: Callable[..., VkClient], redis_client: aioredis.Redis, vk_prefix: str
) -> None:
    def handler(method: str, form: dict[str, str]) -> Any:
        if method == "wall.get":
            return err(29, "Rate limit reached")
        return ok([{"id": 1, "name": "A"}])

    async with make_client(handler, tokens=(TOKEN, TOKEN_2)) as client:
        with pytest.raises(VkQuotaError) as caught:
            await client.wall_get(-1)
        used = {form["access_token"] for _, form, _ in fake_of(client).requests}
        assert used == {TOKEN, TOKEN_2}
        assert caught.value.severity is ErrorSeverity.PERMANENT
        assert caught.value.error_code == 29
        assert "every VK token" in str(caught.value)
        assert caught.value.retry_after_s > 3000
        # other methods still go through
        lookup = await client.groups_get_by_id([1])
        assert lookup.found[1].id == 1
        assert len(fake_of(client).requests) == 3
    # the cool-down lives in Redis: another client (another process) skips the tokens too
    async with make_client(handler, tokens=(TOKEN, TOKEN_2)) as other:
        with pytest.raises(VkQuotaError):
            await other.wall_get(-1)
        assert fake_of(other).requests == []
    keys = await redis_client.keys(f"{vk_prefix}:quota:*wall.get")
    assert len(keys) == 2
    assert all(TOKEN not in k and TOKEN_2 not in k for k in keys)


async def test_error_27_moves_to_a_user_token(make_client: Callable[..., VkClient]) -> None:
    def handler(method: str, form: dict[str, str]) -> Any:
        if form["access_token"] == TOKEN:
            return err(27, "Group authorization failed: method is unavailable with group auth.")
        return ok({"count": 0, "items": []})

    async with make_client(handler, tokens=(TOKEN, TOKEN_2)) as client:
        for _ in range(3):
            page = await client.wall_get(-1)
            assert page.count == 0
        kinds = {t.key: t.kind for t in client.pool.tokens}
        assert sorted(kinds.values()) == ["community", "user"]
        # once learned, the community token is not tried first for wall.get again
        assert [f["access_token"] for _, f, _ in fake_of(client).requests].count(TOKEN) == 1


async def test_community_prefix_and_override_token(make_client: Callable[..., VkClient]) -> None:
    async with make_client(sequence(err(27)), tokens=(f"community:{TOKEN}",)) as client:
        assert client.pool.tokens[0].kind == "community"
        with pytest.raises(VkApiError) as caught:
            await client.wall_get(-1)
        assert caught.value.error_code == 27
        assert caught.value.severity is ErrorSeverity.PERMANENT


async def test_per_call_token_override(make_client: Callable[..., VkClient]) -> None:
    job_token = "job-token-from-metadata-5566"
    async with make_client(sequence(ok(1)), tokens=()) as client:
        with pytest.raises(VkApiError) as caught:
            await client.call("users.get")
        assert caught.value.code is ErrorCode.VK_NO_TOKENS
        assert await client.call("users.get", token=job_token) == 1
        assert fake_of(client).requests[-1][1]["access_token"] == job_token


@pytest.fixture
def log_stream(log_capture: Callable[[str], io.StringIO]) -> io.StringIO:
    return log_capture("json")


async def test_token_never_leaks_into_errors_or_logs(
    make_client: Callable[..., VkClient], log_stream: io.StringIO
) -> None:
    body = err(5, f"User authorization failed: invalid access_token {TOKEN}")
    body["error"]["request_params"] = [{"key": "access_token", "value": TOKEN}]
    async with make_client(sequence(err(10, f"boom {TOKEN}"), body)) as client:
        with pytest.raises(VkApiError) as caught:
            await client.call("wall.get", {"owner_id": -1})
    exc = caught.value
    for text in (str(exc), repr(exc), json.dumps(exc.details), json.dumps(exc.to_dict())):
        assert TOKEN not in text
    structlog.get_logger("test").error("vk.failed", error=str(exc), exc_info=exc)
    logging.getLogger("stdlib").error("failed: %s", exc, exc_info=exc)
    output = log_stream.getvalue()
    assert "vk.retry" in output
    assert "vk.failed" in output
    assert TOKEN not in output


async def test_groups_get_by_id_shapes_and_mapping(make_client: Callable[..., VkClient]) -> None:
    groups = [
        {"id": 1, "name": "One", "screen_name": "apiclub", "is_closed": 0, "type": "page"},
        {"id": 2, "name": "Two", "screen_name": "club2", "deactivated": "banned"},
    ]
    for response in (groups, {"groups": groups, "profiles": []}):
        async with make_client(sequence(ok(response))) as client:
            lookup = await client.groups_get_by_id(["ApiClub", 2, "club2", "-2", "ghost", 2])
        assert lookup.found["ApiClub"].id == 1
        assert lookup.found[2].deactivated == "banned"
        assert lookup.found["club2"].id == 2
        assert lookup.found["-2"].id == 2
        assert lookup.missing == ["ghost"]
        assert [g.id for g in lookup.groups] == [1, 2]
        ((_, form, _),) = fake_of(client).requests
        assert form["group_ids"] == "ApiClub,2,club2,2,ghost"
        assert "members_count" in form["fields"]


async def test_groups_get_by_id_batches_of_500_and_asks_a_rejected_batch_one_by_one(
    make_client: Callable[..., VkClient],
) -> None:
    def handler(method: str, form: dict[str, str]) -> Any:
        ids = form["group_ids"].split(",")
        if "999999" in ids:
            return err(100, "One of the parameters specified was missing or invalid")
        return ok({"groups": [{"id": int(i), "name": i} for i in ids], "profiles": []})

    wanted: list[int | str] = [*range(1, 1201), 999999]
    async with make_client(handler) as client:
        lookup = await client.groups_get_by_id(wanted)
        sizes = [len(f["group_ids"].split(",")) for _, f, _ in fake_of(client).requests]
    assert lookup.missing == [999999]
    assert len(lookup.found) == 1200
    # the rejected batch of 201 is asked again one id at a time: one request each,
    # never the halving storm (up to two per id, ~2 million for a million unknown ids)
    assert sizes == [500, 500, 201] + [1] * 201


async def test_execute_retries_transient_inner_failures(
    make_client: Callable[..., VkClient],
) -> None:
    attempts: dict[str, int] = {}

    def handler(method: str, form: dict[str, str]) -> Any:
        assert method == "execute"
        calls = form["code"].count("API.")
        attempts[form["code"]] = attempts.get(form["code"], 0) + 1
        if calls == 3:
            return {
                "response": [1, False, False],
                "execute_errors": [
                    {"method": "users.get", "error_code": 10, "error_msg": "Internal"},
                    {"method": "users.get", "error_code": 18, "error_msg": "deleted"},
                ],
            }
        return ok([2] * calls)

    calls = [ApiCall("users.get", {"user_ids": i}) for i in range(3)]
    async with make_client(handler) as client:
        results = await client.execute(calls)
    assert results[0].value == 1
    assert results[1].value == 2
    assert isinstance(results[2].error, VkObjectError)
    assert len(attempts) == 2  # the whole batch, then the two failed calls


async def test_execute_chunks_of_25(make_client: Callable[..., VkClient]) -> None:
    def handler(method: str, form: dict[str, str]) -> Any:
        return ok(list(range(form["code"].count("API."))))

    async with make_client(handler) as client:
        results = await client.execute([ApiCall("users.get", {"i": i}) for i in range(60)])
        sizes = sorted(f["code"].count("API.") for _, f, _ in fake_of(client).requests)
    assert sizes == [10, 25, 25]
    assert len(results) == 60
    assert all(r.ok for r in results)


async def test_execute_28_is_remembered(make_client: Callable[..., VkClient]) -> None:
    async with make_client(sequence(err(28, "Application authorization failed"))) as client:
        assert client.execute_available()
        with pytest.raises(VkApiError) as caught:
            await client.execute([ApiCall("users.get")])
        assert caught.value.error_code == 28
        assert not client.execute_available()


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(token=st.from_regex(r"vk1\.a\.[A-Za-z0-9_\-]{16,64}", fullmatch=True))
async def test_any_token_stays_out_of_errors(
    make_client: Callable[..., VkClient], token: str
) -> None:
    def handler(method: str, form: dict[str, str]) -> Any:
        echoed = form["access_token"]
        return err(5, f"User authorization failed: {echoed} access_token={echoed}")

    async with make_client(handler, tokens=()) as client:
        with pytest.raises(VkApiError) as caught:
            await client.call("wall.get", {"owner_id": -1}, token=token)
    exc = caught.value
    assert token not in f"{exc} {exc!r} {exc.details} {exc.to_dict()}"


async def test_job_token_cooling_down_is_not_sent_again(
    make_client: Callable[..., VkClient],
) -> None:
    job_token = f"job-token-{uuid.uuid4().hex}"
    async with make_client(sequence(err(29, "Rate limit reached")), tokens=()) as client:
        for _ in range(2):
            with pytest.raises(VkQuotaError) as caught:
                await client.wall_get(-1, token=job_token)
            assert caught.value.severity is ErrorSeverity.PERMANENT
        assert len(fake_of(client).requests) == 1
        assert caught.value.retry_after_s > 3000
