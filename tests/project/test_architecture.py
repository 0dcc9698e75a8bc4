"""The import contracts of docs/DEVELOPING.md ("The map"), checked on the code's own imports.

Every ``import`` and ``from ... import`` in ``apps/``, ``project/`` and ``infra/`` counts,
at module top, inside a function or under ``TYPE_CHECKING`` alike: a loop that only a
type annotation closes is still a loop for whoever reads the code. The graph is read with
``ast``, so nothing is imported and no Django set-up is needed.

* No circles: no two modules of one folder import each other, straight or round about,
  and no two parts (an app, the project's core, the composition root, infra) do.
* Layers: a part imports only the parts below it in :data:`LAYERS`; parts on one layer
  do not import each other.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("apps", "project", "infra")

#: The project's modules that assemble the apps (URLs, the API, ASGI, the admin site,
#: settings, commands, the Lambda entry): the composition root, above every app.
COMPOSITION = (
    "project.admin",
    "project.admin_apps",
    "project.admin_dashboard",
    "project.admin_site",
    "project.api",
    "project.api_urls",
    "project.apps",
    "project.asgi",
    "project.checks",
    "project.entrypoints",
    "project.management",
    "project.settings",
    "project.snapshot",
    "project.templatetags",
    "project.urls",
    "project.wsgi",
)

#: Top to bottom; a part may import the parts on the layers below its own.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("composition",),
    ("infra",),
    ("apps.push",),
    ("apps.files",),
    ("apps.workflows",),
    ("apps.users", "apps.events"),
    ("project",),
)


@cache
def modules() -> dict[str, Path]:
    """Dotted module name -> file, for every module of the three packages."""
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _imported(module: str, path: Path) -> Iterator[tuple[str, int]]:
    """(module of this tree, line) for each name ``module`` imports from the tree."""
    known = modules()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != module:
                yield target, node.lineno


@cache
def graph() -> dict[str, dict[str, int]]:
    """module -> {imported module: first line importing it}."""
    edges: dict[str, dict[str, int]] = {}
    for module, path in modules().items():
        out = edges.setdefault(module, {})
        for target, line in _imported(module, path):
            out.setdefault(target, line)
    return edges


def part(module: str) -> str:
    """The part a module belongs to: an app, the composition root, the core, infra."""
    if module == "project" or module.startswith(tuple(f"{c}." for c in COMPOSITION)):
        return "composition" if module != "project" else "project"
    if module in COMPOSITION:
        return "composition"
    pieces = module.split(".")
    if pieces[0] == "apps" and len(pieces) > 1:
        return ".".join(pieces[:2])
    return pieces[0]


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _folder(module: str) -> str:
    path = modules()[module]
    return str(path.parent.relative_to(REPO))


def _describe(circle: list[str]) -> str:
    edges = graph()
    ties = [
        f"{a} -> {b} (line {edges[a][b]})" for a in circle for b in circle if b in edges.get(a, {})
    ]
    return "; ".join(ties)


def test_the_reader_sees_every_module_and_real_imports():
    """The checker itself: it finds the packages and follows plain and relative imports."""
    edges = graph()
    assert "apps.events.services" in edges
    assert "project.errors" in edges["apps.events.exceptions"]
    assert len(edges) > 200


def test_no_circles_inside_a_folder():
    """Modules of one folder never import each other in a loop."""
    by_folder: dict[str, dict[str, set[str]]] = {}
    for module, targets in graph().items():
        folder = _folder(module)
        same = {t for t in targets if _folder(t) == folder}
        by_folder.setdefault(folder, {})[module] = same
    found = [c for edges in by_folder.values() for c in circles(edges)]
    assert not found, "\n".join(_describe(c) for c in found)


def test_no_circles_between_modules_anywhere():
    """Not even through other folders: the whole module graph has no loop."""
    edges = {module: set(targets) for module, targets in graph().items()}
    found = circles(edges)
    assert not found, "\n".join(_describe(c) for c in found)


def test_no_circles_between_parts():
    edges: dict[str, set[str]] = {}
    for module, targets in graph().items():
        edges.setdefault(part(module), set()).update(part(t) for t in targets)
    for node, targets in edges.items():
        targets.discard(node)
    assert not circles(edges)


def _layer(name: str) -> int:
    for depth, layer in enumerate(LAYERS):
        if name in layer:
            return depth
    raise AssertionError(f"{name} is on no layer of LAYERS")


@pytest.mark.parametrize("upper", [name for layer in LAYERS for name in layer])
def test_each_part_imports_only_the_layers_below(upper):
    wrong = [
        f"{module} -> {target} (line {line})"
        for module, targets in graph().items()
        if part(module) == upper
        for target, line in targets.items()
        if part(target) != upper and _layer(part(target)) <= _layer(upper)
    ]
    assert not wrong, "\n".join(wrong)


def test_the_workflows_app_knows_no_other_app():
    """The engine runs any app's workflow: its steps and reactions live in those apps."""
    wrong = [
        f"{module} -> {target}"
        for module, targets in graph().items()
        if part(module) == "apps.workflows"
        for target in targets
        if part(target).startswith("apps.")
        and part(target) not in {"apps.workflows", "apps.events"}
    ]
    assert not wrong
