"""The house rules, checked: short functions, one list of dependencies."""

from __future__ import annotations

import ast
from pathlib import Path

from nox.project import load_toml

REPO = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 50


def long_functions(root: Path, limit: int) -> list[str]:
    """``path:line name (N lines)`` for every function longer than ``limit`` lines."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_in_the_runner_is_longer_than_fifty_lines() -> None:
    assert long_functions(REPO / "runner", MAX_FUNCTION_LINES) == []


def test_the_length_check_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(60))
    (tmp_path / "long.py").write_text(f"def long():\n{body}\n")
    assert long_functions(tmp_path, MAX_FUNCTION_LINES) == ["long.py:1 long (61 lines)"]


def script_dependencies(noxfile: Path) -> list[str]:
    """The ``dependencies`` of a file's PEP 723 script block."""
    return list(load_toml(noxfile)["dependencies"])


def test_the_noxfile_script_block_repeats_the_project_dependencies() -> None:
    project = load_toml(REPO / "pyproject.toml")["project"]
    assert script_dependencies(REPO / "noxfile.py") == project["dependencies"]
