"""Slow clients: can a few stalled connections block everyone else?

``connections`` connections send half a request and stall; then one ordinary
request: is it answered within ``wait_s``?  The stalled sockets hold the
server's workers, so the probe gets a server of its own.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner import wire
from runner.measuring import hostile
from runner.measuring.probes.base import (
    Answer,
    Probe,
    Result,
    Setting,
    served_chart,
    served_outcome,
    waited_text,
)
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer
from runner.wire import HOST


@dataclass(frozen=True)
class SlowClient(Result):
    stalled: int  # connections that sent half a request and stopped
    served: bool  # the ordinary request that followed was answered
    waited_s: float
    wait_limit_s: float


def slow_client(port: int, stalled: int, wait_s: float, settle_s: float = 0.3) -> SlowClient:
    """``settle_s`` lets the server take up the stalled connections first, as it
    would in life."""
    whole = wire.request("/hello", port, close=True)
    partial = whole[: whole.index(b"Connection:")]  # the head without its blank line: never ends
    with hostile.connections(port, stalled) as sockets:
        for sock in sockets:
            sock.sendall(partial)
        time.sleep(settle_s)
        started = time.perf_counter()
        try:
            with socket.create_connection((HOST, port), timeout=wait_s) as sock:
                sock.sendall(whole)
                wire.read_response(
                    sock, time.monotonic() + max(0.1, wait_s - (time.perf_counter() - started))
                )
                served = True
        except (OSError, wire.WireError):
            served = False
        waited = time.perf_counter() - started
    return SlowClient(
        stalled=stalled, served=served, waited_s=round(min(waited, wait_s), 3), wait_limit_s=wait_s
    )


def _run(server: RunningServer, settings: Mapping[str, Any]) -> SlowClient:
    return slow_client(server.port, settings["connections"], settings["wait_s"])


def _each(result: SlowClient) -> str:
    if result.served:
        return f"served it after {result.waited_s:g} s"
    return f"had not answered after {result.waited_s:g} s"


def _text(result: SlowClient, spread: Spread) -> str:
    return waited_text(result.served, result.waited_s, result.wait_limit_s, spread)


PROBE = Probe(
    name="slow_client",
    title="Slow clients",
    result=SlowClient,
    run=_run,
    key_figure="waited_s",
    settings={"connections": Setting(8, 1, 500), "wait_s": Setting(5, 1, 60)},
    about=(
        "{connections} connections send half a request and stall; then one ordinary "
        "request: answered, and how fast, or still waiting after {wait_s} s."
    ),
    text=_text,
    leaves_clean=False,
    figures={"served": "", "stalled": "connections", "waited_s": "s", "wait_limit_s": "s"},
    needs_cpu=False,
    # a server that blocks makes the probe wait its limit out
    cost=lambda settings, capacity: float(settings["wait_s"]) / 2 + 0.5,
    charts=(
        served_chart(
            "slow_client",
            "Slow clients: was an ordinary request served?",
            (
                ("stalled", "stalled connections"),
                ("waited_s", "waited (s)"),
                ("wait_limit_s", "gave up after (s)"),
            ),
        ),
    ),
    answer=Answer(
        opening=lambda r: (
            f"With {r.stalled} connections that sent half a request and stopped, an ordinary request: "
        ),
        each=_each,
    ),
    # Chance decides it where workers share the stalled connections: gthread's
    # two workers each take what they accept, and the ordinary request is
    # served only if it lands on a worker with a free thread.  No number of
    # stalled connections makes that certain, as a worker accepts up to its
    # worker_connections (1000) whatever its threads.
    outcome=served_outcome(lambda s: f"With {s['connections']} stalled clients"),
)
