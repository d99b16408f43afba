"""The import rules of docs/architecture.md, read from the source with ``ast`` (nothing imported)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("core", "gateway", "dispatch", "complaints", "dashboard", "firmware_sim", "siaga", "bench", "tests")
EVERYTHING = frozenset(PACKAGES) - {"tests"}

# package -> the other packages it may import
MAY_IMPORT: dict[str, frozenset[str]] = {
    "core": frozenset(),
    "gateway": frozenset({"core"}),
    "dispatch": frozenset({"core"}),
    "complaints": frozenset({"core"}),
    # the dashboard reads both services' rows, so it sits on the floor above them
    "dashboard": frozenset({"core", "dispatch", "complaints"}),
    "firmware_sim": frozenset({"core"}),
    "siaga": EVERYTHING - {"siaga"},
    "bench": EVERYTHING - {"bench"},
    "tests": EVERYTHING,
}
# siaga may reach bench only from the command line, inside a function (``siaga bench``)
LAZY_ONLY = {("siaga", "bench"): frozenset({"siaga.cli"})}

# Imports that break the rules today and are being removed; each names its exact module so
# nothing else slips through (none left: the dashboard got a package of its own).
ALLOWED_IMPORTS: set[tuple[str, str]] = set()
# Module pairs allowed to import each other at module level (none: every page takes its layout
# from core/pages.py, so the dashboard no longer reaches into the desk's module).
ALLOWED_CYCLES: set[frozenset[str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _target(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        keep = len(parts) - node.level + (1 if is_package else 0)
        base = ".".join(parts[:keep] + ([node.module] if node.module else []))
    # ``from pkg import mod`` may name a module: count both the package and pkg.mod
    return [base] + [f"{base}.{a.name}" for a in node.names]


def _imports(module: str, path: Path) -> list[tuple[str, bool, bool]]:
    """(imported name, at module level, inside a TYPE_CHECKING block) for every import."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    out: list[tuple[str, bool, bool]] = []

    def visit(node: ast.AST, top: bool, typing_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                out.extend((a.name, top, typing_only) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                out.extend((name, top, typing_only) for name in _target(module, is_package, child))
            elif isinstance(child, ast.If) and _is_type_checking(child):
                for stmt in child.body:
                    visit(ast.Module(body=[stmt], type_ignores=[]), top, True)
                for stmt in child.orelse:
                    visit(ast.Module(body=[stmt], type_ignores=[]), top, typing_only)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                visit(child, False, typing_only)
            else:
                visit(child, top, typing_only)

    visit(tree, True, False)
    return out


MODULES = _modules()
IMPORTS = {m: _imports(m, p) for m, p in MODULES.items()}


def test_the_packages_are_found() -> None:
    assert {"core.appkeys", "gateway.store", "dispatch.api", "siaga.webapp", "firmware_sim.fleet"} <= set(MODULES)


def test_no_package_imports_one_it_may_not() -> None:
    wrong = []
    for module, imports in IMPORTS.items():
        here = module.split(".")[0]
        for name, top, typing_only in imports:
            there = name.split(".")[0]
            if there == here or there not in PACKAGES or typing_only:
                continue
            if (module, there) in ALLOWED_IMPORTS:
                continue
            lazy_from = LAZY_ONLY.get((here, there))
            if lazy_from is not None:
                if top or module not in lazy_from:
                    wrong.append(f"{module} -> {name} (only lazily, from {sorted(lazy_from)})")
                continue
            if there not in MAY_IMPORT[here]:
                wrong.append(f"{module} -> {name}")
    assert sorted(set(wrong)) == []


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, imports in IMPORTS.items():
        for name, top, typing_only in imports:
            if top and not typing_only and name in MODULES and name != module:
                graph[module].add(name)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return found


def test_no_import_cycle_between_modules() -> None:
    graph = _graph()
    for pair in ALLOWED_CYCLES:
        a, b = sorted(pair)
        graph[a].discard(b)
    assert _cycles(graph) == []


def test_the_allow_list_holds_only_what_is_still_there() -> None:
    """An exception that no longer occurs is taken off the list, so it cannot come back unseen."""
    for module, package in ALLOWED_IMPORTS:
        assert any(n.split(".")[0] == package for n, _, t in IMPORTS.get(module, []) if not t), (module, package)
    graph = _graph()
    for pair in ALLOWED_CYCLES:
        a, b = sorted(pair)
        assert b in graph[a] and a in graph[b], pair
