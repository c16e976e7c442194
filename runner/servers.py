"""Server recipes: the one place that knows how each ``kind`` is launched.

A recipe names the options a column may set (with their types and limits),
the packages the cell's environment needs beside Flask, the argument list
that starts the server on a given port, and the capacity those options
promise (how many requests the server should be inside at once), where the
options fix one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

APP = "target_app.app:app"
HOST = "127.0.0.1"


@dataclass(frozen=True)
class Option:
    type: type
    minimum: Optional[int] = None
    choices: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        if self.type is bool:
            return "true or false"
        if self.type is int:
            return "a whole number" + (f" >= {self.minimum}" if self.minimum is not None else "")
        return "a string"


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


@dataclass(frozen=True)
class Recipe:
    kind: str
    summary: str
    command: Callable[[Launch], list[str]]
    options: Mapping[str, Option] = field(default_factory=dict)
    packages: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    capacity: Callable[[Mapping[str, Any]], Optional[int]] = lambda options: None
    # How many processes load the app once the server is fully up (each
    # pre-forked worker loads its own copy); readiness waits for them all.
    loaded_by: Callable[[Mapping[str, Any]], int] = lambda options: 1
    # The console script the command runs, if any: a Flask without it (0.10
    # has no ``flask`` command) makes the cell n/a rather than an error.
    needs_script: Optional[str] = None


def _serve_flags(options: Mapping[str, Any]) -> list[str]:
    flags = []
    if "threaded" in options:
        flags += ["--threaded", "true" if options["threaded"] else "false"]
    if "processes" in options:
        flags += ["--processes", str(options["processes"])]
    return flags


def _dev_server_capacity(options: Mapping[str, Any]) -> Optional[int]:
    if options.get("processes", 1) > 1:
        return int(options["processes"])
    if options.get("threaded") is False:
        return 1
    return None


def _gunicorn_command(launch: Launch) -> list[str]:
    options = launch.options
    argv = [
        launch.tool("gunicorn"),
        "--bind", f"{HOST}:{launch.port}",
        "--workers", str(options.get("workers", 1)),
    ]
    worker_class = _gunicorn_worker_class(options)
    argv += ["--worker-class", worker_class]
    if "threads" in options:
        argv += ["--threads", str(options["threads"])]
    if "worker_connections" in options:
        argv += ["--worker-connections", str(options["worker_connections"])]
    return argv + [APP]


def _gunicorn_worker_class(options: Mapping[str, Any]) -> str:
    # gunicorn itself switches sync to gthread when threads > 1; say so.
    if "worker_class" in options:
        return str(options["worker_class"])
    return "gthread" if options.get("threads", 1) > 1 else "sync"


def _gunicorn_capacity(options: Mapping[str, Any]) -> Optional[int]:
    workers = int(options.get("workers", 1))
    if _gunicorn_worker_class(options) == "gthread":
        return workers * int(options.get("threads", 1))
    return workers


_DEV_OPTIONS = {
    "threaded": Option(bool),
    "processes": Option(int, minimum=1),
}

RECIPES: dict[str, Recipe] = {
    recipe.kind: recipe
    for recipe in [
        Recipe(
            kind="flask-run",
            summary="the `flask run` command with the version's defaults",
            command=lambda launch: [
                launch.tool("flask"), "run", "--host", HOST, "--port", str(launch.port),
            ],
            env={"FLASK_APP": APP},
            needs_script="flask",
        ),
        Recipe(
            kind="app-run",
            summary="app.run() with the version's defaults",
            command=lambda launch: [
                launch.python, "-m", "target_app.serve", "app-run", "--port", str(launch.port),
                *_serve_flags(launch.options),
            ],
            options=_DEV_OPTIONS,
            capacity=_dev_server_capacity,
        ),
        Recipe(
            kind="werkzeug",
            summary="werkzeug.serving.run_simple with its defaults",
            command=lambda launch: [
                launch.python, "-m", "target_app.serve", "werkzeug", "--port", str(launch.port),
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
                "workers": Option(int, minimum=1),
                "threads": Option(int, minimum=1),
                "worker_class": Option(str, choices=("sync", "gthread")),
                # gthread workers accept connections beyond their threads (up to
                # 1000 by default), so a burst may land unevenly; capping this at
                # `threads` makes each worker take only what it can serve.
                "worker_connections": Option(int, minimum=1),
            },
            packages=("gunicorn",),
            capacity=_gunicorn_capacity,
            loaded_by=lambda options: int(options.get("workers", 1)),
            needs_script="gunicorn",
        ),
        Recipe(
            kind="waitress",
            summary="waitress, one process with a thread pool",
            command=lambda launch: [
                launch.tool("waitress-serve"),
                f"--host={HOST}", f"--port={launch.port}",
                f"--threads={launch.options.get('threads', 4)}",
                APP,
            ],
            options={"threads": Option(int, minimum=1)},
            packages=("waitress",),
            capacity=lambda options: int(options.get("threads", 4)),
            needs_script="waitress-serve",
        ),
    ]
}


def recipe_for(kind: str) -> Recipe:
    return RECIPES[kind]
