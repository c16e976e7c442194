"""gunicorn: pre-forked workers, sync, gthread or gevent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from packaging.version import Version

from runner.environments.envs import version_in
from runner.serving.servers.base import (
    APP,
    CONNECTIONS,
    HOST,
    PROCESSES,
    THREADS,
    Launch,
    Option,
    Python,
    Recipe,
    Role,
    Versions,
    pins,
)


def _command(launch: Launch) -> list[str]:
    options = launch.options
    argv = [
        launch.tool("gunicorn"),
        "--bind",
        f"{HOST}:{launch.port}",
        "--workers",
        str(options.get("workers", 1)),
    ]
    worker_class = _worker_class(options)
    argv += ["--worker-class", worker_class]
    if "threads" in options:
        argv += ["--threads", str(options["threads"])]
    if "worker_connections" in options:
        argv += ["--worker-connections", str(options["worker_connections"])]
    return [*argv, APP]


def _packages(options: Mapping[str, Any], python: Python) -> tuple[str, ...]:
    packages = pins(((3, 7), "gunicorn<22"), (None, "gunicorn"))(options, python)
    if _worker_class(options) == "gevent":
        # gunicorn 22 and later import packaging in their gevent worker.
        packages += ("gevent", "packaging") if python >= (3, 7) else ("gevent",)
    return packages


def _worker_class(options: Mapping[str, Any]) -> str:
    # gunicorn itself switches sync to gthread when threads > 1; say so.
    if "worker_class" in options:
        return str(options["worker_class"])
    return "gthread" if options.get("threads", 1) > 1 else "sync"


def _unsupported(options: Mapping[str, Any], packages: Mapping[str, str]) -> str | None:
    installed = version_in(packages, "gunicorn")
    if installed is not None and _worker_class(options) == "gthread" and Version(installed) < Version("19.0"):
        return f"gunicorn {installed} has no gthread worker (it arrived in 19.0)"
    return None


def _capacity(options: Mapping[str, Any], versions: Versions) -> int | None:
    workers = int(options.get("workers", 1))
    worker_class = _worker_class(options)
    if worker_class == "gthread":
        return workers * int(options.get("threads", 1))
    if worker_class == "gevent":
        return workers * int(options.get("worker_connections", 1000))
    return workers


RECIPES = (
    Recipe(
        kind="gunicorn",
        summary="gunicorn, pre-forked workers",
        role=Role.WSGI,
        command=_command,
        options={
            "workers": PROCESSES,
            "threads": THREADS,
            "worker_class": Option(str, choices=("sync", "gthread", "gevent")),
            # gthread workers accept connections beyond their threads (up to
            # 1000 by default), so a burst may land unevenly; capping this at
            # `threads` makes each worker take only what it can serve.
            "worker_connections": CONNECTIONS,
        },
        packages=_packages,
        unsupported=_unsupported,
        capacity=_capacity,
        loaded_by=lambda options: int(options.get("workers", 1)),
        needs_script="gunicorn",
    ),
)
