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
from runner.serving.servers.base import Option, Role

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


def _nginx_front(
    app: RunningServer, env: Mapping[str, str], log_path: Path, options: Mapping[str, Any]
) -> AbstractContextManager[RunningServer]:
    return nginx.nginx_in_front(app, env=env, log_path=log_path)


PROXIES: dict[str, Proxy] = {
    proxy.name: proxy
    for proxy in (
        Proxy(
            name="nginx",
            summary="a real nginx from the system's packages, configured for the cell alone",
            require=nginx.require_nginx,
            version=lambda: nginx.nginx_version(nginx.require_nginx()),
            front=_nginx_front,
        ),
    )
}
