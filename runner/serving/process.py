"""Server lifecycle: start on a free loopback port, wait until ready, stop.

Every server runs in its own process group (so workers and reloader children
go with it), writes to a log file, is polled for readiness against a
deadline, never a fixed sleep, and is always torn down: SIGTERM to the
group, a timed wait, then SIGKILL to the group.
"""

from __future__ import annotations

import os
import random
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from runner import settings, wire
from runner.errors import CellError
from runner.serving import watchdog
from runner.wire import HOST

STOP_TIMEOUT_S = 5.0


def default_ready_timeout() -> float:
    """How long a server has to answer: ``MATRIX_READY_TIMEOUT`` seconds, else 60."""
    return settings.current().ready_timeout_s


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    port: int
    pid: int
    startup_s: float
    log_path: Path
    token: str  # what the app's /health answers with
    groups: tuple[int, ...] = ()  # the process groups behind it (the app's, nginx's)
    cores: tuple[int, ...] = ()  # the cores its processes are kept to (none: every core)
    # Its time-outs that a probe may meet, by what they end (see
    # runner.serving.servers.base): seconds (None: none), and what set each
    # where the run changed it for a probe ("" where the column's own).
    timeouts: Mapping[str, tuple[float | None, str]] = field(default_factory=dict)


class PortBook:
    """Ports for servers, free when given and never given twice by one process.

    A server is told its port some seconds before it binds it.  A port from
    the kernel's ephemeral range (``bind`` to port 0) may meanwhile become the
    local end of one of the many client connections the run opens (readiness
    polls, probes, nginx to its backend) or be handed to a second server
    starting at the same moment: the server then fails with "address already
    in use".  So ports come from below that range where there is room, and
    each is given once.
    """

    LOWEST = 10000

    def __init__(self, ephemeral: tuple[int, int] | None = None, seed: int | None = None) -> None:
        low, high = ephemeral or ephemeral_range()
        below = (self.LOWEST, low - 1) if low - 1 - self.LOWEST >= 1000 else None
        above = (high + 1, 65535) if 65535 - high - 1 >= 1000 else None
        self.span = below or above  # None: only the kernel's choice is left
        self._given: set[int] = set()
        self._lock = threading.Lock()
        self._random = random.Random(seed)

    def take(self) -> int:
        with self._lock:
            for _ in range(100):
                port = self._random.randint(*self.span) if self.span else _kernel_port()
                if port not in self._given and _bindable(port):
                    self._given.add(port)
                    return port
        raise CellError("no free port on 127.0.0.1 after 100 tries")


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range of local ports for outgoing connections (Linux's
    default where it does not say)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[:2]
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _kernel_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


PORTS = PortBook()


def free_port() -> int:
    """A port for a server on 127.0.0.1 (see :class:`PortBook`)."""
    return PORTS.take()


def log_tail(path: Path, lines: int = 20) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16384))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def log_head(path: Path, max_bytes: int = 65536) -> list[str]:
    """The first lines of a log: what a server printed as it started."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(max_bytes).decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()


def last_words(log_path: Path) -> str:
    """The last line a server printed before it died, usually the error."""
    for line in reversed(log_tail(log_path, 40)):
        line = line.strip()
        if line and not line.startswith("$ "):
            return line[:300]
    return ""


@contextmanager
def running_server(
    argv: Sequence[str],
    *,
    port: int,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    loaded_by: int = 1,
    token: str | None = None,
    ready_timeout: float | None = None,
    cores: Sequence[int] = (),
) -> Iterator[RunningServer]:
    """Run ``argv`` until the block ends; ready once /health answers with the
    app's token and ``loaded_by`` processes have loaded the app.

    The token is fresh unless given: a proxy in front is ready when the app's
    own token comes back through it.
    """
    token = token or secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="matrix-loaded-") as loaded_dir, open(log_path, "ab") as log:
        child_env = {**env, "TARGET_APP_TOKEN": token, "TARGET_APP_LOADED_DIR": loaded_dir}
        started = time.perf_counter()
        proc = spawn(argv, log, cwd=cwd, env=child_env, cores=cores)
        try:
            base_url = f"http://{HOST}:{port}"
            try:
                timeout = ready_timeout or default_ready_timeout()
                _wait_ready(proc, port, token, Path(loaded_dir), loaded_by, timeout)
            except CellError as exc:
                last = last_words(log_path)
                raise CellError(f"{exc.reason}: {last}" if last else exc.reason) from None
            startup_s = time.perf_counter() - started
            yield RunningServer(
                base_url, port, proc.pid, startup_s, log_path, token, (proc.pid,), tuple(cores)
            )
        finally:
            if stop(proc):
                log.write(f"--- still running {STOP_TIMEOUT_S:.0f} s after SIGTERM: killed\n".encode())


def spawn(
    argv: Sequence[str],
    log: IO[bytes],
    *,
    cwd: Path,
    env: Mapping[str, str],
    cores: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a process group of its own, its output into ``log``;
    kept to ``cores`` (with every process it starts) where any are given."""
    log.write(("$ " + " ".join(argv) + "\n").encode())
    if cores:
        log.write(f"# kept to cores {','.join(map(str, cores))}\n".encode())
    log.flush()
    proc = subprocess.Popen(
        list(argv),
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=str(cwd),
        env={**env, watchdog.OWNER_MARK: watchdog.owner()},
        start_new_session=True,
        # affinity before exec, so that every worker it forks inherits it
        preexec_fn=(lambda: os.sched_setaffinity(0, cores)) if cores else None,
    )
    watchdog.watch(proc.pid)  # its group dies with the run, however the run ends
    return proc


def stop(proc: subprocess.Popen[bytes], timeout_s: float | None = None) -> bool:
    """SIGTERM the group, wait, then SIGKILL the group, whatever is left.

    Returns whether anything had to be killed.
    """
    timeout_s = STOP_TIMEOUT_S if timeout_s is None else timeout_s
    signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    try:
        proc.wait(timeout=timeout_s)
        # Workers can outlive their parent; the group id outlives them all.
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    except subprocess.TimeoutExpired:
        pass
    killed = _group_alive(proc.pid)
    signal_group(proc.pid, signal.SIGKILL)
    proc.wait()
    watchdog.forget(proc.pid)
    return killed


def split_cores(cpus: int | None) -> tuple[tuple[int, ...], tuple[int, ...]] | None:
    """The cores for a server kept to ``cpus`` of them and those left for the
    load generator; None where fewer than ``cpus + 1`` are there to share
    (``((), ())`` where the server may use them all)."""
    if cpus is None:
        return (), ()
    mine = sorted(os.sched_getaffinity(0))
    if len(mine) < cpus + 1:
        return None
    return tuple(mine[-cpus:]), tuple(mine[:-cpus])


@contextmanager
def clients_beside(server: RunningServer) -> Iterator[None]:
    """The block's thread, and every thread and process it starts (wrk), kept
    off the cores ``server`` is kept to; Linux sets a thread's affinity alone."""
    if not server.cores:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, (before - set(server.cores)) or before)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def kill_now(server: RunningServer) -> None:
    """End every process behind ``server`` at once (SIGKILL), where what is
    left in it (a queue of requests nobody waits for, workers held by stalled
    clients) is of no use and a graceful stop would only drain it; the
    server's own stop then finds nothing left to wait for."""
    for pgid in server.groups:
        signal_group(pgid, signal.SIGKILL)


def signal_group(pgid: int, sig: int) -> None:
    """``sig`` to every process of the group, if it is still there."""
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    """Whether any process of the group still runs; zombies (exited, waiting to
    be reaped by init) do not count, so they cannot make a stop look stuck."""
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    members = _group_states(pgid)
    return members is None or any(state != "Z" for state in members)


def _group_states(pgid: int) -> list[str] | None:
    """The states (R, S, Z, ...) of the group's processes, from /proc; None without /proc."""
    members = group_processes(pgid)
    return None if members is None else [state for _, state in members]


def group_processes(pgid: int) -> list[tuple[int, str]] | None:
    """Each process of the group and its state (R, S, Z, ...), from /proc;
    None without /proc."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    members = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid:
            members.append((int(entry.name), fields[0]))
    return members


def _wait_ready(
    proc: subprocess.Popen[bytes], port: int, token: str, loaded_dir: Path, loaded_by: int, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    last_problem = "no answer"
    answered = False
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            raise CellError(f"server exited with code {code} before it was ready")
        if answered:
            loaded = len(os.listdir(loaded_dir))
            if loaded >= loaded_by:
                return
            last_problem = f"{loaded} of {loaded_by} workers have loaded the app"
            time.sleep(0.02)
            continue
        try:
            body = wire.get(port, "/health", min(2.0, max(0.1, deadline - time.monotonic()))).json_object()
            if body is not None and body.get("token") == token:
                answered = True
                continue
            last_problem = "another program answers on this port"
        except (OSError, wire.WireError) as exc:
            last_problem = str(exc) or type(exc).__name__
        time.sleep(0.05)
    raise CellError(f"server not ready within {timeout:.0f} s ({last_problem})")


# What would change a server's or an installer's defaults if it leaked in
# from the caller's environment.
LEAKY_PREFIXES = ("FLASK_", "WERKZEUG_", "GUNICORN_", "TARGET_APP_")
LEAKY_NAMES = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "CONDA_PREFIX", "PIP_USER")


def scrubbed_environ(drop_prefixes: Sequence[str] = (), **extra: str) -> dict[str, str]:
    """The caller's environment less what would leak into a child's, plus ``extra``.

    Installers keep the rest of ``PYTHON*`` (uv and pip read none of it for
    the target); servers drop every ``PYTHON*`` through ``drop_prefixes``.
    """
    prefixes = tuple(LEAKY_PREFIXES) + tuple(drop_prefixes)
    env = {
        key: value
        for key, value in settings.child_environ().items()
        if key not in LEAKY_NAMES and not key.startswith(prefixes)
    }
    env.update(extra)
    env[watchdog.OWNER_MARK] = watchdog.owner()  # found by the next run's reaper if this one dies outright
    return env


# What ends a run the way Ctrl-C does: a kill, a terminal or SSH session that
# closes (SIGHUP), Ctrl-\\ (SIGQUIT).
STOPPING = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


@contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM, SIGHUP and SIGQUIT stop the block the way Ctrl-C does: KeyboardInterrupt.

    SIGINT gets Python's own handler back too: a process started in the
    background of a non-interactive shell inherits SIGINT ignored, and a run
    must still stop on it.
    """

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = {
            signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
            **{signum: signal.signal(signum, interrupt) for signum in STOPPING},
        }
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
