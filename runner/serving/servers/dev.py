"""Flask's and Werkzeug's development servers: ``flask run``, ``app.run()``, ``run_simple``.

Their capacity is what their defaults were: Flask's server became threaded
by default in Flask 1.0 (one request at a time before), Werkzeug's
``run_simple`` has never been.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.environments.envs import version_in
from runner.serving.servers.base import APP, HOST, PROCESSES, Launch, Option, Recipe, Role, Versions, before

THREADED_SINCE = (1, 0)  # Flask's development server threaded by default


def _serve_flags(options: Mapping[str, Any]) -> list[str]:
    flags = []
    if "threaded" in options:
        flags += ["--threaded", "true" if options["threaded"] else "false"]
    if "processes" in options:
        flags += ["--processes", str(options["processes"])]
    return flags


def _capacity(options: Mapping[str, Any], threaded: bool) -> int | None:
    """``processes`` where above 1, else 1 unless threads serve (None: unbounded)."""
    if int(options.get("processes", 1)) > 1:
        return int(options["processes"])
    return None if options.get("threaded", threaded) else 1


def _flask_capacity(options: Mapping[str, Any], versions: Versions) -> int | None:
    return _capacity(options, threaded=not before(versions, "flask", THREADED_SINCE))


def _serve(mode: str) -> Any:
    def command(launch: Launch) -> list[str]:
        argv = [launch.python, "-m", "target_app.serve", mode, "--port", str(launch.port)]
        return argv + _serve_flags(launch.options)

    return command


def _no_flask_command(versions: Versions) -> str:
    return f"Flask {version_in(versions, 'flask') or '?'} has no `flask` command (it arrived in Flask 0.11)"


OPTIONS = {"threaded": Option(bool), "processes": PROCESSES}

RECIPES = (
    Recipe(
        kind="flask-run",
        summary="the `flask run` command with the version's defaults",
        role=Role.DEV,
        command=lambda launch: [launch.tool("flask"), "run", "--host", HOST, "--port", str(launch.port)],
        env={"FLASK_APP": APP},
        capacity=_flask_capacity,
        needs_script="flask",
        script_missing=_no_flask_command,
    ),
    Recipe(
        kind="app-run",
        summary="app.run() with the version's defaults",
        role=Role.DEV,
        command=_serve("app-run"),
        options=OPTIONS,
        capacity=_flask_capacity,
    ),
    Recipe(
        kind="werkzeug",
        summary="werkzeug.serving.run_simple with its defaults",
        role=Role.DEV,
        command=_serve("werkzeug"),
        options=OPTIONS,
        capacity=lambda options, versions: _capacity(options, threaded=False),
    ),
)
