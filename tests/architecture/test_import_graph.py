"""Imports point one way: orchestration -> sensors -> assets -> resources -> vocabulary.

Every import counts, function-local and TYPE_CHECKING ones included: a lazy import hides a
dependency from a reader but not from this test. sandbox/ is a stand-in for the providers: it
imports nothing of Touchpoint's, and only orchestration (the demo), tests and benchmarks use it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from paths import ROOT

LAYERS = ("vocabulary", "resources", "assets", "sensors", "orchestration")
"""Lowest first: a package may import its own layer and the ones before it."""
PACKAGES = (*LAYERS, "sandbox")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def our_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def imported_modules(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """Our modules `path` imports, anywhere in the file; `from pkg import mod` names `pkg.mod`."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` depends on pkg.mod; `from mod import name` on mod.
            names = [
                f"{node.module}.{alias.name}"
                if f"{node.module}.{alias.name}" in modules
                else node.module
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name in modules:
                yield name


def import_graph() -> dict[str, set[str]]:
    modules = our_modules()
    return {
        name: {target for target in imported_modules(path, modules) if target != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    return module.split(".", 1)[0]


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    wrong = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            src, dst = package_of(source), package_of(target)
            if src == "sandbox" or dst == "sandbox":
                # The stand-in and Touchpoint know nothing of each other, but for the demo.
                if src != dst and not (src == "orchestration" and dst == "sandbox"):
                    wrong.append(f"{source} -> {target}")
            elif LAYERS.index(dst) > LAYERS.index(src):
                wrong.append(f"{source} -> {target}")
    return wrong


def test_the_graph_sees_our_imports() -> None:
    graph = import_graph()
    assert "vocabulary.connectors" in graph["resources.connectors"]
    assert "resources.registry" in graph["resources.connectors"]
    assert any(t.startswith("assets.") for t in graph["orchestration.definitions"])


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_no_upward_imports() -> None:
    assert upward_imports(import_graph()) == []


def test_vocabulary_imports_only_the_standard_library() -> None:
    """The neutral vocabulary must stay importable by anything, Dagster and clients aside."""
    import sys

    allowed = set(sys.stdlib_module_names) | {"vocabulary", "__future__"}
    for path in sorted((ROOT / "vocabulary").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                roots = {node.module.split(".")[0]}
            else:
                continue
            assert roots <= allowed, f"{path.name} imports {roots - allowed}"


def test_provider_folders_do_not_import_each_other() -> None:
    graph = import_graph()
    folders = {p.name for p in (ROOT / "resources").iterdir() if (p / "kit.py").exists()}
    assert len(folders) >= 2
    for source, targets in graph.items():
        parts = source.split(".")
        if len(parts) > 2 and parts[0] == "resources" and parts[1] in folders:
            for target in targets:
                tparts = target.split(".")
                assert not (len(tparts) > 2 and tparts[1] in folders and tparts[1] != parts[1]), (
                    f"{source} -> {target}"
                )


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_cycle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert cycles(graph) == expected


def test_upward_import_finder() -> None:
    graph = {
        "resources.x": {"assets.y", "vocabulary.z"},
        "assets.y": {"resources.x"},
        "sandbox.s": {"resources.x"},
        "orchestration.demo": {"sandbox.s"},
    }
    assert upward_imports(graph) == ["resources.x -> assets.y", "sandbox.s -> resources.x"]
