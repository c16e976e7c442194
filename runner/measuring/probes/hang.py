"""A hung request: does the server free the worker, and what do others see meanwhile?

``connections`` requests to ``/hang`` each hold their worker for a minute;
meanwhile an ordinary request every 0.25 s for ``wait_s``.  Does the server
end the hung requests (gunicorn's ``--timeout`` kills and replaces the
worker, uWSGI's ``harakiri`` does where it is set), after how long, and were
the ordinary requests served meanwhile?  A request time-out longer than the
probe may wait is set to ``timeout_s`` for the probe, and the record says so.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runner import wire
from runner.measuring import hostile
from runner.measuring.probes.base import Answer, Bars, Chart, Outcome, Probe, Result, Setting
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer
from runner.serving.servers.base import REQUEST

HANG_S = 60  # how long each hung request asks to sleep: beyond any probe's wait
EVERY_S = 0.25


@dataclass(frozen=True)
class Hang(Result):
    hung: int
    freed: int  # hung requests the server ended within wait_s
    freed_s: float | None  # when the first was ended
    ended_as: str  # how the first ended: "closed early", "reset", "HTTP 502", ... ("" if none)
    timeout_s: float | None  # the request time-out the server has (None: none)
    timeout_set: str
    ordinary_served: int
    ordinary_failed: int
    first_served_s: float | None  # when an ordinary request was first answered
    wait_limit_s: float
    frees: bool  # every hung request was ended


def hang(port: int, hung: int, wait_s: float, timeout: tuple[float | None, str]) -> Hang:
    ended: dict[int, tuple[float, str]] = {}
    started = time.monotonic()
    with hostile.connections(port, hung) as socks:
        for sock in socks:
            sock.sendall(wire.request(f"/hang?s={HANG_S}", port, close=True))
        watch = threading.Thread(target=_watch, args=(socks, started, wait_s, ended), daemon=True)
        watch.start()
        time.sleep(hostile.SETTLE_S)
        served, failed, first = 0, 0, None
        while time.monotonic() - started < wait_s:
            after = hostile.ordinary(port, min(1.0, max(0.1, wait_s - (time.monotonic() - started))))
            if after.served:
                served += 1
                first = first if first is not None else round(time.monotonic() - started, 3)
            else:
                failed += 1
            time.sleep(EVERY_S)
        watch.join(2)
    earliest = min(ended.values()) if ended else None
    return Hang(
        hung=hung,
        freed=len(ended),
        freed_s=round(earliest[0], 3) if earliest else None,
        ended_as=earliest[1] if earliest else "",
        timeout_s=timeout[0],
        timeout_set=timeout[1],
        ordinary_served=served,
        ordinary_failed=failed,
        first_served_s=first,
        wait_limit_s=wait_s,
        frees=len(ended) == hung,
    )


def _watch(
    socks: Sequence[socket.socket], started: float, wait_s: float, ended: dict[int, tuple[float, str]]
) -> None:
    """When, and how, each hung request ends (an answer, a close, a reset)."""
    waiting = {sock.fileno(): sock for sock in socks}
    poller = select.poll()  # not select(): the run may hold more than 1024 descriptors
    for fd in waiting:
        poller.register(fd, select.POLLIN)
    while waiting and time.monotonic() - started < wait_s:
        for fd, _ in poller.poll(50):
            sock = waiting[fd]
            poller.unregister(fd)
            at = time.monotonic() - started
            try:
                answer = wire.read_response(sock, time.monotonic() + 1.0)
                how = f"HTTP {answer.status}"
            except (OSError, wire.WireError) as exc:
                how = wire.failure_name(exc)
            ended[fd] = (at, how)
            waiting.pop(fd, None)


def _run(server: RunningServer, settings: Mapping[str, Any]) -> Hang:
    timeout = server.timeouts.get(REQUEST, (None, ""))
    return hang(server.port, settings["connections"], float(settings["wait_s"]), timeout)


def _text(result: Hang, spread: Spread) -> str:
    if result.frees:
        text = f"freed after {result.freed_s:.1f} s ({result.ended_as})"
    elif result.freed:
        text = f"{result.freed} of {result.hung} freed"
    else:
        text = f"held > {result.wait_limit_s:g} s"
    limit = f"time-out {result.timeout_s:g} s" if result.timeout_s is not None else "no time-out"
    text += f" [{limit}{', ' + result.timeout_set if result.timeout_set else ''}]"
    if result.first_served_s is None:
        return text + "; no other request served"
    return text + f"; others served from {result.first_served_s:.1f} s"


def _each(result: Hang) -> str:
    said = f"ended them after {result.freed_s:g} s" if result.frees else "never ended them"
    others = (
        "served nothing else meanwhile"
        if result.first_served_s is None
        else f"served others from {result.first_served_s:g} s"
    )
    return f"{said} and {others}"


PROBE = Probe(
    name="hang",
    title="A hung request",
    result=Hang,
    run=_run,
    key_figure="first_served_s",
    settings={"connections": Setting(2, 1, 64), "wait_s": Setting(6, 2, 60), "timeout_s": Setting(3, 1, 10)},
    about=(
        "{connections} requests that never return (they sleep a minute); meanwhile an ordinary request "
        "every 0.25 s for {wait_s} s: does the server end the hung ones, and are others served? "
        "A request time-out over 10 s is set to {timeout_s} s for the probe."
    ),
    text=_text,
    leaves_clean=False,
    figures={
        "frees": "",
        "freed": "requests",
        "freed_s": "s",
        "ordinary_served": "requests",
        "ordinary_failed": "requests",
        "first_served_s": "s",
        "timeout_s": "s",
    },
    needs_cpu=False,
    cost=lambda settings, capacity: float(settings["wait_s"]) + 0.5,
    charts=(
        Chart(
            "hang",
            "A hung request: were other requests served, and when?",
            "frees",
            Bars(
                "ordinary_served",
                "ordinary requests served while the hung ones waited",
                by="frees",
                by_title="hung requests",
                labels=(("ended by the server", "#1b9e77"), ("left hanging", "#d95f02")),
                tips=(("freed_s", "ended after (s)"), ("first_served_s", "others served from (s)")),
            ),
        ),
    ),
    answer=Answer(opening=lambda r: f"With {r.hung} requests that never return, the server: ", each=_each),
    outcome=Outcome(
        name="frees",
        of=lambda r: r.frees,
        yes="frees them",
        no="leaves them",
        chance=False,
        lead=lambda s: f"With {s['connections']} requests that never return",
        yes_phrase=("ends them", "end them"),
        no_phrase=("lets them hang", "let them hang"),
    ),
    outwaits=(REQUEST, "timeout_s"),
)
