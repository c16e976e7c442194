"""Load from the client side: throughput (wrk or built in), bursts, slow clients.

Every loop here is bounded in time and count and targets 127.0.0.1 only;
each function returns plain figures and knows nothing of environments.
"""
from __future__ import annotations

import asyncio
import errno
import json
import re
import resource
import selectors
import shutil
import socket
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Optional

from runner import stats

HOST = "127.0.0.1"
# A generator busier than this share of one core is what limits the figure.
CLIENT_BOUND_CPU = 0.9


@dataclass
class Throughput:
    generator: str            # "wrk" or "builtin"
    connections: int
    duration_s: float
    requests: int
    rps: float
    latency_ms: dict          # mean, p50, p90, p99
    errors: int
    error_kinds: dict
    client_cpu: float         # the generator's CPU time / wall time (1.0 = one core)
    client_bound: bool
    little: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


# --- the built-in generator -------------------------------------------------

def builtin_throughput(port: int, path: str, connections: int, duration_s: float,
                       warmup_s: float) -> Throughput:
    """Closed loop: each connection sends a request as soon as the last answer is in.

    Plain non-blocking sockets and one selector, no asyncio: a generator in
    Python must spend as little as it can per request (and per reconnect, for
    servers that close after every answer), or it becomes what it measures.
    """
    started_cpu = time.thread_time()
    started = time.perf_counter()
    latencies, kinds = _closed_loop(port, path, connections, duration_s, warmup_s)
    cpu = (time.thread_time() - started_cpu) / max(time.perf_counter() - started, 1e-9)
    return _summarise("builtin", connections, duration_s, latencies, kinds, cpu)


def _closed_loop(port: int, path: str, connections: int, duration_s: float,
                 warmup_s: float) -> tuple[list[float], Counter]:
    clock = time.perf_counter
    begin = clock()
    measure_from, stop_at = begin + warmup_s, begin + warmup_s + duration_s
    latencies: list[float] = []
    kinds: Counter = Counter()
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()
    selector = selectors.DefaultSelector()
    state: dict[socket.socket, list] = {}  # socket -> [buffer, sent at]

    def open_one() -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect_ex((HOST, port))
        state[sock] = [b"", 0.0]
        selector.register(sock, selectors.EVENT_WRITE)

    def close_one(sock: socket.socket) -> None:
        selector.unregister(sock)
        del state[sock]
        sock.close()

    def failed(sock: socket.socket, kind: str) -> None:
        if clock() >= measure_from:
            kinds[kind] += 1
        close_one(sock)
        if clock() < stop_at:
            open_one()

    for _ in range(connections):
        open_one()
    while state:
        now = clock()
        if now >= stop_at + 10:  # answers still out ten seconds after the end: give up
            for sock in list(state):
                failed(sock, "timeout")
            break
        for key, events in selector.select(timeout=0.5):
            sock = key.fileobj
            entry = state.get(sock)
            if entry is None:
                continue
            if events & selectors.EVENT_WRITE:
                error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if error:
                    failed(sock, "refused" if error == errno.ECONNREFUSED else f"errno {error}")
                    continue
                entry[0], entry[1] = b"", clock()
                try:
                    sock.send(request)
                except OSError as exc:
                    failed(sock, _error_kind(exc))
                    continue
                selector.modify(sock, selectors.EVENT_READ)
                continue
            try:
                data = sock.recv(65536)
            except OSError as exc:
                failed(sock, _error_kind(exc))
                continue
            entry[0] += data
            parsed = _complete_response(entry[0], at_eof=not data)
            if parsed is None:
                if not data:
                    failed(sock, "closed early")
                continue
            status, keep = parsed
            done = clock()
            if entry[1] >= measure_from and done <= stop_at:
                if status == 200:
                    latencies.append(done - entry[1])
                else:
                    kinds[f"HTTP {status}"] += 1
            if done >= stop_at:
                close_one(sock)
            elif keep and data:
                entry[0], entry[1] = b"", done
                try:
                    sock.send(request)
                except OSError as exc:
                    failed(sock, _error_kind(exc))
            else:
                close_one(sock)
                open_one()
    selector.close()
    return latencies, kinds


def _complete_response(buffer: bytes, at_eof: bool = False) -> Optional[tuple[int, bool]]:
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


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed early"
    return type(exc).__name__


def _summarise(generator: str, connections: int, duration_s: float, latencies: list[float],
               kinds: Counter, cpu: float) -> Throughput:
    rps = len(latencies) / duration_s if duration_s else 0.0
    mean = sum(latencies) / len(latencies) if latencies else 0.0
    latency_ms = {
        "mean": round(mean * 1000, 3),
        **{f"p{q}": round((stats.percentile(latencies, q) or 0.0) * 1000, 3) for q in (50, 90, 99)},
    }
    return Throughput(
        generator=generator, connections=connections, duration_s=duration_s,
        requests=len(latencies), rps=round(rps, 1), latency_ms=latency_ms,
        errors=sum(kinds.values()), error_kinds=dict(kinds), client_cpu=round(cpu, 2),
        client_bound=cpu >= CLIENT_BOUND_CPU,
        little=stats.littles_law(connections, rps, mean) if latencies else {},
    )


# --- wrk ---------------------------------------------------------------------

def wrk_binary() -> Optional[str]:
    return shutil.which("wrk")


def wrk_throughput(wrk: str, port: int, path: str, connections: int, duration_s: float,
                   warmup_s: float) -> Throughput:
    url = f"http://{HOST}:{port}{path}"
    base = [wrk, "-t1", f"-c{connections}", "--timeout", "10s", "--latency"]
    if warmup_s > 0:
        subprocess.run(base + [f"-d{max(1, round(warmup_s))}s", url], capture_output=True,
                       timeout=warmup_s + 30, check=False)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(base + [f"-d{max(1, round(duration_s))}s", url], capture_output=True,
                          text=True, timeout=duration_s + 30, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / wall
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed: {(done.stderr or done.stdout).strip()[:200]}")
    return parse_wrk(done.stdout, connections, cpu)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_wrk(output: str, connections: int, cpu: float = 0.0) -> Throughput:
    """Figures from the text ``wrk --latency`` prints."""
    requests_done = int(re.search(r"(\d+) requests in ([\d.]+)(\w+)", output).group(1))
    span = re.search(r"\d+ requests in ([\d.]+\w+)", output).group(1)
    duration_s = _ms(span) / 1000
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    mean = _ms(re.search(r"Latency\s+([\d.]+\w+)", output).group(1))
    latency_ms = {"mean": round(mean, 3)}
    for q in (50, 90, 99):
        found = re.search(rf"^\s+{q}%\s+([\d.]+\w+)", output, re.M)
        latency_ms[f"p{q}"] = round(_ms(found.group(1)), 3) if found else None
    kinds: Counter = Counter()
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
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
    result.requests, result.rps, result.latency_ms = good, rps, latency_ms
    result.little = stats.littles_law(connections, rps, mean / 1000)
    return result


def measure_throughput(port: int, *, path: str = "/hello", connections: int, duration_s: float,
                       warmup_s: float, generator: str = "auto") -> Throughput:
    """wrk where it is installed (or asked for), else the built-in generator."""
    wrk = wrk_binary()
    if generator == "wrk" or (generator == "auto" and wrk):
        if not wrk:
            raise RuntimeError("wrk is not installed; install it with `apt-get install wrk`")
        return wrk_throughput(wrk, port, path, connections, duration_s, warmup_s)
    return builtin_throughput(port, path, connections, duration_s, warmup_s)


# --- burst -------------------------------------------------------------------

@dataclass
class Burst:
    requests: int
    delay_ms: int
    completed: int
    refused: int
    reset: int
    timed_out: int
    other: int
    open_peak: int            # client connections open at the same moment
    peak: Optional[int]       # server-side overlap of the completed ones
    wall_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def burst(port: int, requests_n: int, delay_ms: int, timeout_s: float) -> Burst:
    """``requests_n`` connections opened at once, each asking ``/slow``; stops by
    itself after ``timeout_s``, whatever is still pending counted as timed out."""
    started = time.perf_counter()
    outcomes, intervals, open_peak = asyncio.run(_burst(port, requests_n, delay_ms, timeout_s))
    counts = Counter(outcomes)
    from runner.probes import peak_overlap  # the one overlap count

    return Burst(
        requests=requests_n, delay_ms=delay_ms, completed=counts["ok"],
        refused=counts["refused"], reset=counts["reset"] + counts["closed early"],
        timed_out=counts["timeout"],
        other=requests_n - counts["ok"] - counts["refused"] - counts["reset"]
        - counts["closed early"] - counts["timeout"],
        open_peak=open_peak, peak=peak_overlap(intervals) if intervals else None,
        wall_s=round(time.perf_counter() - started, 3))


async def _burst(port: int, requests_n: int, delay_ms: int,
                 timeout_s: float) -> tuple[list[str], list[tuple[float, float]], int]:
    request = (f"GET /slow?ms={delay_ms} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
               "Connection: close\r\n\r\n").encode()
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
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.read()
            if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                return "http error"
            answer = json.loads(body)
            intervals.append((answer["start"], answer["end"]))
            return "ok"
        except asyncio.CancelledError:
            return "timeout"
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return _error_kind(exc)
        finally:
            if writer is not None:
                state["open"] -= 1
                writer.close()

    tasks = [asyncio.ensure_future(one()) for _ in range(requests_n)]
    await asyncio.sleep(0)
    go.set()
    done, pending = await asyncio.wait(tasks, timeout=timeout_s)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    outcomes = [t.result() if not t.cancelled() else "timeout" for t in tasks]
    return outcomes, intervals, state["peak"]


# --- slow clients -------------------------------------------------------------

@dataclass
class SlowClient:
    stalled: int              # connections that sent half a request and stopped
    served: bool              # the ordinary request that followed was answered
    waited_s: float
    wait_limit_s: float

    def as_dict(self) -> dict:
        return asdict(self)


def slow_client(port: int, stalled: int, wait_s: float, settle_s: float = 0.3) -> SlowClient:
    """``stalled`` connections send part of a request and stall; then one ordinary
    request: is it answered within ``wait_s``?  ``settle_s`` lets the server take
    up the stalled connections first, as it would in life."""
    partial = f"GET /hello HTTP/1.1\r\nHost: {HOST}:{port}\r\n".encode()  # no blank line
    sockets = []
    try:
        for _ in range(stalled):
            sock = socket.create_connection((HOST, port), timeout=5)
            sock.sendall(partial)
            sockets.append(sock)
        time.sleep(settle_s)
        started = time.perf_counter()
        served = False
        try:
            with socket.create_connection((HOST, port), timeout=wait_s) as sock:
                sock.settimeout(max(0.1, wait_s - (time.perf_counter() - started)))
                sock.sendall(f"GET /hello HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                             "Connection: close\r\n\r\n".encode())
                served = sock.recv(64).startswith(b"HTTP/1.")
        except OSError:
            served = False
        waited = time.perf_counter() - started
    finally:
        for sock in sockets:
            sock.close()
    return SlowClient(stalled=stalled, served=served, waited_s=round(min(waited, wait_s), 3),
                      wait_limit_s=wait_s)
