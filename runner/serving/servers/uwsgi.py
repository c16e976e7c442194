"""uWSGI: a master with pre-forked processes x threads, each loading the app.

From the pyuwsgi wheels; on a period row whose day had none (before 2019),
the uwsgi release of that day built from its source distribution, as
``pip install uwsgi`` did then.
"""

from __future__ import annotations

from runner.environments.workarounds import uwsgi_source_build
from runner.serving.servers.base import (
    APP,
    HOST,
    IDLE,
    PROCESSES,
    REQUEST,
    THREADS,
    TIMEOUT_S,
    Launch,
    Recipe,
    Role,
    Timeout,
    pins,
    seconds,
)

DOCS = "https://uwsgi-docs.readthedocs.io/en/latest/Options.html"


def _command(launch: Launch) -> list[str]:
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
        *(["--harakiri", str(options["harakiri"])] if "harakiri" in options else []),
    ]


RECIPES = (
    Recipe(
        kind="uwsgi",
        summary="uWSGI (the pyuwsgi wheels), a master with pre-forked processes x threads",
        role=Role.WSGI,
        command=_command,
        # harakiri: seconds a request may run before its worker is killed
        # and replaced (off by default)
        options={"processes": PROCESSES, "threads": THREADS, "harakiri": TIMEOUT_S},
        timeouts={
            REQUEST: Timeout("harakiri", seconds(None), DOCS + "#harakiri"),
            # a read from a client that sends nothing gives up after this
            IDLE: Timeout(None, seconds(4.0), DOCS + "#socket-timeout"),
        },
        packages=pins((None, "pyuwsgi")),
        package="pyuwsgi",
        binary_only=("pyuwsgi",),
        built_from_source={"pyuwsgi": "uwsgi"},
        source_build_env=uwsgi_source_build,
        capacity=lambda options, versions: int(options.get("processes", 1)) * int(options.get("threads", 1)),
        loaded_by=lambda options: int(options.get("processes", 1)),
        needs_script="uwsgi",
    ),
)
