"""Idle keep-alive: a connection reused after it sat idle past the server's time-out.

One request on a keep-alive connection; then the connection sits idle for
``idle_s`` and carries a second request, as a load balancer's pool reuses a
connection without asking.  Is it answered, was the connection closed
cleanly beforehand (a FIN the pool could have seen), or is the request
reset or lost?  A server whose keep-alive time-out is longer than the probe
may wait has it set to ``timeout_s`` for the probe, and the record says so;
``idle_s`` is then counted past it.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner import wire
from runner.measuring.probes.base import Answer, Bars, Chart, Outcome, Probe, Result, Setting
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer
from runner.serving.servers.base import KEEP_ALIVE
from runner.wire import HOST

ANSWERED = "answered"
CLOSED_BEFORE = "closed beforehand"
NO_KEEP_ALIVE = "no keep-alive"


@dataclass(frozen=True)
class IdleKeepAlive(Result):
    kept_alive: bool  # the first answer left the connection open
    idle_s: float
    timeout_s: float | None  # the keep-alive time-out the client meets (None: none known)
    timeout_set: str  # the option the probe set, and what it was ("" where the column's own)
    closed_before: bool  # the server had closed (FIN) before the second request
    second: str  # "answered", "closed beforehand", "reset", "closed early", "timeout", "no keep-alive"
    answered: bool


def idle_keepalive(port: int, idle_s: float, timeout: tuple[float | None, str]) -> IdleKeepAlive:
    with socket.create_connection((HOST, port), timeout=5) as sock:
        first = _ask(sock, wire.request("/hello", port), 5.0)
        if not first.keep_alive:
            return IdleKeepAlive(False, idle_s, timeout[0], timeout[1], False, NO_KEEP_ALIVE, False)
        time.sleep(idle_s)
        closed_before = _closed(sock)
        try:
            second = _ask(sock, wire.request("/hello", port), 3.0)
            how = ANSWERED if second.status == 200 else f"HTTP {second.status}"
        except (OSError, wire.WireError) as exc:
            how = CLOSED_BEFORE if closed_before else wire.failure_name(exc)
    return IdleKeepAlive(True, idle_s, timeout[0], timeout[1], closed_before, how, how == ANSWERED)


def _ask(sock: socket.socket, request: bytes, within_s: float) -> wire.Response:
    sock.sendall(request)
    return wire.read_response(sock, time.monotonic() + within_s)


def _closed(sock: socket.socket) -> bool:
    """Whether the server has closed its side: readable, with nothing to read."""
    poller = select.poll()  # not select(): the run may hold more than 1024 descriptors
    poller.register(sock, select.POLLIN)
    if not poller.poll(0):
        return False
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _run(server: RunningServer, settings: Mapping[str, Any]) -> IdleKeepAlive:
    timeout = server.timeouts.get(KEEP_ALIVE, (None, ""))
    # past the time-out the client meets, where it is short enough to outwait
    idle = settings["idle_s"] + (timeout[0] if timeout[0] is not None and timeout[0] <= 10 else 0)
    return idle_keepalive(server.port, float(idle), timeout)


def _text(result: IdleKeepAlive, spread: Spread) -> str:
    if not result.kept_alive:
        return "no keep-alive: each answer closes its connection"
    said = {ANSWERED: "answered", CLOSED_BEFORE: "closed cleanly beforehand"}.get(
        result.second, f"lost: {result.second}"
    )
    limit = f"time-out {result.timeout_s:g} s" if result.timeout_s is not None else "no time-out known"
    set_here = f", {result.timeout_set}" if result.timeout_set else ""
    return f"after {result.idle_s:g} s idle: {said} ({limit}{set_here})"


def _each(result: IdleKeepAlive) -> str:
    if not result.kept_alive:
        return "closed each connection after its answer (no keep-alive)"
    return {ANSWERED: "answered it", CLOSED_BEFORE: "had closed the connection cleanly"}.get(
        result.second, f"lost it ({result.second})"
    )


PROBE = Probe(
    name="idle_keepalive",
    title="Idle keep-alive",
    result=IdleKeepAlive,
    run=_run,
    key_figure="idle_s",
    settings={"idle_s": Setting(2, 1, 30), "timeout_s": Setting(2, 1, 10)},
    about=(
        "A keep-alive connection carries one request, sits idle {idle_s} s past the keep-alive "
        "time-out the client meets (a time-out over 10 s is set to {timeout_s} s for the probe), "
        "then carries another, as a load balancer's pool would: answered, closed cleanly "
        "beforehand, or lost. Behind nginx the connection reused is nginx's own: nginx opens a "
        "connection to the app for each request (unless its `keepalive` option is set), so the "
        "race cannot happen between nginx and the app."
    ),
    text=_text,
    leaves_clean=False,
    figures={
        "kept_alive": "",
        "idle_s": "s",
        "timeout_s": "s",
        "closed_before": "",
        "answered": "",
    },
    needs_cpu=False,
    cost=lambda settings, capacity: float(settings["idle_s"]) + float(settings["timeout_s"]) + 1.0,
    charts=(
        Chart(
            "idle_keepalive",
            "Idle keep-alive: was a request on an idle connection answered?",
            "idle_s",
            Bars(
                "idle_s",
                "seconds the connection sat idle",
                by="answered",
                by_title="second request",
                labels=(("answered", "#1b9e77"), ("not answered", "#d95f02")),
                tips=(("timeout_s", "keep-alive time-out (s)"), ("closed_before", "closed beforehand")),
            ),
        ),
    ),
    answer=Answer(opening=lambda r: "A request on a keep-alive connection left idle: ", each=_each),
    # Well past the time-out the close has happened, whichever way a timer
    # falls: the probe waits its ``idle_s`` beyond the time-out for that.
    outcome=Outcome(
        name="answered",
        of=lambda r: r.answered if r.kept_alive else None,
        yes="answered",
        no="not answered",
        chance=False,
        lead=lambda s: f"A request on a connection idle {s['idle_s']} s past the keep-alive time-out",
        yes_phrase=("answers it", "answer it"),
        no_phrase=("does not answer it", "do not answer it"),
    ),
    outwaits=(KEEP_ALIVE, "timeout_s"),
)
