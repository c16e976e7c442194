"""Server recipes: the one place that knows how each ``kind`` is launched.

A recipe names the options a column may set (with their types and limits),
the packages the cell's environment needs beside Flask, the argument list
that starts the server on a given port, and the capacity those options
promise (how many requests the server should be inside at once), where the
options fix one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from packaging.version import Version

from runner.environments.envs import version_in
from runner.wire import HOST

APP = "target_app.app:app"


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


# What one cell may ask of the machine: each process loads its own copy of
# the app (30 to 60 MB), each thread holds a stack, each connection a file
# descriptor; beyond these a cell measures the machine, not the server.
PROCESSES = Option(int, minimum=1, maximum=32)
THREADS = Option(int, minimum=1, maximum=256)
CONNECTIONS = Option(int, minimum=1, maximum=10_000)


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


Python = tuple[int, int]


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


@dataclass(frozen=True)
class Recipe:
    kind: str
    summary: str
    command: Callable[[Launch], list[str]]
    options: Mapping[str, Option] = field(default_factory=dict)
    # Packages beside Flask, for the options and the row's Python.
    packages: Callable[[Mapping[str, Any], Python], tuple[str, ...]] = lambda options, python: ()
    # Packages that must come as wheels: nothing is compiled for a cell...
    binary_only: tuple[str, ...] = ()
    # ...except where a period row's day has no such wheel: then the package
    # named here is built from its source distribution, as it was that day.
    built_from_source: Mapping[str, str] = field(default_factory=dict)
    # The oldest Python the server runs on; older rows are n/a.
    min_python: Python | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    capacity: Callable[[Mapping[str, Any]], int | None] = lambda options: None
    # How many processes load the app once the server is fully up (each
    # pre-forked worker loads its own copy); readiness waits for them all.
    loaded_by: Callable[[Mapping[str, Any]], int] = lambda options: 1
    # Why the installed release cannot do what the options ask, if it cannot:
    # given the options and the environment's packages (name -> version).
    unsupported: Callable[[Mapping[str, Any], Mapping[str, str]], str | None] = lambda options, packages: None
    # The console script the command runs, if any: a Flask without it (0.10
    # has no ``flask`` command) makes the cell n/a rather than an error.
    needs_script: str | None = None


def _serve_flags(options: Mapping[str, Any]) -> list[str]:
    flags = []
    if "threaded" in options:
        flags += ["--threaded", "true" if options["threaded"] else "false"]
    if "processes" in options:
        flags += ["--processes", str(options["processes"])]
    return flags


def _dev_server_capacity(options: Mapping[str, Any]) -> int | None:
    if options.get("processes", 1) > 1:
        return int(options["processes"])
    if options.get("threaded") is False:
        return 1
    return None


def _gunicorn_command(launch: Launch) -> list[str]:
    options = launch.options
    argv = [
        launch.tool("gunicorn"),
        "--bind",
        f"{HOST}:{launch.port}",
        "--workers",
        str(options.get("workers", 1)),
    ]
    worker_class = _gunicorn_worker_class(options)
    argv += ["--worker-class", worker_class]
    if "threads" in options:
        argv += ["--threads", str(options["threads"])]
    if "worker_connections" in options:
        argv += ["--worker-connections", str(options["worker_connections"])]
    return [*argv, APP]


def _gunicorn_packages(options: Mapping[str, Any], python: Python) -> tuple[str, ...]:
    packages = pins(((3, 7), "gunicorn<22"), (None, "gunicorn"))(options, python)
    if _gunicorn_worker_class(options) == "gevent":
        # gunicorn 22 and later import packaging in their gevent worker.
        packages += ("gevent", "packaging") if python >= (3, 7) else ("gevent",)
    return packages


def _gunicorn_worker_class(options: Mapping[str, Any]) -> str:
    # gunicorn itself switches sync to gthread when threads > 1; say so.
    if "worker_class" in options:
        return str(options["worker_class"])
    return "gthread" if options.get("threads", 1) > 1 else "sync"


def _gunicorn_unsupported(options: Mapping[str, Any], packages: Mapping[str, str]) -> str | None:
    installed = version_in(packages, "gunicorn")
    if (
        installed is not None
        and _gunicorn_worker_class(options) == "gthread"
        and Version(installed) < Version("19.0")
    ):
        return f"gunicorn {installed} has no gthread worker (it arrived in 19.0)"
    return None


def _gunicorn_capacity(options: Mapping[str, Any]) -> int | None:
    workers = int(options.get("workers", 1))
    worker_class = _gunicorn_worker_class(options)
    if worker_class == "gthread":
        return workers * int(options.get("threads", 1))
    if worker_class == "gevent":
        return workers * int(options.get("worker_connections", 1000))
    return workers


def _uwsgi_command(launch: Launch) -> list[str]:
    options = launch.options
    return [
        launch.tool("uwsgi"),
        "--http-socket",
        f"{HOST}:{launch.port}",
        "--module",
        APP,
        "--master",
        "--processes",
        str(options.get("processes", 1)),
        "--threads",
        str(options.get("threads", 1)),
        "--lazy-apps",  # each process loads the app, so readiness can count them
        "--need-app",  # exit, rather than serve 500s, when the app does not load
        "--die-on-term",  # SIGTERM stops uWSGI (without it, older ones reload)
        "--disable-logging",
    ]


_DEV_OPTIONS = {
    "threaded": Option(bool),
    "processes": PROCESSES,
}

RECIPES: dict[str, Recipe] = {
    recipe.kind: recipe
    for recipe in [
        Recipe(
            kind="flask-run",
            summary="the `flask run` command with the version's defaults",
            command=lambda launch: [
                launch.tool("flask"),
                "run",
                "--host",
                HOST,
                "--port",
                str(launch.port),
            ],
            env={"FLASK_APP": APP},
            needs_script="flask",
        ),
        Recipe(
            kind="app-run",
            summary="app.run() with the version's defaults",
            command=lambda launch: [
                launch.python,
                "-m",
                "target_app.serve",
                "app-run",
                "--port",
                str(launch.port),
                *_serve_flags(launch.options),
            ],
            options=_DEV_OPTIONS,
            capacity=_dev_server_capacity,
        ),
        Recipe(
            kind="werkzeug",
            summary="werkzeug.serving.run_simple with its defaults",
            command=lambda launch: [
                launch.python,
                "-m",
                "target_app.serve",
                "werkzeug",
                "--port",
                str(launch.port),
                *_serve_flags(launch.options),
            ],
            options=_DEV_OPTIONS,
            capacity=lambda options: _dev_server_capacity({"threaded": False, **options}),
        ),
        Recipe(
            kind="gunicorn",
            summary="gunicorn, pre-forked workers",
            command=_gunicorn_command,
            options={
                "workers": PROCESSES,
                "threads": THREADS,
                "worker_class": Option(str, choices=("sync", "gthread", "gevent")),
                # gthread workers accept connections beyond their threads (up to
                # 1000 by default), so a burst may land unevenly; capping this at
                # `threads` makes each worker take only what it can serve.
                "worker_connections": CONNECTIONS,
            },
            packages=_gunicorn_packages,
            unsupported=_gunicorn_unsupported,
            capacity=_gunicorn_capacity,
            loaded_by=lambda options: int(options.get("workers", 1)),
            needs_script="gunicorn",
        ),
        Recipe(
            kind="waitress",
            summary="waitress, one process with a thread pool",
            command=lambda launch: [
                launch.tool("waitress-serve"),
                f"--host={HOST}",
                f"--port={launch.port}",
                f"--threads={launch.options.get('threads', 4)}",
                APP,
            ],
            options={"threads": THREADS},
            packages=pins(((3, 7), "waitress<2.1"), ((3, 8), "waitress<3"), (None, "waitress")),
            capacity=lambda options: int(options.get("threads", 4)),
            needs_script="waitress-serve",
        ),
        Recipe(
            kind="uwsgi",
            summary="uWSGI (the pyuwsgi wheels), a master with pre-forked processes x threads",
            command=_uwsgi_command,
            options={"processes": PROCESSES, "threads": THREADS},
            packages=pins((None, "pyuwsgi")),
            binary_only=("pyuwsgi",),
            built_from_source={"pyuwsgi": "uwsgi"},
            capacity=lambda options: int(options.get("processes", 1)) * int(options.get("threads", 1)),
            loaded_by=lambda options: int(options.get("processes", 1)),
            needs_script="uwsgi",
        ),
        Recipe(
            kind="cheroot",
            summary="cheroot (CherryPy's server), one process with a fixed thread pool",
            command=lambda launch: [
                launch.tool("cheroot"),
                "--bind",
                f"{HOST}:{launch.port}",
                "--threads",
                str(launch.options.get("threads", 10)),
                "--max-threads",
                str(launch.options.get("threads", 10)),
                APP,
            ],
            options={"threads": THREADS},
            packages=pins((None, "cheroot")),
            capacity=lambda options: int(options.get("threads", 10)),
            needs_script="cheroot",
        ),
        Recipe(
            kind="granian",
            summary="granian (a Rust server), worker processes x blocking threads",
            command=lambda launch: [
                launch.tool("granian"),
                "--interface",
                "wsgi",
                "--host",
                HOST,
                "--port",
                str(launch.port),
                "--workers",
                str(launch.options.get("workers", 1)),
                "--blocking-threads",
                str(launch.options.get("threads", 1)),
                APP,
            ],
            options={"workers": PROCESSES, "threads": THREADS},
            packages=pins((None, "granian")),
            min_python=(3, 9),
            capacity=lambda options: int(options.get("workers", 1)) * int(options.get("threads", 1)),
            loaded_by=lambda options: int(options.get("workers", 1)),
            needs_script="granian",
        ),
    ]
}


def recipe_for(kind: str) -> Recipe:
    return RECIPES[kind]
