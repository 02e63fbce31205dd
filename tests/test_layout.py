"""The package's layout stays as docs/architecture.md describes it (issue 11): functions a
reader can hold in mind, and no import cycle between modules at import time."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import django_preconditions

PACKAGE = Path(django_preconditions.__file__).parent
LONGEST_FUNCTION = 60  # lines, decorators and docstring included


def sources() -> Iterator[tuple[str, Path]]:
    """(dotted module name, path) of every module of the package but its migrations."""
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        yield ".".join(parts), path


def functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def test_issue_11_no_function_of_the_package_is_longer_than_60_lines() -> None:
    too_long = []
    for name, path in sources():
        for function in functions(ast.parse(path.read_text())):
            first = min([d.lineno for d in function.decorator_list] + [function.lineno])
            length = (function.end_lineno or first) - first + 1
            if length > LONGEST_FUNCTION:
                too_long.append(f"{name}.{function.name} ({length} lines)")
    assert not too_long, too_long


def module_level_imports(tree: ast.Module) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: not inside functions, not under
    ``if TYPE_CHECKING``."""
    pending: list[ast.stmt] = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        elif isinstance(node, ast.If):
            if "TYPE_CHECKING" not in ast.unparse(node.test):
                pending.extend(node.body)
            pending.extend(node.orelse)
        elif isinstance(node, ast.Try):
            pending.extend([*node.body, *node.orelse, *node.finalbody])
            for handler in node.handlers:
                pending.extend(handler.body)


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The package's modules that importing ``name`` imports directly."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in module_level_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
            continue
        base = package
        for _ in range(node.level - 1):
            base = base.rpartition(".")[0]
        target = (f"{base}.{node.module}" if node.module else base) if node.level else node.module
        submodules = {f"{target}.{alias.name}" for alias in node.names} & known
        found.update(submodules)
        if target in known and len(submodules) < len(node.names):
            found.add(str(target))  # a name defined by the module itself
    found.discard(name)
    return found


def test_issue_11_no_import_cycle_between_the_modules_of_the_package() -> None:
    paths = dict(sources())
    graph = {name: imported_modules(name, path, set(paths)) for name, path in paths.items()}
    assert sum(map(len, graph.values())) > len(graph)  # the graph was really read
    cycles = []
    done: set[str] = set()

    def visit(name: str, trail: list[str]) -> None:
        if name in trail:
            cycles.append([*trail[trail.index(name) :], name])
            return
        if name in done:
            return
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert not cycles, [" -> ".join(cycle) for cycle in cycles]
