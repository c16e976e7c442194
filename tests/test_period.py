"""Period resolution and interpreter discovery, with real builds on Python 3.6."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import processes_of_run
from runner import interpreters
from runner.cli import DEFAULT_ENVS
from runner.matrix import parse
from runner.run import run_cells

pytestmark = pytest.mark.slow


def pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))


def test_an_interpreter_that_does_not_exist_is_not_found():
    assert interpreters.find("3.99") is None


def test_a_pyenv_interpreter_off_path_is_found():
    versions = sorted((pyenv_root() / "versions").glob("3.6.*"))
    if not versions:
        pytest.skip(f"no pyenv Python 3.6 under {pyenv_root()}; nothing to discover")
    found = interpreters.find("3.6")
    assert found is not None
    assert found.version.startswith("3.6.")


@pytest.fixture(scope="module")
def period_run(tmp_path_factory):
    if interpreters.find("3.6") is None:
        pytest.skip("no Python 3.6 on this machine: " + interpreters.how_to_get("3.6"))
    matrix = parse({
        "versions": [
            {"flask": "0.10.1", "python": "3.6", "resolve": "period"},
            {"flask": "0.12.4", "python": "3.6", "resolve": "period"},
            {"flask": "1.0.2", "python": "3.6", "resolve": "period"},
        ],
        "servers": {"flask-run": {"kind": "flask-run"}, "app-run": {"kind": "app-run"},
                    "gunicorn-sync": {"kind": "gunicorn", "workers": 2}},
    })
    cells = [c for c in matrix.cells()
             if c.server.name != "gunicorn-sync" or c.row.flask == "0.12.4"]
    return run_cells(matrix, cells, results=tmp_path_factory.mktemp("results"),
                     env_root=DEFAULT_ENVS, progress=lambda line: None)


def cell(outcome, flask, server):
    return next(r for r in outcome.records if r["asked"]["flask"] == flask and r["server"] == server)


def test_period_rows_install_the_dependencies_of_their_day(period_run):
    old = cell(period_run, "0.12.4", "flask-run")
    assert old["status"] == "ok", old["reason"]
    assert (old["flask"], old["werkzeug"], old["python"][:3]) == ("0.12.4", "0.14.1", "3.6")
    assert old["resolved_as_of"] == "2018-04-30T23:59:59Z"
    assert old["packages"]["Jinja2"] == "2.10"
    new = cell(period_run, "1.0.2", "flask-run")
    assert (new["flask"], new["werkzeug"]) == ("1.0.2", "0.14.1")


def test_the_2018_experiment_on_python_3_6(period_run):
    assert cell(period_run, "0.12.4", "flask-run")["probes"]["concurrency"]["verdict"] == "serial"
    assert cell(period_run, "1.0.2", "flask-run")["probes"]["concurrency"]["peak"] == 10
    assert "flask-run: serial in Flask 0.12.4 -> concurrent in Flask 1.0.2" in period_run.report


def test_flask_0_10_has_no_flask_command(period_run):
    no_cli = cell(period_run, "0.10.1", "flask-run")
    assert no_cli["status"] == "n/a"
    assert "no `flask` command" in no_cli["reason"]
    app_run = cell(period_run, "0.10.1", "app-run")
    assert app_run["status"] == "ok"
    assert app_run["probes"]["concurrency"]["verdict"] == "serial"
    assert period_run.failed == 0


def test_a_server_of_the_day_runs_on_its_period_row(period_run):
    gunicorn = cell(period_run, "0.12.4", "gunicorn-sync")
    assert gunicorn["status"] == "ok", gunicorn.get("log_tail")
    assert gunicorn["packages"]["gunicorn"].startswith("19.")
    assert gunicorn["probes"]["concurrency"]["peak"] == 2


def test_werkzeug_0_14_speaks_http_1_0_and_warns_nothing(period_run):
    facts = cell(period_run, "0.12.4", "flask-run")
    assert facts["http"]["protocol"] == "HTTP/1.0"
    assert facts["http"]["keep_alive"] is False
    assert facts["dev_server_warning"] is None


def test_nothing_is_left_running(period_run):
    assert processes_of_run(period_run.run.id) == []
