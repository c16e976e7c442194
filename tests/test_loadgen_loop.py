"""The built-in generator's closed loop against tiny servers on 127.0.0.1.

A server that closes each connection after its answer without saying so
(uWSGI's HTTP socket does) costs the client a reconnect, not an error; a
server that cuts an answer short is an error.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from tiny_server import tiny_server

from runner.measuring.builtin import builtin_throughput
from runner.measuring.probes.throughput import SILENT_CLOSE, measure_throughput
from runner.measuring.wrk import wrk_binary

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"
CUT_SHORT = b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\nhel"


@contextmanager
def closing_server(answer: bytes, takes_s: float = 0.0) -> Iterator[int]:
    """Answers one request per connection with ``answer`` (after ``takes_s``), then closes it."""

    def reply(conn: socket.socket) -> None:
        time.sleep(takes_s)
        conn.sendall(answer)

    with tiny_server(reply) as port:
        yield port


def test_a_server_that_closes_after_each_answer_costs_reconnects_not_errors() -> None:
    with closing_server(ANSWER) as port:
        result = builtin_throughput(port, "/hello", connections=2, duration_s=1.0, warmup_s=0.0)
    assert result.rps > 0
    assert result.errors == 0, result.error_kinds


def test_an_answer_cut_short_is_still_an_error() -> None:
    with closing_server(CUT_SHORT) as port:
        result = builtin_throughput(port, "/hello", connections=2, duration_s=0.5, warmup_s=0.0)
    assert result.rps == 0
    assert result.error_kinds.get("closed early", 0) > 0


def test_auto_measures_a_server_that_closes_without_saying_so_with_the_builtin_generator() -> None:
    """wrk would write its next request into the closed connection and leave the
    reconnect out of its latency: its figures broke Little's law in such cells."""
    if wrk_binary() is None:
        pytest.skip("wrk is not installed: auto has only the built-in generator to choose")
    # An answer that takes 2 ms, so that the client's own work between requests
    # (a tenth of a millisecond) does not show in Little's law.
    with closing_server(ANSWER, takes_s=0.002) as port:
        result = measure_throughput(port, connections=2, duration_s=1.0, warmup_s=0.0, generator="auto")
        forced = measure_throughput(port, connections=2, duration_s=1.0, warmup_s=0.0, generator="wrk")
    assert (result.generator, result.why) == ("builtin", SILENT_CLOSE)
    assert result.errors == 0
    assert result.rps > 0
    assert forced.generator == "wrk"  # asked for by name, wrk it is
