"""Burst: many connections at once; how many are answered, refused, reset?

``requests`` connections are opened at once, each asking for ``/slow``; the
probe stops by itself after ``timeout_s``, whatever is still pending counted
as timed out.  It leaves a queue behind, so it gets a server of its own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner import wire
from runner.measuring.probes.base import Answer, Chart, Outcome, Outcomes, Probe, Result, Setting, range_text
from runner.measuring.stats import Spread, peak_overlap
from runner.serving.process import RunningServer
from runner.wire import HOST


@dataclass(frozen=True)
class Burst(Result):
    requests: int
    delay_ms: int
    completed: int
    refused: int
    reset: int
    timed_out: int
    other: int
    open_peak: int  # client connections open at the same moment
    peak: int | None  # server-side overlap of the completed ones
    wall_s: float


def burst(port: int, requests_n: int, delay_ms: int, timeout_s: float) -> Burst:
    started = time.perf_counter()
    outcomes, intervals, open_peak = asyncio.run(_burst(port, requests_n, delay_ms, timeout_s))
    counts = Counter(outcomes)
    reset = counts["reset"] + counts["closed early"]
    known = counts["ok"] + counts["refused"] + reset + counts["timeout"]
    return Burst(
        requests=requests_n,
        delay_ms=delay_ms,
        completed=counts["ok"],
        refused=counts["refused"],
        reset=reset,
        timed_out=counts["timeout"],
        other=requests_n - known,
        open_peak=open_peak,
        peak=peak_overlap(intervals) if intervals else None,
        wall_s=round(time.perf_counter() - started, 3),
    )


async def _burst(
    port: int, requests_n: int, delay_ms: int, timeout_s: float
) -> tuple[list[str], list[tuple[float, float]], int]:
    request = wire.request(f"/slow?ms={delay_ms}", port, close=True)
    state = {"open": 0, "peak": 0}
    intervals: list[tuple[float, float]] = []
    go = asyncio.Event()

    async def one() -> str:
        await go.wait()
        writer = None
        try:
            reader, writer = await asyncio.open_connection(HOST, port)
            state["open"] += 1
            state["peak"] = max(state["peak"], state["open"])
            writer.write(request)
            response = await wire.read_response_async(reader)
            answer = response.json_object() if response.status == 200 else None
            if answer is None:
                return "http error"
            intervals.append((float(answer["start"]), float(answer["end"])))
            return "ok"
        except asyncio.CancelledError:
            return "timeout"
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return wire.failure_name(exc)
        finally:
            if writer is not None:
                state["open"] -= 1
                writer.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(requests_n)]
    await asyncio.sleep(0)
    go.set()
    _, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    outcomes = [t.result() if not t.cancelled() else "timeout" for t in tasks]
    return outcomes, intervals, state["peak"]


def _run(server: RunningServer, settings: Mapping[str, Any]) -> Burst:
    return burst(server.port, settings["requests"], settings["delay_ms"], settings["timeout_s"])


def _cost(settings: Mapping[str, Any], capacity: int | None) -> float:
    """A server with room for few waits the time-out out; the others do not."""
    requests, delay = int(settings["requests"]), float(settings["delay_ms"]) / 1000
    served_in = math.ceil(requests / capacity) * delay if capacity else 2.0
    return min(float(settings["timeout_s"]), served_in) + 0.5


def _each(result: Burst) -> str:
    lost = {
        "refused": result.refused,
        "reset": result.reset,
        "timed out": result.timed_out,
        "failed otherwise": result.other,
    }
    said = ", ".join(f"{n} {k}" for k, n in lost.items() if n)
    return f"completed {result.completed}" + (f" ({said})" if said else "")


def _text(result: Burst, spread: Spread) -> str:
    lost = [
        f"{count} {label}"
        for count, label in (
            (result.refused, "refused"),
            (result.reset, "reset"),
            (result.timed_out, "timed out"),
            (result.other, "other"),
        )
        if count
    ]
    text = (
        f"{result.completed}/{result.requests}{range_text(spread, '{:.0f}')} "
        f"in {result.wall_s:.1f} s, peak {result.peak}"
    )
    return text + (", " + ", ".join(lost) if lost else "")


def _beyond_capacity(settings: Mapping[str, Any], capacity: int | None) -> bool:
    """Whether the server cannot answer the whole burst in time however the race
    falls: each of its ``capacity`` requests at once takes ``delay_ms`` at
    least, so it finishes at most capacity x floor(timeout / delay) of them."""
    delay_ms = int(settings["delay_ms"])
    if capacity is None or delay_ms <= 0:
        return False
    at_most = capacity * math.floor(float(settings["timeout_s"]) * 1000 / delay_ms)
    return at_most < int(settings["requests"])


PROBE = Probe(
    name="burst",
    title="Burst",
    result=Burst,
    run=_run,
    key_figure="completed",
    settings={
        "requests": Setting(500, 1, 1000),  # a file descriptor each, in the runner and the server
        "delay_ms": Setting(500, 0, 60000),
        "timeout_s": Setting(30, 1, 300),
    },
    about=(
        "{requests} connections opened at once, each asking for a {delay_ms} ms page, "
        "given {timeout_s} s: how many were answered, refused, reset or timed out, and the "
        "server-side overlap."
    ),
    text=_text,
    leaves_clean=False,
    figures={
        "completed": "requests",
        "refused": "requests",
        "reset": "requests",
        "timed_out": "requests",
        "other": "requests",
        "open_peak": "connections",
        "peak": "requests",
        "wall_s": "s",
    },
    cost=_cost,
    machine_bound=True,
    charts=(
        Chart(
            "burst",
            "Bursts: how each request of a burst ended",
            "completed",
            Outcomes(
                parts=(
                    ("completed", "completed", "#1b9e77"),
                    ("refused", "refused", "#d95f02"),
                    ("reset", "reset", "#7570b3"),
                    ("timed out", "timed_out", "#e7298a"),
                    ("other", "other", "#999999"),
                ),
                axis="requests of the burst",
            ),
        ),
    ),
    answer=Answer(opening=lambda r: f"Of {r.requests} requests sent at once: ", each=_each),
    # Whether every request of the burst completes depends on how the race of
    # accepts, the listen backlog and the time-out falls in that run.
    outcome=Outcome(
        name="all_completed",
        of=lambda r: r.completed == r.requests,
        yes="all completed",
        no="lost some",
        chance=True,
        settled=_beyond_capacity,
        lead=lambda s: f"Of a burst of {s['requests']} connections at once",
        yes_phrase=("answers every one", "answer every one"),
        no_phrase=("loses some", "lose some"),
    ),
)
