"""Python 2.7 rows, built as in their day, and the causes of cells that did not run.

The slow test builds a real Python 2.7 environment for Flask 0.11.1 as of
its upload day (virtualenv 20.21.1 from its helper, pip 20.3.4), serves it
with the gunicorn of that day, and reads the versions from the record.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.cli import DEFAULT_ENVS
from runner.environments import interpreters, period, workarounds
from runner.environments.envs import pip_build_failure, summarise_failure
from runner.errors import CAUSES, CellSkipped
from runner.matrix.cells import parse
from runner.publish import tidy
from runner.records.checks import RecordError, cell_record
from runner.records.record import Status
from runner.workflow.run import run_cells, usable_interpreter

PIP_GEVENT_0_13 = """Collecting gevent
  Downloading gevent-0.13.8.tar.gz (300 kB)
Building wheels for collected packages: gevent
  Building wheel for gevent (setup.py): started
  Building wheel for gevent (setup.py): finished with status 'error'
  ERROR: Command errored out with exit status 1:
  gevent/libevent.h:9:10: fatal error: event.h: No such file or directory
  error: command 'gcc' failed with exit status 1
"""


def test_a_failed_pip_build_is_named_as_uv_names_it() -> None:
    lines = [line.strip() for line in PIP_GEVENT_0_13.splitlines()]
    expected = "Failed to build `gevent==0.13.8`: gevent/libevent.h:9:10: fatal error: event.h: No such file"
    assert str(pip_build_failure(lines)).startswith(expected)
    assert summarise_failure(PIP_GEVENT_0_13).startswith(expected)


def test_a_wheel_that_setup_py_then_installs_is_no_failed_build() -> None:
    lines = [
        "Downloading Flask-SQLAlchemy-2.1.tar.gz (1 kB)",
        "Building wheel for Flask-SQLAlchemy (setup.py): finished with status 'error'",
        "Running setup.py install for Flask-SQLAlchemy: finished with status 'done'",
    ]
    assert pip_build_failure(lines) is None
    assert pip_build_failure(lines[:2]) == "Failed to build `Flask-SQLAlchemy==2.1`"


def test_a_build_failure_gets_its_cause_and_what_is_known_upstream() -> None:
    reason = summarise_failure(PIP_GEVENT_0_13)
    cause, said = workarounds.build_cause(reason)
    assert cause == "machine"
    assert "gevent issue 974" in said
    assert said.startswith(reason)
    # a compiler error is this machine's; a build script that raised is the release's
    assert workarounds.build_cause("Failed to build `x==1`: core/utils.c:1:1: error: no")[0] == "machine"
    assert workarounds.build_cause("Failed to build `x==1`: SyntaxError: invalid syntax")[0] == "upstream"


def test_a_records_cause_is_one_of_the_four(tmp_path: Path) -> None:
    assert set(CAUSES) == {"machine", "interpreter", "resolver", "upstream"}
    base = {"cell": "r--s", "row": "r", "server": "s", "status": "n/a"}
    cell_record({**base, "cause": "machine"})
    with pytest.raises(RecordError, match="cause"):
        cell_record({**base, "cause": "flask"})


def test_a_missing_python_2_is_skipped_with_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where neither PATH nor pyenv has 2.7 (a hosted runner), the row is
    skipped, its cause the interpreter, never a finding about Flask."""
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    interpreters.find.cache_clear()
    try:
        (cell,) = parse(
            {"versions": [{"flask": "0.11.1", "python": "2.7"}], "servers": {"g": {"kind": "gunicorn"}}}
        ).cells()
        with pytest.raises(CellSkipped) as caught:
            usable_interpreter(cell)
    finally:
        monkeypatch.undo()
        interpreters.find.cache_clear()
    assert caught.value.cause == "interpreter"
    assert "pyenv install 2.7" in caught.value.reason
    assert "uv provides no Python 2" in caught.value.reason


def test_a_constraint_admits_only_what_was_released_by_the_day() -> None:
    day = period.cutoff("flask", "0.11.1")
    line = str(period.as_of("werkzeug", day))
    assert line.startswith("werkzeug<=0.11.10")
    assert period.as_of("flask", "2010-01-01T00:00:00Z") is None  # Flask 0.1 came in April 2010


@pytest.mark.slow
def test_flask_0_11_on_python_2_7_as_of_its_day(tmp_path: Path) -> None:
    if interpreters.find("2.7") is None:
        pytest.skip("no Python 2.7 here (pyenv install 2.7.18)")
    found = parse(
        {
            "versions": [{"flask": "0.11.1", "python": "2.7", "resolve": "period"}],
            "servers": {
                "gunicorn-sync": {"kind": "gunicorn", "workers": 2},
                "waitress": {"kind": "waitress"},
            },
            "probes": {"concurrency": {"requests": 4, "delay_ms": 200}},
        }
    )
    outcome = run_cells(
        found, found.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    records = {r.server: r for r in outcome.records}
    assert all(r.status is Status.OK for r in records.values()), [r.reason for r in records.values()]
    gunicorn = records["gunicorn-sync"]
    assert gunicorn.python == "2.7.18"
    assert gunicorn.env is not None
    assert gunicorn.env.backend == "legacy"
    # the versions of 2016-06-07, as the index's upload times give them
    assert {k: gunicorn.packages[k] for k in ("Flask", "Werkzeug", "Jinja2", "gunicorn", "pip")} == {
        "Flask": "0.11.1",
        "Werkzeug": "0.11.10",
        "Jinja2": "2.8",
        "gunicorn": "19.6.0",
        "pip": "20.3.4",
    }
    assert records["waitress"].server_version == "0.9.0"
    assert gunicorn.concurrency is not None
    assert gunicorn.concurrency.peak == 2
    rows = tidy.csv_text("run", outcome.records)
    assert "2.7.18" in rows
    assert (
        json.loads((outcome.run.path / "cells" / f"{gunicorn.cell}.json").read_text())["env"]["backend"]
        == "legacy"
    )


@pytest.mark.parametrize("version", ["2.7", "3.6"])
def test_the_tool_finds_old_pythons_under_pyenv_itself(version: str) -> None:
    """nox's own discovery refuses Pythons before 3.6; the tool's does not."""
    root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    present = sorted((root / "versions").glob(f"{version}.*"))
    if not present:
        pytest.skip(f"pyenv has no Python {version} here (pyenv install {version})")
    found = interpreters.find(version)
    assert found is not None
    assert found.version.startswith(version + ".")
