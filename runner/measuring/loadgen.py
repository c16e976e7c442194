"""Throughput load from the client side: wrk where installed, else built in.

Every loop here is bounded in time and count and targets 127.0.0.1 only;
each function returns plain figures and knows nothing of environments.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import re
import resource
import selectors
import shutil
import socket
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, cast

from runner.measuring import facts, stats, wrk_histogram
from runner.measuring.result import Result

HOST = "127.0.0.1"
# A generator busier than this share of one core is what limits the figure.
CLIENT_BOUND_CPU = 0.9


@dataclass(frozen=True)
class Throughput(Result):
    generator: str  # "wrk" or "builtin"
    connections: int
    duration_s: float
    requests: int
    rps: float
    latency_ms: dict[str, float | None]  # mean, p50, p90, p99
    errors: int
    error_kinds: dict[str, int]
    client_cpu: float  # the generator's CPU time / wall time (1.0 = one core)
    client_bound: bool
    little: dict[str, Any] = field(default_factory=dict)
    # Where the latency figures come from, and wrk's own printed ones beside
    # them where they differ in kind (see runner/measuring/wrk_histogram.py).
    latency_from: str = ""
    wrk_printed_ms: dict[str, float | None] | None = None
    # Why this generator's figures were published (where the other measured
    # first or broke Little's law, or the server closes connections without
    # saying so), and the other generator's figures where it measured too.
    why: str = ""
    other: dict[str, Any] | None = None


# --- the built-in generator -------------------------------------------------


def builtin_throughput(
    port: int, path: str, connections: int, duration_s: float, warmup_s: float
) -> Throughput:
    """Closed loop: each connection sends a request as soon as the last answer is in.

    Plain non-blocking sockets and one selector, no asyncio: a generator in
    Python must spend as little as it can per request (and per reconnect, for
    servers that close after every answer), or it becomes what it measures.
    """
    started_cpu = time.thread_time()
    started = time.perf_counter()
    latencies, kinds = _closed_loop(port, path, connections, duration_s, warmup_s)
    cpu = (time.thread_time() - started_cpu) / max(time.perf_counter() - started, 1e-9)
    result = _summarise("builtin", connections, duration_s, latencies, kinds, cpu)
    return replace(result, latency_from="each request timed by the generator")


def _closed_loop(
    port: int, path: str, connections: int, duration_s: float, warmup_s: float
) -> tuple[list[float], Counter[str]]:
    loop = _ClosedLoop(port, path, warmup_s, duration_s)
    try:
        loop.run(connections)
    finally:
        loop.selector.close()
    return loop.latencies, loop.kinds


class _ClosedLoop:
    """The built-in generator's state: one selector, each socket's buffer and send time."""

    def __init__(self, port: int, path: str, warmup_s: float, duration_s: float) -> None:
        begin = time.perf_counter()
        self.port = port
        self.measure_from, self.stop_at = begin + warmup_s, begin + warmup_s + duration_s
        self.latencies: list[float] = []
        self.kinds: Counter[str] = Counter()
        self.request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
        self.selector = selectors.DefaultSelector()
        self.state: dict[socket.socket, list[Any]] = {}  # socket -> [buffer, sent at]

    def run(self, connections: int) -> None:
        for _ in range(connections):
            self.open_one()
        while self.state:
            if time.perf_counter() >= self.stop_at + 10:  # answers still out 10 s after the end
                for sock in list(self.state):
                    self.failed(sock, "timeout")
                break
            for key, events in self.selector.select(timeout=0.5):
                sock = cast(socket.socket, key.fileobj)
                if sock not in self.state:
                    continue
                if events & selectors.EVENT_WRITE:
                    self.connected(sock)
                else:
                    self.readable(sock)

    def open_one(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # A request on a new connection is timed from the connect: a client of
        # a server that closes after every answer pays it on every request.
        # buffer, started, fresh connection, answers on it so far
        self.state[sock] = [b"", time.perf_counter(), True, 0]
        sock.connect_ex((HOST, self.port))
        self.selector.register(sock, selectors.EVENT_WRITE)

    def close_one(self, sock: socket.socket) -> None:
        self.selector.unregister(sock)
        del self.state[sock]
        sock.close()

    def failed(self, sock: socket.socket, kind: str) -> None:
        if not self.state[sock][0] and self.state[sock][3]:
            # A connection that had answered, closed or reset before any byte of
            # the next answer: the server closed it after its last answer without
            # saying so (uWSGI does). Not an error: any client opens a new one
            # and asks again, as RFC 9112 (9.3.1) allows; the request is timed
            # from the new connect.
            self.close_one(sock)
            if time.perf_counter() < self.stop_at:
                self.open_one()
            return
        if time.perf_counter() >= self.measure_from:
            self.kinds[kind] += 1
        self.close_one(sock)
        if time.perf_counter() < self.stop_at:
            self.open_one()

    def send(self, sock: socket.socket) -> bool:
        entry = self.state[sock]
        entry[0] = b""
        if not entry[2]:
            entry[1] = time.perf_counter()
        entry[2] = False
        try:
            sock.send(self.request)
        except OSError as exc:
            self.failed(sock, error_kind(exc))
            return False
        return True

    def connected(self, sock: socket.socket) -> None:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self.failed(sock, "refused" if error == errno.ECONNREFUSED else f"errno {error}")
        elif self.send(sock):
            self.selector.modify(sock, selectors.EVENT_READ)

    def readable(self, sock: socket.socket) -> None:
        entry = self.state[sock]
        try:
            data = sock.recv(65536)
        except OSError as exc:
            self.failed(sock, error_kind(exc))
            return
        entry[0] += data
        parsed = complete_response(entry[0], at_eof=not data)
        if parsed is None:
            if not data:
                self.failed(sock, "closed early")
            return
        status, keep = parsed
        entry[3] += 1
        done = time.perf_counter()
        if entry[1] >= self.measure_from and done <= self.stop_at:
            if status == 200:
                self.latencies.append(done - entry[1])
            else:
                self.kinds[f"HTTP {status}"] += 1
        if done >= self.stop_at:
            self.close_one(sock)
        elif keep and data:
            self.send(sock)
        else:
            self.close_one(sock)
            self.open_one()


# --- a volley: requests sent at once ---------------------------------------


@dataclass
class Shot:
    """One request of a volley: its answer (the app's JSON) or what went wrong."""

    answer: dict[str, Any] | None = None
    failure: str | None = None
    finished: float = 0.0


def volley(port: int, path: str, requests_n: int, timeout_s: float) -> tuple[float, list[Shot]]:
    """``requests_n`` GETs of ``path`` sent at once, one connection each, and
    every answer read; returns when they were sent and how each ended.

    One thread and one selector: every connection is opened and its request
    written before any answer is read, so the requests leave within a
    millisecond of each other, whatever else the runner is doing.  (Threads,
    one a request, share the interpreter lock: with many volleys at once,
    their requests left the runner up to 750 ms apart and a server that serves
    ten at once was seen to serve eight.)  What is not answered within
    ``timeout_s`` is a timeout.
    """
    shots = [Shot() for _ in range(requests_n)]
    started = time.perf_counter()
    with _Volley(port, path) as state:
        for shot in shots:
            state.open(shot)
        deadline = started + timeout_s
        while state.buffers and time.perf_counter() < deadline:
            for key, events in state.selector.select(timeout=max(0.0, deadline - time.perf_counter())):
                sock, shot = cast(socket.socket, key.fileobj), cast(Shot, key.data)
                if events & selectors.EVENT_WRITE:
                    state.connected(sock, shot)
                else:
                    state.readable(sock, shot)
        for key in list(state.selector.get_map().values()):
            state.end(cast(socket.socket, key.fileobj), cast(Shot, key.data), "timeout")
    return started, shots


class _Volley:
    """A volley's sockets, each with what it has read so far and its shot."""

    def __init__(self, port: int, path: str) -> None:
        self.port = port
        self.request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nConnection: close\r\n\r\n".encode()
        self.selector = selectors.DefaultSelector()
        self.buffers: dict[socket.socket, bytearray] = {}

    def __enter__(self) -> _Volley:
        return self

    def __exit__(self, *exc: object) -> None:
        for sock in list(self.buffers):
            sock.close()
        self.selector.close()

    def open(self, shot: Shot) -> None:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as exc:  # out of file descriptors: this request fails, the others go
            shot.failure, shot.finished = f"connection error ({exc.strerror})", time.perf_counter()
            return
        sock.setblocking(False)
        self.buffers[sock] = bytearray()
        sock.connect_ex((HOST, self.port))
        self.selector.register(sock, selectors.EVENT_WRITE, shot)

    def end(self, sock: socket.socket, shot: Shot, failure: str | None = None) -> None:
        """The shot's answer, or ``failure``; its socket closed."""
        if failure is None:
            shot.answer, failure = _json_answer(bytes(self.buffers[sock]))
        shot.failure, shot.finished = failure, time.perf_counter()
        self.selector.unregister(sock)
        del self.buffers[sock]
        sock.close()

    def connected(self, sock: socket.socket, shot: Shot) -> None:
        error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if error:
            self.end(sock, shot, "refused" if error == errno.ECONNREFUSED else "connection error")
            return
        try:
            sock.sendall(self.request)
        except OSError as exc:
            self.end(sock, shot, _volley_error(exc))
            return
        self.selector.modify(sock, selectors.EVENT_READ, shot)

    def readable(self, sock: socket.socket, shot: Shot) -> None:
        try:
            data = sock.recv(65536)
        except OSError as exc:
            self.end(sock, shot, _volley_error(exc))
            return
        self.buffers[sock] += data
        try:
            whole = complete_response(bytes(self.buffers[sock]), at_eof=not data) is not None
        except (IndexError, ValueError):  # not HTTP
            self.end(sock, shot, "bad answer")
            return
        if whole:
            self.end(sock, shot)
        elif not data:
            self.end(sock, shot, "closed")


def _volley_error(exc: OSError) -> str:
    """A refused or reset connection by name, any other error as a connection error."""
    kind = error_kind(exc)
    return kind if kind in ("refused", "reset") else "connection error"


def _json_answer(response: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object a whole response carries, or why there is none."""
    head, _, body = response.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split(" ", 2)[1])
    except (IndexError, ValueError):
        return None, "bad answer"
    if status != 200:
        return None, f"HTTP {status}"
    if any(line.lower().replace(" ", "") == "transfer-encoding:chunked" for line in lines[1:]):
        try:
            body = dechunked(body)
        except ValueError:  # a chunk size that is not hexadecimal
            return None, "bad answer"
    try:
        answer = json.loads(body)
    except ValueError:
        return None, "bad JSON"
    return (answer, None) if isinstance(answer, dict) else (None, "bad JSON")


def dechunked(body: bytes) -> bytes:
    """A chunked body's data (RFC 9112, 7.1), trailers left out."""
    data, rest = bytearray(), body
    while True:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            return bytes(data)
        data += rest[:size]
        rest = rest[size + 2 :]


def complete_response(buffer: bytes, at_eof: bool = False) -> tuple[int, bool] | None:
    """(status, keep-alive) once ``buffer`` holds a whole response, else None."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].decode("latin-1").lower()
    lines = head.split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    keep = parts[0] == "http/1.1" and "\r\nconnection: close" not in head
    length = None
    for line in lines[1:]:
        if line.startswith("content-length:"):
            length = int(line.split(":", 1)[1])
    if length is not None:
        return (status, keep) if len(buffer) >= end + 4 + length else None
    if "transfer-encoding: chunked" in head:
        return (status, keep) if buffer.endswith(b"0\r\n\r\n") else None
    return (status, False) if at_eof else None


def error_kind(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed early"
    return type(exc).__name__


def _summarise(
    generator: str,
    connections: int,
    duration_s: float,
    latencies: list[float],
    kinds: Counter[str],
    cpu: float,
) -> Throughput:
    rps = len(latencies) / duration_s if duration_s else 0.0
    mean = sum(latencies) / len(latencies) if latencies else 0.0
    latency_ms: dict[str, float | None] = {
        "mean": round(mean * 1000, 3),
        **{f"p{q}": round((stats.percentile(latencies, q) or 0.0) * 1000, 3) for q in (50, 90, 99)},
    }
    return Throughput(
        generator=generator,
        connections=connections,
        duration_s=duration_s,
        requests=len(latencies),
        rps=round(rps, 1),
        latency_ms=latency_ms,
        errors=sum(kinds.values()),
        error_kinds=dict(kinds),
        client_cpu=round(cpu, 2),
        client_bound=cpu >= CLIENT_BOUND_CPU,
        little=stats.littles_law(connections, rps, mean) if latencies else {},
    )


# --- wrk ---------------------------------------------------------------------


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def wrk_throughput(
    wrk: str, port: int, path: str, connections: int, duration_s: float, warmup_s: float
) -> Throughput:
    """wrk's request rate, and its latency as measured: wrk's own histogram, taken
    through a done() hook, with wrk's after-the-run correction undone."""
    url = f"http://{HOST}:{port}{path}"
    base = [wrk, "-t1", f"-c{connections}", "--timeout", "10s", "--latency"]
    if warmup_s > 0:
        command = [*base, f"-d{max(1, round(warmup_s))}s", url]
        subprocess.run(command, capture_output=True, timeout=warmup_s + 30, check=False)
    with tempfile.TemporaryDirectory(prefix="matrix-wrk-") as folder:
        script, dump = Path(folder) / "done.lua", Path(folder) / "histogram.txt"
        script.write_text(wrk_histogram.DONE_SCRIPT, encoding="utf-8")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [*base, "-s", str(script), f"-d{max(1, round(duration_s))}s", url],
            capture_output=True,
            text=True,
            timeout=duration_s + 30,
            check=False,
            env={**os.environ, "MATRIX_WRK_HISTOGRAM": str(dump)},
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed: {(done.stderr or done.stdout).strip()[:200]}")
        cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / wall
        printed = parse_wrk(done.stdout, connections, cpu)
        histogram = dump.read_text(encoding="utf-8") if dump.exists() else ""
    return measured_latency(printed, histogram, connections) if histogram else printed


def measured_latency(printed: Throughput, histogram_text: str, connections: int) -> Throughput:
    """wrk's figures with the latency taken from its histogram as measured."""
    duration_us, requests, corrected = wrk_histogram.parse(histogram_text)
    interval = wrk_histogram.interval_us(duration_us, requests, connections)
    measured = wrk_histogram.uncorrect(corrected, interval)
    latency_ms: dict[str, float | None] = {"mean": round(wrk_histogram.mean(measured) / 1000, 3)}
    for q in (50, 90, 99):
        latency_ms[f"p{q}"] = round(wrk_histogram.percentile(measured, q) / 1000, 3)
    mean_s = (latency_ms["mean"] or 0.0) / 1000
    return replace(
        printed,
        latency_ms=latency_ms,
        wrk_printed_ms=printed.latency_ms,
        latency_from="wrk's histogram, its coordinated-omission correction undone",
        little=stats.littles_law(connections, printed.rps, mean_s),
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _found(pattern: str, output: str) -> str:
    """The first group of ``pattern`` in wrk's output; wrk's own words if it is not there."""
    match = re.search(pattern, output)
    if match is None:
        raise ValueError(f"wrk printed no figures: {output.strip()[:200]!r}")
    return match.group(1)


def parse_wrk(output: str, connections: int, cpu: float = 0.0) -> Throughput:
    """Figures from the text ``wrk --latency`` prints."""
    requests_done = int(_found(r"(\d+) requests in [\d.]+\w+", output))
    duration_s = _ms(_found(r"\d+ requests in ([\d.]+\w+)", output)) / 1000
    rps = float(_found(r"Requests/sec:\s+([\d.]+)", output))
    mean = _ms(_found(r"Latency\s+([\d.]+\w+)", output))
    latency_ms: dict[str, float | None] = {"mean": round(mean, 3)}
    for q in (50, 90, 99):
        found = re.search(rf"^\s+{q}%\s+([\d.]+\w+)", output, re.M)
        latency_ms[f"p{q}"] = round(_ms(found.group(1)), 3) if found else None
    kinds: Counter[str] = Counter()
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        for name, value in zip(("connect", "read", "write", "timeout"), socket_errors.groups()):
            if int(value):
                kinds[name] = int(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        kinds["non-2xx"] = int(non_2xx.group(1))
    # A server that closes the connection after every answer without saying
    # so (uWSGI's http-socket) makes wrk count one read error per request,
    # though every request was answered: those are closes, not failures.
    if kinds.get("read", 0) >= 0.9 * requests_done > 0:
        kinds.pop("read")
    good = requests_done - kinds.get("non-2xx", 0)
    result = _summarise("wrk", connections, duration_s, [], kinds, cpu)
    return replace(
        result,
        requests=good,
        rps=rps,
        latency_ms=latency_ms,
        little=stats.littles_law(connections, rps, mean / 1000),
    )


# Why ``auto`` measures such a server with the built-in generator first.
SILENT_CLOSE = (
    "the server closes after every answer without saying so: wrk would write its next request "
    "into the closed connection, count a read error and leave the reconnect out of its latency "
    "(its figures broke Little's law in such cells), so the built-in generator, which times "
    "each request from its connect, measured first"
)


def measure_throughput(
    port: int,
    *,
    path: str = "/hello",
    connections: int,
    duration_s: float,
    warmup_s: float,
    generator: str = "auto",
) -> Throughput:
    """wrk where it is installed (or asked for), else the built-in generator.

    With ``auto``, a server that closes after every answer without saying so
    (uWSGI's HTTP socket) is measured by the built-in generator first (see
    ``SILENT_CLOSE``).  With ``auto``, figures that break Little's law are not published as they
    are: the other generator measures again, and the figures that hold are
    the ones returned, the other generator's kept beside them.
    """
    wrk = wrk_binary()
    if generator == "wrk" and not wrk:
        raise RuntimeError("wrk is not installed; install it with `apt-get install wrk`")
    first_choice = "wrk" if generator == "wrk" or (generator == "auto" and wrk) else "builtin"
    why = ""
    if first_choice == "wrk" and generator == "auto" and facts.probe_connection(HOST, port, 2.0).silent_close:
        first_choice, why = "builtin", SILENT_CLOSE
    first = _measure_with(first_choice, wrk, port, path, connections, duration_s, warmup_s)
    if generator != "auto" or first.little.get("ok", True):
        return replace(first, why=why)
    other = "builtin" if first_choice == "wrk" else ("wrk" if wrk else None)
    if other is None:
        return replace(first, why=f"{first_choice} broke Little's law and no other generator is installed")
    second = _measure_with(other, wrk, port, path, connections, duration_s, warmup_s)
    chosen = lawful(first, second)
    return replace(chosen, why=f"{why}; then {chosen.why}") if why else chosen


def lawful(first: Throughput, second: Throughput) -> Throughput:
    """Of two generators' figures for one server, the ones that obey Little's law
    (the first where both or neither do), with why, and the others beside them."""
    kept, dropped = (
        (second, first) if second.little.get("ok") and not first.little.get("ok") else (first, second)
    )
    ratio = {r.generator: r.little.get("ratio") for r in (first, second)}
    if kept.little.get("ok") and not dropped.little.get("ok"):
        why = f"{dropped.generator} broke Little's law (x{ratio[dropped.generator]}), {kept.generator} held"
    elif kept.little.get("ok"):
        why = "both generators' figures obey Little's law"
    else:
        why = (
            f"neither generator's figures obey Little's law ({first.generator} x{ratio[first.generator]}, "
            f"{second.generator} x{ratio[second.generator]})"
        )
    return replace(kept, why=why, other=_brief(dropped))


def _measure_with(
    generator: str,
    wrk: str | None,
    port: int,
    path: str,
    connections: int,
    duration_s: float,
    warmup_s: float,
) -> Throughput:
    if generator == "wrk" and wrk:
        return wrk_throughput(wrk, port, path, connections, duration_s, warmup_s)
    return builtin_throughput(port, path, connections, duration_s, warmup_s)


def _brief(result: Throughput) -> dict[str, Any]:
    """The figures of the generator not published, kept in the record beside those that are."""
    return {
        "generator": result.generator,
        "rps": result.rps,
        "latency_ms": result.latency_ms,
        "little": result.little,
        "errors": result.errors,
    }
