"""The library's shape: imports point down the declared layer order, no cycles, no kfp, short modules.

Every import is read from the source (module level and inside functions, ``TYPE_CHECKING`` blocks
included), so a lazy import cannot hide an upward dependency. The order is docs/architecture.md's.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SRC = ROOT / "src"

# Rank of each unit: a module may import units of its own rank or lower. Longest prefix wins;
# a package's __init__ is matched by its exact name ("=kftune.run") where it differs from its modules.
LAYERS: list[tuple[str, ...]] = [
    ("kftune.errors", "kftune.layout", "kftune.kt_compat", "kftune.backend"),
    ("kftune.spec",),
    ("kftune.space", "kftune.storage"),
    ("kftune.data",),
    ("kftune.hypermodels",),
    ("kftune.search", "kftune.oracle"),
    ("kftune.results",),
    ("kftune.run",),  # location, state, memory, record, hooks, progress, trial, session
    ("kftune.run.distributed",),  # chief and worker implement the hooks; the session never imports them
    ("kftune.run.entry", "=kftune.run"),
    ("kftune.final", "kftune.cli", "=kftune"),
]
MAX_LINES = 400


def library_modules() -> dict[str, Path]:
    modules = {}
    for path in sorted((SRC / "kftune").rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def rank(module: str) -> int:
    best, best_len = None, -1
    for i, units in enumerate(LAYERS):
        for unit in units:
            if unit.startswith("="):
                if module == unit[1:]:
                    return i
            elif (module == unit or module.startswith(unit + ".")) and len(unit) > best_len:
                best, best_len = i, len(unit)
    assert best is not None, f"{module} is in no layer of tests/test_layers.py: add it"
    return best


def imports_of(module: str, path: Path, known: set[str]) -> set[str]:
    """The kftune modules that ``module`` imports anywhere in its source."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in known else base)
    return {m for m in found if m == "kftune" or m.startswith("kftune.")} - {module}


def graph() -> dict[str, set[str]]:
    modules = library_modules()
    known = set(modules)
    edges = {}
    for name, path in modules.items():
        targets = set()
        for target in imports_of(name, path, known):
            while target not in known and "." in target:  # an attribute import: its module
                target = target.rpartition(".")[0]
            targets.add(target)
        edges[name] = targets - {name}
    return edges


def test_every_library_module_is_in_a_layer() -> None:
    for module in library_modules():
        rank(module)


def test_imports_point_down_the_layer_order() -> None:
    upward = [
        f"{src} (layer {rank(src)}) imports {dst} (layer {rank(dst)})"
        for src, targets in graph().items()
        for dst in sorted(targets)
        if rank(dst) > rank(src)
    ]
    assert not upward, "imports that point up the layer order:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    edges = graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            # A package's __init__ re-exporting its own submodules is not a dependency of theirs.
            if state.get(nxt) == 1 and not nxt.startswith(node + "."):
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_session_never_reaches_the_distributed_roles() -> None:
    edges = graph()
    seen, todo = set(), ["kftune.run.session"]
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        todo.extend(edges.get(node, ()))
    assert not {m for m in seen if m.startswith("kftune.run.distributed")}


def test_library_never_names_kfp() -> None:
    pattern = re.compile(r"\bkfp\b|kftune_kfp")
    hits = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in library_modules().values()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not hits, "src/kftune must not import or name kfp / kftune_kfp:\n" + "\n".join(hits)


def test_no_library_module_over_400_lines() -> None:
    long = {
        str(path.relative_to(ROOT)): n
        for path in library_modules().values()
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_the_checker_sees_lazy_and_upward_imports(tmp_path: Path) -> None:
    """The parser finds imports inside functions and resolves relative ones (else every test above passes vacuously)."""
    source = tmp_path / "mod.py"
    source.write_text("def f():\n    from kftune.run.entry import tune\n    from . import layout\n")
    found = imports_of("kftune.spec.load", source, {"kftune.spec.layout", "kftune.run.entry"})
    assert found == {"kftune.run.entry", "kftune.spec.layout"}
    assert rank("kftune.run.entry") > rank("kftune.spec.load")
