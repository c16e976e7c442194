"""Probes: fire real requests at a running server and sum up what happened.

A probe knows a base URL, nothing of environments or servers.  The overlap
count is a pure function of the server-side intervals, so it is tested with
plain data.
"""
from __future__ import annotations

import http.client
import logging
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Iterable, Optional

import requests

from runner import stats

# nox logs at debug level; a line per probe request would bury the progress.
logging.getLogger("urllib3").setLevel(logging.WARNING)

SERIAL = "serial"
CONCURRENT = "concurrent"


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one instant.

    An interval that ends exactly when another starts does not overlap it:
    ends are counted before starts at the same timestamp.
    """
    events = []
    for start, end in intervals:
        if end < start:
            raise ValueError(f"interval ends before it starts: {start} > {end}")
        events.append((start, 1))
        events.append((end, -1))
    events.sort(key=lambda event: (event[0], event[1]))
    peak = inside = 0
    for _, step in events:
        inside += step
        peak = max(peak, inside)
    return peak


def verdict(peak: int) -> str:
    return SERIAL if peak <= 1 else CONCURRENT


@dataclass
class ConcurrencyResult:
    requests: int
    delay_ms: int
    peak: Optional[int]
    verdict: Optional[str]
    wall_s: float
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)
    processes: int = 0
    threads: int = 0
    # Requests served by each process, most first: shows how a burst was
    # shared among pre-forked workers.
    per_process: list[int] = field(default_factory=list)
    intervals: list[list[float]] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Shot:
    answer: Optional[dict] = None
    failure: Optional[str] = None
    finished: float = 0.0


def fire_at_once(url: str, requests_n: int, timeout_s: float) -> tuple[float, list[_Shot]]:
    """``requests_n`` GETs released together by a barrier, one thread and one
    connection each; returns when they started and how each ended."""
    barrier = threading.Barrier(requests_n + 1)
    shots = [_Shot() for _ in range(requests_n)]

    def one(shot: _Shot) -> None:
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
            shot.failure = _connection_error_kind(exc)
        except ValueError:
            shot.failure = "bad JSON"
        finally:
            shot.finished = time.perf_counter()

    threads = [threading.Thread(target=one, args=(shot,), daemon=True) for shot in shots]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join(timeout_s + 5)
    for shot in shots:
        if not shot.finished:  # a thread still stuck after its timeout
            shot.failure, shot.finished = "no answer", time.perf_counter()
    return started, shots


def probe_concurrency(base_url: str, requests_n: int = 10, delay_ms: int = 500,
                      timeout_s: Optional[float] = None) -> ConcurrencyResult:
    """Send ``requests_n`` requests at once to ``/slow?ms=delay_ms``.

    The peak comes from the server's own start and end times; the wall time
    from the client.
    """
    if timeout_s is None:
        # Enough for a server that serves them one after another, and then some.
        timeout_s = 10.0 + 2 * requests_n * delay_ms / 1000.0
    started, shots = fire_at_once(f"{base_url}/slow?ms={delay_ms}", requests_n, timeout_s)
    good = [shot.answer for shot in shots if shot.answer is not None]
    intervals = [(a["start"], a["end"]) for a in good]
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


def _connection_error_kind(exc: Exception) -> str:
    text = str(exc).lower()
    if "refused" in text:
        return "refused"
    if "reset" in text:
        return "reset"
    if "aborted" in text or "remotedisconnected" in text:
        return "closed"
    return "connection error"


@dataclass
class ConnectionFacts:
    """What the server says about HTTP itself, whatever the app does."""

    protocol: Optional[str]     # "HTTP/1.0" or "HTTP/1.1", as the server answered
    keep_alive: Optional[bool]  # a second request on the same connection was answered
    server_header: Optional[str]

    def as_dict(self) -> dict:
        return asdict(self)


def probe_connection(host: str, port: int, timeout_s: float = 5.0) -> ConnectionFacts:
    """Two HTTP/1.1 requests on one connection to ``/health``.

    The first answer gives the protocol version the server speaks; whether the
    second is answered on the same socket shows if it keeps connections open.
    """
    request = (f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "User-Agent: flask-matrix\r\n\r\n").encode()
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.sendall(request)
            first = _read_response(sock)
            if first is None:
                return ConnectionFacts(protocol=None, keep_alive=None, server_header=None)
            protocol, server_header = first
            try:
                sock.sendall(request)
                keep_alive = _read_response(sock) is not None
            except OSError:
                keep_alive = False
    except OSError:
        return ConnectionFacts(protocol=None, keep_alive=None, server_header=None)
    return ConnectionFacts(protocol=protocol, keep_alive=keep_alive, server_header=server_header)


def _read_response(sock: socket.socket) -> Optional[tuple[str, Optional[str]]]:
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        response.read()
    except (http.client.HTTPException, OSError):
        return None
    protocol = "HTTP/1.1" if response.version == 11 else "HTTP/1.0"
    return protocol, response.getheader("Server")


DEV_SERVER_WARNING = re.compile(r"development server", re.IGNORECASE)


def dev_server_warning(log_lines: Iterable[str]) -> Optional[str]:
    """The line in which a server warns that it is a development server."""
    for line in log_lines:
        if DEV_SERVER_WARNING.search(line):
            return re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
    return None


@dataclass
class CpuResult:
    requests: int
    iterations: int
    sequential_s: float       # the requests one after another
    concurrent_s: float       # the same requests all at once
    speedup: Optional[float]  # sequential / concurrent: ~1 under one GIL
    peak: Optional[int]       # server-side overlap while they ran at once
    processes: int            # distinct server processes that answered
    speedup_per_process: Optional[float]
    errors: int

    def as_dict(self) -> dict:
        return asdict(self)


def probe_cpu(base_url: str, requests_n: int, iterations: int, timeout_s: float = 120.0) -> CpuResult:
    """The same CPU-bound requests one after another, then all at once.

    Threads in one process overlap (the peak says so) but take turns on the
    GIL, so the speed-up stays near 1; processes run in parallel, up to the
    number of cores.
    """
    url = f"{base_url}/cpu?n={iterations}"
    errors = 0
    started = time.perf_counter()
    for _ in range(requests_n):
        try:
            requests.get(url, timeout=timeout_s).raise_for_status()
        except requests.RequestException:
            errors += 1
    sequential = time.perf_counter() - started

    started, shots = fire_at_once(url, requests_n, timeout_s)
    concurrent = max(shot.finished for shot in shots) - started
    answers = [shot.answer for shot in shots]

    good = [a for a in answers if a is not None]
    errors += requests_n - len(good)
    gain = stats.speedup(sequential, concurrent) if not errors else None
    processes = len({a["pid"] for a in good})
    return CpuResult(
        requests=requests_n, iterations=iterations, sequential_s=round(sequential, 3),
        concurrent_s=round(concurrent, 3), speedup=round(gain, 2) if gain else None,
        peak=peak_overlap([(a["start"], a["end"]) for a in good]) if good else None,
        processes=processes,
        speedup_per_process=round(gain / processes, 2) if gain and processes else None,
        errors=errors)
