"""Structure of the package, checked on its source: no import cycle, rich only in the CLI's display
module, no CLI flag in a library error, a lazy public API (``import salmubench`` loads no torch)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "salmubench"


def modules() -> dict[str, Path]:
    """``{dotted module name: file}`` of every module of the package (packages by their __init__)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Package modules ``name`` imports anywhere in its file (module level, in functions, under
    TYPE_CHECKING): ``from pkg import sub`` counts as importing ``pkg.sub`` when that is a module."""
    is_pkg = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                pkg = name.split(".") if is_pkg else name.split(".")[:-1]
                pkg = pkg[:len(pkg) - (node.level - 1)]
                base = ".".join(pkg + ([base] if base else []))
            candidates = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in candidates:
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in known and target != name:
                targets.add(target)
    return targets


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for v in graph:
        if v not in index:
            visit(v)
    return out


def test_the_import_graph_has_no_cycle():
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert len(graph) > 100 and sum(map(len, graph.values())) > 300  # the walk sees the real package
    assert "salmubench.unlearning.runner" in graph["salmubench.unlearning.saliency"]
    assert strongly_connected(graph) == []


# The floors of the package, lowest first (docs/architecture.md). A module may import its own unit
# (top-level module or subpackage) and the units of lower floors, never a unit on its own floor or above,
# wherever the import stands (module level, in a function, under TYPE_CHECKING).
FLOORS: tuple[tuple[str, ...], ...] = (
    ("version", "errors"),
    ("config", "io_utils", "seeding", "progress", "registry", "runtime"),
    ("execution", "recipes"),
    ("data", "models"),
    ("evaluation", "training"),
    ("presets", "unlearning"),
    ("tuning", "sequential", "attacks"),
    ("leaderboard", "testing", "api"),
    ("pipeline",),
    ("cli",),
    ("",),  # the package root (salmubench/__init__.py: its public names load lazily, by string)
)


def unit(module: str) -> str:
    """The floor unit of a dotted module name: ``salmubench.data.io`` -> ``data``; the root -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def floor_of() -> dict[str, int]:
    return {name: level for level, names in enumerate(FLOORS) for name in names}


def upward_imports(graph: dict[str, set[str]], floors: dict[str, int]) -> list[str]:
    """``importer -> imported`` for every import of a unit on the importer's floor or above."""
    bad = []
    for name, targets in graph.items():
        for target in targets:
            a, b = unit(name), unit(target)
            if a != b and floors[b] >= floors[a]:
                bad.append(f"{name} -> {target} (floor {floors[a]} -> {floors[b]})")
    return sorted(bad)


def test_every_unit_of_the_package_has_a_floor():
    units = {unit(name) for name in modules()}
    assert units - set(floor_of()) == set(), "add the new unit to FLOORS (and docs/architecture.md)"
    assert set(floor_of()) - units == set(), "FLOORS names a unit the package no longer has"


def test_no_import_runs_up_the_floors():
    known = modules()
    graph = {name: imported(name, path, known) for name, path in known.items()}
    assert upward_imports(graph, floor_of()) == []


def test_the_floor_check_finds_an_upward_import():
    floors = {"data": 1, "unlearning": 2, "sequential": 3}
    graph = {"salmubench.unlearning.api": {"salmubench.sequential.runner", "salmubench.data.io"},
             "salmubench.sequential.runner": {"salmubench.unlearning.api"},
             "salmubench.data.io": {"salmubench.data.schema"}}
    assert upward_imports(graph, floors) == [
        "salmubench.unlearning.api -> salmubench.sequential.runner (floor 2 -> 3)"]
    assert upward_imports({"salmubench.unlearning.a": {"salmubench.data.x"}}, {"data": 2, "unlearning": 2}) != []


def test_no_function_over_60_lines_and_no_module_over_400():
    long_functions, long_modules = [], []
    for name, path in modules().items():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > 400:
            long_modules.append(name)
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > 60:
                long_functions.append(f"{name}.{node.name}")
    assert long_functions == [] and long_modules == []


def test_the_cycle_finder_finds_a_cycle():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_only_the_cli_display_module_imports_rich():
    users = [name for name, path in modules().items()
             if re.search(r"^\s*(from rich\b|import rich\b)", path.read_text(encoding="utf-8"), flags=re.M)]
    assert users == ["salmubench.cli.display"]


def _error_texts(path: Path) -> list[tuple[int, str]]:
    """The string parts of every ``raise X(...)`` in a file, with line numbers."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
            for arg in node.exc.args:
                for sub in ast.walk(arg):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                        out.append((node.lineno, sub.value))
    return out


def test_library_errors_name_parameters_not_command_line_flags():
    flags = [f"{name}:{line}: {text}" for name, path in modules().items() if not name.startswith("salmubench.cli")
             for line, text in _error_texts(path) if re.search(r"(^|[\s(`'\"])--[a-z]", text)]
    assert flags == []


def test_import_salmubench_is_light_and_the_public_api_is_lazy():
    code = ("import sys, salmubench as sb; heavy = [m for m in ('torch', 'numpy', 'open_clip') if m in sys.modules]; "
            "print(heavy, sorted(n for n in sb.__all__ if n != '__version__'))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={"PYTHONPATH": str(PACKAGE.parent), "PATH": "/usr/bin:/bin"})
    heavy, names = proc.stdout.strip().split("] ", 1)
    assert heavy == "["
    for name in ("load_dataset", "load_model", "evaluate", "unlearn", "train_reference", "run_benchmark",
                 "register_method", "register_metric"):
        assert repr(name) in names


def test_public_api_names_are_the_library_functions():
    import salmubench
    from salmubench.api import unlearn
    from salmubench.data.io import load_dataset
    from salmubench.evaluation.evaluator import evaluate
    from salmubench.sequential.api import unlearn_sequential
    from salmubench.unlearning.registry import register_method

    assert salmubench.load_dataset is load_dataset and salmubench.evaluate is evaluate
    assert salmubench.unlearn is unlearn and salmubench.register_method is register_method
    assert salmubench.unlearn_sequential is unlearn_sequential
    for name in salmubench.__all__:
        assert getattr(salmubench, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        salmubench.nope  # noqa: B018
