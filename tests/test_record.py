"""The cell record, with plain data: its dict, its schema, the run it shows."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runner.measuring import stats
from runner.measuring.facts import HttpFacts
from runner.measuring.load import Throughput
from runner.measuring.probes import PROBES
from runner.measuring.probes.backlog import Backlog
from runner.measuring.probes.burst import Burst
from runner.measuring.probes.concurrency import ConcurrencyResult, verdict
from runner.measuring.probes.cpu import CpuResult
from runner.measuring.probes.crash import Crash
from runner.measuring.probes.hang import Hang
from runner.measuring.probes.idle_keepalive import IdleKeepAlive
from runner.measuring.probes.silent import Silent
from runner.measuring.probes.slow_client import SlowClient
from runner.measuring.probes.slow_reader import SlowReader
from runner.measuring.probes.slow_upload import SlowUpload
from runner.measuring.stats import Little
from runner.records.record import (
    SCHEMA,
    Asked,
    CellRecord,
    EnvInfo,
    ProbeFailed,
    ProbeOutcome,
    RecordError,
    RunMeta,
    Schedule,
    Status,
    Timings,
    migrate,
)


def peak_of(peak: int) -> ConcurrencyResult:
    return ConcurrencyResult(
        requests=4,
        delay_ms=100,
        peak=peak,
        verdict=verdict(peak),
        wall_s=0.41,
        errors=0,
        error_kinds={},
        processes=1,
        threads=peak,
        per_process=[4],
        intervals=[[1.0, 1.1], [1.05, 1.2]],
    )


EVERY_PROBE = {
    "concurrency": peak_of(2),
    "cpu": CpuResult(
        requests=2,
        iterations=1000,
        sequential_s=0.2,
        concurrent_s=0.19,
        speedup=1.05,
        peak=2,
        processes=1,
        speedup_per_process=1.05,
        errors=0,
    ),
    "throughput": Throughput(
        generator="builtin",
        connections=4,
        duration_s=1.0,
        requests=900,
        rps=900.5,
        latency_ms={"mean": 4.4, "p50": 4.1, "p90": 6.0, "p99": 9.5},
        errors=0,
        error_kinds={},
        client_cpu=0.4,
        client_bound=False,
        little=Little(concurrency=4, rps_x_latency=3.96, ratio=0.99, ok=True),
    ),
    "burst": Burst(
        requests=50,
        delay_ms=50,
        completed=48,
        refused=1,
        reset=1,
        timed_out=0,
        other=0,
        open_peak=50,
        peak=12,
        wall_s=0.9,
    ),
    "slow_client": SlowClient(stalled=2, served=True, waited_s=0.01, wait_limit_s=1.0),
    "silent": Silent(connections=2, served=False, waited_s=3.0, wait_limit_s=3.0, how="timeout"),
    "slow_upload": SlowUpload(
        uploads=4,
        kb=256,
        upload_s=4.0,
        served=True,
        waited_s=0.01,
        wait_limit_s=3.0,
        how="served",
        taken=4,
        upload_ended="taken",
    ),
    "slow_reader": SlowReader(
        readers=4,
        kb=4608,
        rate_kbps=64,
        served=False,
        waited_s=3.0,
        wait_limit_s=3.0,
        how="timeout",
        read_kb=190.5,
        client_buffer=32768,
        server_buffer=4194304,
        exceeds_buffers=True,
    ),
    "idle_keepalive": IdleKeepAlive(
        kept_alive=True,
        idle_s=4.0,
        timeout_s=2.0,
        timeout_set="keepalive_timeout: 2 (was 75 s)",
        closed_before=True,
        second="closed beforehand",
        answered=False,
    ),
    "backlog": Backlog(
        attempts=132,
        queued=129,
        dropped=3,
        refused=0,
        reset=0,
        limit_reached=False,
        ss_queued=129,
        ss_backlog=128,
    ),
    "crash": Crash(
        killed="a worker",
        idle_recovered=True,
        idle_recovery_s=0.04,
        idle_failed=0,
        serving_recovered=True,
        serving_recovery_s=0.06,
        serving_failed=0,
        in_flight="closed early",
        recovers=True,
        wait_limit_s=5.0,
    ),
    "hang": Hang(
        hung=2,
        freed=2,
        freed_s=3.3,
        ended_as="HTTP 500",
        timeout_s=3.0,
        timeout_set="timeout: 3 (was 30 s)",
        ordinary_served=7,
        ordinary_failed=3,
        first_served_s=4.4,
        wait_limit_s=6.0,
        frees=True,
    ),
}


def outcome(name: str, result: Any) -> ProbeOutcome:
    return ProbeOutcome.of_runs(PROBES[name], [result])


def cell(**changes: Any) -> CellRecord:
    fields: dict[str, Any] = {
        "cell": "flask-3.1.x--gunicorn-sync",
        "row": "flask-3.1.x",
        "row_index": 2,
        "server": "gunicorn-sync",
        "server_index": 1,
        "kind": "gunicorn",
        "options": {"workers": 2},
        "asked": Asked(flask="3.1.*", werkzeug=None, python="3.11", pins=("click<9",), resolve="latest"),
        "status": Status.OK,
        "flask": "3.1.3",
        "werkzeug": "3.1.9",
        "python": "3.11.7",
        "capacity": 2,
        "probes": {"concurrency": outcome("concurrency", peak_of(2))},
        "http": HttpFacts(protocol="HTTP/1.1", keep_alive=False, server_header="gunicorn"),
        "env": EnvInfo(path="/tmp/envs/py3.11.7-flask-3.1.x", backend="uv", reused=True),
        "packages": {"Flask": "3.1.3", "gunicorn": "23.0.0"},
        "timings": Timings(start_s=0.3, probe_s=1.2, total_s=1.6, probes={"concurrency": 1.2}),
        "schedule": Schedule(kind="overlap", overlap=4, beside=("x",), shared=((1.0, 2.5),)),
        "log": "logs/flask-3.1.x--gunicorn-sync.log",
        "started": 1700000000.5,
        "ended": 1700000002.1,
    }
    fields.update(changes)
    return CellRecord(**fields)


def test_a_record_survives_its_dict_and_json() -> None:
    record = cell()
    assert CellRecord.from_dict(record.to_dict()) == record
    assert CellRecord.from_dict(json.loads(json.dumps(record.to_dict()))) == record
    assert record.to_dict()["schema"] == SCHEMA


def test_a_record_with_every_probe_survives_its_dict() -> None:
    record = cell(probes={name: outcome(name, result) for name, result in EVERY_PROBE.items()})
    assert set(record.probes) == set(PROBES)
    again = CellRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    for name, result in EVERY_PROBE.items():
        assert again.result(name) == result
        assert type(again.result(name)) is type(result)


def test_an_error_record_survives_its_dict() -> None:
    failed = ProbeOutcome(
        result=None, error="OSError: connection refused", repeats=stats.spread([], figure="peak")
    )
    record = cell(
        status=Status.ERROR,
        reason="all 4 requests failed (HTTP 500 x4)",
        probes={"concurrency": failed},
        http=None,
        log_tail=("Traceback (most recent call last):", "RuntimeError: boom"),
    )
    again = CellRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again == record
    assert not again.ok
    assert again.probe("concurrency") is None
    assert again.concurrency is None
    assert again.probes["concurrency"].error == "OSError: connection refused"


def test_a_skipped_record_with_nothing_measured_survives_its_dict() -> None:
    record = CellRecord(
        cell="flask-3.1.x-py3.99--flask-run",
        row="flask-3.1.x-py3.99",
        row_index=3,
        server="flask-run",
        server_index=0,
        kind="flask-run",
        options={},
        asked=Asked(flask="3.1.*", werkzeug=None, python="3.99"),
        status=Status.SKIPPED,
        reason="no Python 3.99 on PATH",
    )
    assert CellRecord.from_dict(record.to_dict()) == record


def test_status_values() -> None:
    assert [s.value for s in Status] == ["ok", "error", "skipped", "n/a"]
    assert Status("n/a") is Status.NA
    assert json.dumps([Status.OK, Status.NA]) == '["ok", "n/a"]'  # written as its value
    assert cell().ok
    assert not cell(status=Status.NA).ok
    with pytest.raises(RecordError, match="'broken' is not one of ok, error, skipped, n/a"):
        CellRecord.from_dict({**cell().to_dict(), "status": "broken"})


def test_the_helpers_read_a_probe_only_where_the_cell_ran() -> None:
    record = cell()
    assert record.concurrency == peak_of(2)
    assert record.result("concurrency") == peak_of(2)
    assert record.probe("cpu") is None
    assert record.result("cpu") is None
    errored = cell(status=Status.ERROR, reason="all 4 requests failed")
    assert errored.probe("concurrency") is None
    assert errored.concurrency is None


def schema_1_record() -> dict[str, Any]:
    """A cell as the previous version wrote it: no ``shown``, the median run's figures."""
    return {
        "schema": 1,
        "cell": "flask-3.1.x--flask-run",
        "row": "flask-3.1.x",
        "row_index": 0,
        "server": "flask-run",
        "server_index": 0,
        "kind": "flask-run",
        "options": {},
        "asked": {"flask": "3.1.*", "werkzeug": None, "python": "3.11", "pins": [], "resolve": "latest"},
        "status": "ok",
        "reason": None,
        "flask": "3.1.3",
        "werkzeug": "3.1.9",
        "python": "3.11.7",
        "probes": {
            "concurrency": {
                **peak_of(4).to_dict(),
                "repeats": {
                    "n": 3,
                    "median": 4,
                    "min": 3,
                    "max": 5,
                    "spread": 0.5,
                    "unstable": True,
                    "values": [5, 3, 4],
                    "figure": "peak",
                },
            },
            "throughput": {**EVERY_PROBE["throughput"].to_dict()},  # from before repeats existed
            "no_such_probe": {"figure": 1},
        },
    }


def test_a_schema_1_record_is_migrated_naming_the_run_it_shows() -> None:
    data = schema_1_record()
    migrated = migrate(data)
    assert migrated["schema"] == SCHEMA
    assert migrated["probes"]["concurrency"]["repeats"]["shown"] == 2  # values[2] is the peak shown, 4
    assert data["schema"] == 1
    assert "shown" not in data["probes"]["concurrency"]["repeats"]

    record = CellRecord.from_dict(data)
    concurrency = record.probe("concurrency")
    assert concurrency is not None
    assert concurrency.repeats.shown == 2
    assert record.concurrency is not None
    assert concurrency.repeats.values[concurrency.repeats.shown] == 4 == record.concurrency.peak
    assert (concurrency.repeats.n, concurrency.repeats.unstable) == (3, True)
    # A probe recorded before repeats existed has the spread of its one run.
    throughput = record.probe("throughput")
    assert throughput is not None
    assert throughput.result == EVERY_PROBE["throughput"]
    assert (throughput.repeats.n, throughput.repeats.values, throughput.repeats.shown) == (1, (900.5,), 0)
    assert set(record.probes) == {"concurrency", "throughput"}  # what this version does not know is left


def test_a_record_from_a_newer_version_is_refused_naming_its_schema() -> None:
    data = {**cell().to_dict(), "schema": 99}
    with pytest.raises(RecordError, match=r"schema 99 .*newer version"):
        CellRecord.from_dict(data)
    with pytest.raises(RecordError, match="schema 99"):
        RunMeta.from_dict({"schema": 99, "run": "x", "started": "now"})


def test_the_median_run_is_shown_of_an_odd_count() -> None:
    runs = [peak_of(5), peak_of(3), peak_of(4)]
    chosen = ProbeOutcome.of_runs(PROBES["concurrency"], runs)
    assert chosen.result == peak_of(4)
    assert chosen.error is None
    assert chosen.repeats.shown == 2
    assert (chosen.repeats.values, chosen.repeats.median, chosen.repeats.figure) == ((5, 3, 4), 4, "peak")


def test_the_lower_middle_run_is_shown_of_an_even_count() -> None:
    runs = [peak_of(6), peak_of(2), peak_of(8), peak_of(4)]
    chosen = ProbeOutcome.of_runs(PROBES["concurrency"], runs)
    assert chosen.result == peak_of(4)  # of 4 and 6, the lower; a run that happened
    assert chosen.repeats.shown == 3
    assert chosen.repeats.median == 5  # the median itself is still the middle of the two


def test_a_failed_probe_run_yields_its_error() -> None:
    only = ProbeOutcome.of_runs(PROBES["cpu"], [ProbeFailed(error="OSError: refused")])
    assert only.result is None
    assert only.error == "OSError: refused"
    assert only.repeats.n == 0
    assert ProbeOutcome.from_dict("cpu", only.to_dict()) == only
    # Beside runs that measured, a failed run is left out of the spread and not shown.
    mixed = ProbeOutcome.of_runs(PROBES["concurrency"], [peak_of(3), ProbeFailed(error="boom"), peak_of(5)])
    assert mixed.result == peak_of(3)
    assert mixed.error is None
    assert (mixed.repeats.n, mixed.repeats.values) == (2, (3, 5))


def test_the_run_shown_beside_a_failed_run_is_found_in_the_values() -> None:
    mixed = ProbeOutcome.of_runs(PROBES["concurrency"], [ProbeFailed(error="boom"), peak_of(3), peak_of(5)])
    assert mixed.result == peak_of(3)
    # As in a migrated record, `shown` picks the figure shown out of `values`.
    assert mixed.repeats.values == (3, 5)
    assert mixed.repeats.shown == 0
    assert mixed.repeats.values[mixed.repeats.shown] == 3


def test_run_meta_survives_its_dict() -> None:
    meta = RunMeta(
        run="20260101T000000Z",
        started="2026-01-01T00:00:00Z",
        matrix={"versions": []},
        cells=("a--b",),
        tools={"uv": "uv 0.9"},
        ended="2026-01-01T00:01:00Z",
        complete=True,
        summary={"counts": {"ok": 1}},
    )
    assert RunMeta.from_dict(json.loads(json.dumps(meta.to_dict()))) == meta


def test_timings_keep_their_flat_shape_in_the_file() -> None:
    data = cell().to_dict()["timings"]
    assert data == {"start_s": 0.3, "probe_s": 1.2, "total_s": 1.6, "probe_concurrency_s": 1.2}
    assert Timings.from_dict(data) == cell().timings


@pytest.mark.parametrize(
    ("key", "value"), [("timings", {"start_s": "soon"}), ("schedule", {"shared": [[1]]})]
)
def test_a_bad_timing_or_schedule_is_a_record_error(key: str, value: Any) -> None:
    data = cell().to_dict()
    data[key] = value
    with pytest.raises(RecordError, match=key):
        CellRecord.from_dict(data)
