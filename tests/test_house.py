"""The house: one home per fact, and no import cycle inside the runner.

The registries (probes, server recipes, proxies) are the only places that may
name a probe, a server kind or a proxy where a name decides something; an
import cycle, even one hidden behind an import inside a function, fails.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from runner.measuring.probes import PROBES
from runner.serving.proxies import PROXIES
from runner.serving.servers import RECIPES

REPO = Path(__file__).resolve().parent.parent
RUNNER = REPO / "runner"
REGISTRIES = ("runner/measuring/probes/", "runner/serving/servers/", "runner/serving/proxies.py")
# The packages a row names, which are also fields of a row and of a record:
# as a key of a mapping they are the package, never a server kind (Werkzeug's
# server is a kind too; what decides anything of it lives in its recipe).
PACKAGES = frozenset({"flask", "werkzeug"})


def named_literals(
    tree: ast.AST, names: frozenset[str], packages: frozenset[str] = frozenset()
) -> Iterator[tuple[int, str]]:
    """Lines where one of ``names`` is compared, tested for membership, or used
    as a key; one of ``packages`` counts only where it is compared."""
    for node in ast.walk(tree):
        compared: list[ast.expr] = []
        keys: list[ast.expr] = []
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            for op, (left, right) in zip(node.ops, zip(sides, sides[1:])):
                if isinstance(op, (ast.In, ast.NotIn)) and not isinstance(
                    right, (ast.Tuple, ast.List, ast.Set)
                ):
                    keys.append(left)  # a key looked up in a mapping
                else:
                    for side in (left, right):
                        compared += side.elts if isinstance(side, (ast.Tuple, ast.List, ast.Set)) else [side]
        elif isinstance(node, ast.Dict):
            keys += [key for key in node.keys if key is not None]
        elif isinstance(node, ast.Subscript):
            keys.append(node.slice)
        for item, exempt in [*((c, frozenset[str]()) for c in compared), *((k, packages) for k in keys)]:
            if isinstance(item, ast.Constant) and item.value in names and item.value not in exempt:
                yield item.lineno, item.value


def modules(root: Path) -> dict[str, Path]:
    return {
        ".".join(path.relative_to(root.parent).with_suffix("").parts).removesuffix(".__init__"): path
        for path in sorted(root.rglob("*.py"))
    }


def imports_of(path: Path, name: str, known: set[str]) -> set[str]:
    """The runner modules ``path`` imports, wherever in it the import stands."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of the graph, as the modules along it, or None."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def import_graph(root: Path) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports_of(path, name, set(found)) for name, path in found.items()}


def test_no_import_cycle_inside_the_runner() -> None:
    assert cycle(import_graph(RUNNER)) is None


def test_the_cycle_check_finds_one_behind_a_late_import(tmp_path: Path) -> None:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg import b\n")
    (package / "b.py").write_text("def f():\n    from pkg.c import g\n")
    (package / "c.py").write_text("from . import a\n")
    assert cycle(import_graph(package)) == ["pkg.a", "pkg.b", "pkg.c", "pkg.a"]


def test_no_probe_kind_or_proxy_is_named_outside_the_registries() -> None:
    names = frozenset(PROBES) | frozenset(RECIPES) | frozenset(PROXIES)
    found = []
    for path in sorted(RUNNER.rglob("*.py")):
        where = str(path.relative_to(REPO))
        if where.startswith(REGISTRIES):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{where}:{line} {value!r}" for line, value in named_literals(tree, names, PACKAGES)]
    assert found == []


def test_the_name_check_finds_each_kind_of_use() -> None:
    source = (
        'if kind == "gunicorn": pass\n'
        'if name in ("burst", "cpu"): pass\n'
        'COSTS = {"throughput": 1}\n'
        'x = costs["nginx"]\n'
        'print("gunicorn")\n'  # a message, not a decision
        'if "cpu" in probes: pass\n'
        'row = {"werkzeug": "3.1"}\n'  # the package, as a key
        'if kind == "werkzeug": pass\n'  # the server kind, compared
    )
    names = frozenset({"gunicorn", "burst", "cpu", "throughput", "nginx", "werkzeug"})
    assert sorted(named_literals(ast.parse(source), names, frozenset({"werkzeug"}))) == [
        (1, "gunicorn"),
        (2, "burst"),
        (2, "cpu"),
        (3, "throughput"),
        (4, "nginx"),
        (6, "cpu"),
        (8, "werkzeug"),
    ]
