"""Launching a cell's server, and nginx in front of it where the column says so."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

from runner.environments.envs import Env
from runner.errors import CellNotApplicable
from runner.matrix.cells import Options, Server
from runner.serving import watchdog
from runner.serving.process import RunningServer, free_port, running_server, scrubbed_environ, split_cores
from runner.serving.proxies import PROXIES
from runner.serving.servers import Launch, Recipe
from runner.serving.servers.base import IDLE, KEEP_ALIVE, LONGEST_WAIT_S, REQUEST

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
    wanted: Mapping[str, int] | None = None,
) -> Iterator[RunningServer]:
    """The cell's server, ready, and stopped with everything it started when the block ends.

    ``wanted`` gives, by what it ends, a time-out a probe of this server has
    to outwait: where the column's is longer than ``LONGEST_WAIT_S``, it is set
    to the seconds given through the column's option for it.
    """
    port = free_port()
    cores = split_cores(server.cpus)
    if cores is None:
        raise CellNotApplicable(cores_missing(server.cpus))
    server, timeouts = with_timeouts(recipe, server, env.packages, wanted or {})
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
                cores=cores[0],
            )
        )
        if server.proxy is not None:
            app = front
            proxy = PROXIES[server.proxy]
            front = servers.enter_context(proxy.front(app, child_env, log_path, server.proxy_options))
            front = dataclasses.replace(
                front, startup_s=app.startup_s + front.startup_s, groups=app.groups + front.groups
            )
        yield dataclasses.replace(front, timeouts=timeouts)


def cores_missing(cpus: int | None) -> str:
    have = len(os.sched_getaffinity(0))
    return (
        f"the column keeps its server to {cpus} core(s) and the load generator to the others: "
        f"that takes {(cpus or 0) + 1}, and this machine gives the run {have}"
    )


def with_timeouts(
    recipe: Recipe, server: Server, versions: Mapping[str, str], wanted: Mapping[str, int]
) -> tuple[Server, dict[str, tuple[float | None, str]]]:
    """The column with each time-out a probe cannot outwait set through its
    option, and every time-out its client meets: the proxy's towards the
    client where there is one (keep-alive, idle), the app server's otherwise."""
    proxy = PROXIES[server.proxy] if server.proxy is not None else None
    options, proxy_options = dict(server.options), dict(server.proxy_options)
    met: dict[str, tuple[float | None, str]] = {}
    for kind in (KEEP_ALIVE, IDLE, REQUEST):
        fronted = proxy is not None and kind in proxy.timeouts and kind != REQUEST
        declared = proxy.timeouts if fronted and proxy is not None else recipe.timeouts
        into = proxy_options if fronted else options
        timeout = declared.get(kind)
        if timeout is None:
            met[kind] = (None, "")
            continue
        now = timeout.seconds(into, versions)
        option = timeout.option
        if kind in wanted and option and option not in into and now is not None and now > LONGEST_WAIT_S:
            into[option] = wanted[kind]
            met[kind] = (float(wanted[kind]), f"{option}: {wanted[kind]} (was {now:g} s)")
            continue
        met[kind] = (now, "")
    changed = dataclasses.replace(server, options=Options(options), proxy_options=Options(proxy_options))
    return changed, met


def server_env(bin_dir: Path, extra: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment, less what would change a server's defaults."""
    env = scrubbed_environ(("PYTHON",), **extra)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    return env
