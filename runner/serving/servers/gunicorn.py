"""gunicorn: pre-forked workers, sync, gthread or gevent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.environments.envs import version_in
from runner.serving.servers.base import (
    APP,
    CONNECTIONS,
    HOST,
    IDLE,
    KEEP_ALIVE,
    PROCESSES,
    REQUEST,
    THREADS,
    TIMEOUT_S,
    Launch,
    Option,
    Python,
    Recipe,
    Role,
    Timeout,
    Versions,
    before,
    pins,
)

DOCS = "https://docs.gunicorn.org/en/stable/settings.html"


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
    for option, flag in (("timeout", "--timeout"), ("keepalive", "--keep-alive")):
        if option in options:
            argv += [flag, str(options[option])]
    return [*argv, APP]


def _packages(options: Mapping[str, Any], python: Python) -> tuple[str, ...]:
    packages = pins(((3, 7), "gunicorn<22"), (None, "gunicorn"))(options, python)
    if _worker_class(options) == "gevent":
        # gunicorn 22 and later import packaging in their gevent worker.
        packages += ("gevent", "packaging") if python >= (3, 7) else ("gevent",)
    if _worker_class(options) == "gthread" and python < (3, 0):
        # the gthread worker's thread pool is concurrent.futures, a backport on Python 2
        packages += ("futures",)
    return packages


def _worker_class(options: Mapping[str, Any]) -> str:
    # gunicorn itself switches sync to gthread when threads > 1; say so.
    if "worker_class" in options:
        return str(options["worker_class"])
    return "gthread" if options.get("threads", 1) > 1 else "sync"


def _unsupported(options: Mapping[str, Any], packages: Mapping[str, str]) -> str | None:
    installed = version_in(packages, "gunicorn")
    gthread = _worker_class(options) == "gthread"
    if installed is not None and gthread and before(packages, "gunicorn", (19, 0)):
        return f"gunicorn {installed} has no gthread worker (it arrived in 19.0)"
    return None


# gunicorn's defaults (config.py, the same from 19.0 to 23.0): timeout 30 s,
# keepalive 2 s.  A worker that does not report to the arbiter for `timeout`
# is killed and replaced: a sync or gthread worker stuck in app code.  A
# gevent worker keeps reporting while a greenlet sleeps, so nothing ends it.
def _request_timeout(options: Mapping[str, Any], versions: Versions) -> float | None:
    return None if _worker_class(options) == "gevent" else 30.0


def _keep_alive(options: Mapping[str, Any], versions: Versions) -> float | None:
    """The sync worker has no keep-alive: it closes after each answer."""
    return None if _worker_class(options) == "sync" else 2.0


def _idle(options: Mapping[str, Any], versions: Versions) -> float | None:
    """What ends a connection that sends nothing, as gunicorn's code reads:
    a sync worker blocks in its read until the arbiter kills it (`timeout`);
    a gevent worker reads under a keep-alive time-out; gthread changed with
    its releases (a thread blocks with no limit in 20 and in 24 to 25.1; 21.0
    and 21.1 close it after keepalive; 21.2 to 23 park it unthreaded with no
    limit; 25.2 gives it 5 s, then keepalive)."""
    worker_class = _worker_class(options)
    if worker_class == "sync":
        return float(options.get("timeout", 30))
    keepalive = float(options.get("keepalive", 2))
    if worker_class == "gevent":
        return keepalive
    if not before(versions, "gunicorn", (21, 0)) and before(versions, "gunicorn", (21, 2)):
        return keepalive
    if not before(versions, "gunicorn", (25, 2)) and version_in(versions, "gunicorn") is not None:
        return 5.0 + keepalive
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
            # seconds a worker may stay silent before the arbiter kills it and
            # starts another, and seconds an idle keep-alive connection waits
            "timeout": TIMEOUT_S,
            "keepalive": Option(int, minimum=0, maximum=3600),
        },
        timeouts={
            REQUEST: Timeout("timeout", _request_timeout, DOCS + "#timeout"),
            KEEP_ALIVE: Timeout("keepalive", _keep_alive, DOCS + "#keepalive"),
            IDLE: Timeout("timeout", _idle, "gunicorn/workers/sync.py, gthread.py"),
        },
        packages=_packages,
        package="gunicorn",
        # gunicorn before 21.0 imports pkg_resources, which setuptools 82 removed
        # and which uv's environments do not carry
        companions=lambda spec: ("setuptools<82",) if before({"gunicorn": spec}, "gunicorn", (21, 0)) else (),
        unsupported=_unsupported,
        capacity=_capacity,
        # gthread and gevent workers accept beyond what they serve (up to
        # worker_connections): with two or more, the split is chance
        shares_connections=lambda options: (
            _worker_class(options) != "sync" and int(options.get("workers", 1)) > 1
        ),
        loaded_by=lambda options: int(options.get("workers", 1)),
        needs_script="gunicorn",
    ),
)
