"""A watchdog that outlives the runner by a moment: nothing a run started survives it.

A run starts one small process (``python -m runner.serving.watchdog``) in a
session of its own, so that the signal which ends the runner's terminal does
not end it too, and holds the write end of a pipe to it.  Every process group
the run starts (servers, nginx, builds) is written into the pipe as it is
started.  When the pipe closes (the run ended, however: normally, by a
signal, or killed outright with SIGKILL), the watchdog kills every group it
was told of and every process whose environment carries the run's
``MATRIX_RUN_ID``, then exits.  A parent-death signal would not do: it
reaches only a direct child, fires when the thread that started the child
ends, and needs ``preexec_fn`` in a runner full of threads.

A run inside a run (bisect's probes) tells the outer watchdog its own id, so
that its processes are found by their mark too.

A backstop, for the one case the watchdog cannot cover (it was killed
outright as well, by ``kill -9`` of the whole session, say): every process
a run starts also carries ``MATRIX_RUN_OWNER``, the runner's pid and start
time.  At its start, a run ends every process whose owner is no longer
alive (:func:`reap`), and says what it ended.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from runner import settings

RUN_MARK = "MATRIX_RUN_ID"
OWNER_MARK = "MATRIX_RUN_OWNER"
OWNER_FILE = "owner"  # in an nginx's folder, which nginx names on its command line (``-p``)
_lock = threading.Lock()
_pipe: int | None = None  # the write end, while a watchdog watches this process's run


def start(run_id: str) -> subprocess.Popen[bytes] | None:
    """The run's watchdog, watching from now until :func:`stop` or this process's end."""
    global _pipe
    with _lock:
        if _pipe is not None:  # a run inside a run (bisect's probes): the outer watchdog watches
            with suppress(OSError):
                os.write(_pipe, f"@{run_id}\n".encode())
            return None
        read, write = os.pipe()
        repo = str(Path(__file__).resolve().parents[2])
        try:
            child = subprocess.Popen(
                [sys.executable, "-m", "runner.serving.watchdog", run_id, str(read)],
                pass_fds=(read,),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                start_new_session=True,
                cwd=repo,
                env={
                    **settings.child_environ(),
                    "PYTHONPATH": repo,
                },  # importable whatever PYTHONSAFEPATH says
            )
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        _pipe = write
        return child


def watch(pgid: int) -> None:
    """Tell the watchdog of a process group the run started (nothing without one)."""
    with _lock:
        if _pipe is not None:
            with suppress(OSError):
                os.write(_pipe, f"{pgid}\n".encode())


def forget(pgid: int) -> None:
    """A group that has ended: the watchdog no longer kills it (its number may be reused)."""
    watch(-pgid)


def stop(child: subprocess.Popen[bytes] | None) -> None:
    """The run is over: the watchdog ends what is left of it, and itself."""
    global _pipe
    if child is None:
        return
    with _lock:
        if _pipe is not None:
            os.close(_pipe)
            _pipe = None
    with suppress(subprocess.TimeoutExpired):
        child.wait(timeout=10)


def owner() -> str:
    """This process as the owner of what it starts: ``pid:start time``."""
    return f"{os.getpid()}:{_started(os.getpid())}"


def _started(pid: int) -> str:
    """A process's start time in clock ticks since boot ("" once it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name before it may hold spaces


def _environ(pid: int) -> dict[bytes, bytes]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    return dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)


def orphans() -> list[int]:
    """Live processes started by a runner that is no longer alive."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        mark = _environ(int(entry.name)).get(OWNER_MARK.encode()) or _nginx_owner(int(entry.name))
        pid, _, started = mark.decode(errors="replace").partition(":")
        if pid.isdigit() and started and _started(int(pid)) != started:
            found.append(int(entry.name))
    return found


def _nginx_owner(pid: int) -> bytes:
    """The owner an nginx of a run wrote into its folder (b"" for any other process)."""
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").split()
    except OSError:
        return b""
    if b"-p" not in words[:-1]:
        return b""
    folder = Path(os.fsdecode(words[words.index(b"-p") + 1]))
    if not folder.name.startswith("matrix-nginx-"):
        return b""
    try:
        return (folder / OWNER_FILE).read_bytes()
    except OSError:
        return b""


def reap(say: Callable[[str], None]) -> list[int]:
    """End what runs that died outright left behind (see the module's note)."""
    left = orphans()
    for pid in left:
        with suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:  # a group's leader: its workers go with it
                os.killpg(pid, signal.SIGKILL)
            os.kill(pid, signal.SIGKILL)
    if left:
        say(
            f"ended {len(left)} process(es) an earlier run left behind when it was killed "
            f"(pids {', '.join(map(str, left[:10]))}{' ...' if len(left) > 10 else ''})"
        )
    return left


def marked(run_id: str) -> list[int]:
    """Live processes whose environment carries ``MATRIX_RUN_ID=run_id``."""
    mark = f"{RUN_MARK}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with suppress(OSError):
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def _end(run_ids: set[str], groups: set[int], runner: str) -> None:
    """Kill the groups, and every process marked with a run's id that ``runner``
    (``pid:start``) started: two results folders may hold runs of one id,
    and another runner's processes are not this run's to end."""
    for pgid in groups:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    for run_id in run_ids:
        for pid in marked(run_id):
            started_by = _environ(pid).get(OWNER_MARK.encode()) or _nginx_owner(pid)
            if started_by.decode(errors="replace") != runner:
                continue
            with suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    """Read process groups until the pipe closes, then end them all."""
    run_id, fd = argv[0], int(argv[1])
    runner = f"{os.getppid()}:{_started(os.getppid())}"  # the runner that started this watchdog
    for signum in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGQUIT):
        signal.signal(signum, signal.SIG_IGN)  # only the pipe's end ends the watch
    groups: set[int] = set()
    run_ids = {run_id}
    buffer = b""
    with os.fdopen(fd, "rb", buffering=0) as pipe:
        while chunk := pipe.read(4096):
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"@"):
                    run_ids.add(line[1:].decode(errors="replace").strip())
                    continue
                number = int(line) if line.strip().lstrip(b"-").isdigit() else 0
                if number > 0:
                    groups.add(number)
                elif number < 0:
                    groups.discard(-number)
    _end(run_ids, groups, runner)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
