"""The built-in load generator: a closed loop over plain sockets, in the runner's process.

Used where wrk is not installed, asked for, or not to be trusted with a
server (see the throughput probe).  Every loop is bounded in time and
targets 127.0.0.1 only; answers are read through :mod:`runner.wire`.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from collections import Counter
from dataclasses import replace
from typing import Any, cast

from runner import wire
from runner.measuring.load import Throughput, summarise
from runner.wire import HOST


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
    result = summarise("builtin", connections, duration_s, latencies, kinds, cpu)
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
        self.request = wire.request(path, port)
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
            self.failed(sock, wire.failure_name(exc))
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
            self.failed(sock, wire.failure_name(exc))
            return
        entry[0] += data
        try:
            answer = wire.parse(entry[0], at_eof=not data)
        except wire.WireError as exc:
            self.failed(sock, wire.failure_name(exc))
            return
        if answer is None:
            if not data:
                self.failed(sock, "closed early")
            return
        status, keep = answer.status, answer.keep_alive
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
