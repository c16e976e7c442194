"""Each probe against real servers: what concurrency buys and what it costs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from runner.cli import DEFAULT_ENVS
from runner.matrix.cells import parse
from runner.measuring import wrk
from runner.measuring.load import Throughput
from runner.measuring.probes import PROBES
from runner.measuring.probes.base import Column
from runner.measuring.probes.burst import Burst
from runner.measuring.probes.cpu import CpuResult
from runner.measuring.probes.slow_client import SlowClient
from runner.records.record import CellRecord, Status
from runner.serving.servers import recipe_for
from runner.workflow.run import run_cells

pytestmark = pytest.mark.slow

Check = Callable[[str], None]
R = TypeVar("R")


def run(
    tmp_path_factory: pytest.TempPathFactory, no_leftovers: Check, data: dict[str, Any]
) -> dict[str, CellRecord]:
    matrix = parse(data)
    outcome = run_cells(
        matrix,
        matrix.cells(),
        results=tmp_path_factory.mktemp("results"),
        env_root=DEFAULT_ENVS,
        progress=lambda line: None,
    )
    no_leftovers(outcome.run.id)
    records = {r.server: r for r in outcome.records}
    for record in records.values():
        assert record.status is Status.OK, (record.cell, record.reason, record.log_tail)
    return records


def figures(record: CellRecord, name: str, kind: type[R]) -> R:
    """The figures a probe measured in a cell, of the type it measures."""
    outcome = record.probe(name)
    assert outcome is not None, (record.cell, name)
    assert outcome.error is None, (record.cell, name, outcome.error)
    assert isinstance(outcome.result, kind), (record.cell, name, outcome.result)
    return outcome.result


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory, no_leftovers: Check) -> dict[str, CellRecord]:
    return run(
        tmp_path_factory,
        no_leftovers,
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": {
                "flask-run": {"kind": "flask-run"},
                "gunicorn-sync": {"kind": "gunicorn", "workers": 2},
                "nginx-gunicorn-sync": {"kind": "gunicorn", "workers": 2, "proxy": "nginx"},
            },
            "probes": {"repeats": 2, **SUITE_PROBES},
        },
    )


SUITE_PROBES: dict[str, dict[str, Any]] = {
    "cpu": {"requests": 4, "iterations": 2_000_000},
    "throughput": {"connections": 4, "duration_s": 1, "warmup_s": 0, "generator": "builtin"},
    "slow_client": {"connections": 6, "wait_s": 3},
}


def test_threads_overlap_but_do_not_run_python_in_parallel(suite: dict[str, CellRecord]) -> None:
    cpu = figures(suite["flask-run"], "cpu", CpuResult)
    assert cpu.peak is not None
    assert cpu.peak >= 2  # the requests were inside the server together
    assert cpu.processes == 1
    assert cpu.speedup is not None
    assert 0.5 < cpu.speedup < 1.5  # but took turns on the GIL


def test_two_sync_workers_run_cpu_work_in_parallel(suite: dict[str, CellRecord]) -> None:
    cpu = figures(suite["gunicorn-sync"], "cpu", CpuResult)
    threads = figures(suite["flask-run"], "cpu", CpuResult)
    assert cpu.processes == 2
    assert cpu.speedup is not None
    assert threads.speedup is not None
    # two processes beat one GIL; on a shared 2-core machine the gain has been
    # measured from 1.18 to 1.8, so the bound is the one-process figure's, not 2
    assert cpu.speedup > max(1.1, threads.speedup + 0.1)


def test_throughput_names_its_generator_and_checks_littles_law(suite: dict[str, CellRecord]) -> None:
    for record in suite.values():
        throughput = figures(record, "throughput", Throughput)
        assert throughput.generator == "builtin"
        assert throughput.rps > 50
        assert throughput.requests > 50
        assert 0 < throughput.latency_ms["p50"] <= throughput.latency_ms["p99"]
        assert throughput.little is not None


def test_slow_clients_block_sync_workers_but_not_threads_or_nginx(suite: dict[str, CellRecord]) -> None:
    blocked = figures(suite["gunicorn-sync"], "slow_client", SlowClient)
    assert blocked.served is False
    assert blocked.waited_s == pytest.approx(3, abs=0.3)
    assert figures(suite["flask-run"], "slow_client", SlowClient).served is True
    assert figures(suite["nginx-gunicorn-sync"], "slow_client", SlowClient).served is True


def test_every_probe_reports_its_repeats_and_spread(suite: dict[str, CellRecord]) -> None:
    for record in suite.values():
        assert set(record.probes) == {"concurrency", "cpu", "throughput", "slow_client"}
        for name, outcome in record.probes.items():
            repeats = outcome.repeats
            # probes.repeats is 2; a yes/no chance can decide on the column runs 6
            shares = recipe_for(record.kind).shares_connections(record.options)
            column = Column(shares_connections=shares, capacity=record.capacity)
            settings = {**PROBES[name].defaults(), **SUITE_PROBES.get(name, {})}
            runs = max(2, PROBES[name].runs_on(column, settings))
            assert repeats.n == runs, name
            assert len(repeats.values) == runs
            assert repeats.min is not None
            assert repeats.median is not None
            assert repeats.max is not None
            assert repeats.min <= repeats.median <= repeats.max
            # The run shown is the lower middle one.
            assert repeats.values[repeats.shown] == sorted(repeats.values)[(runs - 1) // 2]
            assert len(outcome.said) == (runs if PROBES[name].outcome is not None else 0)


@pytest.fixture(scope="module")
def burst(tmp_path_factory: pytest.TempPathFactory, no_leftovers: Check) -> Burst:
    return figures(
        run(
            tmp_path_factory,
            no_leftovers,
            {
                "versions": [{"flask": "3.1.*"}],
                "servers": {"flask-run": {"kind": "flask-run"}},
                "probes": {"burst": {"requests": 500, "delay_ms": 200, "timeout_s": 30}},
            },
        )["flask-run"],
        "burst",
        Burst,
    )


def test_the_threaded_dev_server_answers_a_burst_of_500(burst: Burst) -> None:
    assert burst.completed == 500
    assert burst.refused == burst.reset == burst.timed_out == 0
    # More connections open at once than one listen backlog (128) holds.
    assert burst.open_peak > 128
    assert burst.peak is not None
    assert burst.peak > 100
    assert burst.wall_s < 30


def test_a_burst_stops_by_itself_at_its_time_limit(
    tmp_path_factory: pytest.TempPathFactory, no_leftovers: Check
) -> None:
    stopped = figures(
        run(
            tmp_path_factory,
            no_leftovers,
            {
                "versions": [{"flask": "3.1.*"}],
                "servers": {"werkzeug": {"kind": "werkzeug"}},  # one at a time: cannot finish
                "probes": {"burst": {"requests": 100, "delay_ms": 200, "timeout_s": 2}},
            },
        )["werkzeug"],
        "burst",
        Burst,
    )
    assert stopped.wall_s < 5
    assert stopped.completed < 100
    assert stopped.completed + stopped.timed_out + stopped.reset + stopped.refused + stopped.other == 100


@pytest.mark.skipif(wrk.wrk_binary() is None, reason="wrk is not installed (apt-get install wrk)")
def test_wrk_drives_the_throughput_probe_where_it_is_installed(
    tmp_path_factory: pytest.TempPathFactory, no_leftovers: Check
) -> None:
    throughput = figures(
        run(
            tmp_path_factory,
            no_leftovers,
            {
                "versions": [{"flask": "3.1.*"}],
                "servers": {"waitress": {"kind": "waitress", "threads": 4}},
                "probes": {"throughput": {"connections": 4, "duration_s": 1, "warmup_s": 0}},
            },
        )["waitress"],
        "throughput",
        Throughput,
    )
    assert throughput.generator == "wrk"
    assert throughput.rps > 50
    assert throughput.errors == 0


@pytest.mark.skipif(wrk.wrk_binary() is None, reason="wrk is not installed (apt-get install wrk)")
def test_published_gevent_latency_obeys_littles_law(
    tmp_path_factory: pytest.TempPathFactory, no_leftovers: Check
) -> None:
    """gunicorn's gevent worker has a long latency tail, which wrk's after-the-run
    correction multiplies: what the table shows must still obey Little's law."""
    throughput = figures(
        run(
            tmp_path_factory,
            no_leftovers,
            {
                "versions": [{"flask": "3.1.*"}],
                "servers": {"gevent": {"kind": "gunicorn", "workers": 1, "worker_class": "gevent"}},
                "probes": {"throughput": {"connections": 8, "duration_s": 2, "warmup_s": 0}},
            },
        )["gevent"],
        "throughput",
        Throughput,
    )
    assert throughput.little is not None
    assert throughput.little.ok, (throughput.little, throughput.why, throughput.other)
    assert 0.8 <= throughput.little.ratio <= 1.2
    if throughput.generator == "wrk":
        assert "histogram" in throughput.latency_from
        assert throughput.wrk_printed_ms is not None
        assert throughput.latency_ms["mean"] <= (throughput.wrk_printed_ms["mean"] or 0)
    else:  # wrk's figures broke the law even as measured: the built-in ones were published
        assert throughput.other is not None
        assert throughput.other["generator"] == "wrk"
