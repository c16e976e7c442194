"""Every server kind, launched for real, and nginx in front of them."""
from __future__ import annotations

import pytest

from conftest import processes_of_run
from runner.cli import DEFAULT_ENVS
from runner.matrix import parse
from runner.run import run_cells

pytestmark = pytest.mark.slow

OLD_PINS = ["werkzeug<1", "jinja2<3", "markupsafe<2.1", "itsdangerous<2", "click<8"]


@pytest.fixture(scope="module")
def kinds(tmp_path_factory):
    matrix = parse({
        "versions": [{"flask": "0.12.5", "pins": OLD_PINS}, {"flask": "3.1.*"}],
        "servers": {
            "nginx-flask-run": {"kind": "flask-run", "proxy": "nginx"},
            "nginx-gunicorn-sync": {"kind": "gunicorn", "workers": 2, "proxy": "nginx"},
            "uwsgi": {"kind": "uwsgi", "processes": 2, "threads": 2},
            "gunicorn-gevent": {"kind": "gunicorn", "workers": 1, "worker_class": "gevent"},
            "cheroot": {"kind": "cheroot", "threads": 4},
            "granian": {"kind": "granian", "workers": 2, "threads": 2},
            "werkzeug-processes": {"kind": "werkzeug", "processes": 3},
            "werkzeug-threaded": {"kind": "werkzeug", "threaded": True},
        },
    })
    cells = [c for c in matrix.cells() if c.row.flask == "3.1.*" or c.server.name == "nginx-flask-run"]
    outcome = run_cells(matrix, cells, results=tmp_path_factory.mktemp("results"),
                        env_root=DEFAULT_ENVS, progress=lambda line: None)
    return {(r["asked"]["flask"], r["server"]): r for r in outcome.records}, outcome


def probe(kinds, server, flask="3.1.*"):
    record = kinds[0][flask, server]
    assert record["status"] == "ok", (record["reason"], record.get("log_tail"))
    return record["probes"]["concurrency"]


def test_nginx_in_front_keeps_flask_0_12_serial_and_3_1_concurrent(kinds):
    assert probe(kinds, "nginx-flask-run", "0.12.5")["peak"] == 1
    assert probe(kinds, "nginx-flask-run")["peak"] == 10
    record = kinds[0]["3.1.*", "nginx-flask-run"]
    assert record["nginx"] and record["nginx"][0].isdigit()


def test_nginx_in_front_of_two_sync_workers_still_peaks_at_two(kinds):
    assert probe(kinds, "nginx-gunicorn-sync")["peak"] == 2


def test_nginx_answers_with_http_1_1_even_for_an_http_1_0_server(kinds):
    assert kinds[0]["0.12.5", "nginx-flask-run"]["http"]["protocol"] == "HTTP/1.1"


@pytest.mark.parametrize("server, capacity", [
    ("uwsgi", 4), ("cheroot", 4), ("werkzeug-processes", 3),
])
def test_measured_peak_equals_the_configured_capacity(kinds, server, capacity):
    assert kinds[0]["3.1.*", server]["capacity"] == capacity
    assert probe(kinds, server)["peak"] == capacity


def test_uwsgi_spreads_requests_over_its_processes(kinds):
    assert probe(kinds, "uwsgi")["processes"] == 2


def test_a_gevent_worker_serves_all_ten_in_one_process(kinds):
    result = probe(kinds, "gunicorn-gevent")
    assert (result["peak"], result["processes"]) == (10, 1)


def test_threaded_run_simple_serves_all_ten(kinds):
    assert probe(kinds, "werkzeug-threaded")["peak"] == 10


def test_granian_runs_or_says_why_not(kinds):
    record = kinds[0]["3.1.*", "granian"]
    if record["status"] == "ok":
        assert record["probes"]["concurrency"]["peak"] == 4
    else:
        assert record["status"] == "error" and record["reason"]


def test_no_server_or_nginx_is_left(kinds):
    assert processes_of_run(kinds[1].run.id) == []


def test_a_server_that_fails_to_start_behind_nginx_leaves_nothing(tmp_path):
    matrix = parse({
        "versions": [{"flask": "2.0.3", "werkzeug": "3.0.*"}],  # installs, cannot import
        "servers": {"nginx-sync": {"kind": "gunicorn", "workers": 2, "proxy": "nginx"},
                    "uwsgi": {"kind": "uwsgi", "processes": 2, "threads": 2}},
    })
    outcome = run_cells(matrix, matrix.cells(), results=tmp_path, env_root=DEFAULT_ENVS,
                        progress=lambda line: None)
    for record in outcome.records:
        assert record["status"] == "error"
        assert "before it was ready" in record["reason"]
    assert processes_of_run(outcome.run.id) == []


def test_without_nginx_the_cell_is_skipped_with_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NGINX_BINARY", str(tmp_path / "no-nginx-here"))
    matrix = parse({"versions": [{"flask": "3.1.*"}],
                    "servers": {"nginx-flask-run": {"kind": "flask-run", "proxy": "nginx"}}})
    outcome = run_cells(matrix, matrix.cells(), results=tmp_path, env_root=DEFAULT_ENVS,
                        progress=lambda line: None)
    [record] = outcome.records
    assert record["status"] == "skipped"
    assert "nginx is not installed" in record["reason"] and "apt-get install nginx" in record["reason"]
