"""The headline probe: how many requests was the server inside at once?

``requests`` GETs to ``/slow?ms=delay_ms`` are sent together, one connection
each (see :func:`runner.measuring.volley.volley`).  The peak comes from the server's own start and end
times (the target app reports them), the wall time from the client.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from runner.measuring.probes.base import Chart, Map, Outcome, Probe, Result, Setting, Steps, range_text
from runner.measuring.stats import Spread, peak_overlap
from runner.measuring.volley import volley
from runner.serving.process import RunningServer

SERIAL = "serial"
CONCURRENT = "concurrent"


def verdict(peak: int) -> str:
    return SERIAL if peak <= 1 else CONCURRENT


@dataclass(frozen=True)
class ConcurrencyResult(Result):
    requests: int
    delay_ms: int
    peak: int | None
    verdict: str | None
    wall_s: float
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)
    processes: int = 0
    threads: int = 0
    # Requests served by each process, most first: shows how a burst was
    # shared among pre-forked workers.
    per_process: list[int] = field(default_factory=list)
    intervals: list[list[float]] = field(default_factory=list)


def probe_concurrency(
    port: int, requests_n: int = 10, delay_ms: int = 500, timeout_s: float | None = None
) -> ConcurrencyResult:
    """Send ``requests_n`` requests at once to ``/slow?ms=delay_ms``."""
    if timeout_s is None:
        # Enough for a server that serves them one after another, and then some.
        timeout_s = 10.0 + 2 * requests_n * delay_ms / 1000.0
    started, shots = volley(port, f"/slow?ms={delay_ms}", requests_n, timeout_s)
    good = [shot.answer for shot in shots if shot.answer is not None]
    intervals = [(float(a["start"]), float(a["end"])) for a in good]
    peak = peak_overlap(intervals) if intervals else None
    return ConcurrencyResult(
        requests=requests_n,
        delay_ms=delay_ms,
        peak=peak,
        verdict=verdict(peak) if peak is not None else None,
        wall_s=round(max(shot.finished for shot in shots) - started, 3),
        errors=requests_n - len(good),
        error_kinds=dict(Counter(shot.failure for shot in shots if shot.failure)),
        processes=len({a["pid"] for a in good}),
        threads=len({(a["pid"], a["thread"]) for a in good}),
        per_process=sorted(Counter(a["pid"] for a in good).values(), reverse=True),
        intervals=[[round(s, 6), round(e, 6)] for s, e in sorted(intervals)],
    )


def _run(server: RunningServer, settings: Mapping[str, Any]) -> ConcurrencyResult:
    return probe_concurrency(server.port, settings["requests"], settings["delay_ms"])


def _cost(settings: Mapping[str, Any], capacity: int | None) -> float:
    """A server that takes N at once serves the requests in ceil(requests / N) rounds."""
    requests, delay = int(settings["requests"]), float(settings["delay_ms"]) / 1000
    return math.ceil(requests / (capacity or requests)) * delay + 0.3


def _text(result: ConcurrencyResult, spread: Spread) -> str:
    if result.peak is None:
        return "failed"
    return f"{result.peak}{range_text(spread)} {result.verdict}"


PROBE = Probe(
    name="concurrency",
    title="Concurrency",
    result=ConcurrencyResult,
    run=_run,
    key_figure="peak",
    # Under 50 ms, the time it takes to release ten threads shows as much as
    # the server does: a concurrent server could look serial.
    settings={"requests": Setting(10, 1, 1000), "delay_ms": Setting(500, 50, 60000)},
    about=(
        "Peak number of requests the server was inside at the same moment, from the "
        "server's own timestamps, when {requests} requests to a {delay_ms} ms endpoint "
        "arrive at once. `serial` means one at a time. Versions are the ones installed."
    ),
    text=_text,
    always=True,
    figures={
        "verdict": "",
        "peak": "requests",
        "wall_s": "s",
        "errors": "requests",
        "processes": "processes",
        "threads": "threads",
    },
    needs_cpu=False,
    cost=_cost,
    charts=(
        Chart("concurrency", "The concurrency map: verdict and peak of every cell", "peak", Map()),
        Chart("changes", "Where it changed: the peak of each column along the rows", "peak", Steps()),
    ),
    # Not left to chance: requests sent at once that each hold the server for
    # at least 50 ms overlap on any server that can take two at once, whichever
    # worker accepts which; only the peak of a server whose workers split the
    # volley (gthread) depends on the split, and the report explains that peak.
    outcome=Outcome(
        name="verdict",
        of=lambda r: None if r.verdict is None else r.verdict == "concurrent",
        yes="concurrent",
        no="serial",
        chance=False,
        lead=lambda s: f"With {s['requests']} requests at once",
        yes_phrase=("serves several requests at once", "serve several requests at once"),
        no_phrase=("serves one request at a time", "serve one request at a time"),
    ),
)
