"""The package's folders are its layers: a module imports only from its own layer or lower ones, and no
two modules import each other, directly or around a circle (imports inside functions count too)."""
from __future__ import annotations

import ast
from pathlib import Path

import ganforge

PACKAGE = Path(ganforge.__file__).parent

# lowest first; a module may import from its own rank or below
LAYERS = [
    {"version", "errors", "fileio", "config"},
    {"data", "imaging", "nets", "losses", "augment", "artifact"},
    {"metrics", "engine"},
    {"predict", "importers"},
    {"tasks"},
    {"api"},
    {"recipes"},
    {"cli", "studio", "__init__", "__main__"},
]
RANK = {name: i for i, names in enumerate(LAYERS) for name in names}


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_nodes(tree: ast.AST):
    """Every node except those under ``if TYPE_CHECKING:`` (type hints only; nothing imported when run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def _imports() -> dict[str, set[str]]:
    """module -> the ganforge modules it imports (relative imports resolved)."""
    files = {_module(p): p for p in PACKAGE.rglob("*.py")}
    out: dict[str, set[str]] = {}
    for mod, path in files.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        found: set[str] = set()
        for node in _runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if not target.startswith("ganforge"):
                    continue
                names = [f"{target}.{a.name}" for a in node.names]
                found.update(n for n in names if n in files)
                if any(n not in files for n in names):  # an attribute of the module itself
                    found.add(target)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names if a.name.startswith("ganforge"))
        out[mod] = found
    return {m: {t for t in targets if t in files and t != m} for m, targets in out.items()}


def _layer(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_upward_imports():
    bad = []
    for mod, targets in _imports().items():
        for t in targets:
            if t == "ganforge":
                t = "ganforge.__init__"
            if RANK[_layer(t)] > RANK[_layer(mod)]:
                bad.append(f"{mod} -> {t}")
    assert not bad, "imports from a higher layer:\n" + "\n".join(sorted(bad))


def test_every_top_level_module_has_a_layer():
    names = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()
             if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    assert names <= set(RANK), f"place these in LAYERS: {sorted(names - set(RANK))}"


def test_no_import_cycles():
    graph = {m: {t for t in ts if t != "ganforge"} for m, ts in _imports().items()}
    # a package importing its own submodules (``from . import a``) is how packages expose them, not a cycle
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in sorted(graph.get(m, ())):
            if state.get(t) == 1:
                cycles.append(stack[stack.index(t):] + [t])
            elif t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles[:10])
