"""Each probe against real servers: what concurrency buys and what it costs."""
from __future__ import annotations

import pytest

from conftest import processes_of_run
from runner import loadgen
from runner.cli import DEFAULT_ENVS
from runner.matrix import parse
from runner.run import run_cells

pytestmark = pytest.mark.slow


def run(tmp_path_factory, data):
    matrix = parse(data)
    outcome = run_cells(matrix, matrix.cells(), results=tmp_path_factory.mktemp("results"),
                        env_root=DEFAULT_ENVS, progress=lambda line: None)
    assert processes_of_run(outcome.run.id) == []
    records = {r["server"]: r for r in outcome.records}
    for record in records.values():
        assert record["status"] == "ok", (record["cell"], record["reason"], record.get("log_tail"))
    return records


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return run(tmp_path_factory, {
        "versions": [{"flask": "3.1.*"}],
        "servers": {"flask-run": {"kind": "flask-run"},
                    "gunicorn-sync": {"kind": "gunicorn", "workers": 2},
                    "nginx-gunicorn-sync": {"kind": "gunicorn", "workers": 2, "proxy": "nginx"}},
        "probes": {
            "repeats": 2,
            "cpu": {"requests": 4, "iterations": 400000},
            "throughput": {"connections": 4, "duration_s": 1, "warmup_s": 0, "generator": "builtin"},
            "slow_client": {"connections": 6, "wait_s": 3},
        },
    })


def test_threads_overlap_but_do_not_run_python_in_parallel(suite):
    cpu = suite["flask-run"]["probes"]["cpu"]
    assert cpu["peak"] >= 2          # the requests were inside the server together
    assert cpu["processes"] == 1
    assert 0.5 < cpu["speedup"] < 1.5  # but took turns on the GIL


def test_two_sync_workers_run_cpu_work_in_parallel(suite):
    cpu = suite["gunicorn-sync"]["probes"]["cpu"]
    assert cpu["processes"] == 2
    assert cpu["speedup"] > 1.3


def test_throughput_names_its_generator_and_checks_littles_law(suite):
    for record in suite.values():
        figures = record["probes"]["throughput"]
        assert figures["generator"] == "builtin"
        assert figures["rps"] > 50 and figures["requests"] > 50
        assert 0 < figures["latency_ms"]["p50"] <= figures["latency_ms"]["p99"]
        assert set(figures["little"]) >= {"ratio", "ok"}


def test_slow_clients_block_sync_workers_but_not_threads_or_nginx(suite):
    assert suite["gunicorn-sync"]["probes"]["slow_client"]["served"] is False
    assert suite["gunicorn-sync"]["probes"]["slow_client"]["waited_s"] == pytest.approx(3, abs=0.3)
    assert suite["flask-run"]["probes"]["slow_client"]["served"] is True
    assert suite["nginx-gunicorn-sync"]["probes"]["slow_client"]["served"] is True


def test_every_probe_reports_its_repeats_and_spread(suite):
    for record in suite.values():
        for name, figures in record["probes"].items():
            repeats = figures["repeats"]
            assert repeats["n"] == 2, name
            assert len(repeats["values"]) == 2
            assert repeats["min"] <= repeats["median"] <= repeats["max"]


@pytest.fixture(scope="module")
def burst(tmp_path_factory):
    return run(tmp_path_factory, {
        "versions": [{"flask": "3.1.*"}],
        "servers": {"flask-run": {"kind": "flask-run"}},
        "probes": {"burst": {"requests": 500, "delay_ms": 200, "timeout_s": 30}},
    })["flask-run"]["probes"]["burst"]


def test_the_threaded_dev_server_answers_a_burst_of_500(burst):
    assert burst["completed"] == 500
    assert burst["refused"] == burst["reset"] == burst["timed_out"] == 0
    # More connections open at once than one listen backlog (128) holds.
    assert burst["open_peak"] > 128
    assert burst["peak"] > 100
    assert burst["wall_s"] < 30


def test_a_burst_stops_by_itself_at_its_time_limit(tmp_path_factory):
    figures = run(tmp_path_factory, {
        "versions": [{"flask": "3.1.*"}],
        "servers": {"werkzeug": {"kind": "werkzeug"}},   # one at a time: cannot finish
        "probes": {"burst": {"requests": 100, "delay_ms": 200, "timeout_s": 2}},
    })["werkzeug"]["probes"]["burst"]
    assert figures["wall_s"] < 5
    assert figures["completed"] < 100
    assert figures["completed"] + figures["timed_out"] + figures["reset"] + figures["refused"] \
        + figures["other"] == 100


@pytest.mark.skipif(loadgen.wrk_binary() is None, reason="wrk is not installed (apt-get install wrk)")
def test_wrk_drives_the_throughput_probe_where_it_is_installed(tmp_path_factory):
    figures = run(tmp_path_factory, {
        "versions": [{"flask": "3.1.*"}],
        "servers": {"waitress": {"kind": "waitress", "threads": 4}},
        "probes": {"throughput": {"connections": 4, "duration_s": 1, "warmup_s": 0}},
    })["waitress"]["probes"]["throughput"]
    assert figures["generator"] == "wrk"
    assert figures["rps"] > 50 and figures["errors"] == 0
