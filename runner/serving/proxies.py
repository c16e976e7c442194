"""The proxy registry: what a column's ``proxy:`` may name, declared once.

A proxy stands in front of the column's app server: ``require`` finds it
on the machine (or makes the cell ``skipped``, saying how to install it),
``front`` runs it for one cell, proxying to the app server, and ``version``
is what the record keeps.  Its options (``proxy: {kind: nginx, ...}``) are
declared here too, so that the proxy options to come have one home.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from runner.serving import nginx
from runner.serving.process import RunningServer
from runner.serving.servers.base import IDLE, KEEP_ALIVE, Option, Role, Timeout, seconds

Front = Callable[
    [RunningServer, Mapping[str, str], Path, Mapping[str, Any]], AbstractContextManager[RunningServer]
]


@dataclass(frozen=True)
class Proxy:
    name: str
    summary: str
    require: Callable[[], str]  # the executable, or CellSkipped saying how to get it
    version: Callable[[], str | None]
    front: Front
    options: Mapping[str, Option] = field(default_factory=dict)
    role: Role = Role.PROXY
    # Its documented time-outs towards the client (see runner.serving.servers.base).
    timeouts: Mapping[str, Timeout] = field(default_factory=dict)


def _nginx_front(
    app: RunningServer, env: Mapping[str, str], log_path: Path, options: Mapping[str, Any]
) -> AbstractContextManager[RunningServer]:
    return nginx.nginx_in_front(app, env=env, log_path=log_path, options=options)


PROXIES: dict[str, Proxy] = {
    proxy.name: proxy
    for proxy in (
        Proxy(
            name="nginx",
            summary="a real nginx from the system's packages, configured for the cell alone",
            require=nginx.require_nginx,
            version=lambda: nginx.nginx_version(nginx.require_nginx()),
            front=_nginx_front,
            options={
                # proxy_buffering and proxy_request_buffering, both on by
                # default: nginx reads a whole request before it passes it on,
                # and a whole answer (to memory, then a temporary file) so that
                # the upstream is free before a slow client has read it.
                "buffering": Option(bool),
                # idle keep-alive connections nginx keeps to the upstream (0,
                # the default, opens one per request: no upstream race).
                "keepalive": Option(int, minimum=0, maximum=1024),
                "keepalive_timeout": Option(int, minimum=0, maximum=3600),
            },
            timeouts={
                KEEP_ALIVE: Timeout(
                    "keepalive_timeout",
                    seconds(nginx.KEEPALIVE_TIMEOUT_S),
                    nginx.DOCS + "#keepalive_timeout",
                ),
                IDLE: Timeout(
                    None, seconds(nginx.CLIENT_HEADER_TIMEOUT_S), nginx.DOCS + "#client_header_timeout"
                ),
            },
        ),
    )
}
