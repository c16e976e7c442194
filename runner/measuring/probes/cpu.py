"""CPU: do requests that burn the CPU finish faster when sent at once?

The same ``requests`` requests to ``/cpu?n=iterations`` (a pure-Python loop
that holds the GIL) one after another, then all at once.  Threads in one
process overlap (the peak says so) but take turns on the GIL, so the
speed-up stays near 1; processes run in parallel, up to the number of cores.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.measuring.probes.base import Probe, Result, Setting, range_text
from runner.measuring.stats import Spread, peak_overlap, speedup
from runner.measuring.volley import volley
from runner.serving.process import RunningServer


@dataclass(frozen=True)
class CpuResult(Result):
    requests: int
    iterations: int
    sequential_s: float  # the requests one after another
    concurrent_s: float  # the same requests all at once
    speedup: float | None  # sequential / concurrent: ~1 under one GIL
    peak: int | None  # server-side overlap while they ran at once
    processes: int  # distinct server processes that answered
    speedup_per_process: float | None
    errors: int


def probe_cpu(port: int, requests_n: int, iterations: int, timeout_s: float = 120.0) -> CpuResult:
    path = f"/cpu?n={iterations}"
    errors = 0
    started = time.perf_counter()
    for _ in range(requests_n):  # one after another, by the same client as the volley below
        _, (shot,) = volley(port, path, 1, timeout_s)
        errors += shot.answer is None
    sequential = time.perf_counter() - started

    started, shots = volley(port, path, requests_n, timeout_s)
    concurrent = max(shot.finished for shot in shots) - started
    good = [shot.answer for shot in shots if shot.answer is not None]
    errors += requests_n - len(good)
    gain = speedup(sequential, concurrent) if not errors else None
    processes = len({a["pid"] for a in good})
    return CpuResult(
        requests=requests_n,
        iterations=iterations,
        sequential_s=round(sequential, 3),
        concurrent_s=round(concurrent, 3),
        speedup=round(gain, 2) if gain else None,
        peak=peak_overlap([(a["start"], a["end"]) for a in good]) if good else None,
        processes=processes,
        speedup_per_process=round(gain / processes, 2) if gain and processes else None,
        errors=errors,
    )


def _run(server: RunningServer, settings: Mapping[str, Any]) -> CpuResult:
    return probe_cpu(server.port, settings["requests"], settings["iterations"])


def _text(result: CpuResult, spread: Spread) -> str:
    if result.speedup is None or result.speedup_per_process is None:
        return "failed"
    return (
        f"x{result.speedup:.2f}{range_text(spread, '{:.2f}')} "
        f"({result.processes}p, x{result.speedup_per_process:.2f}/p, peak {result.peak})"
    )


PROBE = Probe(
    name="cpu",
    title="CPU",
    result=CpuResult,
    run=_run,
    key_figure="speedup",
    settings={"requests": Setting(4, 1, 64), "iterations": Setting(1_000_000, 1, 100_000_000)},
    about=(
        "{requests} requests burning {iterations} Python loop iterations each, sent one after "
        "another and then all at once: the speed-up of the second over the first, the server "
        "processes that answered, the speed-up per process, and the overlap. Threads overlap "
        "(a peak above 1) but take turns on the GIL (a speed-up near 1 per process)."
    ),
    text=_text,
    figures={
        "speedup": "x",
        "speedup_per_process": "x",
        "sequential_s": "s",
        "concurrent_s": "s",
        "peak": "requests",
        "processes": "processes",
        "errors": "requests",
    },
)
