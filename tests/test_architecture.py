"""The package's shape: no import cycles, layers that import only downwards, a light CLI.

The import graph is read from the source with ``ast`` (nothing is imported): every
``import`` and ``from ... import`` of a dlhw module, at module level and inside
functions, relative imports resolved, plus the modules named to ``registry.lazy`` /
``importlib.import_module``. An edge goes to the module imported, or to the module
``from pkg import name`` names when ``name`` is a submodule.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, Iterable, List, Set

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "dlhw"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> Dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _target(name: str, known: Iterable[str]) -> str | None:
    """The longest known module that ``name`` is or lies inside (dlhw.a.b.func -> dlhw.a.b)."""
    known = set(known)
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in known:
            return candidate
    return None


def imports_of(name: str, source: str, known: Iterable[str], is_package: bool = False) -> Set[str]:
    """The dlhw modules that module ``name`` (with this source) imports, anywhere in its body."""
    known = set(known)
    package = name if is_package else name.rpartition(".")[0]
    found: Set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            names = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in known else origin for a in node.names]
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "id", getattr(node.func, "attr", None)) in ("lazy", "import_module")):
            names = [node.args[0].value]
        else:
            continue
        for n in names:
            if n == "dlhw" or n.startswith("dlhw."):
                target = _target(n, known)
                if target is not None and target != name:
                    found.add(target)
    return found


def import_graph() -> Dict[str, Set[str]]:
    mods = modules()
    return {name: imports_of(name, path.read_text(encoding="utf-8"), mods, path.name == "__init__.py")
            for name, path in mods.items()}


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    out: List[List[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _in(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


# ------------------------------------------------------------- the reader itself
def test_the_reader_sees_every_kind_of_import():
    known = {"dlhw", "dlhw.a", "dlhw.a.b", "dlhw.a.c", "dlhw.d", "dlhw.e", "dlhw.f", "dlhw.g", "dlhw.h"}
    source = (
        "from dlhw.a.b import thing\n"          # a name from a module
        "from dlhw.a import c\n"                # a submodule through its package
        "from . import d\n"                     # relative, inside dlhw.a.x -> dlhw.a.d does not exist: dlhw.a
        "def f():\n"
        "    import dlhw.e as e\n"              # inside a function
        "    from ..f import x\n"               # relative, two levels up
        "    return lazy('dlhw.g', 'build'), importlib.import_module('dlhw.h')\n"
        "import json\n"
    )
    assert imports_of("dlhw.a.x", source, known) == {"dlhw.a.b", "dlhw.a.c", "dlhw.a", "dlhw.e", "dlhw.f",
                                                     "dlhw.g", "dlhw.h"}
    assert imports_of("dlhw.a", "from .b import y\n", known, is_package=True) == {"dlhw.a.b"}


def test_cycles_are_found_with_their_members():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(cycles(graph)) == [["a", "b", "c"], ["d", "e"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_holds_function_level_imports():
    graph = import_graph()
    assert len(graph) > 50
    # run_experiment imports the trainer inside the function: the edge must be seen
    assert "dlhw.training.trainer" in graph["dlhw.orchestration.experiment"]
    assert "dlhw.models.mlp" in graph["dlhw.models"]  # registered lazily by name


# ----------------------------------------------------------------- the rules
def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles (each line: the modules of one cycle):\n" + "\n".join(
        " <-> ".join(c) for c in found)


LOWER = {  # these packages never import the ones listed (data flows one way)
    "dlhw.runtime": ("dlhw.config", "dlhw.data", "dlhw.models", "dlhw.training", "dlhw.evaluation", "dlhw.rundir",
                     "dlhw.orchestration", "dlhw.results", "dlhw.sweeps", "dlhw.reports", "dlhw.cli"),
    "dlhw.config": ("dlhw.data", "dlhw.models", "dlhw.training", "dlhw.evaluation", "dlhw.rundir",
                    "dlhw.orchestration", "dlhw.results", "dlhw.sweeps", "dlhw.reports", "dlhw.cli"),
    "dlhw.rundir": ("dlhw.data", "dlhw.models", "dlhw.training", "dlhw.evaluation", "dlhw.orchestration",
                  "dlhw.results", "dlhw.sweeps", "dlhw.reports", "dlhw.cli"),
    "dlhw.data": ("dlhw.models", "dlhw.training", "dlhw.orchestration", "dlhw.results", "dlhw.sweeps",
                  "dlhw.reports", "dlhw.cli"),
    "dlhw.models": ("dlhw.training", "dlhw.orchestration", "dlhw.results", "dlhw.sweeps", "dlhw.reports", "dlhw.cli"),
    "dlhw.training": ("dlhw.orchestration", "dlhw.results", "dlhw.sweeps", "dlhw.reports", "dlhw.cli"),
    "dlhw.evaluation": ("dlhw.training", "dlhw.orchestration", "dlhw.results", "dlhw.sweeps", "dlhw.reports",
                        "dlhw.cli"),
    "dlhw.orchestration": ("dlhw.results", "dlhw.sweeps", "dlhw.reports", "dlhw.cli"),
    "dlhw.tracking": ("dlhw.orchestration", "dlhw.results", "dlhw.sweeps", "dlhw.reports", "dlhw.api", "dlhw.cli"),
    "dlhw.reports": ("dlhw.orchestration", "dlhw.cli"),
}


@pytest.mark.parametrize("layer", sorted(LOWER))
def test_layers_import_only_downwards(layer):
    graph = import_graph()
    wrong = sorted(f"{m} -> {t}" for m, targets in graph.items() if _in(m, layer)
                   for t in targets if _in(t, *LOWER[layer]))
    assert not wrong, f"{layer} reaches up the chain:\n" + "\n".join(wrong)


def test_only_the_cli_imports_the_cli():
    graph = import_graph()
    wrong = sorted(f"{m} -> {t}" for m, targets in graph.items() if not _in(m, "dlhw.cli")
                   for t in targets if _in(t, "dlhw.cli"))
    assert not wrong, "\n".join(wrong)


HEAVY = ("tensorflow", "keras", "matplotlib", "sklearn", "scipy", "pandas", "ray", "wandb")


def test_importing_the_cli_loads_no_heavy_library():
    code = ("import sys, dlhw.cli; "
            f"print(' '.join(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))")
    env = dict(os.environ, PYTHONPATH=str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "", f"`import dlhw.cli` imported: {res.stdout.strip()}"


MUTATORS = {"append", "extend", "insert", "pop", "popitem", "clear", "update", "setdefault", "add", "discard",
            "remove", "move_to_end", "appendleft", "popleft"}


def module_state(source: str) -> Set[str]:
    """Names bound at module level that the module's functions change: rebind (``global``),
    assign into (``X[k] = v``, ``X.attr = v``, ``del X[k]``, ``X += ...``) or mutate in place
    (``X.append(...)``, ``X.pop(...)``, ...)."""
    tree = ast.parse(source)
    names: Set[str] = set()
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AnnAssign, ast.AugAssign)) else []
        names.update(t.id for t in targets if isinstance(t, ast.Name))

    def base(node) -> str | None:
        while isinstance(node, (ast.Subscript, ast.Attribute)):
            node = node.value
        return node.id if isinstance(node, ast.Name) else None

    changed: Set[str] = set()
    for func in ast.walk(tree):
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(func):
            if isinstance(node, ast.Global):
                changed.update(node.names)
            elif isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
                targets = node.targets if isinstance(node, (ast.Assign, ast.Delete)) else [node.target]
                for t in targets:
                    if isinstance(t, (ast.Subscript, ast.Attribute)):
                        changed.add(base(t))
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATORS:
                changed.add(base(node.func.value))
    return names & changed


def test_the_state_reader_sees_changes_from_functions():
    source = ("A = []\nB = {}\nC = {'x': 1}\nD = None\nE = Thing()\nF = []\n"
              "def f(x):\n    A.append(x)\n    B[x] = 1\n    global D\n    D = x\n    E.flag = x\n    return C['x'], len(F)\n")
    assert module_state(source) == {"A", "B", "D", "E"}


def test_no_module_level_state_outside_runtime():
    """Process-wide state (caches, flags, registries filled at run time) lives in dlhw.runtime."""
    found = {name: sorted(module_state(path.read_text(encoding="utf-8"))) for name, path in modules().items()
             if not _in(name, "dlhw.runtime")}
    found = {k: v for k, v in found.items() if v}
    assert not found, f"module-level state outside dlhw.runtime: {found}"
