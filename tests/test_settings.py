"""Every environment variable the tool reads: read in one module, validated there."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

from runner import settings
from runner.settings import SettingError, Settings

REPO = Path(__file__).resolve().parent.parent


def test_an_empty_environment_gives_the_defaults() -> None:
    found = Settings.from_environ({})
    assert found.matrix_file == REPO / "matrix.yaml"
    assert found.results_dir == REPO / "results"
    assert (found.overlap, found.build_jobs, found.env_backend) == (None, None, None)
    assert found.ready_timeout_s == 60.0
    assert found.retry_failed_builds is False
    assert found.index_url == settings.DEFAULT_INDEX


def test_values_are_typed() -> None:
    found = Settings.from_environ(
        {
            "MATRIX_OVERLAP": "8",
            "MATRIX_BUILD_JOBS": "3",
            "MATRIX_READY_TIMEOUT": "4.5",
            "MATRIX_ENV_BACKEND": "virtualenv",
            "MATRIX_RETRY_FAILED_BUILDS": "1",
            "UV_INDEX_URL": "https://example.org/simple/",
            "PIP_INDEX_URL": "https://ignored.example.org/simple",
        }
    )
    assert (found.overlap, found.build_jobs, found.ready_timeout_s) == (8, 3, 4.5)
    assert found.env_backend == "virtualenv"
    assert found.retry_failed_builds is True
    assert found.index_url == "https://example.org/simple"  # the first of the three that is set


@pytest.mark.parametrize(
    ("name", "value", "accepts"),
    [
        ("MATRIX_OVERLAP", "0", "a whole number from 1 to 64"),
        ("MATRIX_OVERLAP", "lots", "a whole number from 1 to 64"),
        ("MATRIX_BUILD_JOBS", "-2", "a whole number from 1 to 32"),
        ("MATRIX_READY_TIMEOUT", "soon", "a number of seconds from 1 to 3600"),
        ("MATRIX_READY_TIMEOUT", "0.2", "a number of seconds from 1 to 3600"),
        ("MATRIX_ENV_BACKEND", "conda", "uv or virtualenv"),
        ("MATRIX_RETRY_FAILED_BUILDS", "yes", "1 or 0"),
        ("UV_DEFAULT_INDEX", "pypi.org/simple", "an http, https or file URL"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable_and_what_it_accepts(
    name: str, value: str, accepts: str
) -> None:
    with pytest.raises(SettingError) as caught:
        Settings.from_environ({name: value})
    message = str(caught.value)
    assert message.startswith(f"{name}={value!r}: expected {accepts}")
    assert "\n" not in message


def test_a_bad_index_url_does_not_print_its_password() -> None:
    with pytest.raises(SettingError) as caught:
        Settings.from_environ({"PIP_INDEX_URL": "ftp://user:s3cret@example.org/simple"})
    assert "s3cret" not in str(caught.value)


def test_a_bad_value_stops_a_command_with_exit_2_before_anything_is_built(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "runner", "--list"],
        cwd=REPO,
        env={**settings.child_environ(), "MATRIX_BUILD_JOBS": "many", "RESULTS_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: MATRIX_BUILD_JOBS='many': expected a whole number from 1 to 32"
    ]
    assert not any(tmp_path.iterdir())


def environ_uses(path: Path, root: Path = REPO) -> list[str]:
    """``file:line`` of every ``os.environ`` or ``os.getenv`` in a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ("environ", "getenv", "environb", "putenv")
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
        ) or (
            isinstance(node, ast.ImportFrom)
            and node.module == "os"
            and any(a.name in ("environ", "getenv") for a in node.names)
        ):
            found.append(f"{path.relative_to(root)}:{node.lineno}")
    return found


def test_only_the_settings_module_reads_the_environment() -> None:
    found = [use for path in sorted((REPO / "runner").rglob("*.py")) for use in environ_uses(path)]
    assert found
    assert all(use.startswith("runner/settings.py:") for use in found), found


def test_the_environment_check_finds_a_read(tmp_path: Path) -> None:
    module = tmp_path / "reads.py"
    module.write_text("import os\nfrom os import getenv\nHOME = os.environ.get('HOME')\n")
    assert environ_uses(module, tmp_path) == ["reads.py:2", "reads.py:3"]


def documented_variables() -> list[str]:
    """The first column of the table in docs/settings.md."""
    text = (REPO / "docs" / "settings.md").read_text(encoding="utf-8")
    return re.findall(r"^\| `([A-Z_]+)` \|", text, re.M)


def literal_reads(path: Path) -> set[str]:
    """Names the module looks up in an environment by a literal: ``x.get("N")``, ``x["N"]``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
            args = node.args[:1]
        elif isinstance(node, ast.Subscript):
            args = [node.slice]
        else:
            continue
        found |= {a.value for a in args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
    return {name for name in found if re.fullmatch(r"[A-Z][A-Z0-9_]+", name)}


def test_the_docs_table_lists_exactly_the_variables_the_settings_module_reads() -> None:
    assert sorted(documented_variables()) == sorted(settings.VARIABLES)
    assert literal_reads(REPO / "runner" / "settings.py") <= set(settings.VARIABLES)
