"""The overlapping schedule's gate, with plain threads and no servers.

What a user relies on: a probe that needs the CPU never runs while anything
else of the run is active, and the record says truly what ran beside what.
"""

from __future__ import annotations

import os
import random
import resource
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack

import pytest

from runner.errors import UserError
from runner.records.record import Schedule
from runner.workflow.schedule import (
    SERVER_MB,
    Cancelled,
    Gate,
    available_mb,
    covered,
    meets,
    open_files_limit,
    overlap_bound,
    time_split,
)


def test_an_alone_section_never_shares_the_machine_and_start_ups_never_meet_probes() -> None:
    gate = Gate(8)
    lock = threading.Lock()
    active = {"busy": 0, "probe": 0, "alone": 0}
    seen: list[str] = []

    def section(kind: str) -> None:
        with lock:
            active[kind] += 1
            if (active["alone"] and sum(active.values()) > 1) or (active["busy"] and active["probe"]):
                seen.append(f"{kind} entered with {dict(active)}")
        time.sleep(random.uniform(0, 0.003))  # let the threads interleave
        with lock:
            active[kind] -= 1

    def cell(number: int) -> None:
        rng = random.Random(number)
        name = f"c{number}"
        for _ in range(30):
            kind = rng.choice(["busy", "probe", "probe", "alone", "start then probe"])
            if kind == "start then probe":  # as a cell of the overlapping schedule begins
                with gate.shared(name, busy=True, probes_next=True):
                    section("busy")
                with gate.shared(name):
                    section("probe")
                continue
            entered = gate.alone(name) if kind == "alone" else gate.shared(name, busy=kind == "busy")
            with entered:
                section(kind)

    threads = [threading.Thread(target=cell, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert seen == []


def test_a_waiting_alone_section_holds_new_shared_ones_back() -> None:
    gate = Gate(4)
    order: list[str] = []
    release = threading.Event()

    def long_wait() -> None:
        with gate.shared("a"):
            order.append("a waits")
            release.wait(10)

    def cpu() -> None:
        with gate.alone("b"):
            order.append("b alone")

    def late() -> None:
        with gate.shared("c"):
            order.append("c waits")

    first = threading.Thread(target=long_wait)
    first.start()
    until(lambda: order == ["a waits"])
    second = threading.Thread(target=cpu)
    second.start()
    until(lambda: gate.queued == 1)
    third = threading.Thread(target=late)
    third.start()
    time.sleep(0.05)  # c would enter now if nothing held it back
    assert order == ["a waits"]
    release.set()
    for thread in (first, second, third):
        thread.join(timeout=10)
    assert order == ["a waits", "b alone", "c waits"]


def test_probes_whose_start_up_began_before_an_alone_section_go_first() -> None:
    """One batch of start-ups is followed by one batch of waiting probes, then the
    alone sections: not by an alone section between each probe."""
    gate = Gate(4)
    order: list[str] = []
    started = threading.Event()
    release = threading.Event()

    between = threading.Event()

    def cell_a() -> None:
        with gate.shared("a", busy=True, probes_next=True):
            started.set()
            release.wait(10)
        between.wait(10)  # the alone section has every chance to go first now
        with gate.shared("a"):
            order.append("a probes")

    def cpu() -> None:
        with gate.alone("b"):
            order.append("b alone")

    def late_start() -> None:
        with gate.shared("c", busy=True, probes_next=True):
            order.append("c starts")

    threads = [threading.Thread(target=f, daemon=True) for f in (cell_a, cpu, late_start)]
    threads[0].start()
    started.wait(10)
    threads[1].start()
    until(lambda: gate.queued == 1)
    threads[2].start()
    time.sleep(0.05)  # c would start now if nothing held it back
    assert order == []
    release.set()
    time.sleep(0.05)  # a's start-up has ended; its probes have not begun
    assert order == []
    between.set()
    for thread in threads:
        thread.join(timeout=10)
    assert order == ["a probes", "b alone", "c starts"]


def test_a_start_up_that_fails_holds_no_alone_section_back() -> None:
    gate = Gate(2)
    with pytest.raises(RuntimeError), gate.shared("a", busy=True, probes_next=True):
        raise RuntimeError("the server did not start")
    done = threading.Event()

    def cpu() -> None:
        with gate.alone("b"):
            done.set()

    thread = threading.Thread(target=cpu, daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert done.is_set()


def test_the_record_names_what_ran_beside_and_what_sat_idle_also_while_under_way() -> None:
    gate = Gate(3)
    with gate.shared("b"):
        with gate.shared("a"):  # a's start-up beside b's waiting probe
            pass
        assert gate.schedule_of("a").beside == ("b",)  # b still in its section
    with ExitStack() as b_server:
        b_server.enter_context(gate.server_up("b"))
        with gate.alone("a"):  # b's server is up, idle
            pass
        schedule = gate.schedule_of("a")  # b still in flight
    assert schedule.kind == "overlap"
    assert schedule.overlap == 3
    assert schedule.beside == ("b",)
    assert schedule.idle_beside == ("b",)
    assert len(schedule.alone) == 1
    assert len(schedule.shared) == 1
    assert Schedule.from_dict(schedule.to_dict()) == schedule
    with gate.shared("c"):  # after them: beside neither
        pass
    assert gate.schedule_of("c").beside == ()
    assert gate.schedule_of("c").idle_beside == ()


def test_a_section_that_fails_is_released() -> None:
    gate = Gate(2)
    with pytest.raises(RuntimeError), gate.shared("a"):
        raise RuntimeError("a probe broke")
    with pytest.raises(RuntimeError), gate.alone("a"):
        raise RuntimeError("a probe broke")
    assert gate.active == 0
    with gate.alone("b"):  # neither is held
        pass


def test_cancel_stops_the_sections_not_yet_begun_and_lets_stops_through() -> None:
    gate = Gate(2)
    release = threading.Event()
    outcome: list[str] = []

    def holder() -> None:  # a server starting, slowly
        with gate.shared("a", busy=True):
            release.wait(10)

    def cpu() -> None:
        try:
            with gate.alone("b"):
                outcome.append("b ran")
        except Cancelled as exc:
            outcome.append(f"b: {exc.reason}")

    def probe() -> None:
        try:
            with gate.shared("c"):
                outcome.append("c probed")
        except Cancelled:
            outcome.append("c cancelled")

    def stop() -> None:  # held back by b's queued alone section until the cancel
        with gate.shared("s", cancellable=False, busy=True):
            outcome.append("s stopped")

    threads = [threading.Thread(target=f, daemon=True) for f in (holder, cpu, probe, stop)]
    threads[0].start()
    until(lambda: gate.active == 1)
    threads[1].start()
    until(lambda: gate.queued == 1)
    threads[2].start()
    threads[3].start()
    time.sleep(0.05)
    assert outcome == []
    gate.cancel()
    for thread in threads[1:]:
        thread.join(timeout=10)
    # the stop ran beside the start-up still under way, as soon as the cancelled
    # alone section stopped holding it back
    assert sorted(outcome) == [
        "b: the run was interrupted before this cell finished",
        "c cancelled",
        "s stopped",
    ]
    release.set()
    threads[0].join(timeout=10)
    with pytest.raises(Cancelled), gate.shared("d"):  # and nothing new begins
        pass


def test_windows_that_touch_do_not_meet() -> None:
    assert meets([(0.0, 1.0)], [(0.5, 2.0)])
    assert not meets([(0.0, 1.0)], [(1.0, 2.0)])
    assert not meets([], [(0.0, 1.0)])


def test_the_time_covered_counts_each_moment_once() -> None:
    assert covered([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)]) == 4.0
    assert covered([(0.0, 10.0), (2.0, 3.0)]) == 10.0
    assert covered([]) == 0.0
    schedules = [
        Schedule.from_dict({"kind": "overlap", "shared": [[0.0, 2.0]], "alone": [[2.0, 3.0]]}),
        Schedule.from_dict({"kind": "overlap", "shared": [[1.0, 2.0], [3.0, 4.0]]}),
    ]
    assert time_split(schedules) == {"shared_wall_s": 3.0, "alone_wall_s": 1.0}


def test_the_bound_comes_from_the_machine_or_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MATRIX_OVERLAP", raising=False)
    cores, files = os.cpu_count() or 1, open_files_limit()
    assert overlap_bound() == max(1, min(64, 32 * cores, available_mb() // SERVER_MB, (files - 600) // 16))
    monkeypatch.setenv("MATRIX_OVERLAP", "3")
    assert overlap_bound() == 3
    for bad in ("0", "-2", "many", "65"):
        monkeypatch.setenv("MATRIX_OVERLAP", bad)
        with pytest.raises(UserError, match="expected a whole number from 1 to 64"):
            overlap_bound()


def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the threads never got there"
        time.sleep(0.005)


def test_a_runner_that_may_open_few_files_keeps_fewer_cells_in_flight(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A volley holds a connection a request: at 1024 open files (a common soft
    limit) 64 cells' volleys and a burst would run out."""
    monkeypatch.delenv("MATRIX_OVERLAP", raising=False)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))
    try:
        assert overlap_bound() <= (min(1024, hard) - 600) // 16
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
