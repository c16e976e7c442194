"""A crashed worker: is it replaced, and how soon does service come back?

Twice the server loses the process that serves (SIGKILL): first while it is
idle (the process that answered ``/health``), then while it serves a
request (the process holding that request's connection).  After each, an
ordinary request every 0.1 s for up to ``wait_s``: how long until one is
answered, and how many failed meanwhile.  A pre-forking server's master
(gunicorn's arbiter, uWSGI's master) starts another worker; a server that is
one process (``flask run``, waitress) is simply gone.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from runner import wire
from runner.measuring import hostile
from runner.measuring.probes.base import Answer, Bars, Chart, Outcome, Probe, Result, Setting
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer

POLL_S = 0.1
IN_FLIGHT_MS = 2000  # the request the second kill interrupts


@dataclass(frozen=True)
class Crash(Result):
    killed: str  # "a worker" (a master is left) or "its only process"
    idle_recovered: bool
    idle_recovery_s: float | None
    idle_failed: int  # ordinary requests that failed before one was answered
    serving_recovered: bool | None  # None: not tried, the server was gone after the first
    serving_recovery_s: float | None
    serving_failed: int
    in_flight: str  # how the interrupted request ended: "reset", "HTTP 502", ...
    recovers: bool
    wait_limit_s: float


def crash(server: RunningServer, wait_s: float) -> Crash:
    group = hostile.app_group(server)
    pid = wire.get(server.port, "/health", 5.0).json_object() or {}
    target = int(pid.get("pid", 0))
    members = hostile.group_members(group)
    killed = "its only process" if len(members) <= 1 else "a worker"
    if target not in members:  # the answer came through a proxy from a pid not in the group
        target = members[-1] if members else 0
    _kill(target)
    idle = _recovery(server.port, wait_s)
    if idle[0] is None:
        return Crash(killed, False, None, idle[1], None, None, 0, "not tried", False, wait_s)
    in_flight: list[str] = []
    request = threading.Thread(target=_in_flight, args=(server.port, in_flight), daemon=True)
    request.start()
    serving = _serving_pid(group, deadline=time.monotonic() + 1.5)
    _kill(serving)
    serving_after = _recovery(server.port, wait_s)
    request.join(IN_FLIGHT_MS / 1000 + 3)
    recovered = serving_after[0] is not None
    return Crash(
        killed=killed,
        idle_recovered=True,
        idle_recovery_s=idle[0],
        idle_failed=idle[1],
        serving_recovered=recovered,
        serving_recovery_s=serving_after[0],
        serving_failed=serving_after[1],
        in_flight=in_flight[0] if in_flight else "still waiting",
        recovers=recovered,
        wait_limit_s=wait_s,
    )


def _kill(pid: int) -> None:
    if pid > 0:
        with suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def _serving_pid(group: int, deadline: float) -> int:
    """The process of the group holding a connection, once the request is in;
    the last process where none is seen by the deadline."""
    while time.monotonic() < deadline:
        serving = hostile.serving_processes(group)
        if serving:
            return serving[-1]
        time.sleep(0.02)
    members = hostile.group_members(group)
    return members[-1] if members else 0


def _in_flight(port: int, said: list[str]) -> None:
    try:
        answer = wire.get(port, f"/slow?ms={IN_FLIGHT_MS}", IN_FLIGHT_MS / 1000 + 2)
        said.append("answered" if answer.status == 200 else f"HTTP {answer.status}")
    except (OSError, wire.WireError) as exc:
        said.append(wire.failure_name(exc))


def _recovery(port: int, wait_s: float) -> tuple[float | None, int]:
    """Seconds until an ordinary request is answered (None: none by ``wait_s``),
    and how many failed before."""
    started = time.monotonic()
    failed = 0
    while time.monotonic() - started < wait_s:
        after = hostile.ordinary(port, min(1.0, max(0.1, wait_s - (time.monotonic() - started))))
        if after.served:
            return round(time.monotonic() - started, 3), failed
        failed += 1
        time.sleep(POLL_S)
    return None, failed


def _run(server: RunningServer, settings: Mapping[str, Any]) -> Crash:
    return crash(server, float(settings["wait_s"]))


def _text(result: Crash, spread: Spread) -> str:
    if not result.idle_recovered:
        return f"down: {result.killed} killed, no answer for {result.wait_limit_s:g} s"
    text = f"back in {result.idle_recovery_s:.2f} s"
    if result.serving_recovered:
        text += f"; mid-request: back in {result.serving_recovery_s:.2f} s (the request: {result.in_flight})"
    else:
        text += f"; mid-request: down (the request: {result.in_flight})"
    return text


def _each(result: Crash) -> str:
    if result.recovers:
        return f"came back in {result.idle_recovery_s:g} s, and {result.serving_recovery_s:g} s mid-request"
    if result.idle_recovered:
        return "came back once, not after a kill mid-request"
    return f"stayed down ({result.killed} killed)"


PROBE = Probe(
    name="crash",
    title="A crashed worker",
    result=Crash,
    run=_run,
    key_figure="idle_recovery_s",
    settings={"wait_s": Setting(5, 1, 60)},
    about=(
        "The process that serves is killed (SIGKILL), idle and then mid-request; ordinary requests "
        "every 0.1 s for up to {wait_s} s: how soon one is answered again, if ever."
    ),
    text=_text,
    leaves_clean=False,
    figures={
        "recovers": "",
        "idle_recovery_s": "s",
        "idle_failed": "requests",
        "serving_recovery_s": "s",
        "serving_failed": "requests",
    },
    needs_cpu=False,
    cost=lambda settings, capacity: 4.0,  # down: the limit once; up: a worker's start twice
    charts=(
        Chart(
            "crash",
            "A crashed worker: seconds until service came back",
            "recovers",
            Bars(
                "idle_recovery_s",
                "seconds until an ordinary request was answered again",
                by="recovers",
                by_title="after the kills",
                labels=(("came back", "#1b9e77"), ("stayed down", "#d95f02")),
                tips=(
                    ("idle_failed", "requests failed meanwhile"),
                    ("serving_recovery_s", "mid-request (s)"),
                ),
            ),
        ),
    ),
    answer=Answer(opening=lambda r: "After the process that serves is killed, the server: ", each=_each),
    outcome=Outcome(
        name="recovers",
        of=lambda r: r.recovers,
        yes="recovers",
        no="stays down",
        chance=False,
        lead=lambda s: "When the process that serves is killed",
        yes_phrase=("comes back", "come back"),
        no_phrase=("stays down", "stay down"),
    ),
)
