"""Python 2 environments, built the way they were built in their day.

uv creates no environment for Python 2, and today's virtualenv and pip no
longer run on it.  A Python 2.7 environment is made instead by:

- virtualenv 20.21.1, the last release that creates 2.7 environments, run
  from a helper environment of its own (under the environments' folder, on
  the runner's Python), never from the tool's;
- the pip 20.3.4, setuptools 44.1.1 and wheel 0.37.1 it carries for 2.7
  (``--no-download``: nothing is fetched but from the package index);
- pip 20.3.4 installing into it, with its 2020 resolver (on Python 2 it
  defaults to the legacy one, which installs conflicting versions and says
  so), ``--isolated`` from the machine's pip configuration, and the index
  the tool reads named explicitly.

A period row is held to its day by a constraints file made from the index's
upload times (:func:`runner.environments.period.as_of`), as uv's
``--exclude-newer`` holds the others.  pip has no such cut-off and no dry
run, so the file is grown in passes: each pass installs into a fresh
environment, and the packages it brought that the file did not yet hold are
added, until none is new (at most :data:`PASSES`).  The seeded pip,
setuptools and wheel are left as virtualenv made them.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Protocol, TextIO

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from runner.environments import period
from runner.environments.interpreters import Interpreter, uv_binary
from runner.errors import CellError
from runner.files import locked

VIRTUALENV = "20.21.1"  # the last virtualenv that creates Python 2.7 environments
PASSES = 4  # of a period row's constraints: each adds what the one before brought
SEEDED = frozenset({"pip", "setuptools", "wheel"})  # as virtualenv seeds them, left alone
PIP = (
    "--isolated",
    "--disable-pip-version-check",
    "--no-python-version-warning",
    "--no-input",
    "--use-feature=2020-resolver",
)


class EnvSpec(Protocol):
    """What is read here of :class:`runner.environments.envs.EnvSpec`."""

    @property
    def interpreter(self) -> Interpreter: ...
    @property
    def requirements(self) -> tuple[str, ...]: ...
    @property
    def exclude_newer(self) -> str | None: ...
    @property
    def binary_only(self) -> tuple[str, ...]: ...
    @property
    def apart(self) -> tuple[tuple[str, str], ...]: ...
    @property
    def build_env(self) -> tuple[tuple[str, str], ...]: ...


Step = Callable[[list[str], TextIO, str, Mapping[str, str] | None], object]
Listing = Callable[[Path, TextIO], dict[str, str]]


def helper(root: Path, log: TextIO, step: Step) -> Path:
    """The Python of the helper environment that holds virtualenv 20.21.1, made once."""
    path = root / ".helpers" / f"virtualenv-{VIRTUALENV}"
    python = path / "bin" / "python"
    with locked(root / ".locks" / f"virtualenv-{VIRTUALENV}"):
        if (path / "ready").exists() and python.exists():
            return python
        shutil.rmtree(path, ignore_errors=True)
        uv = uv_binary()
        if uv:
            step(
                [uv, "venv", "--quiet", "--python", sys.executable, str(path)], log, "virtualenv helper", None
            )
            install = [uv, "pip", "install", "--quiet", "--python", str(python)]
        else:
            step([sys.executable, "-m", "venv", str(path)], log, "virtualenv helper", None)
            install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        step([*install, f"virtualenv=={VIRTUALENV}"], log, "virtualenv helper", None)
        (path / "ready").write_text(VIRTUALENV + "\n", encoding="utf-8")
    return python


def build(spec: EnvSpec, path: Path, log: TextIO, step: Step, listing: Listing) -> str:
    """Build ``spec`` at ``path`` for a Python 2 interpreter; the backend's name."""
    root = path.parent
    creator = helper(root, log, step)
    app_data = {"VIRTUALENV_OVERRIDE_APP_DATA": str(root / ".helpers" / "virtualenv-app-data")}
    direct = names = {str(canonicalize_name(Requirement(r).name)) for r in spec.requirements}
    held: dict[str, str] = {}
    lacking: set[str] = set()  # brought by a package not yet held to the day, with no release by then
    for _ in range(PASSES):
        if spec.exclude_newer:
            found, none = constraints(names - held.keys() - lacking, spec.exclude_newer, dict(spec.apart))
            held.update(found)
            lacking |= none
            if lacking & direct:
                raise _no_release(sorted(lacking & direct)[0], spec)
        shutil.rmtree(path, ignore_errors=True)
        create = [str(creator), "-m", "virtualenv", "--quiet", "--no-download", "--no-periodic-update"]
        step([*create, "--python", spec.interpreter.path, str(path)], log, "virtualenv", app_data)
        step(install_command(spec, path, held), log, "install", dict(spec.build_env))
        brought = {str(canonicalize_name(name)) for name in listing(path, log)} - SEEDED
        names = brought - held.keys() - lacking
        if not spec.exclude_newer:
            return "legacy"
        if not names:
            if lacking & brought:  # still brought once all else is held to the day
                raise _no_release(sorted(lacking & brought)[0], spec)
            return "legacy"
    raise CellError(
        f"the row's day did not settle in {PASSES} passes of pip: each brought packages the "
        f"constraints did not hold yet (last: {', '.join(sorted(names))})"
    )


def constraints(names: set[str], day: str, apart: Mapping[str, str]) -> tuple[dict[str, str], set[str]]:
    """Name -> the constraint that holds it to ``day`` (or to its own cut-off
    in ``apart``), and the names that had no release by then."""
    own = {str(canonicalize_name(k)): v for k, v in apart.items()}
    found, none = {}, set()
    for name in sorted(names - SEEDED):
        line = period.as_of(name, own.get(name, day))
        if line is None:
            none.add(name)
        else:
            found[name] = line
    return found, none


def _no_release(name: str, spec: EnvSpec) -> CellError:
    when = dict(spec.apart).get(name, spec.exclude_newer or "")
    return CellError(f"{name} had no release on the index by {when[:10]}", cause="upstream")


def install_command(spec: EnvSpec, path: Path, held: Mapping[str, str]) -> list[str]:
    cmd = [str(path / "bin" / "python"), "-m", "pip", "install", *PIP, "--index-url", period.index_url()]
    for package in spec.binary_only:
        cmd += ["--only-binary", package]
    if held:
        file = path / "constraints.txt"
        file.write_text("".join(line + "\n" for line in held.values()), encoding="utf-8")
        cmd += ["--constraint", str(file)]
    return cmd + list(spec.requirements)


def is_legacy(version: Sequence[int]) -> bool:
    """Whether an interpreter of ``version`` (major, minor) is built this way."""
    return tuple(version)[:1] == (2,)
