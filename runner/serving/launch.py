"""Launching a cell's server, and nginx in front of it where the column says so."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from runner.environments.envs import Env
from runner.matrix.cells import Server
from runner.serving import watchdog
from runner.serving.process import RunningServer, free_port, running_server, scrubbed_environ
from runner.serving.proxies import PROXIES
from runner.serving.servers import Launch, Recipe

REPO = Path(__file__).resolve().parents[2]
# Every server process carries the run's id in its environment, so that the
# run's watchdog, and a check for leftovers, can find any process it started.
RUN_MARK = watchdog.RUN_MARK


@contextmanager
def launched(
    recipe: Recipe,
    server: Server,
    env: Env,
    log_path: Path,
    run_id: str,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[RunningServer]:
    """The cell's server, ready, and stopped with everything it started when the block ends."""
    port = free_port()
    argv = recipe.command(Launch(bin_dir=env.bin_dir, port=port, options=server.options))
    child_env = server_env(env.bin_dir, {**recipe.env, **(extra_env or {}), RUN_MARK: run_id})
    with ExitStack() as servers:
        front = servers.enter_context(
            running_server(
                argv,
                port=port,
                env=child_env,
                cwd=REPO,
                log_path=log_path,
                loaded_by=recipe.loaded_by(server.options),
            )
        )
        if server.proxy is not None:
            app = front
            proxy = PROXIES[server.proxy]
            front = servers.enter_context(proxy.front(app, child_env, log_path, server.proxy_options))
            front = dataclasses.replace(
                front, startup_s=app.startup_s + front.startup_s, groups=app.groups + front.groups
            )
        yield front


def server_env(bin_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment, less what would change a server's defaults."""
    env = scrubbed_environ(("PYTHON",), **extra)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    return env
