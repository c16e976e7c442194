"""waitress: one process, an event loop in front of a thread pool."""

from __future__ import annotations

from runner.serving.servers.base import APP, HOST, THREADS, Recipe, Role, pins

RECIPES = (
    Recipe(
        kind="waitress",
        summary="waitress, one process with a thread pool",
        role=Role.WSGI,
        command=lambda launch: [
            launch.tool("waitress-serve"),
            f"--host={HOST}",
            f"--port={launch.port}",
            f"--threads={launch.options.get('threads', 4)}",
            APP,
        ],
        options={"threads": THREADS},
        packages=pins(((3, 7), "waitress<2.1"), ((3, 8), "waitress<3"), (None, "waitress")),
        capacity=lambda options, versions: int(options.get("threads", 4)),
        needs_script="waitress-serve",
    ),
)
