# /// script
# dependencies = [
#   "nox>=2025.2.9", "uv", "PyYAML>=6", "requests>=2.28", "tabulate>=0.9", "packaging",
#   "altair>=5.4", "vl-convert-python>=1.7",
# ]
# ///
"""Sessions: one per cell of matrix.yaml, ``matrix`` for them all, ``tests``, ``lint``.

Cell sessions are made when nox loads this file, from the matrix it reads
(``matrix.yaml``, or the file ``MATRIX_FILE`` names), so ``nox -l`` lists
every cell and ``nox -s "<cell>"`` runs one.  The runner builds each cell's
own virtualenv (uv, or virtualenv where uv is missing), so these sessions
need none from nox.

The script block above is what ``pipx run nox`` / ``uvx nox`` install to
load this file; it repeats ``[project].dependencies`` of pyproject.toml,
which tests/test_project.py keeps in step.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

import nox

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from runner import cli  # noqa: E402
from runner.errors import UserError  # noqa: E402
from runner.matrix.cells import Matrix  # noqa: E402

nox.options.sessions = ["matrix"]
nox.options.default_venv_backend = "uv|virtualenv"

PYPROJECT = nox.project.load_toml(ROOT / "pyproject.toml")
RUNNER_REQUIREMENTS: list[str] = PYPROJECT["project"]["dependencies"]

MATRIX: Matrix | None
try:
    MATRIX = cli.load_matrix(cached_only=True)  # the index is asked by `nox -s matrix` alone
    MATRIX_ERROR = None
except UserError as exc:  # reported by the sessions that need the matrix
    MATRIX = None
    MATRIX_ERROR = exc


def _finish(session: nox.Session, code: int) -> None:
    if code == 2:
        raise SystemExit(2)
    if code == 130:
        raise KeyboardInterrupt
    if code:
        session.error("some cells failed; the report lists them with their reasons")


def _exit_with(code: int) -> None:
    """A command whose exit status is its answer (compare: 1 when a verdict changed), passed on as it is."""
    if code:
        raise SystemExit(code)


def _matrix_or_exit() -> Matrix:
    if MATRIX is None:
        print(f"error: {MATRIX_ERROR}", file=sys.stderr)
        raise SystemExit(2)
    return MATRIX


@nox.session(venv_backend="none")
def matrix(session: nox.Session) -> None:
    """Build, launch and probe every cell, then publish the report.

    A cell measured before with the same inputs is reused, not measured again;
    `-- --fresh` measures everything, `-- --refresh` asks the index now for
    new releases (else once a day). An interrupted run is continued by the
    next one; `-- --shard K/N` runs one of N parts, `-- --list-shards N`
    prints the plan, `-- --serial` runs each cell whole, one after another.
    """
    _finish(session, cli.matrix_session(None, session.posargs))  # loads the matrix, asking the index


@nox.session(venv_backend="none", default=False)
def pythons(session: nox.Session) -> None:
    """Install the Pythons the matrix's rows ask for, with uv where uv has them (CI runners)."""
    _finish(session, cli.pythons(_matrix_or_exit()))


@nox.session(venv_backend="none")
def clean(session: nox.Session) -> None:
    """What the caches and runs hold on disk; `-- --envs-unused-days N`, `-- --keep-runs K` remove."""
    _finish(session, cli.clean(session.posargs))


@nox.session(venv_backend="none")
def report(session: nox.Session) -> None:
    """Draw a stored run's report, page, charts and data files again (default: results/latest)."""
    _finish(session, cli.report(session.posargs))


@nox.session(venv_backend="none")
def compare(session: nox.Session) -> None:
    """Two runs side by side: exit 0 when no verdict changed, 1 when one did, 2 on bad input."""
    _exit_with(cli.compare(session.posargs))


@nox.session(venv_backend="none")
def site(session: nox.Session) -> None:
    """`-- [RUN_DIR ...] [--out DIR]`: one static site across every complete run (default results/site)."""
    _finish(session, cli.site(session.posargs))


@nox.session(venv_backend="none")
def watch(session: nox.Session) -> None:
    """`-- [--since RUN_DIR]`: which releases appeared since a run, and the matrix it would run."""
    _exit_with(cli.watch(session.posargs))


@nox.session(venv_backend="none")
def reproduce(session: nox.Session) -> None:
    """`-- RUN_DIR CELL`: rebuild a cell from its record's exact packages, measure it again, compare."""
    _exit_with(cli.reproduce(session.posargs))


@nox.session(venv_backend="none")
def merge(session: nox.Session) -> None:
    """Runs of the same matrix (shards, machines) into one run with its report."""
    _finish(session, cli.merge(session.posargs))


@nox.session(venv_backend="none")
def bisect(session: nox.Session) -> None:
    """The release where each change of the latest run happened (`-- --help` for one change)."""
    _finish(session, cli.bisect(session.posargs))


@nox.session
def tests(session: nox.Session) -> None:
    """The project's own tests: unit tests, then real servers in real virtualenvs."""
    session.install(*RUNNER_REQUIREMENTS, *nox.project.dependency_groups(PYPROJECT, "test"))
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format), mypy in strict mode, and the GitHub workflow (actionlint, zizmor)."""
    session.install(*RUNNER_REQUIREMENTS, *nox.project.dependency_groups(PYPROJECT, "test", "lint"))
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy")
    session.run("actionlint")  # with shellcheck over every run: script
    session.run("zizmor", "--offline", ".github/workflows")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site (MkDocs, strict: a broken link, anchor or an
    omitted page fails) into site/."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "docs"))
    session.run("mkdocs", "build", "--strict", "--clean", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})


def _cell_session(name: str, description: str) -> Callable[[nox.Session], None]:
    def cell(session: nox.Session) -> None:
        fresh, refresh = ("--fresh" in session.posargs), ("--refresh" in session.posargs)
        _finish(session, cli.run(_matrix_or_exit(), [name], fresh=fresh, refresh=refresh))

    cell.__doc__ = description
    return cell


if MATRIX is not None:
    for _cell in MATRIX.cells():
        nox.session(name=_cell.name, venv_backend="none", default=False)(
            _cell_session(_cell.name, f"{_cell.row.describe()}, served by {_cell.server.name}")
        )
