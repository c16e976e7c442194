"""Starting and stopping servers, with real processes in their own sessions."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from runner.errors import CellError
from runner.serving import process
from runner.serving.process import free_port, last_words, log_tail, running_server, stop

PY = sys.executable

# Exits on SIGTERM (Python's default), after saying it is up.
OBEDIENT = "import time; print('up', flush=True); time.sleep(60)"

# Ignores SIGTERM; says so only once the handler is in place.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(60)"
)

# A parent that forks a worker; the worker prints its pid once its SIGTERM
# handling is in place.  With argv[1] "obedient" the worker exits on SIGTERM
# and the parent, like a gunicorn master, reaps it before exiting; with
# "stubborn" the worker ignores SIGTERM and outlives its parent.
WITH_WORKER = r"""
import os, signal, sys, time
obedient = sys.argv[1] == "obedient"

def reap_and_exit(signum, frame):
    if obedient:
        os.waitpid(-1, 0)
    sys.exit(0)

signal.signal(signal.SIGTERM, reap_and_exit)
if os.fork() == 0:
    signal.signal(signal.SIGTERM, signal.SIG_DFL if obedient else signal.SIG_IGN)
    print(os.getpid(), flush=True)
    time.sleep(60)
    os._exit(0)
time.sleep(60)
"""

# The smallest app running_server accepts: /health answers with the token it
# was given, and it says it has loaded by a file in TARGET_APP_LOADED_DIR.
SERVER = r"""
import json, os, signal, sys
from http.server import BaseHTTPRequestHandler, HTTPServer

class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health":
            self.send_error(404)
            return
        body = json.dumps({"token": os.environ["TARGET_APP_TOKEN"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

if "stubborn" in sys.argv[2:]:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
server = HTTPServer(("127.0.0.1", int(sys.argv[1])), Health)
open(os.path.join(os.environ["TARGET_APP_LOADED_DIR"], str(os.getpid())), "w").close()
print("serving on", sys.argv[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts ``python -c code`` in its own session, stdout piped; whatever a
    test leaves running (it failed midway, say) is killed afterwards."""
    started: list[subprocess.Popen[bytes]] = []

    def start(code: str, *args: str) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [PY, "-c", code, *args], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()


@pytest.fixture
def app(tmp_path: Path) -> Path:
    path = tmp_path / "app.py"
    path.write_text(SERVER)
    return path


@pytest.fixture
def quick_stop(monkeypatch: pytest.MonkeyPatch) -> float:
    monkeypatch.setattr(process, "STOP_TIMEOUT_S", 0.5)
    return 0.5


def first_line(proc: subprocess.Popen[bytes], timeout: float = 5.0) -> str:
    """The first line ``proc`` prints, waiting no longer than ``timeout``."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line within {timeout} s (got {data!r})")
            if selector.select(timeout=left):
                chunk = os.read(fd, 4096)
                if not chunk:
                    raise AssertionError(f"the process closed its output (got {data!r})")
                data += chunk
    return data.split(b"\n", 1)[0].decode()


def gone(pid: int) -> bool:
    """Not running: no such process, or only a zombie left for its new parent to reap."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def soon(check: Callable[[], bool], timeout: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()


# --- stop ----------------------------------------------------------------------


def test_a_process_that_exits_on_sigterm_is_stopped_without_killing(
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    proc = spawn(OBEDIENT)
    assert first_line(proc) == "up"
    started = time.monotonic()
    assert stop(proc) is False
    assert time.monotonic() - started < 2
    assert proc.returncode == -signal.SIGTERM
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout(
    spawn: Callable[..., subprocess.Popen[bytes]], quick_stop: float
) -> None:
    proc = spawn(STUBBORN)
    assert first_line(proc) == "up"
    started = time.monotonic()
    assert stop(proc) is True
    waited = time.monotonic() - started
    assert quick_stop * 0.9 <= waited < quick_stop + 2
    assert proc.returncode == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(proc.pid, 0)


def test_a_worker_that_exits_on_sigterm_goes_with_its_parent(
    spawn: Callable[..., subprocess.Popen[bytes]], quick_stop: float
) -> None:
    proc = spawn(WITH_WORKER, "obedient")
    worker = int(first_line(proc))
    assert os.getpgid(worker) == proc.pid  # same process group as the parent
    assert stop(proc) is False
    assert proc.returncode == 0  # the parent reaped its worker and exited
    assert soon(lambda: gone(worker)), f"worker {worker} still running"


def test_a_worker_that_outlives_its_parent_is_killed(
    spawn: Callable[..., subprocess.Popen[bytes]], quick_stop: float
) -> None:
    proc = spawn(WITH_WORKER, "stubborn")
    worker = int(first_line(proc))
    assert os.getpgid(worker) == proc.pid
    assert stop(proc) is True  # the parent went on SIGTERM, the worker needed SIGKILL
    assert proc.returncode == 0
    assert soon(lambda: gone(worker)), f"worker {worker} still running"


def test_stopping_a_process_that_already_exited_is_harmless(
    spawn: Callable[..., subprocess.Popen[bytes]],
) -> None:
    proc = spawn("print('bye')")
    proc.wait(timeout=5)
    assert stop(proc) is False
    assert proc.returncode == 0


# --- log_tail and last_words -----------------------------------------------------


def test_log_tail_gives_the_last_lines(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("".join(f"line {n}\n" for n in range(100)))
    assert log_tail(log, 3) == ["line 97", "line 98", "line 99"]
    assert log_tail(log) == [f"line {n}" for n in range(80, 100)]  # 20 by default


def test_log_tail_of_a_short_log_is_all_of_it(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("only\nthese two")
    assert log_tail(log, 20) == ["only", "these two"]


def test_log_tail_of_a_missing_or_empty_log_is_empty(tmp_path: Path) -> None:
    assert log_tail(tmp_path / "never-written.log") == []
    (tmp_path / "empty.log").write_bytes(b"")
    assert log_tail(tmp_path / "empty.log") == []


def test_log_tail_survives_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_bytes(b"fine\n\xff\xfe broken \xc3\n")
    assert log_tail(log, 2) == ["fine", "\ufffd\ufffd broken \ufffd"]


def test_log_tail_of_a_huge_log_reads_only_its_end(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("x" * 1_000_000 + "\n" + "".join(f"line {n}\n" for n in range(5)))
    assert log_tail(log, 5) == [f"line {n}" for n in range(5)]


def test_last_words_is_the_last_line_printed(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("$ gunicorn app:app\nstarting\nImportError: cannot import name 'escape'\n\n  \n")
    assert last_words(log) == "ImportError: cannot import name 'escape'"


def test_last_words_skips_the_commands_the_runner_wrote(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("Traceback: boom\n$ python -m flask run --port 5000\n")
    assert last_words(log) == "Traceback: boom"
    log.write_text("$ python -m flask run\n$ python -m flask run\n")
    assert last_words(log) == ""


def test_last_words_of_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert last_words(tmp_path / "never-written.log") == ""


def test_last_words_are_cut_to_300_characters(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("E" * 1000 + "\n")
    assert last_words(log) == "E" * 300


# --- free_port ---------------------------------------------------------------------


def test_free_port_can_be_bound_on_loopback() -> None:
    port = free_port()
    assert 1024 <= port <= 65535
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))


# --- running_server -------------------------------------------------------------------


def health(base_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(base_url + "/health", timeout=2) as response:
        answer: dict[str, Any] = json.loads(response.read().decode())
    return answer


def test_running_server_yields_once_ready_and_stops_after(tmp_path: Path, app: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with running_server(
        [PY, str(app), str(port)], port=port, env={}, cwd=tmp_path, log_path=log, ready_timeout=10
    ) as server:
        assert server.port == port
        assert server.base_url == f"http://127.0.0.1:{port}"
        assert server.log_path == log
        assert 0 < server.startup_s < 10
        assert not gone(server.pid)
        assert health(server.base_url) == {"token": server.token}
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    lines = log_tail(log)
    assert lines[0] == f"$ {PY} {app} {port}"
    assert f"serving on {port}" in lines
    assert not any("killed" in line for line in lines)


def test_running_server_passes_the_token_it_is_given(tmp_path: Path, app: Path) -> None:
    port = free_port()
    with running_server(
        [PY, str(app), str(port)],
        port=port,
        env={},
        cwd=tmp_path,
        log_path=tmp_path / "server.log",
        token="abc123",
        ready_timeout=10,
    ) as server:
        assert server.token == "abc123"
        assert health(server.base_url) == {"token": "abc123"}


def test_running_server_stops_the_server_when_the_block_raises(tmp_path: Path, app: Path) -> None:
    port = free_port()
    pids = []

    def measure() -> None:
        with running_server(
            [PY, str(app), str(port)],
            port=port,
            env={},
            cwd=tmp_path,
            log_path=tmp_path / "server.log",
            ready_timeout=10,
        ) as server:
            pids.append(server.pid)
            raise RuntimeError("measurement failed")

    with pytest.raises(RuntimeError, match="measurement failed"):
        measure()
    assert len(pids) == 1
    with pytest.raises(ProcessLookupError):
        os.kill(pids[0], 0)


@pytest.mark.usefixtures("quick_stop")
def test_running_server_kills_a_server_that_ignores_sigterm(tmp_path: Path, app: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    with running_server(
        [PY, str(app), str(port), "stubborn"], port=port, env={}, cwd=tmp_path, log_path=log, ready_timeout=10
    ) as server:
        pid = server.pid
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    last = log_tail(log, 1)[0]
    assert last.startswith("--- still running")
    assert last.endswith("killed")


def test_a_server_that_exits_at_once_is_an_error_with_its_last_words(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "server.log"
    crash = (
        "import sys; print('Loading app'); "
        "print(\"ImportError: cannot import name 'url_quote' from 'werkzeug.urls'\"); sys.exit(3)"
    )
    started = time.monotonic()
    with (
        pytest.raises(CellError) as caught,
        running_server([PY, "-c", crash], port=port, env={}, cwd=tmp_path, log_path=log, ready_timeout=10),
    ):
        pytest.fail("a server that exited was taken as ready")
    assert time.monotonic() - started < 3
    reason = caught.value.reason
    assert "before it was ready" in reason
    assert "code 3" in reason
    assert reason.endswith("ImportError: cannot import name 'url_quote' from 'werkzeug.urls'")


def test_a_server_short_of_loaded_workers_is_not_ready(tmp_path: Path, app: Path) -> None:
    port = free_port()
    with (
        pytest.raises(CellError) as caught,
        running_server(
            [PY, str(app), str(port)],
            port=port,
            env={},
            cwd=tmp_path,
            log_path=tmp_path / "server.log",
            loaded_by=2,
            ready_timeout=1,
        ),
    ):
        pytest.fail("ready with one worker of two loaded")
    reason = caught.value.reason
    assert "not ready within 1 s" in reason
    assert "1 of 2 workers have loaded the app" in reason


TRICKLE = """
import socket, sys, threading, time

def trickle(conn):
    try:
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\\r\\n")
        for _ in range(600):  # a head that never ends, a byte a tenth of a second
            conn.sendall(b"X")
            time.sleep(0.1)
    except OSError:
        pass  # the client gave up, as it should

listener = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    conn, _ = listener.accept()
    threading.Thread(target=trickle, args=(conn,), daemon=True).start()
"""


def test_a_trickling_server_fails_its_readiness_within_the_deadline(tmp_path: Path) -> None:
    port = free_port()
    started = time.monotonic()
    with (
        pytest.raises(CellError) as caught,
        running_server(
            [sys.executable, "-c", TRICKLE, str(port)],
            port=port,
            env=dict(os.environ),
            cwd=tmp_path,
            log_path=tmp_path / "trickle.log",
            ready_timeout=3,
        ),
    ):
        pass
    assert caught.value.reason.startswith("server not ready within 3 s"), caught.value.reason
    assert time.monotonic() - started < 15
