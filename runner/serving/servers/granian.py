"""granian, a Rust server, in WSGI mode: worker processes x blocking threads."""

from __future__ import annotations

from runner.serving.servers.base import APP, HOST, PROCESSES, THREADS, Recipe, Role, pins

RECIPES = (
    Recipe(
        kind="granian",
        summary="granian (a Rust server), worker processes x blocking threads",
        role=Role.WSGI,
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
        package="granian",
        min_python=(3, 9),
        capacity=lambda options, versions: int(options.get("workers", 1)) * int(options.get("threads", 1)),
        loaded_by=lambda options: int(options.get("workers", 1)),
        # its workers' event loops accept beyond their blocking threads
        shares_connections=lambda options: int(options.get("workers", 1)) > 1,
        needs_script="granian",
    ),
)
