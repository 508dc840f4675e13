"""groups.getById, utils.resolveScreenName and wall.get over HTTP, against the dataset."""

from __future__ import annotations

from typing import Any

import pytest

from vk_emulator import EmulatorServer, VkQuirks

from support.emulator import COMMUNITY_TOKEN, SERVICE_TOKEN, EmulatorFactory, vk_call


def response(envelope: dict[str, Any]) -> Any:
    assert "response" in envelope, envelope
    return envelope["response"]


def error(envelope: dict[str, Any]) -> tuple[int, str]:
    assert "error" in envelope, envelope
    return envelope["error"]["error_code"], envelope["error"]["error_msg"]


# groups.getById


def test_get_by_id_with_ids_and_screen_names(emulator: EmulatorServer) -> None:
    answer = response(
        vk_call(
            emulator,
            "groups.getById",
            group_ids="1,vkc_group_2,club3,public4,event5,1,9999,nobody",
            fields="members_count,description,fixed_post",
        )
    )
    assert answer["profiles"] == []
    groups = answer["groups"]
    assert [group["id"] for group in groups] == [1, 2, 3, 4, 5]
    first = groups[0]
    expected = emulator.dataset.group(1)
    pinned = emulator.dataset.pinned_post(1)
    assert pinned is not None
    assert first["name"] == expected.name
    assert first["screen_name"] == "vkc_group_1"
    assert first["members_count"] == expected.members_count
    assert first["description"] == expected.description
    assert first["fixed_post"] == pinned.id
    assert first["is_closed"] == 0
    assert first["type"] in ("group", "page", "event")
    assert {"photo_50", "photo_100", "photo_200"} <= set(first)
    assert "deactivated" not in first


def test_get_by_id_fields_only_when_asked(emulator: EmulatorServer) -> None:
    (group,) = response(vk_call(emulator, "groups.getById", group_id=2))["groups"]
    assert "members_count" not in group
    assert "description" not in group


@pytest.mark.parametrize(
    ("version", "is_object"),
    [("5.131", False), ("5.193", False), ("5.194", True), ("5.199", True), ("5.207", True)],
)
def test_get_by_id_shape_depends_on_version(
    emulator: EmulatorServer, version: str, is_object: bool
) -> None:
    answer = response(vk_call(emulator, "groups.getById", v=version, group_ids="1,2"))
    assert isinstance(answer, dict) == is_object
    groups = answer["groups"] if is_object else answer
    assert [group["id"] for group in groups] == [1, 2]


def test_get_by_id_cut_over_is_configurable(emulator_factory: EmulatorFactory) -> None:
    server = emulator_factory(groups_getbyid_object_from_version="5.199")
    assert isinstance(response(vk_call(server, "groups.getById", v="5.198", group_id=1)), list)
    assert isinstance(response(vk_call(server, "groups.getById", v="5.199", group_id=1)), dict)


def test_get_by_id_reports_closed_and_deactivated(emulator: EmulatorServer) -> None:
    groups = response(
        vk_call(emulator, "groups.getById", group_ids="6,7,8,9", fields="members_count")
    )["groups"]
    assert [group["is_closed"] for group in groups] == [1, 2, 0, 0]
    assert [group.get("deactivated") for group in groups] == [None, None, "deleted", "banned"]
    assert "members_count" in groups[0]
    assert "members_count" not in groups[2]


def test_get_by_id_all_unknown(emulator: EmulatorServer, emulator_factory: EmulatorFactory) -> None:
    code, message = error(vk_call(emulator, "groups.getById", group_ids="9999,nobody"))
    assert code == 100
    assert message.endswith("group_ids is undefined")
    lenient = emulator_factory(quirks=VkQuirks(getbyid_all_unknown_error=False))
    assert response(vk_call(lenient, "groups.getById", group_ids="9999"))["groups"] == []


def test_get_by_id_limits_and_token_kinds(emulator: EmulatorServer) -> None:
    too_many = ",".join(str(i) for i in range(1, 502))
    assert error(vk_call(emulator, "groups.getById", verb="POST", group_ids=too_many))[0] == 100
    five_hundred = ",".join(str(i) for i in range(1, 501))
    assert (
        len(
            response(vk_call(emulator, "groups.getById", verb="POST", group_ids=five_hundred))[
                "groups"
            ]
        )
        == 30
    )
    assert error(vk_call(emulator, "groups.getById"))[0] == 100
    for token in (COMMUNITY_TOKEN, SERVICE_TOKEN):
        (group,) = response(vk_call(emulator, "groups.getById", token, group_id=3))["groups"]
        assert group["id"] == 3
        assert "is_member" not in group


# utils.resolveScreenName


def test_resolve_screen_name(emulator: EmulatorServer) -> None:
    for name in ("vkc_group_7", "club7", "VKC_GROUP_7"):
        answer = response(vk_call(emulator, "utils.resolveScreenName", screen_name=name))
        assert answer == {"object_id": 7, "type": emulator.dataset.group(7).type}
    assert response(vk_call(emulator, "utils.resolveScreenName", screen_name="id15")) == {
        "object_id": 15,
        "type": "user",
    }
    for name in ("nobody", "vkc_group_31", "club0"):
        assert response(vk_call(emulator, "utils.resolveScreenName", screen_name=name)) == []
    assert error(vk_call(emulator, "utils.resolveScreenName"))[0] == 100


# wall.get


def test_wall_get_pages_through_the_whole_wall(emulator: EmulatorServer) -> None:
    expected = emulator.dataset.posts(2)
    seen: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = response(vk_call(emulator, "wall.get", owner_id=-2, offset=offset, count=7))
        assert page["count"] == len(expected)
        if not page["items"]:
            break
        seen.extend(page["items"])
        offset += 7
    assert [post["id"] for post in seen] == [post.id for post in expected]
    assert seen[0]["is_pinned"] == 1
    assert all("is_pinned" not in post for post in seen[1:])
    dates = [post["date"] for post in seen[1:]]
    assert dates == sorted(dates, reverse=True)
    assert seen[0]["date"] < dates[4]  # the pinned post is older than recent posts
    by_id = {post.id: post for post in expected}
    for item in seen:
        post = by_id[item["id"]]
        assert item["owner_id"] == -2
        assert item["text"] == post.text
        assert item["comments"]["count"] == post.comments_count
        assert item["comments"]["can_post"] == (0 if post.comments_disabled else 1)
        assert {"likes", "reposts", "views", "attachments", "from_id", "date"} <= set(item)


def test_wall_get_by_domain_and_count_cap(emulator: EmulatorServer) -> None:
    by_domain = response(vk_call(emulator, "wall.get", domain="vkc_group_3", count=500))
    by_owner = response(vk_call(emulator, "wall.get", owner_id=-3, count=100))
    assert by_domain == by_owner
    assert len(by_owner["items"]) == min(100, by_owner["count"])
    default = response(vk_call(emulator, "wall.get", owner_id=-3))
    assert len(default["items"]) == 20
    assert error(vk_call(emulator, "wall.get", domain="nobody"))[0] == 100
    assert error(vk_call(emulator, "wall.get"))[0] == 100
    code, message = error(vk_call(emulator, "wall.get", owner_id="abc"))
    assert (code, message) == (
        100,
        "One of the parameters specified was missing or invalid: owner_id not integer",
    )


def test_wall_get_filters_and_extended(emulator: EmulatorServer) -> None:
    everything = response(vk_call(emulator, "wall.get", owner_id=-1, count=100))
    owner = response(vk_call(emulator, "wall.get", owner_id=-1, count=100, filter="owner"))
    others = response(vk_call(emulator, "wall.get", owner_id=-1, count=100, filter="others"))
    assert owner["count"] + others["count"] == everything["count"]
    assert all(post["from_id"] == -1 for post in owner["items"])
    assert all(post["from_id"] > 0 for post in others["items"])
    assert response(vk_call(emulator, "wall.get", owner_id=-1, filter="postponed"))["count"] == 0
    assert error(vk_call(emulator, "wall.get", owner_id=-1, filter="bogus"))[0] == 100
    assert "profiles" not in everything
    extended = response(vk_call(emulator, "wall.get", owner_id=-1, count=100, extended=1))
    assert -1 in [-group["id"] for group in extended["groups"]]
    authors = {post["from_id"] for post in extended["items"] if post["from_id"] > 0}
    assert {profile["id"] for profile in extended["profiles"]} == authors


@pytest.mark.parametrize(
    ("group_id", "detail"),
    [
        (6, "this wall available only for community members"),
        (7, "this wall available only for community members"),
        (8, "group is blocked"),
        (9, "group is blocked"),
        (10, "wall is disabled"),
    ],
)
def test_wall_get_closed_walls(emulator: EmulatorServer, group_id: int, detail: str) -> None:
    assert error(vk_call(emulator, "wall.get", owner_id=-group_id)) == (
        15,
        f"Access denied: {detail}",
    )


def test_wall_get_token_kinds(emulator: EmulatorServer) -> None:
    assert error(vk_call(emulator, "wall.get", COMMUNITY_TOKEN, owner_id=-1)) == (
        27,
        "Group authorization failed: method is unavailable with group auth.",
    )
    assert response(vk_call(emulator, "wall.get", SERVICE_TOKEN, owner_id=-1, count=1))["count"]


def test_wall_get_unknown_owners(emulator: EmulatorServer) -> None:
    assert error(vk_call(emulator, "wall.get", owner_id=-31))[0] == 100
    assert error(vk_call(emulator, "wall.get", owner_id=0))[0] == 100
    assert error(vk_call(emulator, "wall.get", owner_id=5))[0] == 30
    assert error(vk_call(emulator, "wall.get", owner_id=-1, offset=-1))[0] == 100
