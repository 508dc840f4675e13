"""The interpreter for parsed VKScript.

API calls go through ``call_api(method, params)`` where ``params`` are VK's string
parameters (lists comma-joined, booleans ``1``/``0``, objects as JSON); the caller
decides what a failed call evaluates to (VK: ``false``).  More than ``max_calls`` API
calls raise :class:`TooManyApiCallsError`; other faults raise :class:`VkScriptRuntimeError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from vk_emulator.vkscript_ast import (
    ApiCall,
    ArgsRef,
    ArrayLit,
    Assign,
    Binary,
    Call,
    Expr,
    ExprStmt,
    If,
    Index,
    Literal,
    Member,
    Name,
    ObjectLit,
    Program,
    Projection,
    Return,
    Stmt,
    Unary,
    VarDecl,
    While,
)
from vk_emulator.vkscript_values import (
    VkScriptRuntimeError,
    call_function,
    call_method,
    index_of,
    member_of,
    operate,
    project_field,
    store_at,
    to_params,
    truthy,
    unary,
)

__all__ = ["Interpreter", "TooManyApiCallsError", "VkScriptRuntimeError", "to_params"]

ApiCaller = Callable[[str, dict[str, str]], Any]


class TooManyApiCallsError(VkScriptRuntimeError):
    pass


class _Return(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, value: Any) -> None:
        self.value = value


class Interpreter:
    def __init__(
        self,
        call_api: ApiCaller,
        args: Mapping[str, str],
        *,
        max_calls: int = 25,
        max_steps: int = 100_000,
    ) -> None:
        self.call_api = call_api
        self.args = dict(args)
        self.max_calls = max_calls
        self.max_steps = max_steps
        self.calls = 0
        self.steps = 0
        self.variables: dict[str, Any] = {}

    def run(self, program: Program) -> Any:
        try:
            for statement in program.body:
                self.execute(statement)
        except _Return as done:
            return done.value
        except RecursionError:
            raise VkScriptRuntimeError("code is nested too deeply") from None
        return None

    def execute(self, statement: Stmt) -> None:
        self.steps += 1
        if self.steps > self.max_steps:
            raise VkScriptRuntimeError("too many operations")
        if isinstance(statement, ExprStmt):
            self.evaluate(statement.expr)
        elif isinstance(statement, VarDecl):
            for name, value in statement.names:
                self.variables[name] = None if value is None else self.evaluate(value)
        elif isinstance(statement, Return):
            raise _Return(None if statement.value is None else self.evaluate(statement.value))
        elif isinstance(statement, If):
            if truthy(self.evaluate(statement.condition)):
                self.execute(statement.then)
            elif statement.otherwise is not None:
                self.execute(statement.otherwise)
        elif isinstance(statement, While):
            while truthy(self.evaluate(statement.condition)):
                self.execute(statement.body)
        else:
            for inner in statement.body:
                self.execute(inner)

    def evaluate(self, node: Expr) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, ArrayLit):
            return [self.evaluate(item) for item in node.items]
        if isinstance(node, ObjectLit):
            return {key: self.evaluate(value) for key, value in node.pairs}
        if isinstance(node, Name):
            if node.name not in self.variables:
                raise VkScriptRuntimeError(f"{node.name} is not defined")
            return self.variables[node.name]
        if isinstance(node, ArgsRef):
            return self.args.get(node.name)
        if isinstance(node, ApiCall):
            return self.api_call(node)
        if isinstance(node, Member):
            return member_of(self.evaluate(node.target), node.name)
        if isinstance(node, Index):
            return index_of(self.evaluate(node.target), self.evaluate(node.index))
        if isinstance(node, Projection):
            return project_field(self.evaluate(node.target), node.name)
        if isinstance(node, Call):
            args = [self.evaluate(arg) for arg in node.args]
            if node.target is None:
                return call_function(node.name, args)
            return call_method(self.evaluate(node.target), node.name, args)
        if isinstance(node, Unary):
            return unary(node.op, self.evaluate(node.operand))
        if isinstance(node, Binary):
            return self.binary(node)
        return self.assign(node)

    def api_call(self, node: ApiCall) -> Any:
        argument = {} if node.argument is None else self.evaluate(node.argument)
        if not isinstance(argument, dict):
            raise VkScriptRuntimeError(f"API.{node.method} requires an object argument")
        self.calls += 1
        if self.calls > self.max_calls:
            raise TooManyApiCallsError(f"too many API calls (more than {self.max_calls})")
        return self.call_api(node.method, to_params(argument))

    def binary(self, node: Binary) -> Any:
        left = self.evaluate(node.left)
        if node.op == "&&":
            return self.evaluate(node.right) if truthy(left) else left
        if node.op == "||":
            return left if truthy(left) else self.evaluate(node.right)
        return operate(node.op, left, self.evaluate(node.right))

    def assign(self, node: Assign) -> Any:
        old = self.evaluate(node.target) if node.op != "=" else None
        value = self.evaluate(node.value)
        if node.op in ("+=", "++"):
            value = operate("+", old, value)
        elif node.op in ("-=", "--"):
            value = operate("-", old, value)
        target = node.target
        if isinstance(target, Name):
            self.variables[target.name] = value
        else:
            assert isinstance(target, Member | Index)
            container = self.evaluate(target.target)
            key = target.name if isinstance(target, Member) else self.evaluate(target.index)
            store_at(container, key, value)
        return old if node.op in ("++", "--") else value
