"""Silent connections: connections that send nothing, as a browser's preconnect does.

``connections`` connections are opened and send nothing; then one ordinary
request: is it served, how fast, or still waiting after ``wait_s``?  A sync
worker that accepts a silent connection waits on it for a request that never
comes, so the probe gets a server of its own.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

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


@dataclass(frozen=True)
class Silent(Result):
    connections: int  # opened, and sent nothing
    served: bool  # the ordinary request that followed was answered
    waited_s: float
    wait_limit_s: float
    how: str  # how the ordinary request ended: "served", "timeout", "reset", ...


def silent(port: int, count: int, wait_s: float) -> Silent:
    with hostile.connections(port, count):
        time.sleep(hostile.SETTLE_S)
        after = hostile.ordinary(port, wait_s)
    return Silent(count, after.served, after.waited_s, wait_s, after.how)


def _run(server: RunningServer, settings: Mapping[str, Any]) -> Silent:
    return silent(server.port, settings["connections"], settings["wait_s"])


def _text(result: Silent, spread: Spread) -> str:
    return waited_text(result.served, result.waited_s, result.wait_limit_s, spread, result.how)


def _each(result: Silent) -> str:
    if result.served:
        return f"served it after {result.waited_s:g} s"
    return f"had not answered after {result.waited_s:g} s ({result.how})"


PROBE = Probe(
    name="silent",
    title="Silent connections",
    result=Silent,
    run=_run,
    key_figure="waited_s",
    settings={"connections": Setting(4, 1, 500), "wait_s": Setting(3, 1, 60)},
    about=(
        "{connections} connections are opened and send nothing (a browser's preconnect); then one "
        "ordinary request: answered, and how fast, or still waiting after {wait_s} s."
    ),
    text=_text,
    leaves_clean=False,
    figures={"served": "", "connections": "connections", "waited_s": "s", "wait_limit_s": "s"},
    needs_cpu=False,
    cost=lambda settings, capacity: float(settings["wait_s"]) / 2 + 0.5,
    charts=(
        served_chart(
            "silent",
            "Silent connections: was an ordinary request served?",
            (("connections", "silent connections"), ("waited_s", "waited (s)")),
        ),
    ),
    answer=Answer(
        opening=lambda r: f"With {r.connections} connections open that sent nothing, an ordinary request: ",
        each=_each,
    ),
    outcome=served_outcome(lambda s: f"With {s['connections']} silent connections"),
)
