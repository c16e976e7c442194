"""Real cells: real virtualenvs, real servers on 127.0.0.1, real requests.

These build environments with uv (cached under .nox/envs, as a matrix run
does) and take a minute or two on a cold machine.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.cli import DEFAULT_ENVS
from runner.matrix.cells import parse
from runner.measuring.probes.concurrency import ConcurrencyResult
from runner.records.record import CellRecord, Status
from runner.workflow.run import Outcome, run_cells

REPO = Path(__file__).resolve().parent.parent
OLD_PINS = ["werkzeug<1", "jinja2<3", "markupsafe<2.1", "itsdangerous<2", "click<8"]

pytestmark = pytest.mark.slow


def by_server(outcome: Outcome) -> dict[tuple[str, str], CellRecord]:
    return {(r.asked.flask, r.server): r for r in outcome.records}


def concurrency(record: CellRecord) -> ConcurrencyResult:
    """The cell's headline figures; the cell must have run."""
    assert record.status is Status.OK, (record.cell, record.reason, record.log_tail)
    result = record.concurrency
    assert result is not None, record.cell
    return result


@pytest.fixture(scope="module")
def headline(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    """Flask 0.12.5 and 3.1 under the dev servers and gunicorn, as one run."""
    matrix = parse(
        {
            "versions": [{"flask": "0.12.5", "pins": OLD_PINS}, {"flask": "3.1.*"}],
            "servers": {
                "flask-run": {"kind": "flask-run"},
                "werkzeug": {"kind": "werkzeug"},
                "gunicorn-sync": {"kind": "gunicorn", "workers": 2},
                "gthread-capped": {"kind": "gunicorn", "workers": 2, "threads": 4, "worker_connections": 4},
            },
            "probes": {"concurrency": {"requests": 10, "delay_ms": 500}},
        }
    )
    results = tmp_path_factory.mktemp("results")
    outcome = run_cells(
        matrix, matrix.cells(), results=results, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    return outcome


def test_every_cell_ran(headline: Outcome) -> None:
    assert [(r.cell, r.status, r.reason) for r in headline.records if r.status is not Status.OK] == []
    assert len(headline.records) == 8


def test_flask_0_12_flask_run_serves_one_request_at_a_time(headline: Outcome) -> None:
    cell = by_server(headline)["0.12.5", "flask-run"]
    assert cell.flask == "0.12.5"
    assert cell.werkzeug is not None
    assert cell.werkzeug.startswith("0.")
    probe = concurrency(cell)
    assert (probe.peak, probe.verdict, probe.errors) == (1, "serial", 0)
    # Ten half-second requests one after another take five seconds.
    assert probe.wall_s >= 4.5


def test_flask_3_flask_run_serves_all_ten_at_once(headline: Outcome) -> None:
    cell = by_server(headline)["3.1.*", "flask-run"]
    assert cell.flask is not None
    assert cell.flask.startswith("3.1.")
    probe = concurrency(cell)
    assert (probe.peak, probe.verdict, probe.errors) == (10, "concurrent", 0)
    assert probe.threads == 10


@pytest.mark.parametrize("flask", ["0.12.5", "3.1.*"])
def test_run_simple_with_its_defaults_is_serial(headline: Outcome, flask: str) -> None:
    probe = concurrency(by_server(headline)[flask, "werkzeug"])
    assert (probe.peak, probe.verdict) == (1, "serial")


@pytest.mark.parametrize("flask", ["0.12.5", "3.1.*"])
def test_gunicorn_sync_with_two_workers_peaks_at_two(headline: Outcome, flask: str) -> None:
    cell = by_server(headline)[flask, "gunicorn-sync"]
    probe = concurrency(cell)
    assert probe.peak == 2
    assert probe.processes == 2
    assert cell.packages.get("gunicorn")


def test_gthread_with_connections_capped_at_threads_peaks_at_workers_times_threads(headline: Outcome) -> None:
    assert concurrency(by_server(headline)["3.1.*", "gthread-capped"]).peak == 8


def test_the_run_is_stored_as_the_spec_lays_it_out(headline: Outcome) -> None:
    run = headline.run
    meta = json.loads((run.path / "run.json").read_text())
    assert meta["complete"] is True
    assert meta["ended"]
    assert meta["machine"]["cores"] >= 1
    assert sorted(p.stem for p in (run.path / "cells").glob("*.json")) == sorted(
        r.cell for r in headline.records
    )
    assert (run.root / "latest").resolve() == run.path.resolve()
    for artefact in ("report.md", "report.html", "results.csv", "results.json", "charts/concurrency.svg"):
        assert (run.path / artefact).is_file(), artefact
    report = (run.path / "report.md").read_text()
    # Werkzeug differs between these two rows too, so the change names it.
    assert re.search(
        r"^- flask-run: serial in Flask 0\.12\.5, Werkzeug 0\.16\.1 -> "
        r"concurrent in Flask 3\.1\.\d+, Werkzeug 3\.\d+\.\d+$",
        report,
        re.M,
    )


def test_no_server_outlives_the_run(headline: Outcome, no_leftovers: Callable[[str], None]) -> None:
    no_leftovers(headline.run.id)


def test_a_broken_cell_is_recorded_and_the_run_goes_on(
    tmp_path: Path, no_leftovers: Callable[[str], None]
) -> None:
    matrix = parse(
        {
            "versions": [
                {"flask": "0.0.1"},  # no such release
                {"flask": "2.0.3", "werkzeug": "3.0.*"},  # installs, cannot import
                {"flask": "3.1.*", "python": "3.99"},  # no such interpreter
                {"flask": "3.1.*"},
            ],
            "servers": {"flask-run": {"kind": "flask-run"}},
            "probes": {"concurrency": {"requests": 3, "delay_ms": 100}},
        }
    )
    outcome = run_cells(
        matrix, matrix.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    status = {r.row: r for r in outcome.records}

    no_release = status["flask-0.0.1"]
    assert no_release.status is Status.ERROR
    assert no_release.reason is not None
    assert no_release.reason.startswith("environment install failed:")
    assert "flask==0.0.1" in no_release.reason
    assert no_release.log_tail

    cannot_import = status["flask-2.0.3-werkzeug-3.0.x"]
    assert cannot_import.status is Status.ERROR
    assert "before it was ready" in (cannot_import.reason or "")
    assert any("url_quote" in line for line in cannot_import.log_tail)

    no_python = status["flask-3.1.x-py3.99"]
    assert no_python.status is Status.SKIPPED
    assert "no Python 3.99" in (no_python.reason or "")

    assert status["flask-3.1.x"].status is Status.OK
    assert outcome.failed == 2
    report = outcome.report
    assert "`flask-0.0.1--flask-run`: error: environment install failed" in report
    no_leftovers(outcome.run.id)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runner", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )


def test_a_bad_matrix_file_is_one_line_and_exit_code_2(tmp_path: Path) -> None:
    bad = tmp_path / "matrix.yaml"
    bad.write_text('versions: [{flask: "0.12.5"}]\nservers: {x: {kind: tornado}}\n')
    done = run_cli("--matrix", str(bad), "--results", str(tmp_path / "results"))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert (
        "matrix.yaml: servers.x.kind (line 2): 'tornado' is not a known server kind; expected one of "
        "app-run, cheroot, flask-run, granian, gunicorn, uwsgi, waitress, werkzeug" in done.stderr
    )
    assert not (tmp_path / "results").exists()


def test_one_cell_alone_writes_its_record(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        'versions: [{flask: "3.1.*"}]\n'
        "servers: {waitress: {kind: waitress, threads: 4}, flask-run: {kind: flask-run}}\n"
    )
    done = run_cli(
        "--matrix", str(matrix), "--results", str(tmp_path / "results"), "--cell", "flask-3.1.x--waitress"
    )
    assert done.returncode == 0, done.stderr
    cells = list((tmp_path / "results" / "latest" / "cells").glob("*.json"))
    assert [c.name for c in cells] == ["flask-3.1.x--waitress.json"]
    # The file on disk, as a user reads it.
    record = json.loads(cells[0].read_text())
    assert record["probes"]["concurrency"]["peak"] == 4
    ending = done.stdout.splitlines()
    assert any(line.split()[:2] == ["waitress", "concurrent"] for line in ending)  # the compact table
    assert len(ending) <= 40
    assert max(len(line) for line in ending if not line.startswith("Page: ")) <= 100
    assert f"Page: {(tmp_path / 'results' / 'latest' / 'report.html').resolve().as_uri()}" in ending


def test_nox_lists_one_session_per_cell(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        'versions: [{flask: "0.12.5"}, {flask: "3.1.*"}]\n'
        "servers: {a: {kind: flask-run}, b: {kind: werkzeug}, c: {kind: waitress}}\n"
    )
    env = {**os.environ, "MATRIX_FILE": str(matrix)}
    done = subprocess.run(
        [sys.executable, "-m", "nox", "-l"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = re.findall(r"^[*-] (\S+) ->", done.stdout, re.M)
    cells = [s for s in listed if "--" in s]  # cells are <row>--<server>; the other sessions are not
    assert cells == [f"flask-{row}--{server}" for row in ("0.12.5", "3.1.x") for server in "abc"]
