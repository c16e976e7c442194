"""No process outlives a run, whatever ends it: SIGHUP as a closing terminal
sends it, or SIGKILL, which leaves the runner no chance to clean up (its
watchdog then ends what it started)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import processes_of_run

from runner import settings
from runner.serving import watchdog

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
MATRIX = """\
versions: [{flask: "3.1.*"}]
servers:
  flask-run: {kind: flask-run}
  gthread: {kind: gunicorn, workers: 2, threads: 4}
  nginx-waitress: {kind: waitress, proxy: nginx}
probes: {concurrency: {requests: 2, delay_ms: 20000}}
"""


def start_matrix(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``nox -s matrix`` on a matrix whose probes wait 20 s, in a session of its
    own as a terminal's would be; returns once its servers are up."""
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(MATRIX)
    results = tmp_path / "results"
    env = {**settings.child_environ(), "MATRIX_FILE": str(matrix), "RESULTS_DIR": str(results)}
    nox = subprocess.Popen(
        [sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-s", "matrix"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = sorted((results / "runs").glob("*")) if (results / "runs").is_dir() else []
        if runs and len(processes_of_run(runs[-1].name)) >= 4:  # the servers, and nginx in front
            time.sleep(1.0)  # every server of the round up and probing
            return nox, runs[-1]
        assert nox.poll() is None, "nox -s matrix ended before its servers were up"
        time.sleep(0.2)
    os.killpg(nox.pid, signal.SIGKILL)
    raise AssertionError("the servers did not come up within 240 s")


def left_after(run: Path, seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and processes_of_run(run.name):
        time.sleep(0.2)
    return processes_of_run(run.name)


@pytest.mark.parametrize(
    "signals",
    [(signal.SIGHUP,), (signal.SIGKILL,), (signal.SIGQUIT,), (signal.SIGINT, signal.SIGINT)],
    ids=["SIGHUP", "SIGKILL", "SIGQUIT", "Ctrl-C twice"],
)
def test_no_process_of_the_run_is_left_whatever_ends_it(
    tmp_path: Path, signals: tuple[int, ...], no_leftovers: Callable[[str], None]
) -> None:
    nox, run = start_matrix(tmp_path)
    assert processes_of_run(run.name)
    for signum in signals:  # to the whole session, as a terminal that closes does
        os.killpg(nox.pid, signum)
        time.sleep(0.3)  # the second while the first is still stopping the servers
    nox.wait(timeout=60)
    assert left_after(run, 10.0) == []
    no_leftovers(run.name)


def test_the_next_run_ends_what_a_run_killed_with_its_watchdog_left(
    tmp_path: Path, no_leftovers: Callable[[str], None]
) -> None:
    """The backstop: ``kill -9`` of the runner and of its watchdog leaves the
    servers running; the next run's reaper ends them, and says so."""
    nox, run = start_matrix(tmp_path)
    dogs = [
        pid
        for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if f"runner.serving.watchdog\0{run.name}\0".encode() in _cmdline(pid)
    ]
    assert len(dogs) == 1, dogs
    os.kill(dogs[0], signal.SIGKILL)
    os.killpg(nox.pid, signal.SIGKILL)
    nox.wait(timeout=60)
    time.sleep(3.0)  # longer than the watchdog's 2 s: nothing ends them on its own
    left = processes_of_run(run.name)
    assert left, "the servers should still be running with runner and watchdog killed"
    said: list[str] = []
    reaped = watchdog.reap(said.append)
    assert reaped
    assert left_after(run, 5.0) == []  # nginx's workers go with their group's leader
    assert len(said) == 1
    assert "an earlier run left behind" in said[0]
    assert watchdog.reap(said.append) == []  # nothing more, and silent
    assert len(said) == 1
    no_leftovers(run.name)


def test_the_reaper_spares_what_a_live_runner_started(tmp_path: Path) -> None:
    child = subprocess.Popen(
        ["sleep", "30"], env={watchdog.OWNER_MARK: watchdog.owner()}, start_new_session=True
    )
    try:
        assert child.pid not in watchdog.reap(lambda line: None)
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_a_run_inside_a_run_is_ended_by_the_outer_watchdog() -> None:
    """Bisect's runs use the outer run's watchdog: their own mark reaches it."""
    dog = watchdog.start("outer-run")
    assert dog is not None
    inner = subprocess.Popen(
        ["sleep", "30"],
        env={watchdog.RUN_MARK: "inner-run", watchdog.OWNER_MARK: watchdog.owner()},
        start_new_session=True,
    )  # a process of the inner run, in a group the watchdog was not told of
    # the same run id from another runner (another results folder, the same second): not this run's
    other = subprocess.Popen(
        ["sleep", "30"],
        env={watchdog.RUN_MARK: "inner-run", watchdog.OWNER_MARK: "1:1"},
        start_new_session=True,
    )
    try:
        assert watchdog.start("inner-run") is None  # the outer one watches
        watchdog.stop(dog)
        assert inner.wait(timeout=5) == -signal.SIGKILL
        assert other.poll() is None
    finally:
        for proc in (inner, other):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
