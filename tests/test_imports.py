"""Dependencies point one way: no import cycles in ``edgedistil``, and the shared lower modules
import no pipeline stage.

The graph is read from the source with ``ast``, not by importing: every ``import`` counts, at
module level, inside functions and under ``TYPE_CHECKING`` alike, because an import hidden in a
function is still a dependency (it only fails later). ``from edgedistil.x import y`` is an edge
to the module ``edgedistil.x.y`` when that is a module, else to ``edgedistil.x``.

A package and its own submodules: an edge from a package (its ``__init__``) to one of its own
submodules is not counted. Such a package is an index of its parts (``edgedistil/cli/__init__.py``
imports its command modules so that each registers its commands; they import
``edgedistil.cli._app``), not a layer that its parts sit on; counting those edges would call
every such index a cycle. Every other edge counts, including a submodule importing its own
package: that one is a real dependency on what the ``__init__`` defines.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "edgedistil"
STAGES = ("export", "quantize", "distill", "bench", "pipeline", "build", "cli")
# Lower modules -> the modules they must never import (directly or through anything else).
LAYERS = {
    "edgedistil.verify": tuple(f"edgedistil.{s}" for s in STAGES),
    "edgedistil.files": ("edgedistil",),  # the stdlib only
    "edgedistil.export": ("edgedistil.quantize", "edgedistil.bench", "edgedistil.distill"),
    "edgedistil.distill": ("edgedistil.export", "edgedistil.quantize", "edgedistil.bench"),
}


def module_names(root: Path) -> dict[str, Path]:
    """Dotted name -> file for every module under ``root`` (a package: its ``__init__.py``)."""
    names = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that ``name`` imports anywhere in its source."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the package, up level - 1 packages
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in modules else base)
    return {m for m in found if m in modules}


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the modules it imports, without a package's edges to its own submodules."""
    modules = module_names(root)
    return {
        name: {m for m in imports_of(name, path, modules) if not m.startswith(name + ".")}
        for name, path in modules.items()
    }


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The shortest cycle through each module not already on a found one, start repeated at
    the end."""
    cycles, done = [], set[str]()
    for start in sorted(graph):
        cycle = None if start in done else shortest_path(start, start.__eq__, graph)
        if cycle:
            cycles.append(cycle)
            done.update(cycle)
    return cycles


def shortest_path(
    start: str, is_goal: Callable[[str], bool], graph: dict[str, set[str]]
) -> list[str] | None:
    """The shortest import chain from ``start`` to a module ``is_goal`` accepts (``start``
    itself only by a path through others), breadth first; None when there is none."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for nxt in sorted(graph.get(node, ())):
                if is_goal(nxt):
                    path = [nxt]
                    while node != start:
                        path.append(node)
                        node = previous[node]
                    return [start, *reversed(path)]
                if nxt not in previous and nxt != start:
                    previous[nxt] = node
                    following.append(nxt)
        frontier = following
    return None


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_no_module_imports_itself_through_others() -> None:
    cycles = [" -> ".join(cycle) for cycle in find_cycles(import_graph())]
    assert not cycles, "import cycles:\n  " + "\n  ".join(cycles)


@pytest.mark.parametrize("lower", sorted(LAYERS))
def test_lower_modules_import_no_later_stage(lower: str) -> None:
    graph = import_graph()

    def forbidden(name: str) -> bool:
        return not _within(name, lower) and any(_within(name, f) for f in LAYERS[lower])

    chains = [shortest_path(m, forbidden, graph) for m in sorted(graph) if _within(m, lower)]
    wrong = [" -> ".join(chain) for chain in chains if chain]
    assert not wrong, f"{lower} may not import {', '.join(LAYERS[lower])}:\n  " + "\n  ".join(wrong)


def test_the_check_finds_a_cycle_and_names_it(tmp_path: Path) -> None:
    """The checker itself: a package with a -> b -> a (one import inside a function) and an
    index ``__init__`` that imports both, which is not a cycle."""
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("from pkg.sub import a, b\n")
    (root / "sub" / "a.py").write_text("from pkg.sub.b import thing\n")
    (root / "sub" / "b.py").write_text("def thing():\n    from pkg.sub import a\n")
    (root / "c.py").write_text("from . import d\n")
    (root / "d.py").write_text("import pkg.sub.a\n")
    graph = import_graph(root)
    assert graph["pkg.sub"] == set() and graph["pkg.c"] == {"pkg.d"}
    assert find_cycles(graph) == [["pkg.sub.a", "pkg.sub.b", "pkg.sub.a"]]
