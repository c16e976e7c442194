"""A volley (the concurrency and CPU probes' client) against tiny servers on 127.0.0.1.

Every request goes out on its own connection before any answer is read; each
ends with the app's JSON or with what went wrong, in the words the report uses.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tiny_server import tiny_server

from runner.measuring.stats import peak_overlap
from runner.measuring.volley import volley


class SlowHandler(BaseHTTPRequestHandler):
    """``/slow?ms=N`` as the target app answers it: its own start and end times."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        start = time.time()
        time.sleep(int(self.path.split("ms=")[1]) / 1000)
        body = json.dumps({"start": start, "end": time.time(), "pid": 1, "thread": threading.get_ident()})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        pass


class RoomyServer(ThreadingHTTPServer):
    """A thread a request, and room in its backlog for every connection of a
    volley (socketserver's default of 5 drops the rest until they retry)."""

    request_queue_size = 64
    daemon_threads = True


@contextmanager
def threaded_server() -> Iterator[int]:
    server = RoomyServer(("127.0.0.1", 0), SlowHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def raw_server(answer: Callable[[socket.socket], None]) -> AbstractContextManager[int]:
    """Each connection, in a thread of its own, handed to ``answer`` once its request is in."""
    return tiny_server(answer, threaded=True)


def test_ten_requests_at_once_are_inside_a_threaded_server_together() -> None:
    with threaded_server() as port:
        started, shots = volley(port, "/slow?ms=500", 10, timeout_s=10)
    answers = [shot.answer for shot in shots if shot.answer is not None]
    assert [shot.failure for shot in shots] == [None] * 10
    assert peak_overlap([(a["start"], a["end"]) for a in answers]) == 10
    assert all(shot.finished - started >= 0.5 for shot in shots)


def test_a_chunked_answer_is_read_whole() -> None:
    body = json.dumps({"start": 1.0, "end": 2.0, "pid": 7, "thread": 1}).encode()
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (5, body[:5], len(body) - 5, body[5:])

    def answer(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
        time.sleep(2)  # the answer is whole before the connection ends

    with raw_server(answer) as port:
        _, shots = volley(port, "/slow?ms=0", 3, timeout_s=10)
    assert [shot.answer for shot in shots] == [{"start": 1.0, "end": 2.0, "pid": 7, "thread": 1}] * 3
    assert all(shot.finished for shot in shots)


def test_what_went_wrong_is_named_per_request() -> None:
    def status_500(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 500 INTERNAL SERVER ERROR\r\nContent-Length: 0\r\n\r\n")

    def not_json(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n<html>")  # HTTP/1.0: the body ends with the connection

    def hang_up(conn: socket.socket) -> None:
        pass  # closes with no answer

    def cut_short(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{")

    def never(conn: socket.socket) -> None:
        time.sleep(3)

    def bad_chunks(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")

    expected = {
        status_500: "HTTP 500",
        not_json: "bad JSON",
        hang_up: "closed",
        cut_short: "closed",
        bad_chunks: "bad answer",
    }
    for answer, failure in expected.items():
        with raw_server(answer) as port:
            _, shots = volley(port, "/", 2, timeout_s=5)
        assert [shot.failure for shot in shots] == [failure] * 2, answer.__name__
        assert [shot.answer for shot in shots] == [None] * 2
    with raw_server(never) as port:
        started, shots = volley(port, "/", 2, timeout_s=0.5)
    assert [shot.failure for shot in shots] == ["timeout"] * 2
    assert all(shot.finished - started >= 0.5 for shot in shots)


def test_a_port_nobody_listens_on_refuses() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        _, shots = volley(port, "/", 3, timeout_s=5)
    assert [shot.failure for shot in shots] == ["refused"] * 3
