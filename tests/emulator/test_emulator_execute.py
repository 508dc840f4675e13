"""execute over HTTP: code forms, partial failures, limits and token kinds."""

from __future__ import annotations

from typing import Any

import pytest

from vk_emulator import EmulatorServer, VkQuirks, mask_token

from support.emulator import COMMUNITY_TOKEN, SERVICE_TOKEN, USER_TOKEN, EmulatorFactory, vk_call


def execute(server: EmulatorServer, code: str, token: str = USER_TOKEN, **params: Any) -> Any:
    return vk_call(server, "execute", token, verb="POST", code=code, **params)


def test_array_of_calls_equals_the_single_calls(emulator: EmulatorServer) -> None:
    envelope = execute(
        emulator,
        'return [API.groups.getById({"group_ids": "1,2", fields: "members_count"}),'
        " API.wall.get({owner_id: -1, count: 5, offset: 3}),"
        " API.utils.resolveScreenName({screen_name: 'vkc_group_3'})];",
    )
    assert "execute_errors" not in envelope
    assert envelope["response"] == [
        vk_call(emulator, "groups.getById", group_ids="1,2", fields="members_count")["response"],
        vk_call(emulator, "wall.get", owner_id=-1, count=5, offset=3)["response"],
        vk_call(emulator, "utils.resolveScreenName", screen_name="vkc_group_3")["response"],
    ]


def test_single_call_form(emulator: EmulatorServer) -> None:
    post = emulator.dataset.posts(1)[2]
    code = (
        f"return API.wall.getComments({{owner_id: -1, post_id: {post.id}, count: 100,"
        " preview_length: 0, need_likes: 1, thread_items_count: 10});"
    )
    direct = vk_call(
        emulator,
        "wall.getComments",
        owner_id=-1,
        post_id=post.id,
        count=100,
        preview_length=0,
        need_likes=1,
        thread_items_count=10,
    )
    assert execute(emulator, code)["response"] == direct["response"]


def test_inner_calls_use_the_outer_version(emulator: EmulatorServer) -> None:
    code = "return API.groups.getById({group_id: 1});"
    assert isinstance(execute(emulator, code, v="5.131")["response"], list)
    assert isinstance(execute(emulator, code, v="5.199")["response"], dict)


def test_partial_failures(emulator: EmulatorServer) -> None:
    disabled = next(post for post in emulator.dataset.posts(1) if post.comments_disabled)
    envelope = execute(
        emulator,
        "return [API.wall.get({owner_id: -1, count: 1}), API.wall.get({owner_id: -6}),"
        f" API.wall.getComments({{owner_id: -1, post_id: {disabled.id}}}),"
        " API.utils.resolveScreenName({screen_name: 'club1'}), API.wall.nope({})];",
    )
    first, closed, no_comments, resolved, unknown = envelope["response"]
    assert first["count"] > 0
    assert closed is False
    assert no_comments is False
    assert resolved == {"object_id": 1, "type": emulator.dataset.group(1).type}
    assert unknown is False
    assert envelope["execute_errors"] == [
        {
            "method": "wall.get",
            "error_code": 15,
            "error_msg": "Access denied: this wall available only for community members",
        },
        {
            "method": "wall.getComments",
            "error_code": 212,
            "error_msg": "Access to post comments denied",
        },
        {"method": "wall.nope", "error_code": 3, "error_msg": "Unknown method passed"},
    ]
    stats = emulator.stats()
    assert stats["execute_errors"] == {"3": 1, "15": 1, "212": 1}
    assert stats["inner_calls"]["wall.get"] == 2
    assert stats["methods"] == {"execute": 1}


def test_args_and_loops(emulator: EmulatorServer) -> None:
    code = """
        var offset = parseInt(Args.offset), ids = [], i = 0;
        while (i < parseInt(Args.pages)) {
            var page = API.wall.get({owner_id: Args.owner, offset: offset, count: 2});
            ids = ids.concat(page.items@.id);
            offset = offset + 2;
            i = i + 1;
        }
        return {ids: ids, offset: offset};
    """
    result = execute(emulator, code, offset=1, pages=3, owner=-2)["response"]
    expected = [post.id for post in emulator.dataset.posts(2)[1:7]]
    assert result == {"ids": expected, "offset": 7}


def test_call_limit(emulator: EmulatorServer, emulator_factory: EmulatorFactory) -> None:
    def calls(n: int) -> str:
        return (
            "return [" + ",".join(["API.utils.resolveScreenName({screen_name: 'id1'})"] * n) + "];"
        )

    assert len(execute(emulator, calls(25))["response"]) == 25
    refused = execute(emulator, calls(26))
    assert refused["error"]["error_code"] == 13
    assert refused["error"]["error_msg"].startswith("Runtime error occurred during code invocation")
    small = emulator_factory(quirks=VkQuirks(execute_max_calls=3, execute_too_many_calls_error=12))
    assert len(execute(small, calls(3))["response"]) == 3
    assert execute(small, calls(4))["error"]["error_code"] == 12


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("return [API.wall.get({owner_id: -1})", 12),
        ("API.wall.get({owner_id: -1});", 12),
        ("return API.wall.get({owner_id: -1}", 12),
        ("return undefinedName;", 13),
        ("var x = 1; return x.slice(0);", 13),
    ],
)
def test_compile_and_runtime_errors(emulator: EmulatorServer, code: str, expected: int) -> None:
    envelope = execute(emulator, code)
    assert envelope["error"]["error_code"] == expected
    assert {"key": "code", "value": code} in envelope["error"]["request_params"]
    assert all(item["key"] != "access_token" for item in envelope["error"]["request_params"])


def test_missing_code(emulator: EmulatorServer) -> None:
    assert vk_call(emulator, "execute")["error"]["error_code"] == 100


def test_token_kinds(emulator: EmulatorServer, emulator_factory: EmulatorFactory) -> None:
    code = "return [API.groups.getById({group_id: 1}), API.wall.get({owner_id: -1, count: 1})];"
    by_community = execute(emulator, code, COMMUNITY_TOKEN)
    assert by_community["response"][0]["groups"][0]["id"] == 1
    assert by_community["response"][1] is False
    assert by_community["execute_errors"][0]["error_code"] == 27
    by_service = execute(emulator, code, SERVICE_TOKEN)
    assert "execute_errors" not in by_service
    strict = emulator_factory(quirks=VkQuirks(execute_service_token_error=True))
    refused = execute(strict, code, SERVICE_TOKEN)
    assert refused["error"]["error_code"] == 28
    assert refused["error"]["error_msg"].startswith("Application authorization failed")


def test_one_execute_takes_one_rate_slot(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(rps=3)
    code = "return [" + ",".join(["API.wall.get({owner_id: -1, count: 1})"] * 25) + "];"
    answers = [execute(server, code) for _ in range(4)]
    # four requests inside one second: three pass with 25 calls each, the fourth is refused
    assert [len(answer.get("response", [])) for answer in answers[:3]] == [25, 25, 25]
    assert answers[3]["error"]["error_code"] == 6
    stats = server.stats()
    assert stats["inner_calls"] == {"wall.get": 75}
    assert stats["tokens"] == {mask_token(USER_TOKEN): 4}


def test_inner_calls_count_toward_daily_quotas(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(method_quotas={"wall.get": 3})
    code = "return [" + ",".join(["API.wall.get({owner_id: -1, count: 1})"] * 5) + "];"
    envelope = execute(server, code)
    assert [item is False for item in envelope["response"]] == [False, False, False, True, True]
    assert [error["error_code"] for error in envelope["execute_errors"]] == [29, 29]
    assert envelope["execute_errors"][0]["error_msg"] == "Rate limit reached"
    assert vk_call(server, "wall.get", owner_id=-1)["error"]["error_code"] == 29
    assert "response" in vk_call(server, "wall.get", SERVICE_TOKEN, owner_id=-1)
