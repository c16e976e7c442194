"""uWSGI: a master with pre-forked processes x threads, each loading the app.

From the pyuwsgi wheels; on a period row whose day had none (before 2019),
the uwsgi release of that day built from its source distribution, as
``pip install uwsgi`` did then.
"""

from __future__ import annotations

from runner.serving.servers.base import APP, HOST, PROCESSES, THREADS, Launch, Recipe, Role, pins


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
    ]


RECIPES = (
    Recipe(
        kind="uwsgi",
        summary="uWSGI (the pyuwsgi wheels), a master with pre-forked processes x threads",
        role=Role.WSGI,
        command=_command,
        options={"processes": PROCESSES, "threads": THREADS},
        packages=pins((None, "pyuwsgi")),
        binary_only=("pyuwsgi",),
        built_from_source={"pyuwsgi": "uwsgi"},
        capacity=lambda options, versions: int(options.get("processes", 1)) * int(options.get("threads", 1)),
        loaded_by=lambda options: int(options.get("processes", 1)),
        needs_script="uwsgi",
    ),
)
