"""Slow uploads: POST bodies trickled at a set rate.

``connections`` uploads of ``kb`` KiB each are trickled over ``seconds``;
meanwhile one ordinary request: is it served before the uploads end, or is
the server (or every worker) held by them?  A buffering proxy reads the
whole body before it passes it on.  Then the uploads' own answers: were
they taken whole (the app counts what it read), refused (413) or cut?
"""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter
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
from runner.wire import HOST

STEPS_PER_S = 10  # how often each upload sends its next piece
ANSWER_S = 2.0  # how long the uploads' answers are awaited, once the bodies are sent


@dataclass(frozen=True)
class SlowUpload(Result):
    uploads: int
    kb: int  # each upload's body
    upload_s: float  # the time each body is trickled over
    served: bool  # the ordinary request, made while the uploads went on
    waited_s: float
    wait_limit_s: float
    how: str
    taken: int  # uploads the app read whole
    upload_ended: str  # how most uploads ended: "taken", "HTTP 413", "reset", ...


def slow_upload(port: int, uploads: int, kb: int, seconds: float) -> SlowUpload:
    size = kb * 1024
    steps = max(1, int(seconds * STEPS_PER_S))
    head = (
        f"POST /upload HTTP/1.1\r\nHost: {HOST}:{port}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
    ).encode("latin-1")
    wait_s = max(1.0, seconds - 1.0)  # the ordinary request must end before the uploads do
    with hostile.connections(port, uploads) as socks:
        cut: set[int] = set()
        trickle = threading.Thread(
            target=_trickle, args=(socks, head, size, steps, seconds, cut), daemon=True
        )
        trickle.start()
        time.sleep(hostile.SETTLE_S)
        after = hostile.ordinary(port, wait_s)
        trickle.join(seconds + 5)
        deadline = time.monotonic() + ANSWER_S  # one deadline for all: a held server costs it once
        ends = [_ended(sock, i in cut, deadline) for i, sock in enumerate(socks)]
    counts = Counter(ends)
    return SlowUpload(
        uploads=uploads,
        kb=kb,
        upload_s=float(seconds),
        served=after.served,
        waited_s=after.waited_s,
        wait_limit_s=wait_s,
        how=after.how,
        taken=counts["taken"],
        upload_ended=counts.most_common(1)[0][0] if counts else "",
    )


def _trickle(
    socks: Sequence[socket.socket], head: bytes, size: int, steps: int, seconds: float, cut: set[int]
) -> None:
    """Each body in ``steps`` pieces, a piece to every upload at each step;
    an upload the server stops reading or closes is cut and left."""
    piece = -(-size // steps)
    sent = 0
    started = time.monotonic()
    for index, sock in enumerate(socks):
        _send(sock, head, index, cut)
    for step in range(steps):
        time.sleep(max(0.0, started + step * seconds / steps - time.monotonic()))
        chunk = b"u" * min(piece, size - sent)
        for index, sock in enumerate(socks):
            if index not in cut:
                _send(sock, chunk, index, cut)
        sent += len(chunk)


def _send(sock: socket.socket, data: bytes, index: int, cut: set[int]) -> None:
    try:
        sock.settimeout(1.0)
        sock.sendall(data)
    except OSError:
        cut.add(index)


def _ended(sock: socket.socket, was_cut: bool, deadline: float) -> str:
    """How one upload ended, from its answer by ``deadline``."""
    try:
        answer = wire.read_response(sock, max(deadline, time.monotonic() + 0.01))
    except (OSError, wire.WireError) as exc:
        return wire.failure_name(exc) if not was_cut else "cut"
    body = answer.json_object() or {}
    if answer.status == 200 and isinstance(body.get("received"), int):
        return "taken" if not was_cut else "taken in part"
    return f"HTTP {answer.status}"


def _run(server: RunningServer, settings: Mapping[str, Any]) -> SlowUpload:
    return slow_upload(server.port, settings["connections"], settings["kb"], settings["seconds"])


def _text(result: SlowUpload, spread: Spread) -> str:
    text = waited_text(result.served, result.waited_s, result.wait_limit_s, spread, result.how)
    taken = f"; uploads {result.taken}/{result.uploads} taken"
    return text + taken + (f" ({result.upload_ended})" if result.taken < result.uploads else "")


def _each(result: SlowUpload) -> str:
    said = "served it" if result.served else "had not answered"
    return f"{said} after {result.waited_s:g} s, and took {result.taken} of the uploads whole"


PROBE = Probe(
    name="slow_upload",
    title="Slow uploads",
    result=SlowUpload,
    run=_run,
    key_figure="waited_s",
    settings={
        "connections": Setting(4, 1, 200),
        "kb": Setting(256, 1, 65536),  # the app reads up to 64 MiB
        "seconds": Setting(4, 2, 60),
    },
    about=(
        "{connections} uploads of {kb} KiB each are trickled over {seconds} s; meanwhile one "
        "ordinary request: served before the uploads end, or held; then how many uploads the "
        "app read whole."
    ),
    text=_text,
    leaves_clean=False,
    figures={
        "served": "",
        "waited_s": "s",
        "wait_limit_s": "s",
        "uploads": "uploads",
        "kb": "KiB",
        "taken": "uploads",
    },
    needs_cpu=False,
    cost=lambda settings, capacity: float(settings["seconds"]) + ANSWER_S / 2 + 0.5,
    charts=(
        served_chart(
            "slow_upload",
            "Slow uploads: was an ordinary request served meanwhile?",
            (("uploads", "slow uploads"), ("taken", "uploads taken whole")),
        ),
    ),
    answer=Answer(
        opening=lambda r: (
            f"With {r.uploads} uploads of {r.kb} KiB trickled over {r.upload_s:g} s, an ordinary request: "
        ),
        each=_each,
    ),
    outcome=served_outcome(lambda s: f"With {s['connections']} slow uploads", held="held"),
)
