"""Past the backlog: how many connections wait for a server that accepts none?

The app server's processes are stopped (SIGSTOP), so that nothing accepts;
then up to ``connections`` connections are made one after another, each
given ``connect_ms``.  Linux completes the handshake for as many as the
listening socket's queue holds (its backlog, plus one) and then, by default,
drops the SYNs of the rest (the client would retry after 1 s, 3 s, ...):
neither refused nor reset, only late.  The queue ``ss -ltn`` shows then is
the cross-check.  Behind nginx it is nginx that accepts.  No sysctl is
changed.  Unlike the burst probe, nobody accepts during it: it measures the
queue alone, not how fast a server drains it.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.measuring import hostile
from runner.measuring.probes.base import Answer, Bars, Chart, Probe, Result, Setting
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer, signal_group
from runner.wire import HOST

MISSES_TO_STOP = 3  # dropped in a row: the queue is full


@dataclass(frozen=True)
class Backlog(Result):
    attempts: int
    queued: int  # handshakes completed with nothing accepting: the effective backlog
    dropped: int  # no answer within connect_ms (a SYN dropped; the client would retry)
    refused: int
    reset: int
    limit_reached: bool  # every attempt queued: the queue is at least this long
    ss_queued: int | None  # the front's accept queue as ss saw it (None: no ss)
    ss_backlog: int | None


def backlog(server: RunningServer, attempts: int, connect_ms: int) -> Backlog:
    group = hostile.app_group(server)
    counts = {"queued": 0, "dropped": 0, "refused": 0, "reset": 0}
    opened: list[socket.socket] = []
    signal_group(group, signal.SIGSTOP)
    try:
        misses = 0
        while sum(counts.values()) < attempts and misses < MISSES_TO_STOP:
            outcome = _connect(server.port, connect_ms / 1000, opened)
            counts[outcome] += 1
            misses = misses + 1 if outcome == "dropped" else 0
        seen = hostile.listening(server.port)
    finally:
        for sock in opened:
            sock.close()
        signal_group(group, signal.SIGCONT)
    return Backlog(
        attempts=sum(counts.values()),
        queued=counts["queued"],
        dropped=counts["dropped"],
        refused=counts["refused"],
        reset=counts["reset"],
        limit_reached=counts["queued"] >= attempts,
        ss_queued=seen.queued if seen else None,
        ss_backlog=seen.backlog if seen else None,
    )


def _connect(port: int, timeout_s: float, opened: list[socket.socket]) -> str:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect((HOST, port))
    except (socket.timeout, TimeoutError):
        sock.close()
        return "dropped"
    except ConnectionRefusedError:
        sock.close()
        return "refused"
    except OSError:
        sock.close()
        return "reset"
    opened.append(sock)
    return "queued"


def _run(server: RunningServer, settings: Mapping[str, Any]) -> Backlog:
    # thousands of connections at once: taken from the runner's shared
    # budget of open files, waiting while other cells hold theirs
    with hostile.DESCRIPTORS.taken(settings["connections"]) as granted:
        return backlog(server, granted, settings["connect_ms"])


def _text(result: Backlog, spread: Spread) -> str:
    text = f"{'at least ' if result.limit_reached else ''}{result.queued} queued"
    lost = [
        f"{n} {k}"
        for k, n in (("dropped", result.dropped), ("refused", result.refused), ("reset", result.reset))
        if n
    ]
    if lost:
        text += ", then " + ", ".join(lost)
    if result.ss_backlog is not None:
        text += f" (ss: {result.ss_queued} waiting, backlog {result.ss_backlog})"
    return text


def _each(result: Backlog) -> str:
    queued = f"{'at least ' if result.limit_reached else ''}{result.queued}"
    seen = f" (ss: backlog {result.ss_backlog})" if result.ss_backlog is not None else ""
    return f"queued {queued}{seen}"


PROBE = Probe(
    name="backlog",
    title="Past the backlog",
    result=Backlog,
    run=_run,
    key_figure="queued",
    settings={
        "connections": Setting(2200, 1, 5000),  # a file descriptor each, in the runner
        "connect_ms": Setting(200, 50, 2000),
    },
    about=(
        "The app server's processes are stopped (SIGSTOP); then up to {connections} connections, one "
        "after another, each given {connect_ms} ms: how many were queued, and what the rest met. "
        "Linux drops the SYNs past the queue rather than refuse them; ss shows the queue."
    ),
    text=_text,
    leaves_clean=False,
    figures={
        "queued": "connections",
        "dropped": "connections",
        "refused": "connections",
        "reset": "connections",
        "ss_queued": "connections",
        "ss_backlog": "connections",
    },
    needs_cpu=False,
    cost=lambda settings, capacity: 2.0 + MISSES_TO_STOP * float(settings["connect_ms"]) / 1000,
    charts=(
        Chart(
            "backlog",
            "Past the backlog: connections queued while nothing accepts",
            "queued",
            Bars(
                "queued",
                "connections queued with nothing accepting",
                tips=(("ss_backlog", "backlog ss shows"), ("dropped", "dropped after")),
            ),
        ),
    ),
    answer=Answer(
        opening=lambda r: "With the server stopped, connections that completed their handshake: ",
        each=_each,
        closing=lambda results: (
            "; the rest got no answer (Linux drops their SYNs: the client retries after 1 s, 3 s, ...)"
            if any(r.dropped for r in results)
            else ""
        ),
    ),
)
