"""A parser for the subset of VKScript that ``execute`` accepts.

Statements: ``var a = 1, b;``, assignments (``=``, ``+=``, ``-=``, ``i++``), expression
statements, ``if (...) ... else ...``, ``while (...) ...``, blocks and ``return ...;``.
Expressions: numbers, strings, ``true``/``false``/``null``, array and object literals
(keys bare, quoted or numeric), ``API.section.method({...})``, ``Args.name``,
``.name`` / ``[i]`` access, ``@.name`` projection, method calls (``.push``, ``.slice``,
...), ``parseInt``/``parseDouble``, unary ``- ! +``, ``* / %``, ``+ -``, comparisons,
``== != === !==``, ``&& ||``.  Comments (``//`` and ``/* */``) are skipped.  A program
must contain a ``return``.  Anything else raises :class:`VkScriptSyntaxError` (error 12).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from vk_emulator.vkscript_ast import (
    ApiCall,
    ArgsRef,
    ArrayLit,
    Assign,
    Binary,
    Block,
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

__all__ = ["VkScriptSyntaxError", "parse"]


class VkScriptSyntaxError(Exception):
    pass


# lexer

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|//[^\n]*|/\*.*?\*/)
  | (?P<number>\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<name>[A-Za-z_$][A-Za-z0-9_$]*)
  | (?P<punct>===|!==|==|!=|<=|>=|&&|\|\||\+=|-=|\+\+|--|[()\[\]{},;:.+\-*/%<>=!@])
    """,
    re.VERBOSE | re.DOTALL,
)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "/": "/"}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # number, string, name, punct, end
    text: str
    value: Any
    position: int


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escaped = body[index + 1]
        if escaped == "u":
            out.append(chr(int(body[index + 2 : index + 6], 16)))
            index += 6
            continue
        out.append(_ESCAPES.get(escaped, escaped))
        index += 2
    text = "".join(out)
    try:  # join \ud83d\ude00-style surrogate pairs into one character
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le")
    except UnicodeDecodeError:
        return text


def _tokens(code: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(code):
        match = _TOKEN.match(code, position)
        if match is None:
            raise VkScriptSyntaxError(f"unexpected character {code[position]!r} at {position}")
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "number":
            value: Any = float(text) if any(c in text for c in ".eE") else int(text)
            tokens.append(_Token(kind, text, value, position))
        elif kind == "string":
            try:
                tokens.append(_Token(kind, text, _unquote(text), position))
            except (ValueError, IndexError):
                raise VkScriptSyntaxError(f"bad escape in string at {position}") from None
        elif kind != "space":
            tokens.append(_Token(kind, text, text, position))
        position = match.end()
    tokens.append(_Token("end", "", None, len(code)))
    return tokens


# parser

_BINARY_LEVELS: tuple[tuple[str, ...], ...] = (
    ("||",),
    ("&&",),
    ("==", "!=", "===", "!=="),
    ("<", ">", "<=", ">="),
    ("+", "-"),
    ("*", "/", "%"),
)
_CONSTANTS = {"true": True, "false": False, "null": None}


class _Parser:
    def __init__(self, code: str) -> None:
        self.tokens = _tokens(code)
        self.index = 0
        self.saw_return = False

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def at(self, text: str) -> bool:
        token = self.current
        return token.kind in ("punct", "name") and token.text == text

    def accept(self, text: str) -> bool:
        if self.at(text):
            self.index += 1
            return True
        return False

    def expect(self, text: str) -> None:
        if not self.accept(text):
            token = self.current
            found = token.text or "end of code"
            raise VkScriptSyntaxError(f"expected {text!r} but found {found!r} at {token.position}")

    def name(self) -> str:
        token = self.current
        if token.kind != "name":
            raise VkScriptSyntaxError(f"expected a name at {token.position}")
        self.index += 1
        return token.text

    def program(self) -> Program:
        body: list[Stmt] = []
        while self.current.kind != "end":
            body.append(self.statement())
        if not self.saw_return:
            raise VkScriptSyntaxError("return statement expected")
        return Program(tuple(body))

    def statement(self) -> Stmt:
        if self.accept("{"):
            body: list[Stmt] = []
            while not self.accept("}"):
                if self.current.kind == "end":
                    raise VkScriptSyntaxError("expected '}' but found end of code")
                body.append(self.statement())
            return Block(tuple(body))
        if self.accept("var"):
            names: list[tuple[str, Expr | None]] = []
            while True:
                name = self.name()
                names.append((name, self.expression() if self.accept("=") else None))
                if not self.accept(","):
                    break
            self.end_statement()
            return VarDecl(tuple(names))
        if self.accept("return"):
            self.saw_return = True
            value = None if self.at(";") or self.at("}") else self.expression()
            self.end_statement()
            return Return(value)
        if self.accept("if"):
            self.expect("(")
            condition = self.expression()
            self.expect(")")
            then = self.statement()
            otherwise = self.statement() if self.accept("else") else None
            return If(condition, then, otherwise)
        if self.accept("while"):
            self.expect("(")
            condition = self.expression()
            self.expect(")")
            return While(condition, self.statement())
        expr = self.expression()
        self.end_statement()
        return ExprStmt(expr)

    def end_statement(self) -> None:
        if not self.accept(";") and not (self.at("}") or self.current.kind == "end"):
            token = self.current
            raise VkScriptSyntaxError(f"expected ';' but found {token.text!r} at {token.position}")

    def expression(self) -> Expr:
        target = self.binary(0)
        for op in ("=", "+=", "-="):
            if self.accept(op):
                self.check_target(target)
                return Assign(target, op, self.expression())
        return target

    @staticmethod
    def check_target(target: Expr) -> None:
        if not isinstance(target, Name | Member | Index):
            raise VkScriptSyntaxError("invalid assignment target")

    def binary(self, level: int) -> Expr:
        if level == len(_BINARY_LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.current.kind == "punct" and self.current.text in _BINARY_LEVELS[level]:
            op = self.current.text
            self.index += 1
            left = Binary(op, left, self.binary(level + 1))
        return left

    def unary(self) -> Expr:
        for op in ("-", "!", "+"):
            if self.accept(op):
                return Unary(op, self.unary())
        return self.postfix(self.primary())

    def postfix(self, node: Expr) -> Expr:
        while True:
            if self.accept("."):
                name = self.name()
                if self.accept("("):
                    node = Call(node, name, self.arguments())
                else:
                    node = Member(node, name)
            elif self.accept("["):
                index = self.expression()
                self.expect("]")
                node = Index(node, index)
            elif self.accept("@"):
                self.expect(".")
                node = Projection(node, self.name())
            elif self.at("++") or self.at("--"):
                op = self.current.text
                self.index += 1
                self.check_target(node)
                node = Assign(node, op, Literal(1))
            else:
                return node

    def arguments(self) -> tuple[Expr, ...]:
        args: list[Expr] = []
        if self.accept(")"):
            return ()
        while True:
            args.append(self.expression())
            if self.accept(")"):
                return tuple(args)
            self.expect(",")

    def primary(self) -> Expr:
        token = self.current
        if token.kind in ("number", "string"):
            self.index += 1
            return Literal(token.value)
        if self.accept("("):
            inner = self.expression()
            self.expect(")")
            return inner
        if self.accept("["):
            items: list[Expr] = []
            while not self.accept("]"):
                items.append(self.expression())
                if not self.at("]"):
                    self.expect(",")
            return ArrayLit(tuple(items))
        if self.accept("{"):
            return self.object_literal()
        if token.kind != "name":
            found = token.text or "end of code"
            raise VkScriptSyntaxError(f"unexpected {found!r} at {token.position}")
        self.index += 1
        if token.text in _CONSTANTS:
            return Literal(_CONSTANTS[token.text])
        if token.text == "API":
            return self.api_call()
        if token.text == "Args":
            self.expect(".")
            return ArgsRef(self.name())
        if self.accept("("):
            return Call(None, token.text, self.arguments())
        return Name(token.text)

    def api_call(self) -> ApiCall:
        parts: list[str] = []
        while self.accept("."):
            parts.append(self.name())
        if len(parts) < 2 or not self.accept("("):
            raise VkScriptSyntaxError("expected API.section.method(...)")
        args = self.arguments()
        if len(args) > 1:
            raise VkScriptSyntaxError("an API method takes one object argument")
        return ApiCall(".".join(parts), args[0] if args else None)

    def object_literal(self) -> ObjectLit:
        pairs: list[tuple[str, Expr]] = []
        while not self.accept("}"):
            token = self.current
            if token.kind not in ("name", "string", "number"):
                raise VkScriptSyntaxError(f"expected an object key at {token.position}")
            self.index += 1
            self.expect(":")
            pairs.append((str(token.value), self.expression()))
            if not self.at("}"):
                self.expect(",")
        return ObjectLit(tuple(pairs))


def parse(code: str) -> Program:
    """Parse VKScript; raises :class:`VkScriptSyntaxError` with the position of the fault."""
    try:
        return _Parser(code).program()
    except RecursionError:
        raise VkScriptSyntaxError("code is nested too deeply") from None
