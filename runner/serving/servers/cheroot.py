"""cheroot, CherryPy's server: one process with a fixed thread pool."""

from __future__ import annotations

from runner.serving.servers.base import APP, HOST, THREADS, Recipe, Role, pins

RECIPES = (
    Recipe(
        kind="cheroot",
        summary="cheroot (CherryPy's server), one process with a fixed thread pool",
        role=Role.WSGI,
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
        package="cheroot",
        capacity=lambda options, versions: int(options.get("threads", 10)),
        needs_script="cheroot",
    ),
)
