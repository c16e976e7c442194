"""A volley: requests sent at once, each on its own connection, from one thread.

The concurrency and CPU probes' client.  Every connection is opened and its
request written before any answer is read, with one selector, so that the
requests leave within a millisecond of each other; answers are read through
:mod:`runner.wire`, and a volley ends by its time-out whatever
the server does.
"""

from __future__ import annotations

import errno
import selectors
import socket
import time
from dataclasses import dataclass
from typing import Any, cast

from runner import wire
from runner.wire import HOST


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
        self.request = wire.request(path, port, close=True)
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

    def end(
        self, sock: socket.socket, shot: Shot, failure: str | None = None, answer: wire.Response | None = None
    ) -> None:
        """The shot's answer, or ``failure``; its socket closed."""
        if answer is not None:
            shot.answer, failure = _json_answer(answer)
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
            answer = wire.parse(bytes(self.buffers[sock]), at_eof=not data)
        except wire.WireError as exc:  # not HTTP, or too large
            self.end(sock, shot, exc.kind)
            return
        if answer is not None:
            self.end(sock, shot, answer=answer)
        elif not data:
            self.end(sock, shot, "closed")


def _volley_error(exc: OSError) -> str:
    """A refused or reset connection by name, any other error as a connection error."""
    kind = wire.failure_name(exc)
    return kind if kind in ("refused", "reset") else "connection error"


def _json_answer(answer: wire.Response) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON object a whole answer carries, or why there is none."""
    if answer.status != 200:
        return None, f"HTTP {answer.status}"
    found = answer.json_object()
    return (found, None) if found is not None else (None, "bad JSON")
