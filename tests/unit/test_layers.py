"""The layers point one way (docs/ARCHITECTURE.md), read from the source with ``ast``.

Every ``import`` and ``from ... import`` counts, including those inside functions and
under ``TYPE_CHECKING``: a layer that needs another only for typing still knows it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = "vk_collector"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> Iterator[str]:
    """Absolute names of the modules ``path`` imports (relative imports resolved)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


def _edges(package: str) -> set[tuple[str, str]]:
    """(importing module, imported module) for every module of ``package``."""
    edges = set()
    for path in sorted((SRC / package).rglob("*.py")):
        source = _module_name(path)
        edges |= {(source, name) for name in _imports(path) if name.split(".")[0] == PACKAGE}
    return edges


EDGES = _edges(PACKAGE)


def _layer(module: str) -> str:
    """``vk_collector.queue.keys`` -> ``queue``; ``vk_collector.errors`` -> ``errors``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _between(source: str, target: str) -> list[str]:
    return sorted(f"{s} -> {t}" for s, t in EDGES if _layer(s) == source and _layer(t) == target)


def test_the_import_graph_is_read() -> None:
    # guards against a parser that finds nothing (and so lets every rule pass)
    assert ("vk_collector.workers.base", "vk_collector.queue.worker_contract") in EDGES
    assert ("vk_collector.export.rows", "vk_collector.storage") in EDGES
    assert ("vk_collector.api.routers.results", "vk_collector.export") in EDGES
    assert len({_layer(s) for s, _ in EDGES}) >= 10


@pytest.mark.parametrize(
    ("lower", "upper"),
    [
        ("queue", "workers"),  # the queue owns the worker contract; workers implement it
        ("queue", "storage"),
        ("queue", "api"),
        ("storage", "queue"),
        ("storage", "tasks"),
        ("storage", "api"),
        ("storage", "export"),  # formats are not storage: export reads storage, not back
        ("export", "api"),
        ("export", "cli"),
        ("export", "queue"),
        ("export", "workers"),
        ("export", "pipelines"),
        ("export", "tasks"),
        ("export", "vk"),
        ("queue", "export"),
        ("workers", "export"),
        ("pipelines", "export"),
        ("tasks", "export"),
        ("vk", "queue"),
        ("vk", "storage"),
        ("vk", "workers"),
        ("tasks", "api"),
        ("workers", "api"),
        ("pipelines", "api"),
        ("pipelines", "workers"),
    ],
)
def test_lower_layers_never_import_upper_ones(lower: str, upper: str) -> None:
    assert _between(lower, upper) == []


@pytest.mark.parametrize("layer", ["api", "export"])
def test_storage_is_reached_only_through_its_package(layer: str) -> None:
    """Routers and export writers get records from repositories (vk_collector.storage),
    never ORM models, engines or sessions of the storage modules."""
    reaching = sorted(
        f"{s} -> {t}"
        for s, t in EDGES
        if _layer(s) == layer and _layer(t) == "storage" and not _is_storage_api(t)
    )
    assert reaching == []


def _is_storage_api(name: str) -> bool:
    # "vk_collector.storage" itself, or a name imported from it ("vk_collector.storage.Page")
    if name == f"{PACKAGE}.storage":
        return True
    prefix, _, last = name.rpartition(".")
    return (prefix == f"{PACKAGE}.storage" and last[:1].isupper()) or last in _storage_exports()


def _storage_exports() -> set[str]:
    tree = ast.parse((SRC / PACKAGE / "storage" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            return set(ast.literal_eval(node.value))
    return set()


def test_no_import_cycles_between_layers() -> None:
    graph: dict[str, set[str]] = {}
    for source, target in EDGES:
        a, b = _layer(source), _layer(target)
        if a and b and a != b:
            graph.setdefault(a, set()).add(b)
    cycles = []
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, trail = stack.pop()
            for nxt in graph.get(node, ()):
                if nxt == start:
                    cycles.append(" -> ".join([*trail, start]))
                elif nxt not in trail:
                    stack.append((nxt, [*trail, nxt]))
    assert cycles == []


def test_no_two_modules_import_each_other() -> None:
    """E.g. storage/engine.py and storage/migrate.py, which once did.  A package and a
    module inside it do not count (``from vk_collector.api import metrics`` in api/app.py)."""
    mutual = sorted(
        f"{s} <-> {t}" for s, t in EDGES if s < t and (t, s) in EDGES and not t.startswith(f"{s}.")
    )
    assert mutual == []


def test_the_emulator_imports_nothing_of_the_collector() -> None:
    for path in sorted((SRC / "vk_emulator").rglob("*.py")):
        assert [n for n in _imports(path) if n.split(".")[0] == PACKAGE] == [], path
