"""The overlapping schedule: what only waits runs together, what needs the CPU runs alone.

A cell's life under it is a series of sections through one :class:`Gate`:

- *shared* sections: starting or stopping a server, and the probes that only
  wait (the registry's ``needs_cpu=False``: concurrency, slow clients).  Up to
  ``overlap`` cells are in shared sections at once.
- *alone* sections: the probes that need the CPU (throughput, CPU, burst).
  One waits for every shared section under way to end, holds new ones back,
  and runs with nothing else of the run active.  The servers of other cells
  may be up meanwhile, idle between their sections; each record names them.

A cell keeps the server of its waiting probes for its CPU probes when the
waiting ones leave it clean, as the serial schedule does, so most cells start
one server.  Cells run longest wait first, so that cells in flight together
wait about as long as each other and the alone sections are not held up by
one long wait.
"""

from __future__ import annotations

import math
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from runner import settings
from runner.errors import CellError
from runner.records.record import Schedule

SERVER_MB = 256  # room left for each cell in flight: a server and its workers, waiting
PER_CORE = 32  # cells in flight per core, by default (see overlap_bound)
MAX_OVERLAP = 64
# Open files: a cell in flight holds its volley's connections (ten) and its
# servers' logs; a burst, which runs alone, holds up to 500 more.  Where the
# runner may open 1024 (a common soft limit), that leaves room for 26 cells.
FILES_PER_CELL = 16
FILES_KEPT = 600


class Cancelled(CellError):
    """The run is stopping: the cell's next section does not begin."""


@dataclass
class Windows:
    """When one cell was in shared and alone sections, and when its servers were up."""

    shared: list[tuple[float, float]] = field(default_factory=list)
    alone: list[tuple[float, float]] = field(default_factory=list)
    up: list[tuple[float, float]] = field(default_factory=list)


class Gate:
    """A readers-writer lock that prefers its writers, with a log of who held it when."""

    def __init__(self, overlap: int) -> None:
        self.overlap = overlap
        self._cond = threading.Condition()
        self._shared = 0
        self._busy = 0  # shared sections that start or stop a server, under way
        self._probing = 0  # shared sections that run waiting probes, under way or waiting to
        self._alone = False
        self._queued = 0  # alone sections waiting for the shared ones to end
        # Cells whose start-up began and whose waiting probes come next: their
        # probes go before any alone section, so that one batch of start-ups is
        # followed by one batch of waiting probes, not by a trickle of them
        # between alone sections.
        self._expecting: set[str] = set()
        self._cancelled = False
        self._windows: dict[str, Windows] = {}

    @property
    def active(self) -> int:
        """Shared sections under way."""
        with self._cond:
            return self._shared

    @property
    def queued(self) -> int:
        """Alone sections waiting for the shared ones to end."""
        with self._cond:
            return self._queued

    def _enter(self, ready: Callable[[], bool], cancellable: bool = True) -> None:
        self._cond.wait_for(lambda: (cancellable and self._cancelled) or ready())
        if cancellable and self._cancelled:
            raise Cancelled("the run was interrupted before this cell finished")

    def _open(self, cell: str, kind: str) -> list[tuple[float, float]]:
        """A window from now, open (to infinity) until :meth:`_close`: a cell still
        in flight counts as beside every cell that ends while it is."""
        windows: list[tuple[float, float]] = getattr(self._windows.setdefault(cell, Windows()), kind)
        windows.append((time.time(), math.inf))
        return windows

    @staticmethod
    def _close(windows: list[tuple[float, float]]) -> None:
        windows[-1] = (windows[-1][0], time.time())

    @contextmanager
    def shared(
        self, cell: str, cancellable: bool = True, busy: bool = False, probes_next: bool = False
    ) -> Iterator[None]:
        """A section that shares the machine: ``busy`` to start or stop a server,
        else to run waiting probes.  The two kinds do not meet: a start-up takes
        the CPU that a concurrent server needs to take its requests as they
        arrive, and a request taken late lowers its peak.  Probes go first.

        ``probes_next`` (with ``busy``): the cell's waiting probes follow this
        start-up, and go before any alone section queued meanwhile.
        ``cancellable=False`` for stopping a server, which must happen even once
        the run is interrupted."""
        with self._cond:
            if not busy:
                self._probing += 1
            try:
                self._enter(lambda: self._may_share(cell, busy), cancellable)
            except Cancelled:
                if not busy:
                    self._probing -= 1
                    self._expecting.discard(cell)
                    self._cond.notify_all()
                raise
            self._shared += 1
            if busy:
                self._busy += 1
                if probes_next:
                    self._expecting.add(cell)
            else:
                self._expecting.discard(cell)
            windows = self._open(cell, "shared")
        failed = False
        try:
            yield
        except BaseException:
            failed = True
            raise
        finally:
            with self._cond:
                self._shared -= 1
                if busy:
                    self._busy -= 1
                    if failed:  # no probes follow a start-up that failed
                        self._expecting.discard(cell)
                else:
                    self._probing -= 1
                self._close(windows)
                self._cond.notify_all()

    def _may_share(self, cell: str, busy: bool) -> bool:
        if self._alone:
            return False
        if busy:  # after the probes waiting, and never ahead of an alone section
            return not (self._queued or self._probing)
        # Probes wait for the start-ups and stops under way, and go after a queued
        # alone section unless their start-up began before it did.
        return not self._busy and (not self._queued or cell in self._expecting)

    @contextmanager
    def alone(self, cell: str) -> Iterator[None]:
        with self._cond:
            self._queued += 1
            try:
                self._enter(lambda: not (self._alone or self._shared or self._expecting))
            finally:
                self._queued -= 1
                self._cond.notify_all()  # a stop held back by this section may go now
            self._alone = True
            windows = self._open(cell, "alone")
        try:
            yield
        finally:
            with self._cond:
                self._alone = False
                self._close(windows)
                self._cond.notify_all()

    @contextmanager
    def server_up(self, cell: str) -> Iterator[None]:
        """While a cell's server is up, from its launch to the end of its stop."""
        with self._cond:
            windows = self._open(cell, "up")
        try:
            yield
        finally:
            with self._cond:
                self._close(windows)

    def cancel(self) -> None:
        """Sections not yet begun raise :class:`Cancelled`; those under way end as they do."""
        with self._cond:
            self._cancelled = True
            self._cond.notify_all()

    def schedule_of(self, cell: str) -> Schedule:
        """What the record says of how its cell was measured, once the cell is done."""
        with self._cond:
            windows = {
                n: Windows(list(w.shared), list(w.alone), list(w.up)) for n, w in self._windows.items()
            }
        mine = windows.get(cell, Windows())
        return Schedule(
            kind="overlap",
            overlap=self.overlap,
            beside=tuple(sorted(n for n, w in windows.items() if n != cell and meets(w.shared, mine.shared))),
            idle_beside=tuple(sorted(n for n, w in windows.items() if n != cell and meets(w.up, mine.alone))),
            shared=tuple((round(a, 3), round(b, 3)) for a, b in mine.shared),
            alone=tuple((round(a, 3), round(b, 3)) for a, b in mine.alone),
        )


class NoGate(Gate):
    """The serial schedule's gate: every section runs as it comes, nothing is logged."""

    def __init__(self) -> None:
        super().__init__(1)

    @contextmanager
    def shared(
        self, cell: str, cancellable: bool = True, busy: bool = False, probes_next: bool = False
    ) -> Iterator[None]:
        yield

    @contextmanager
    def alone(self, cell: str) -> Iterator[None]:
        yield

    @contextmanager
    def server_up(self, cell: str) -> Iterator[None]:
        yield


def meets(these: Sequence[tuple[float, float]], those: Sequence[tuple[float, float]]) -> bool:
    """Whether any window of ``these`` shares a moment with any of ``those``."""
    return any(a < d and c < b for a, b in these for c, d in those)


def covered(windows: Sequence[Sequence[float]]) -> float:
    """Seconds covered by at least one of the windows."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted((w[0], w[1]) for w in windows):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def time_split(schedules: Sequence[Schedule]) -> dict[str, float]:
    """Of an overlapping run, the seconds something shared was under way (start-ups,
    stops, waiting probes) and the seconds a probe that needs the CPU ran alone."""
    return {
        "shared_wall_s": round(covered([w for s in schedules for w in s.shared]), 1),
        "alone_wall_s": round(covered([w for s in schedules for w in s.alone]), 1),
    }


def overlap_bound() -> int:
    """How many cells are in flight at once: ``MATRIX_OVERLAP``, or 32 per
    core, at most 64, and no more than the memory free allows (``SERVER_MB``
    each) and the runner's open files (``FILES_PER_CELL`` each).  A cell in
    flight is mostly a server waiting.  What the cores bound is a round's
    volleys: every cell's server takes its ten requests at the same moment, and
    the requests a server takes late lower its peak.  With 64 cells on two
    cores the requests of a volley began at most 65 to 155 ms apart on the
    server's clock (nine runs of the default matrix), against the 500 ms each
    lasts; fewer, larger rounds wait less (the cells took 229 s at 64, 242 s
    at 32).
    """
    chosen = settings.current().overlap
    if chosen is not None:
        return chosen
    by_memory = available_mb() // SERVER_MB
    by_files = (open_files_limit() - FILES_KEPT) // FILES_PER_CELL
    return max(1, min(MAX_OVERLAP, PER_CORE * (os.cpu_count() or 1), by_memory, by_files))


def open_files_limit() -> int:
    """How many files the runner may have open at once (its soft limit)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 2**20


def available_mb() -> int:
    """Memory the kernel says is available, in MiB (all of it where it does not say)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError):
        return 2**20
