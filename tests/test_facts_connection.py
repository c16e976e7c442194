"""What the runner says of a server's connections, asked over real sockets on
127.0.0.1 of small servers that answer as the real ones do."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from runner.measuring.facts import probe_connection

BODY = b"ok"


@contextmanager
def one_connection_server(
    head: bytes, answers: int, then_close: bool = False
) -> Iterator[tuple[int, list[int]]]:
    """Takes one connection, answers ``answers`` requests on it with ``head``,
    then holds it open without answering or closing (as Werkzeug 3's
    single-threaded server does after an HTTP/1.0 answer), until the client
    goes.  Yields the port and, once the client is gone, how many requests
    arrived."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    seen: list[int] = []

    def serve() -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        requests = 0
        buffer = b""
        with conn:
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    break
                if not chunk:
                    break
                buffer += chunk
                while b"\r\n\r\n" in buffer:
                    _, buffer = buffer.split(b"\r\n\r\n", 1)
                    requests += 1
                    if requests <= answers:
                        conn.sendall(head + f"Content-Length: {len(BODY)}\r\n\r\n".encode() + BODY)
                    elif then_close:  # as uWSGI's HTTP socket does, without saying so
                        conn.shutdown(socket.SHUT_RDWR)
        seen.append(requests)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], seen
    finally:
        thread.join(timeout=15)
        listener.close()


def test_an_answer_that_says_the_connection_ends_is_not_asked_again() -> None:
    with one_connection_server(b"HTTP/1.0 200 OK\r\nServer: Werkzeug/3.1.9\r\n", answers=1) as (port, seen):
        facts = probe_connection(port, timeout_s=8.0)
    assert (facts.protocol, facts.keep_alive, facts.server_header) == ("HTTP/1.0", False, "Werkzeug/3.1.9")
    assert facts.silent_close is False  # it said so
    assert seen == [1]  # one request: the second would only have waited out the timeout


@pytest.mark.parametrize(
    ("head", "keep_alive"),
    [
        (b"HTTP/1.1 200 OK\r\nServer: gunicorn\r\n", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n", True),
    ],
)
def test_an_answer_that_lets_the_connection_persist_is_tried_again(head: bytes, keep_alive: bool) -> None:
    with one_connection_server(head, answers=2) as (port, seen):
        facts = probe_connection(port, timeout_s=8.0)
    assert facts.keep_alive is keep_alive
    assert facts.silent_close is False
    assert seen == [2]


def test_a_server_that_promises_to_persist_but_does_not_answer_again_does_not_keep_alive() -> None:
    with one_connection_server(b"HTTP/1.1 200 OK\r\n", answers=1) as (port, seen):
        facts = probe_connection(port, timeout_s=0.5)
    assert facts.keep_alive is False
    assert facts.silent_close is False  # unanswered in time says the server is slow, not that it closes
    assert seen == [2]


def test_a_server_that_promises_to_persist_but_closes_closes_without_saying_so() -> None:
    with one_connection_server(b"HTTP/1.1 200 OK\r\n", answers=1, then_close=True) as (port, seen):
        facts = probe_connection(port, timeout_s=8.0)
    assert facts.keep_alive is False
    assert facts.silent_close is True  # the throughput probe measures it with the built-in generator first
    assert seen == [2]
