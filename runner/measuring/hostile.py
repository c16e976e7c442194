"""What the hostile-connection probes share.

An ordinary request made while a server is under some condition (silent
connections, slow uploads, slow readers, hung requests); a server's
processes and the connections each holds, from ``/proc``; its listening
socket's queue and its connections' buffers, from ``ss``.  Everything here
targets 127.0.0.1 and gives up by a deadline.
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from runner import wire
from runner.serving.process import RunningServer, group_processes
from runner.wire import HOST

# How long the server is given to take up the hostile connections before the
# ordinary request, as it would in life.
SETTLE_S = 0.3


class Descriptors:
    """The runner's open files, shared by the probes that hold thousands of
    connections at once (the backlog's), which run side by side with other
    cells: half the soft limit is theirs, the rest is left to every other
    cell in flight (its connections, its servers' logs)."""

    def __init__(self) -> None:
        self._free = threading.Condition()
        self._taken = 0

    @staticmethod
    def budget() -> int:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return max(64, (soft if soft != resource.RLIM_INFINITY else 65536) // 2)

    @contextmanager
    def taken(self, wanted: int) -> Iterator[int]:
        """Up to ``wanted`` descriptors, once they are free (waiting for other
        probes to give theirs back); yields how many were granted."""
        granted = min(wanted, self.budget())
        with self._free:
            self._free.wait_for(lambda: self._taken + granted <= self.budget() or self._taken == 0)
            self._taken += granted
        try:
            yield granted
        finally:
            with self._free:
                self._taken -= granted
                self._free.notify_all()


DESCRIPTORS = Descriptors()


@dataclass(frozen=True)
class Ordinary:
    """How the ordinary request fared: answered, after how long, or how it failed."""

    served: bool
    waited_s: float
    how: str  # "served", "HTTP 502", "timeout", "reset", ...


def ordinary(port: int, wait_s: float, path: str = "/hello") -> Ordinary:
    """One GET on a fresh connection, given ``wait_s`` in all."""
    started = time.perf_counter()
    try:
        answer = wire.get(port, path, wait_s)
        served, how = answer.status == 200, "served" if answer.status == 200 else f"HTTP {answer.status}"
    except (OSError, wire.WireError) as exc:
        served, how = False, wire.failure_name(exc)
    return Ordinary(served, round(min(time.perf_counter() - started, wait_s), 3), how)


@contextmanager
def connections(port: int, count: int, *, receive_buffer: int = 0) -> Iterator[list[socket.socket]]:
    """``count`` connections to the server, closed when the block ends; each
    with ``receive_buffer`` bytes of receive buffer where given (set before
    connecting, so that the window the client offers stays that small)."""
    opened: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            opened.append(sock)
            if receive_buffer:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            sock.settimeout(5)
            sock.connect((HOST, port))
        yield opened
    finally:
        for sock in opened:
            sock.close()


def app_group(server: RunningServer) -> int:
    """The process group of the app server (behind a proxy, the first group)."""
    return server.groups[0] if server.groups else server.pid


def group_members(pgid: int) -> list[int]:
    """The live processes of a group, the leader first."""
    members = [pid for pid, state in group_processes(pgid) or [] if state not in ("Z", "X")]
    return sorted(members, key=lambda pid: (pid != pgid, pid))


def _established_inodes() -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == "01":  # ESTABLISHED
                inodes.add(fields[9])
    return inodes


def serving_processes(pgid: int) -> list[int]:
    """The processes of the group that hold an established connection: those
    serving a request (a master that only manages workers holds none)."""
    established = _established_inodes()
    serving = []
    for pid in group_members(pgid):
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        inodes = {m.group(1) for link in links if (m := re.fullmatch(r"socket:\[(\d+)\]", link))}
        if inodes & established:
            serving.append(pid)
    return serving


@dataclass(frozen=True)
class Listening:
    """The listening socket's accept queue as ``ss -ltn`` shows it: the
    connections waiting to be accepted (Recv-Q) and the backlog (Send-Q)."""

    queued: int
    backlog: int


def ss_binary() -> str | None:
    return shutil.which("ss") or next((p for p in ("/usr/sbin/ss", "/sbin/ss") if Path(p).exists()), None)


def listening(port: int) -> Listening | None:
    """The queue of the socket listening on 127.0.0.1:``port``; None without ``ss``."""
    lines = _ss(["-ltnH", f"sport = :{port}"])
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and fields[3].endswith(f":{port}"):
            return Listening(int(fields[1]), int(fields[2]))
    return None


def send_buffers(port: int) -> list[int]:
    """The send buffer (``skmem`` ``tb``) of each connection whose local end is
    127.0.0.1:``port``: the server's side of its clients, open or closing
    with data still queued."""
    text = "\n".join(_ss(["-tnmH", f"sport = :{port}"]))
    return [int(found) for found in re.findall(r"\btb(\d+)", text)]


def _ss(arguments: Sequence[str]) -> list[str]:
    binary = ss_binary()
    if binary is None:
        return []
    try:
        done = subprocess.run([binary, *arguments], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return done.stdout.splitlines() if done.returncode == 0 else []
