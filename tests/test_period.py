"""Period resolution and interpreter discovery, with real builds on Python 3.6."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.cli import DEFAULT_ENVS
from runner.environments import interpreters
from runner.matrix.cells import parse
from runner.measuring.probes.concurrency import ConcurrencyResult
from runner.records.record import CellRecord, Status
from runner.workflow.run import Outcome, run_cells

pytestmark = pytest.mark.slow


def pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def test_an_interpreter_that_does_not_exist_is_not_found() -> None:
    assert interpreters.find("3.99") is None


def test_a_pyenv_interpreter_off_path_is_found() -> None:
    versions = sorted((pyenv_root() / "versions").glob("3.6.*"))
    if not versions:
        pytest.skip(f"no pyenv Python 3.6 under {pyenv_root()}; nothing to discover")
    found = interpreters.find("3.6")
    assert found is not None
    assert found.version.startswith("3.6.")


@pytest.fixture(scope="module")
def period_run(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    if interpreters.find("3.6") is None:
        pytest.skip("no Python 3.6 on this machine: " + interpreters.how_to_get("3.6"))
    matrix = parse(
        {
            "versions": [
                {"flask": "0.10.1", "python": "3.6", "resolve": "period"},
                {"flask": "0.12.4", "python": "3.6", "resolve": "period"},
                {"flask": "1.0.2", "python": "3.6", "resolve": "period"},
            ],
            "servers": {
                "flask-run": {"kind": "flask-run"},
                "app-run": {"kind": "app-run"},
                "gunicorn-sync": {"kind": "gunicorn", "workers": 2},
                "uwsgi": {"kind": "uwsgi", "processes": 2, "threads": 2},
            },
        }
    )
    cells = [
        c
        for c in matrix.cells()
        if c.server.name not in ("gunicorn-sync", "uwsgi") or c.row.flask in ("0.12.4", "1.0.2")
    ]
    return run_cells(
        matrix,
        cells,
        results=tmp_path_factory.mktemp("results"),
        env_root=DEFAULT_ENVS,
        progress=lambda line: None,
    )


def cell(outcome: Outcome, flask: str, server: str) -> CellRecord:
    return next(r for r in outcome.records if r.asked.flask == flask and r.server == server)


def concurrency(record: CellRecord) -> ConcurrencyResult:
    assert record.status is Status.OK, (record.cell, record.reason, record.log_tail)
    result = record.concurrency
    assert result is not None, record.cell
    return result


def test_period_rows_install_the_dependencies_of_their_day(period_run: Outcome) -> None:
    old = cell(period_run, "0.12.4", "flask-run")
    assert old.status is Status.OK, old.reason
    assert old.python is not None
    assert (old.flask, old.werkzeug, old.python[:3]) == ("0.12.4", "0.14.1", "3.6")
    assert old.resolved_as_of == "2018-04-30T23:59:59Z"
    assert old.packages["Jinja2"] == "2.10"
    new = cell(period_run, "1.0.2", "flask-run")
    assert (new.flask, new.werkzeug) == ("1.0.2", "0.14.1")


def test_the_2018_experiment_on_python_3_6(period_run: Outcome) -> None:
    assert concurrency(cell(period_run, "0.12.4", "flask-run")).verdict == "serial"
    assert concurrency(cell(period_run, "1.0.2", "flask-run")).peak == 10
    assert "flask-run: serial in Flask 0.12.4 -> concurrent in Flask 1.0.2" in period_run.report


def test_flask_0_10_has_no_flask_command(period_run: Outcome) -> None:
    no_cli = cell(period_run, "0.10.1", "flask-run")
    assert no_cli.status is Status.NA
    assert "no `flask` command" in (no_cli.reason or "")
    app_run = cell(period_run, "0.10.1", "app-run")
    assert app_run.status is Status.OK
    assert concurrency(app_run).verdict == "serial"
    assert period_run.failed == 0


def test_a_server_of_the_day_runs_on_its_period_row(period_run: Outcome) -> None:
    gunicorn = cell(period_run, "0.12.4", "gunicorn-sync")
    assert gunicorn.status is Status.OK, gunicorn.log_tail
    assert gunicorn.packages["gunicorn"].startswith("19.")
    assert concurrency(gunicorn).peak == 2


def test_uwsgi_of_2018_is_built_from_source_and_serves_processes_times_threads(period_run: Outcome) -> None:
    """No pyuwsgi wheel existed in 2018: the uwsgi release of the day is compiled, as pip did then."""
    for flask in ("0.12.4", "1.0.2"):
        uwsgi = cell(period_run, flask, "uwsgi")
        assert uwsgi.status is Status.OK, (uwsgi.reason, uwsgi.log_tail)
        assert uwsgi.packages.get("uWSGI", "").startswith("2.0.17"), uwsgi.packages
        assert "pyuwsgi" not in {name.lower() for name in uwsgi.packages}
        assert concurrency(uwsgi).peak == 4


def test_werkzeug_0_14_speaks_http_1_0_and_warns_nothing(period_run: Outcome) -> None:
    facts = cell(period_run, "0.12.4", "flask-run")
    assert facts.http is not None
    assert facts.http.protocol == "HTTP/1.0"
    assert facts.http.keep_alive is False
    assert facts.dev_server_warning is None


def test_nothing_is_left_running(period_run: Outcome, no_leftovers: Callable[[str], None]) -> None:
    no_leftovers(period_run.run.id)
