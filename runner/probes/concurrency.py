"""The headline probe: how many requests was the server inside at once?

``requests`` GETs to ``/slow?ms=delay_ms`` are released together, one thread
and one connection each.  The peak comes from the server's own start and end
times (the target app reports them), the wall time from the client.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from runner.probes.base import Probe, Result, Setting, range_text
from runner.process import RunningServer
from runner.stats import Spread, peak_overlap

# nox logs at debug level; a line per probe request would bury the progress.
logging.getLogger("urllib3").setLevel(logging.WARNING)

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


@dataclass
class Shot:
    """One request of a volley: its answer (the app's JSON) or what went wrong."""

    answer: dict[str, Any] | None = None
    failure: str | None = None
    finished: float = 0.0


class Pacer:
    """Volleys of one process begin at least ``gap_s`` apart.

    The requests of a volley are sent by threads of the runner, which share
    one interpreter lock: when many cells fire at the same moment (the
    overlapping schedule starts its cells' waiting probes together), a volley's
    requests left the runner up to 750 ms apart and a server that serves ten at
    once was seen to serve eight.  A gap lets each volley's requests go out
    before the next volley's compete with them.
    """

    def __init__(self, gap_s: float) -> None:
        self.gap_s = gap_s
        self._lock = threading.Lock()
        self._next = 0.0

    def wait_turn(self) -> None:
        with self._lock:
            now = time.monotonic()
            turn = max(now, self._next)
            self._next = turn + self.gap_s
        if turn > now:
            time.sleep(turn - now)


VOLLEYS = Pacer(0.05)


def fire_at_once(url: str, requests_n: int, timeout_s: float) -> tuple[float, list[Shot]]:
    """``requests_n`` GETs released together by a barrier, one thread and one
    connection each, in the volley's turn (see :class:`Pacer`); returns when
    they started and how each ended."""
    barrier = threading.Barrier(requests_n + 1)
    shots = [Shot() for _ in range(requests_n)]

    def one(shot: Shot) -> None:
        barrier.wait()
        try:
            response = requests.get(url, timeout=timeout_s, headers={"Connection": "close"})
            if response.status_code != 200:
                shot.failure = f"HTTP {response.status_code}"
            else:
                shot.answer = response.json()
        except requests.Timeout:
            shot.failure = "timeout"
        except requests.ConnectionError as exc:
            shot.failure = connection_error_kind(exc)
        except ValueError:
            shot.failure = "bad JSON"
        finally:
            shot.finished = time.perf_counter()

    threads = [threading.Thread(target=one, args=(shot,), daemon=True) for shot in shots]
    for thread in threads:
        thread.start()
    VOLLEYS.wait_turn()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout_s + 5)
    for shot in shots:
        if not shot.finished:  # a thread still stuck after its timeout
            shot.failure, shot.finished = "no answer", time.perf_counter()
    return started, shots


def probe_concurrency(
    base_url: str, requests_n: int = 10, delay_ms: int = 500, timeout_s: float | None = None
) -> ConcurrencyResult:
    """Send ``requests_n`` requests at once to ``/slow?ms=delay_ms``."""
    if timeout_s is None:
        # Enough for a server that serves them one after another, and then some.
        timeout_s = 10.0 + 2 * requests_n * delay_ms / 1000.0
    started, shots = fire_at_once(f"{base_url}/slow?ms={delay_ms}", requests_n, timeout_s)
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


def connection_error_kind(exc: Exception) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "refused"
    if "reset" in text:
        return "reset"
    if "aborted" in text or "remotedisconnected" in text:
        return "closed"
    return "connection error"


def _run(server: RunningServer, settings: Mapping[str, Any]) -> ConcurrencyResult:
    return probe_concurrency(server.base_url, settings["requests"], settings["delay_ms"])


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
)
