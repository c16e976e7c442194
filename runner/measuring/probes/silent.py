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
from runner.measuring.probes.base import Answer, Bars, Chart, Outcome, Probe, Result, Setting, range_text
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
    if result.served:
        return f"served in {result.waited_s:.2f} s{range_text(spread, '{:.2f}')}"
    if result.how != "timeout":
        return f"failed: {result.how}"
    return f"blocked > {result.wait_limit_s:g} s"


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
        Chart(
            "silent",
            "Silent connections: was an ordinary request served?",
            "waited_s",
            Bars(
                "waited_s",
                "seconds the ordinary request waited",
                by="served",
                by_title="ordinary request",
                labels=(("served", "#1b9e77"), ("blocked", "#d95f02")),
                tips=(("connections", "silent connections"), ("waited_s", "waited (s)")),
            ),
        ),
    ),
    answer=Answer(
        opening=lambda r: f"With {r.connections} connections open that sent nothing, an ordinary request: ",
        each=_each,
    ),
    # Chance decides it where workers share the silent connections: each of
    # gthread's workers takes what it accepts, whatever its threads.
    outcome=Outcome(
        name="served",
        of=lambda r: r.served,
        yes="served",
        no="blocked",
        chance=True,
        lead=lambda s: f"With {s['connections']} silent connections",
        yes_phrase=("keeps serving", "keep serving"),
        no_phrase=("is blocked", "are blocked"),
    ),
)
