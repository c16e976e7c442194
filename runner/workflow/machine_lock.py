"""One measuring run per machine: a second one waits for the first to end.

Two runs at once in one checkout (or two checkouts, or two users) would each
promise that their CPU-bound probes run alone, and neither would know of the
other.  So the part of a run that starts servers and probes them holds an
exclusive lock on :data:`LOCK_FILE`, a file every user of the machine can
open; a second run says once that it waits, and waits (Ctrl-C stops it).
``nox -s bisect`` holds it across all its questions; the runs it makes for
itself take it again, which within one process only counts.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from runner.errors import UserError

LOCK_FILE = Path("/tmp/flask-concurrency-matrix.lock")
POLL_S = 0.5
_process_lock = threading.Lock()
_depth = 0
_fd: int | None = None


@contextmanager
def measuring(say: Callable[[str], None], lock_file: Path = LOCK_FILE) -> Iterator[None]:
    """The machine to this run's probes for the block, waiting for another run's to end."""
    global _depth, _fd
    with _process_lock:
        if _depth:
            _depth += 1
            entered = False
        else:
            entered = True
    if entered:
        fd = _acquire(lock_file, say)
        with _process_lock:
            _fd, _depth = fd, 1
    try:
        yield
    finally:
        with _process_lock:
            _depth -= 1
            if _depth == 0 and _fd is not None:
                os.close(_fd)  # closing the file releases the lock, as a killed process's does
                _fd = None


def _acquire(lock_file: Path, say: Callable[[str], None]) -> int:
    old = os.umask(0)
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
    finally:
        os.umask(old)
    said = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not said:
                say(f"another run is measuring on this machine (it holds {lock_file}); waiting for it to end")
                said = True
            time.sleep(POLL_S)
            continue
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd


@contextmanager
def refusing_if_measuring(lock_file: Path = LOCK_FILE) -> Iterator[None]:
    """The machine for the block, or one line if a run measures on it now
    (what it measures with must not go from under it)."""
    old = os.umask(0)
    try:
        fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o666)
    finally:
        os.umask(old)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(
                f"a run is measuring on this machine (it holds {lock_file}); try again after it"
            ) from None
        yield
    finally:
        os.close(fd)
