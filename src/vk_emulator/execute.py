"""``execute`` (VK_API.md §2.5): runs VKScript, collecting inner failures.

An inner call that fails evaluates to ``false`` and appends ``{method, error_code,
error_msg}`` to ``execute_errors`` in call order.  A syntax error is error 12; a runtime
error 13; more than ``quirks.execute_max_calls`` calls fail the whole request with
``quirks.execute_too_many_calls_error`` (13 by default).  Request parameters other than
``code``, ``v``, ``access_token``, ``func_v`` and ``lang`` are readable as ``Args.<name>``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vk_emulator.methods import MethodContext
from vk_emulator.protocol import Params, VkError
from vk_emulator.vkscript import VkScriptSyntaxError, parse
from vk_emulator.vkscript_eval import (
    Interpreter,
    TooManyApiCallsError,
    VkScriptRuntimeError,
)

__all__ = ["ExecuteResult", "execute"]

_RESERVED = frozenset({"code", "v", "access_token", "func_v", "lang"})


@dataclass(frozen=True, slots=True)
class ExecuteResult:
    value: Any
    errors: list[dict[str, Any]] = field(default_factory=list)


def execute(ctx: MethodContext, params: Params) -> ExecuteResult:
    try:
        program = parse(params.require("code"))
    except VkScriptSyntaxError as exc:
        raise VkError(12, str(exc)) from None
    errors: list[dict[str, Any]] = []

    def call(method: str, inner: dict[str, str]) -> Any:
        try:
            return ctx.call(method, Params(inner))
        except VkError as exc:
            errors.append({"method": method, "error_code": exc.code, "error_msg": exc.message})
            return False

    quirks = ctx.config.quirks
    args = {key: value for key, value in params.items() if key not in _RESERVED}
    interpreter = Interpreter(call, args, max_calls=quirks.execute_max_calls)
    try:
        value = interpreter.run(program)
    except TooManyApiCallsError as exc:
        raise VkError(quirks.execute_too_many_calls_error, str(exc)) from None
    except VkScriptRuntimeError as exc:
        raise VkError(13, str(exc)) from None
    return ExecuteResult(value, errors)
