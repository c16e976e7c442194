"""Server lifecycle: start on a free loopback port, wait until ready, stop.

Every server runs in its own process group (so workers and reloader children
go with it), writes to a log file, is polled for readiness against a
deadline, never a fixed sleep, and is always torn down: SIGTERM to the
group, a timed wait, then SIGKILL to the group.
"""
from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional, Sequence

from runner.errors import CellError

HOST = "127.0.0.1"
READY_TIMEOUT_S = 60.0


def default_ready_timeout() -> float:
    """How long a server has to answer: ``MATRIX_READY_TIMEOUT`` seconds, else 60."""
    try:
        return max(1.0, float(os.environ["MATRIX_READY_TIMEOUT"]))
    except (KeyError, ValueError):
        return READY_TIMEOUT_S
STOP_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    port: int
    pid: int
    startup_s: float
    log_path: Path
    token: str  # what the app's /health answers with


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def log_tail(path: Path, lines: int = 20) -> list[str]:
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16384))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return []
    return text.splitlines()[-lines:]


def last_words(log_path: Path) -> str:
    """The last line a server printed before it died, usually the error."""
    for line in reversed(log_tail(log_path, 40)):
        line = line.strip()
        if line and not line.startswith("$ "):
            return line[:300]
    return ""


@contextmanager
def running_server(argv: Sequence[str], *, port: int, env: Mapping[str, str], cwd: Path,
                   log_path: Path, loaded_by: int = 1, token: Optional[str] = None,
                   ready_timeout: Optional[float] = None) -> Iterator[RunningServer]:
    """Run ``argv`` until the block ends; ready once /health answers with the
    app's token and ``loaded_by`` processes have loaded the app.

    The token is fresh unless given: a proxy in front is ready when the app's
    own token comes back through it.
    """
    token = token or secrets.token_hex(8)
    with tempfile.TemporaryDirectory(prefix="matrix-loaded-") as loaded_dir, \
            open(log_path, "ab") as log:
        child_env = {**env, "TARGET_APP_TOKEN": token, "TARGET_APP_LOADED_DIR": loaded_dir}
        log.write(("$ " + " ".join(argv) + "\n").encode())
        log.flush()
        started = time.perf_counter()
        proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=str(cwd), env=child_env,
                                start_new_session=True)
        try:
            base_url = f"http://{HOST}:{port}"
            try:
                _wait_ready(proc, base_url, token, Path(loaded_dir), loaded_by,
                            ready_timeout or default_ready_timeout())
            except CellError as exc:
                last = last_words(log_path)
                raise CellError(f"{exc.reason}: {last}" if last else exc.reason) from None
            yield RunningServer(base_url=base_url, port=port, pid=proc.pid,
                                startup_s=time.perf_counter() - started, log_path=log_path,
                                token=token)
        finally:
            if stop(proc):
                log.write(f"--- still running {STOP_TIMEOUT_S:.0f} s after SIGTERM: killed\n".encode())


def stop(proc: subprocess.Popen) -> bool:
    """SIGTERM the group, wait, then SIGKILL the group, whatever is left.

    Returns whether anything had to be killed.
    """
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
        # Workers can outlive their parent; the group id outlives them all.
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
    except subprocess.TimeoutExpired:
        pass
    killed = _group_alive(proc.pid)
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()
    return killed


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _wait_ready(proc: subprocess.Popen, base_url: str, token: str, loaded_dir: Path,
                loaded_by: int, timeout: float) -> None:
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
            with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
                body = json.loads(response.read().decode())
            if body.get("token") == token:
                answered = True
                continue
            last_problem = "another program answers on this port"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            last_problem = str(getattr(exc, "reason", exc))
        time.sleep(0.05)
    raise CellError(f"server not ready within {timeout:.0f} s ({last_problem})")
