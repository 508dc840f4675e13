"""VKScript values: JavaScript-like coercions, operators and the built-in methods.

Values are JSON values (``None``, bools, ints, floats, strings, lists, dicts).  Any
misuse raises :class:`VkScriptRuntimeError` (execute answers error 13).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "VkScriptRuntimeError",
    "call_function",
    "call_method",
    "index_of",
    "member_of",
    "operate",
    "project_field",
    "store_at",
    "to_params",
    "to_string",
    "truthy",
    "unary",
]

_LEADING_INT = re.compile(r"^\s*[+-]?\d+")
_LEADING_FLOAT = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


class VkScriptRuntimeError(Exception):
    pass


def to_string(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list):
        return ",".join(to_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    return str(value)


def to_params(argument: Mapping[str, Any]) -> dict[str, str]:
    """An API call's object argument as VK request parameters (``None`` values dropped)."""
    params: dict[str, str] = {}
    for key, value in argument.items():
        if value is None:
            continue
        if isinstance(value, bool):
            params[key] = "1" if value else "0"
        elif isinstance(value, dict):
            params[key] = json.dumps(value, ensure_ascii=False)
        else:
            params[key] = to_string(value)
    return params


def number(value: Any) -> float | int:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if value is None:
        return 0
    if isinstance(value, str):
        try:
            return int(value.strip() or "0")
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return math.nan
    return math.nan


def tidy(value: float | int) -> Any:
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise VkScriptRuntimeError("arithmetic result is not a number")
        if value.is_integer() and abs(value) < 2**53:
            return int(value)
    return value


def truthy(value: Any) -> bool:
    if value is None or value is False:
        return False
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return bool(value) and not (isinstance(value, float) and math.isnan(value))
    return True


def loose_equal(left: Any, right: Any) -> bool:
    if left is None or right is None:
        return left is None and right is None
    if isinstance(left, str) and isinstance(right, str):
        return left == right
    if isinstance(left, list | dict) or isinstance(right, list | dict):
        return left is right
    return number(left) == number(right)


def strict_equal(left: Any, right: Any) -> bool:
    def kind(value: Any) -> str:
        if isinstance(value, bool):
            return "bool"
        return "number" if isinstance(value, int | float) else type(value).__name__

    if kind(left) != kind(right):
        return False
    return left is right if isinstance(left, list | dict) else bool(left == right)


def js_index(index: Any, length: int, default: int) -> int:
    if index is None:
        return default
    position = int(number(index))
    return max(0, length + position) if position < 0 else min(position, length)


def member_of(target: Any, name: str) -> Any:
    if name == "length" and isinstance(target, list | str):
        return len(target)
    return target.get(name) if isinstance(target, dict) else None


def index_of(target: Any, key: Any) -> Any:
    if isinstance(target, list | str) and not isinstance(key, str | bool | None):
        position = number(key)
        if isinstance(position, float) and not position.is_integer():
            return None
        return target[int(position)] if 0 <= position < len(target) else None
    if isinstance(target, dict):
        return target.get(to_string(key))
    return None


def project_field(target: Any, name: str) -> Any:
    if isinstance(target, list):
        return [item.get(name) if isinstance(item, dict) else None for item in target]
    return target.get(name) if isinstance(target, dict) else None


def call_function(name: str, args: list[Any]) -> Any:
    if name not in ("parseInt", "parseDouble"):
        raise VkScriptRuntimeError(f"unknown function {name}")
    text = to_string(args[0]) if args else ""
    pattern = _LEADING_INT if name == "parseInt" else _LEADING_FLOAT
    match = pattern.match(text)
    if match is None:
        return None
    return int(match.group()) if name == "parseInt" else tidy(float(match.group()))


def list_method(target: list[Any], name: str, args: list[Any]) -> Any:
    first = args[0] if args else None
    if name == "push":
        target.extend(args)
        return len(target)
    if name == "pop":
        return target.pop() if target else None
    if name == "shift":
        return target.pop(0) if target else None
    if name == "unshift":
        target[0:0] = args
        return len(target)
    if name == "slice":
        end = args[1] if len(args) > 1 else None
        return target[js_index(first, len(target), 0) : js_index(end, len(target), len(target))]
    if name == "splice":
        start = js_index(first, len(target), 0)
        count = len(target) - start if len(args) < 2 else max(0, int(number(args[1])))
        removed = target[start : start + count]
        target[start : start + count] = args[2:]
        return removed
    if name == "indexOf":
        return next((i for i, item in enumerate(target) if strict_equal(item, first)), -1)
    if name == "join":
        separator = "," if first is None else to_string(first)
        return separator.join(to_string(item) for item in target)
    if name == "concat":
        joined = list(target)
        for arg in args:
            joined.extend(arg if isinstance(arg, list) else [arg])
        return joined
    raise VkScriptRuntimeError(f"Method {name} is not supported for arrays")


def string_method(target: str, name: str, args: list[Any]) -> Any:
    first = args[0] if args else None
    if name == "slice":
        end = args[1] if len(args) > 1 else None
        return target[js_index(first, len(target), 0) : js_index(end, len(target), len(target))]
    if name == "substr":
        start = js_index(first, len(target), 0)
        length = len(target) if len(args) < 2 else max(0, int(number(args[1])))
        return target[start : start + length]
    if name == "split":
        separator = to_string(first) if first is not None else None
        if separator is None:
            return [target]
        return list(target) if separator == "" else target.split(separator)
    if name == "indexOf":
        return target.find(to_string(first))
    if name == "toLowerCase":
        return target.lower()
    if name == "toUpperCase":
        return target.upper()
    raise VkScriptRuntimeError(f"Method {name} requires an array")


def unary(op: str, value: Any) -> Any:
    if op == "!":
        return not truthy(value)
    amount = number(value)
    return tidy(-amount if op == "-" else amount)


def operate(op: str, left: Any, right: Any) -> Any:
    if op == "+":
        if isinstance(left, str | list | dict) or isinstance(right, str | list | dict):
            return to_string(left) + to_string(right)
        return tidy(number(left) + number(right))
    if op in ("==", "!="):
        return loose_equal(left, right) == (op == "==")
    if op in ("===", "!=="):
        return strict_equal(left, right) == (op == "===")
    if op in ("<", ">", "<=", ">=") and isinstance(left, str) and isinstance(right, str):
        pair: tuple[Any, Any] = (left, right)
    else:
        pair = (number(left), number(right))
    a, b = pair
    if op == "<":
        return bool(a < b)
    if op == ">":
        return bool(a > b)
    if op == "<=":
        return bool(a <= b)
    if op == ">=":
        return bool(a >= b)
    if op in ("/", "%") and b == 0:
        raise VkScriptRuntimeError("division by zero")
    if op == "-":
        return tidy(a - b)
    if op == "*":
        return tidy(a * b)
    if op == "/":
        return tidy(a / b)
    return tidy(math.fmod(a, b))


def store_at(container: Any, key: Any, value: Any) -> None:
    if isinstance(container, dict):
        container[to_string(key)] = value
    elif isinstance(container, list) and isinstance(number(key), int):
        position = int(number(key))
        if 0 <= position < len(container):
            container[position] = value
        elif position == len(container):
            container.append(value)
        else:
            raise VkScriptRuntimeError("array index out of range")
    else:
        raise VkScriptRuntimeError("cannot assign to a member of this value")


def call_method(target: Any, name: str, args: list[Any]) -> Any:
    if isinstance(target, list):
        return list_method(target, name, args)
    if isinstance(target, str):
        return string_method(target, name, args)
    raise VkScriptRuntimeError(f"Method {name} requires an array")
