"""The import graph of mae_bench, backbones and tools looks only down the layers of ``LAYERS``.

Every ``import`` / ``from ... import`` of every module is read with ``ast``, the ones inside functions
included, and resolved to a module of the project. A module may import its own layer or those below;
within a layer the graph must still have no cycle.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Bottom first. A module belongs to the longest entry that is its name or a package above it
# (``mae_bench`` alone is the package's empty ``__init__``).
LAYERS = [
    ["mae_bench", "mae_bench.errors", "mae_bench.meta", "mae_bench.config", "mae_bench.results", "mae_bench.stats",
     "mae_bench.progress", "mae_bench.models", "mae_bench.data", "mae_bench.forkrun", "mae_bench.zoo"],
    ["mae_bench.engine", "mae_bench.checkpoints", "mae_bench.hub"],
    ["mae_bench.methods", "mae_bench.evaluation", "mae_bench.perf"],
    ["mae_bench.pretrain"],
    ["mae_bench.transfer", "backbones"],
    ["mae_bench.tables", "mae_bench.report", "mae_bench.demo", "mae_bench.sweep", "mae_bench.ablations"],
    ["mae_bench.cli", "tools"],
]
# Known upward edges, each waiting for its fix elsewhere (none today).
ALLOWED_UP: set[tuple[str, str]] = set()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    files = [*ROOT.glob("mae_bench/**/*.py"), *ROOT.glob("backbones/*.py"), *ROOT.glob("tools/*.py")]
    return {module_name(p): p for p in files}


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules that ``path`` (module ``name``) imports anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            subs = [f"{base}.{a.name}" for a in node.names]
            targets = [t for t in subs if t in known] or [base]  # ``from pkg import mod``: the module only
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def layer_of(name: str) -> int:
    """The layer of the longest entry of LAYERS that is ``name`` or a package above it."""
    hits = [(len(p), i) for i, layer in enumerate(LAYERS) for p in layer if name == p or name.startswith(p + ".")]
    assert hits, f"{name} is in no layer of LAYERS: add it"
    return max(hits)[1]


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    mods = project_modules()
    return {name: imported(path, name, set(mods)) for name, path in mods.items()}


def test_imports_only_look_down(graph):
    up = sorted((a, b) for a, deps in graph.items() for b in deps
                if layer_of(b) > layer_of(a) and (a, b) not in ALLOWED_UP)
    assert not up, "imports from a higher layer:\n" + "\n".join(f"{a} -> {b}" for a, b in up)
    stale = sorted((a, b) for a, b in ALLOWED_UP if b not in graph.get(a, ()))
    assert not stale, f"allowed upward imports that no longer exist (drop them from ALLOWED_UP): {stale}"


def test_no_import_cycle(graph):
    edges = {a: {b for b in deps if (a, b) not in ALLOWED_UP} for a, deps in graph.items()}
    state: dict[str, int] = {}  # 1 = on the path, 2 = done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])


def test_the_graph_is_read(graph):
    """The parser resolves relative, absolute and in-function imports (so the tests above can fail)."""
    assert "mae_bench.models.vit" in graph["mae_bench.models.mae_vit"]  # from .vit import ...
    assert "mae_bench.checkpoints" in graph["backbones.checkpoint_init"]  # from mae_bench.checkpoints import ...
    assert "mae_bench.models.vit" in graph["mae_bench.checkpoints"]  # inside a function
