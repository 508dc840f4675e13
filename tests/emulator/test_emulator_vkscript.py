from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vk_emulator.vkscript import VkScriptSyntaxError, parse
from vk_emulator.vkscript_ast import (
    ApiCall,
    ArrayLit,
    Literal,
    ObjectLit,
    Return,
)
from vk_emulator.vkscript_eval import (
    Interpreter,
    TooManyApiCallsError,
    VkScriptRuntimeError,
    to_params,
)


class Recorder:
    """Answers every API call with its own arguments; ``fail`` methods answer ``False``."""

    def __init__(self, fail: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.fail = fail

    def __call__(self, method: str, params: dict[str, str]) -> Any:
        self.calls.append((method, params))
        return False if method in self.fail else {"method": method, **params}


def run(code: str, args: dict[str, str] | None = None, **kwargs: Any) -> tuple[Any, Recorder]:
    recorder = Recorder(**kwargs)
    value = Interpreter(recorder, args or {}).run(parse(code))
    return value, recorder


def test_parses_an_array_of_calls() -> None:
    program = parse(
        'return [API.wall.get({"owner_id": -1, count: 100}),'
        ' API.groups.getById({group_ids: "1,2"})];'
    )
    (statement,) = program.body
    assert isinstance(statement, Return)
    assert isinstance(statement.value, ArrayLit)
    first, second = statement.value.items
    assert isinstance(first, ApiCall)
    assert first.method == "wall.get"
    assert first.argument == ObjectLit((("owner_id", _neg(1)), ("count", Literal(100))))
    assert isinstance(second, ApiCall)
    assert second.method == "groups.getById"


def _neg(value: int) -> Any:
    from vk_emulator.vkscript_ast import Unary

    return Unary("-", Literal(value))


def test_single_call_and_argument_conversion() -> None:
    value, recorder = run(
        "return API.wall.getComments({owner_id: -1, post_id: 5, need_likes: true, "
        "extended: false, fields: ['photo_100', 'sex'], 'sort': \"desc\", skip: null});"
    )
    assert recorder.calls == [
        (
            "wall.getComments",
            {
                "owner_id": "-1",
                "post_id": "5",
                "need_likes": "1",
                "extended": "0",
                "fields": "photo_100,sex",
                "sort": "desc",
            },
        )
    ]
    assert value["method"] == "wall.getComments"


def test_failed_calls_stay_in_place() -> None:
    value, _ = run("return [API.a.ok({}), API.b.bad({}), API.a.ok({x: 1})];", fail=("b.bad",))
    assert value == [{"method": "a.ok"}, False, {"method": "a.ok", "x": "1"}]


def test_vk_api_style_loop_with_args() -> None:
    code = """
        var offset = parseInt(Args.offset), total = 0, items = [];
        // one call per page, like vk_api's get_all
        while (total < 3) {
            var page = API.wall.get({owner_id: -1, offset: offset, count: 100});
            items.push(page.offset);
            offset = offset + 100;
            total = total + 1;
        }
        return {items: items, next: offset, calls: items.length};
    """
    value, recorder = run(code, {"offset": "200"})
    assert value == {"items": ["200", "300", "400"], "next": 500, "calls": 3}
    assert len(recorder.calls) == 3


def test_expressions_follow_javascript() -> None:
    value, _ = run(
        """
        var a = [1, 2, 3, 4];
        var s = "x" + 1 + 2;
        var i = 0;
        i++;
        i += 10;
        if (a.length == 4 && !(1 > 2) || false) { a[4] = 5; } else { a = []; }
        return [s, 7 / 2, 8 / 2, 7 % 3, -a[0], i, a.slice(1, -1), a.join("-"),
                "5" == 5, "5" === 5, null == null, a[99], a.indexOf(3), "AbC".toLowerCase()];
        """
    )
    assert value == [
        "x12",
        3.5,
        4,
        1,
        -1,
        11,
        [2, 3, 4],
        "1-2-3-4-5",
        True,
        False,
        True,
        None,
        2,
        "abc",
    ]


def test_projection_and_members() -> None:
    value, _ = run(
        "var r = {items: [{id: 1}, {id: 2}, {x: 3}]}; return [r.items@.id, r.count, r.items[1].id];"
    )
    assert value == [[1, 2, None], None, 2]


def test_too_many_calls() -> None:
    code = (
        "var i = 0; while (i < 30) { API.utils.resolveScreenName({screen_name: i}); i = i + 1; }"
        " return i;"
    )
    recorder = Recorder()
    with pytest.raises(TooManyApiCallsError):
        Interpreter(recorder, {}, max_calls=25).run(parse(code))
    assert len(recorder.calls) == 25
    assert Interpreter(Recorder(), {}, max_calls=30).run(parse(code)) == 30


@pytest.mark.parametrize(
    "code",
    [
        "return [API.wall.get({owner_id: -1}), API.wall.get({owner_id: -2})",
        "return API.wall.get({owner_id: -1};",
        "return API.wall({});",
        "return API.wall.get({owner_id -1});",
        "var = 1; return 1;",
        "return 1 +;",
        "API.wall.get({});",
        "return 'unterminated;",
        "return #;",
        "1 = 2; return 1;",
        "return " + "(" * 5000 + "1" + ")" * 5000 + ";",
    ],
)
def test_syntax_errors(code: str) -> None:
    with pytest.raises(VkScriptSyntaxError):
        parse(code)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("return missing;", "missing is not defined"),
        ("var a = 5; return a.slice(1);", "Method slice requires an array"),
        ("return 1 / 0;", "division by zero"),
        ("return API.wall.get(5);", "requires an object"),
        ("while (true) { } return 1;", "too many operations"),
        ("return nope(1);", "unknown function nope"),
    ],
)
def test_runtime_errors(code: str, message: str) -> None:
    with pytest.raises(VkScriptRuntimeError, match=message):
        Interpreter(Recorder(), {}, max_steps=1000).run(parse(code))


def test_to_params() -> None:
    assert to_params({"a": 1, "b": True, "c": [1, "x"], "d": None, "e": 2.0, "f": {"k": 1}}) == {
        "a": "1",
        "b": "1",
        "c": "1,x",
        "e": "2",
        "f": '{"k": 1}',
    }


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(json_values)
def test_json_literals_evaluate_to_themselves(value: Any) -> None:
    code = f"return {json.dumps(value)};"
    assert Interpreter(Recorder(), {}).run(parse(code)) == value


@given(st.text(max_size=40))
def test_parser_fails_only_with_its_own_error(code: str) -> None:
    with contextlib.suppress(VkScriptSyntaxError):
        parse(code)
