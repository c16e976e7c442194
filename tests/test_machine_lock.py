"""One measuring run per machine: a second waits for the first, real processes and a real lock."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from runner.workflow.machine_lock import measuring

HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o666)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def test_a_second_run_says_once_that_it_waits_then_measures(tmp_path: Path) -> None:
    lock = tmp_path / "machine.lock"
    other = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(lock), "1.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "held"
        said: list[str] = []
        started = time.monotonic()
        with measuring(said.append, lock):
            waited = time.monotonic() - started
        assert 1.0 <= waited < 10
        assert len(said) == 1
        assert "another run is measuring on this machine" in said[0]
    finally:
        other.kill()
        other.wait()


def test_a_run_inside_a_run_of_the_same_process_does_not_wait_for_itself(tmp_path: Path) -> None:
    lock = tmp_path / "machine.lock"
    said: list[str] = []
    started = time.monotonic()
    with measuring(said.append, lock), measuring(said.append, lock):  # bisect, then the run it makes
        pass
    assert said == []
    assert time.monotonic() - started < 1.0
    # released: another process takes it at once
    taken = subprocess.run(
        [sys.executable, "-c", HOLD, str(lock), "0"], capture_output=True, text=True, timeout=10
    )
    assert taken.stdout.strip() == "held"
