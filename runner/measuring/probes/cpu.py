"""CPU: do requests that burn the CPU finish faster when sent at once?

The same ``requests`` requests to ``/cpu?n=iterations`` (a pure-Python loop
that holds the GIL) one after another, then all at once.  Threads in one
process overlap (the peak says so) but take turns on the GIL, so the
speed-up stays near 1; processes run in parallel, up to the number of cores.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner.measuring.probes.base import Answer, Bars, Chart, Probe, Result, Setting, range_text
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


CPU_ITERATION_S = 45e-9  # one iteration of the target app's /cpu loop, on one core here


def _cost(settings: Mapping[str, Any], capacity: int | None) -> float:
    """The requests one after another, then at once."""
    return 2 * int(settings["requests"]) * int(settings["iterations"]) * CPU_ITERATION_S + 0.1


def _each(result: CpuResult) -> str:
    procs = "one process" if result.processes == 1 else f"{result.processes} processes"
    if not result.speedup:
        return "gave no speed-up figure"
    return f"ran them {result.speedup:.2f} times as fast as one after another ({procs})"


def _gil(results: Sequence[CpuResult]) -> str:
    """Where only the servers of more than one process ran the requests faster, say so."""
    one = [float(r.speedup or 0) for r in results if r.processes == 1]
    many = [float(r.speedup or 0) for r in results if r.processes > 1]
    if one and many and max(one) < 1.5 <= min(many):
        return (
            "; only the servers that ran them in more than one process ran them faster, "
            "as one GIL per process predicts"
        )
    return ""


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
    cost=_cost,
    machine_bound=True,
    charts=(
        Chart(
            "cpu",
            "CPU-bound work: speed-up of requests at once over one after another",
            "speedup",
            Bars(
                "speedup",
                "speed-up (1 = no gain from running at once)",
                tips=(
                    ("speedup", "speed-up"),
                    ("speedup_per_process", "speed-up per process"),
                    ("processes", "processes"),
                    ("sequential_s", "one after another (s)"),
                    ("concurrent_s", "all at once (s)"),
                ),
            ),
        ),
    ),
    answer=Answer(
        opening=lambda r: f"{r.requests} CPU-bound requests at once (pure Python, which holds the GIL): ",
        each=_each,
        closing=_gil,
    ),
)
