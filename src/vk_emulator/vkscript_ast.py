"""The syntax tree of parsed VKScript (see ``vkscript.py`` for the grammar)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "ApiCall",
    "ArgsRef",
    "ArrayLit",
    "Assign",
    "Binary",
    "Block",
    "Call",
    "Expr",
    "ExprStmt",
    "If",
    "Index",
    "Literal",
    "Member",
    "Name",
    "ObjectLit",
    "Program",
    "Projection",
    "Return",
    "Stmt",
    "Unary",
    "VarDecl",
    "While",
]


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class ArrayLit:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class ObjectLit:
    pairs: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class Name:
    name: str


@dataclass(frozen=True, slots=True)
class ArgsRef:
    name: str


@dataclass(frozen=True, slots=True)
class ApiCall:
    method: str
    argument: Expr | None


@dataclass(frozen=True, slots=True)
class Member:
    target: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    target: Expr
    index: Expr


@dataclass(frozen=True, slots=True)
class Projection:
    target: Expr
    name: str


@dataclass(frozen=True, slots=True)
class Call:
    """``target.name(args)`` when ``target`` is set, else the global function ``name``."""

    target: Expr | None
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Unary:
    op: str
    operand: Expr


@dataclass(frozen=True, slots=True)
class Binary:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True, slots=True)
class Assign:
    target: Expr  # Name, Member or Index
    op: str  # "=", "+=", "-=", "++", "--"
    value: Expr


Expr: TypeAlias = (
    Literal
    | ArrayLit
    | ObjectLit
    | Name
    | ArgsRef
    | ApiCall
    | Member
    | Index
    | Projection
    | Call
    | Unary
    | Binary
    | Assign
)


@dataclass(frozen=True, slots=True)
class VarDecl:
    names: tuple[tuple[str, Expr | None], ...]


@dataclass(frozen=True, slots=True)
class ExprStmt:
    expr: Expr


@dataclass(frozen=True, slots=True)
class Return:
    value: Expr | None


@dataclass(frozen=True, slots=True)
class If:
    condition: Expr
    then: Stmt
    otherwise: Stmt | None


@dataclass(frozen=True, slots=True)
class While:
    condition: Expr
    body: Stmt


@dataclass(frozen=True, slots=True)
class Block:
    body: tuple[Stmt, ...]


Stmt: TypeAlias = VarDecl | ExprStmt | Return | If | While | Block


@dataclass(frozen=True, slots=True)
class Program:
    body: tuple[Stmt, ...]
