"""What every server recipe is made of: its options, packages, command, role and capacity.

A recipe is declared once, as a :class:`Recipe`, in a module of this
package, and registered by one entry in its ``__init__``: ``matrix.yaml``
accepts its options, the environment gets its packages, the launcher runs
its command, and the planner, the report and the answers read its role and
its capacity from it, never from a list of names of their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from runner.environments.envs import version_in
from runner.wire import HOST

__all__ = [
    "APP",
    "HOST",
    "IDLE",
    "KEEP_ALIVE",
    "LONGEST_WAIT_S",
    "REQUEST",
    "Launch",
    "Option",
    "Python",
    "Recipe",
    "Role",
    "Timeout",
    "Versions",
    "before",
    "pins",
    "requirement",
    "seconds",
]

APP = "target_app.app:app"
Python = tuple[int, int]
# Package name -> version: the versions asked for (a specifier such as
# "3.1.*") while planning, the versions installed once an environment is built.
Versions = Mapping[str, str]


class Role(str, Enum):
    """What a server is for, as the answers group columns."""

    DEV = "development server"
    WSGI = "WSGI server"
    PROXY = "proxy"


@dataclass(frozen=True)
class Option:
    type: type
    minimum: int | None = None
    choices: tuple[str, ...] = ()
    maximum: int | None = None

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        if self.type is int:
            if self.minimum is not None and self.maximum is not None:
                return f"a whole number from {self.minimum} to {self.maximum}"
            return "a whole number" + (f" >= {self.minimum}" if self.minimum is not None else "")
        return "a string"

    def accepts(self, value: object) -> bool:
        if not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            return False
        if isinstance(value, int) and self.minimum is not None and value < self.minimum:
            return False
        if isinstance(value, int) and self.maximum is not None and value > self.maximum:
            return False
        return not self.choices or value in self.choices


# The time-outs a server (or a proxy) may have, by what they end:
KEEP_ALIVE = "keep_alive"  # an idle connection between two requests
IDLE = "idle"  # a connection that sends nothing, or half a request
REQUEST = "request"  # a request whose app code runs too long (the worker is freed)
# A probe that would have to outwait a time-out longer than this sets the
# column's option for it (and the record says so) rather than wait.
LONGEST_WAIT_S = 10.0


@dataclass(frozen=True)
class Timeout:
    """One documented time-out: the ``option`` that sets it (in the column's
    options; None where nothing does), its ``default`` seconds given the
    column's options and the versions (None: there is none, it waits for
    ever), and where it is documented."""

    option: str | None
    default: Callable[[Mapping[str, Any], Versions], float | None]
    source: str

    def seconds(self, options: Mapping[str, Any], versions: Versions) -> float | None:
        if self.option is not None and self.option in options:
            return float(options[self.option])
        return self.default(options, versions)


def seconds(value: float | None) -> Callable[[Mapping[str, Any], Versions], float | None]:
    """A default that no release and no option changes."""
    return lambda options, versions: value


# What one cell may ask of the machine: each process loads its own copy of
# the app (30 to 60 MB), each thread holds a stack, each connection a file
# descriptor; beyond these a cell measures the machine, not the server.
PROCESSES = Option(int, minimum=1, maximum=32)
THREADS = Option(int, minimum=1, maximum=256)
CONNECTIONS = Option(int, minimum=1, maximum=10_000)
TIMEOUT_S = Option(int, minimum=1, maximum=3600)


@dataclass(frozen=True)
class Launch:
    """What a recipe needs to build a command: the env and the port."""

    bin_dir: Path
    port: int
    options: Mapping[str, Any]

    @property
    def python(self) -> str:
        return str(self.bin_dir / "python")

    def tool(self, name: str) -> str:
        return str(self.bin_dir / name)


def pins(*rules: tuple[Python | None, str]) -> Callable[[Mapping[str, Any], Python], tuple[str, ...]]:
    """Requirements by Python: the first rule whose bound is above the row's
    Python (or has none) applies.  uv would mostly find these releases itself
    from Requires-Python; the rules say which ones are meant."""

    def requirements(options: Mapping[str, Any], python: Python) -> tuple[str, ...]:
        for below, requirement in rules:
            if below is None or python < below:
                return (requirement,)
        return ()

    return requirements


def before(versions: Versions, package: str, release: tuple[int, int]) -> bool:
    """Whether ``package`` is known to be older than ``release``: an installed
    version, or the first version a specifier names (``0.12.*``, ``<1``)."""
    numbers = re.findall(r"\d+", version_in(versions, package) or "")
    return len(numbers) >= 1 and tuple(int(n) for n in numbers[:2]) < release


def requirement(package: str, spec: str) -> str:
    """``"0.12.5"`` -> ``flask==0.12.5``; ``"3.1.*"`` -> ``flask==3.1.*``;
    ``">=23,<24"`` -> ``gunicorn>=23,<24``."""
    spec = spec.strip()
    if spec[:1].isdigit():
        return f"{package}=={spec}"
    return f"{package}{spec}"


def _no_packages(options: Mapping[str, Any], python: Python) -> tuple[str, ...]:
    return ()


def _no_capacity(options: Mapping[str, Any], versions: Versions) -> int | None:
    return None


def _one_process(options: Mapping[str, Any]) -> int:
    return 1


def _supported(options: Mapping[str, Any], packages: Mapping[str, str]) -> str | None:
    return None


@dataclass(frozen=True)
class Recipe:
    kind: str
    summary: str
    role: Role
    command: Callable[[Launch], list[str]]
    options: Mapping[str, Option] = field(default_factory=dict)
    # Packages beside Flask, for the options and the row's Python.
    packages: Callable[[Mapping[str, Any], Python], tuple[str, ...]] = _no_packages
    # The server's own package: the one a column's ``version`` (or a row's
    # ``servers:``) pins, and whose installed version the record and the tables
    # give.  None for the development servers, whose version is the row's.
    package: str | None = None
    # What a pinned release (the ``version`` or ``servers:`` asked) needs beside
    # it that today's environments no longer carry (a setuptools that still
    # has pkg_resources), given what was asked.
    companions: Callable[[str], tuple[str, ...]] = lambda spec: ()
    # Packages that must come as wheels: nothing is compiled for a cell...
    binary_only: tuple[str, ...] = ()
    # ...except where a period row's day has no such wheel: then the package
    # named here is built from its source distribution, as it was that day.
    built_from_source: Mapping[str, str] = field(default_factory=dict)
    # The variables such a build runs with, given the environments' folder
    # to keep their files in (a compiler wrapper, a build profile).
    source_build_env: Callable[[Path], tuple[tuple[str, str], ...]] | None = None
    # The oldest Python the server runs on; older rows are n/a.
    min_python: Python | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    # How many requests the server should be inside at once, given the options
    # and the versions (asked for when planning, installed when analysing);
    # None where nothing bounds it.
    capacity: Callable[[Mapping[str, Any], Versions], int | None] = _no_capacity
    # How many processes load the app once the server is fully up (each
    # pre-forked worker loads its own copy); readiness waits for them all.
    loaded_by: Callable[[Mapping[str, Any]], int] = _one_process
    # Why the installed release cannot do what the options ask, if it cannot:
    # given the options and the environment's packages (name -> version).
    unsupported: Callable[[Mapping[str, Any], Mapping[str, str]], str | None] = _supported
    # The console script the command runs, if any, and why a release without
    # it makes the cell n/a (given the installed versions) rather than an error.
    needs_script: str | None = None
    script_missing: Callable[[Versions], str] | None = None
    # Its documented time-outs, by what they end (KEEP_ALIVE, IDLE, REQUEST);
    # one it does not name it does not have.
    timeouts: Mapping[str, Timeout] = field(default_factory=dict)
    # Whether its workers each accept more connections than they serve at once,
    # so that which worker took which connection (chance) decides what a
    # client meets: a yes/no that chance decides that way is measured
    # CHANCE_RUNS times on such a column only.
    shares_connections: Callable[[Mapping[str, Any]], bool] = lambda options: False

    @property
    def own_names(self) -> tuple[str, ...]:
        """The server's own package and the one built in its place where no
        wheel exists (pyuwsgi, uwsgi); none for the development servers."""
        own = self.package
        return () if own is None else tuple(n for n in (own, self.built_from_source.get(own)) if n)

    def installed(self, packages: Mapping[str, str]) -> tuple[str, str] | None:
        """The server's own package in an environment and its version (or the
        package it is built from on a period row: uwsgi for pyuwsgi)."""
        for name in self.own_names:
            found = version_in(packages, name)
            if found is not None:
                return name, found
        return None

    def pinned(self, options: Mapping[str, Any], python: Python, spec: str | None) -> tuple[str, ...]:
        """The packages for the options and the row's Python, the server's own
        package pinned to ``spec`` where one is given (it replaces the
        recipe's rule for that Python)."""
        packages = self.packages(options, python)
        if spec is None or self.package is None:
            return packages
        own = canonicalize_name(self.package)
        kept = tuple(p for p in packages if canonicalize_name(Requirement(p).name) != own)
        return (requirement(self.package, spec), *kept, *self.companions(spec))
