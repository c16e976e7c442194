"""The house rules, checked: short functions, one list of dependencies, docs in layers."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml
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


MAX_README_LINES = 250


def test_the_readme_is_short_and_the_rest_is_in_the_docs() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES


def nav_pages(nav: object) -> list[str]:
    """Every page a MkDocs ``nav`` names, however deep."""
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in nav_pages(value)]
    return []


def test_every_page_of_the_docs_is_in_the_sites_navigation() -> None:
    config = yaml.safe_load((REPO / "mkdocs.yml").read_text(encoding="utf-8"))
    pages = sorted(str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md"))
    assert sorted(nav_pages(config["nav"])) == pages
    assert config["validation"]["nav"]["omitted_files"] == "warn"  # and --strict fails on it
    assert config["validation"]["links"]["anchors"] == "warn"


def test_the_readmes_links_to_the_docs_lead_to_pages() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text):
        assert (REPO / target).is_file(), target
