"""Every server kind, launched for real, and nginx in front of them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.cli import DEFAULT_ENVS
from runner.matrix.cells import parse
from runner.measuring.probes.concurrency import ConcurrencyResult
from runner.records.record import CellRecord, Status
from runner.workflow.run import Outcome, run_cells

pytestmark = pytest.mark.slow

OLD_PINS = ["werkzeug<1", "jinja2<3", "markupsafe<2.1", "itsdangerous<2", "click<8"]
Check = Callable[[str], None]
Kinds = tuple[dict[tuple[str, str], CellRecord], Outcome]


@pytest.fixture(scope="module")
def kinds(tmp_path_factory: pytest.TempPathFactory) -> Kinds:
    matrix = parse(
        {
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
        }
    )
    cells = [c for c in matrix.cells() if c.row.flask == "3.1.*" or c.server.name == "nginx-flask-run"]
    outcome = run_cells(
        matrix,
        cells,
        results=tmp_path_factory.mktemp("results"),
        env_root=DEFAULT_ENVS,
        progress=lambda line: None,
    )
    return {(r.asked.flask, r.server): r for r in outcome.records}, outcome


def probe(kinds: Kinds, server: str, flask: str = "3.1.*") -> ConcurrencyResult:
    record = kinds[0][flask, server]
    assert record.status is Status.OK, (record.reason, record.log_tail)
    result = record.concurrency
    assert result is not None, record.cell
    return result


def test_nginx_in_front_keeps_flask_0_12_serial_and_3_1_concurrent(kinds: Kinds) -> None:
    assert probe(kinds, "nginx-flask-run", "0.12.5").peak == 1
    assert probe(kinds, "nginx-flask-run").peak == 10
    record = kinds[0]["3.1.*", "nginx-flask-run"]
    assert record.nginx
    assert record.nginx[0].isdigit()


def test_nginx_in_front_of_two_sync_workers_still_peaks_at_two(kinds: Kinds) -> None:
    assert probe(kinds, "nginx-gunicorn-sync").peak == 2


def test_nginx_answers_with_http_1_1_even_for_an_http_1_0_server(kinds: Kinds) -> None:
    http = kinds[0]["0.12.5", "nginx-flask-run"].http
    assert http is not None
    assert http.protocol == "HTTP/1.1"


@pytest.mark.parametrize(
    ("server", "capacity"),
    [
        ("uwsgi", 4),
        ("cheroot", 4),
        ("werkzeug-processes", 3),
    ],
)
def test_measured_peak_equals_the_configured_capacity(kinds: Kinds, server: str, capacity: int) -> None:
    assert kinds[0]["3.1.*", server].capacity == capacity
    assert probe(kinds, server).peak == capacity


def test_uwsgi_spreads_requests_over_its_processes(kinds: Kinds) -> None:
    assert probe(kinds, "uwsgi").processes == 2


def test_a_gevent_worker_serves_all_ten_in_one_process(kinds: Kinds) -> None:
    result = probe(kinds, "gunicorn-gevent")
    assert (result.peak, result.processes) == (10, 1)


def test_threaded_run_simple_serves_all_ten(kinds: Kinds) -> None:
    assert probe(kinds, "werkzeug-threaded").peak == 10


def test_granian_serves_workers_times_threads(kinds: Kinds) -> None:
    """granian installs on Python 3.11 here; only a machine where it cannot
    (the cell skipped or n/a, with its reason) is a reason not to measure it."""
    record = kinds[0]["3.1.*", "granian"]
    if record.status in (Status.SKIPPED, Status.NA):
        pytest.skip(f"granian cannot run on this machine: {record.status.value}: {record.reason}")
    assert record.status is Status.OK, f"granian: {record.status.value}: {record.reason}\n" + "\n".join(
        record.log_tail
    )
    assert record.capacity == 4
    # How the ten requests split between the two workers is the kernel's
    # choice (9+1 was seen): each worker serves min(threads, requests it took).
    result = probe(kinds, "granian")
    assert len(result.per_process) <= 2
    assert result.peak == sum(min(2, taken) for taken in result.per_process)


def test_no_server_or_nginx_is_left(kinds: Kinds, no_leftovers: Check) -> None:
    no_leftovers(kinds[1].run.id)


def test_a_server_that_fails_to_start_behind_nginx_leaves_nothing(
    tmp_path: Path, no_leftovers: Check
) -> None:
    matrix = parse(
        {
            "versions": [{"flask": "2.0.3", "werkzeug": "3.0.*"}],  # installs, cannot import
            "servers": {
                "nginx-sync": {"kind": "gunicorn", "workers": 2, "proxy": "nginx"},
                "uwsgi": {"kind": "uwsgi", "processes": 2, "threads": 2},
            },
        }
    )
    outcome = run_cells(
        matrix, matrix.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    for record in outcome.records:
        assert record.status is Status.ERROR
        assert "before it was ready" in (record.reason or ""), record.reason
    no_leftovers(outcome.run.id)


def test_without_nginx_the_cell_is_skipped_with_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NGINX_BINARY", str(tmp_path / "no-nginx-here"))
    matrix = parse(
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": {"nginx-flask-run": {"kind": "flask-run", "proxy": "nginx"}},
        }
    )
    outcome = run_cells(
        matrix, matrix.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    [record] = outcome.records
    assert record.status is Status.SKIPPED
    assert "nginx is not installed" in (record.reason or "")
    assert "apt-get install nginx" in (record.reason or "")
