"""waitress: one process, an event loop in front of a thread pool."""

from __future__ import annotations

from runner.serving.servers.base import (
    APP,
    HOST,
    IDLE,
    KEEP_ALIVE,
    THREADS,
    TIMEOUT_S,
    Launch,
    Recipe,
    Role,
    Timeout,
    pins,
    seconds,
)

DOCS = "https://docs.pylonsproject.org/projects/waitress/en/stable/arguments.html"


def _command(launch: Launch) -> list[str]:
    options = launch.options
    argv = [
        launch.tool("waitress-serve"),
        f"--host={HOST}",
        f"--port={launch.port}",
        f"--threads={options.get('threads', 4)}",
    ]
    if "channel_timeout" in options:
        argv.append(f"--channel-timeout={options['channel_timeout']}")
    return [*argv, APP]


# An idle channel (keep-alive, or one that has sent nothing) is closed after
# channel_timeout; the app's own code has no time-out in waitress.
_CHANNEL = Timeout("channel_timeout", seconds(120.0), DOCS + "#channel-timeout")

RECIPES = (
    Recipe(
        kind="waitress",
        summary="waitress, one process with a thread pool",
        role=Role.WSGI,
        command=_command,
        options={"threads": THREADS, "channel_timeout": TIMEOUT_S},
        timeouts={KEEP_ALIVE: _CHANNEL, IDLE: _CHANNEL},
        packages=pins(((3, 7), "waitress<2.1"), ((3, 8), "waitress<3"), (None, "waitress")),
        package="waitress",
        capacity=lambda options, versions: int(options.get("threads", 4)),
        needs_script="waitress-serve",
    ),
)
