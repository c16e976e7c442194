"""Slow readers: clients that read a large answer at a set rate.

``connections`` clients ask for ``kb`` KiB (4.5 MiB by default: Linux lets a
server's send buffer grow to 4 MiB) and read it at ``rate_kbps`` KiB/s
each, with a receive buffer of 16 KiB set before connecting: on loopback
the kernel would otherwise buffer several MB and no worker would ever wait.
Meanwhile one ordinary request: served, or are the workers held while they
send?  The record shows the answer is larger than the client's receive
buffer and the server's send buffer (from ``ss``) together.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner import wire
from runner.measuring import hostile
from runner.measuring.probes.base import (
    Answer,
    Probe,
    Result,
    Setting,
    served_chart,
    served_outcome,
    waited_text,
)
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer

RECEIVE_BUFFER = 16 * 1024  # asked for; Linux doubles it for its own bookkeeping
STEPS_PER_S = 10


@dataclass(frozen=True)
class SlowReader(Result):
    readers: int
    kb: int
    rate_kbps: int
    served: bool
    waited_s: float
    wait_limit_s: float
    how: str
    read_kb: float  # what each reader had read when the ordinary request ended, on average
    client_buffer: int  # each reader's receive buffer, as the kernel gives it (bytes)
    server_buffer: int | None  # the largest send buffer of the front's side (bytes; None: no ss)
    exceeds_buffers: bool | None  # the answer is larger than both together


def slow_reader(port: int, readers: int, kb: int, rate_kbps: int, wait_s: float) -> SlowReader:
    request = wire.request(f"/big?kb={kb}", port, close=True)
    with hostile.connections(port, readers, receive_buffer=RECEIVE_BUFFER) as socks:
        client_buffer = socks[0].getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) if socks else 0
        for sock in socks:
            sock.sendall(request)
        read = [0] * readers
        stop = threading.Event()
        reading = threading.Thread(target=_read_slowly, args=(socks, rate_kbps, read, stop), daemon=True)
        reading.start()
        time.sleep(hostile.SETTLE_S)
        buffers = hostile.send_buffers(port)
        after = hostile.ordinary(port, wait_s)
        stop.set()
        reading.join(5)
    server_buffer = max(buffers) if buffers else None
    return SlowReader(
        readers=readers,
        kb=kb,
        rate_kbps=rate_kbps,
        served=after.served,
        waited_s=after.waited_s,
        wait_limit_s=wait_s,
        how=after.how,
        read_kb=round(sum(read) / max(1, readers) / 1024, 1),
        client_buffer=client_buffer,
        server_buffer=server_buffer,
        exceeds_buffers=None if server_buffer is None else kb * 1024 > client_buffer + server_buffer,
    )


def _read_slowly(
    socks: Sequence[socket.socket], rate_kbps: int, read: list[int], stop: threading.Event
) -> None:
    """Each reader takes ``rate_kbps / STEPS_PER_S`` KiB a step until told to stop."""
    piece = max(1, rate_kbps * 1024 // STEPS_PER_S)
    while not stop.wait(1 / STEPS_PER_S):
        for index, sock in enumerate(socks):
            try:
                sock.settimeout(0.01)
                read[index] += len(sock.recv(piece))
            except OSError:
                continue


def _run(server: RunningServer, settings: Mapping[str, Any]) -> SlowReader:
    return slow_reader(
        server.port, settings["connections"], settings["kb"], settings["rate_kbps"], settings["wait_s"]
    )


def _text(result: SlowReader, spread: Spread) -> str:
    text = waited_text(result.served, result.waited_s, result.wait_limit_s, spread, result.how)
    if result.exceeds_buffers is False:
        text += " (the buffers held the answer: not a slow reader)"
    return text


def _each(result: SlowReader) -> str:
    said = "served it" if result.served else "had not answered"
    return f"{said} after {result.waited_s:g} s"


PROBE = Probe(
    name="slow_reader",
    title="Slow readers",
    result=SlowReader,
    run=_run,
    key_figure="waited_s",
    settings={
        "connections": Setting(4, 1, 200),
        # Linux lets a server's send buffer grow to 4 MiB (tcp_wmem's
        # default top): an answer outgrows it, and the client's, above that
        "kb": Setting(4608, 1024, 8192),
        "rate_kbps": Setting(64, 1, 1024),
        "wait_s": Setting(3, 1, 60),
    },
    about=(
        "{connections} clients each ask for {kb} KiB and read it at {rate_kbps} KiB/s through a 16 KiB "
        "receive buffer; meanwhile one ordinary request: served, or still waiting after {wait_s} s."
    ),
    text=_text,
    leaves_clean=False,
    figures={
        "served": "",
        "waited_s": "s",
        "wait_limit_s": "s",
        "readers": "clients",
        "read_kb": "KiB",
        "client_buffer": "bytes",
        "server_buffer": "bytes",
        "exceeds_buffers": "",
    },
    needs_cpu=False,
    cost=lambda settings, capacity: float(settings["wait_s"]) / 2 + 1.0,
    charts=(
        served_chart(
            "slow_reader",
            "Slow readers: was an ordinary request served while they read?",
            (
                ("readers", "slow readers"),
                ("read_kb", "KiB each had read"),
                ("server_buffer", "server's send buffer (bytes)"),
            ),
        ),
    ),
    answer=Answer(
        opening=lambda r: (
            f"With {r.readers} clients reading {r.kb} KiB at {r.rate_kbps} KiB/s, an ordinary request: "
        ),
        each=_each,
    ),
    outcome=served_outcome(lambda s: f"With {s['connections']} slow readers", held="held"),
)
