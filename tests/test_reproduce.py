"""``nox -s reproduce``: a cell of a stored run rebuilt from its record's packages and measured again.

The run is made in the test (one row, two columns, on Python 3.11); the
reproduction rebuilds the cell in an environment of its own, and the test
compares the package versions of the two records itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import cli
from runner.records.store import read_run

pytestmark = pytest.mark.slow  # every test here reads a run the module makes

MATRIX = """
python: "3.11"
versions:
  - flask: "3.1.*"
servers:
  flask-run: {kind: flask-run}
  waitress: {kind: waitress, threads: 4}
probes:
  concurrency: {requests: 4, delay_ms: 200}
"""


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("reproduce")
    (folder / "matrix.yaml").write_text(MATRIX)
    argv = ["--matrix", str(folder / "matrix.yaml"), "--results", str(folder / "results")]
    assert cli.main([*argv, "--envs", str(folder / "envs"), "--no-bisect"]) == 0
    return (folder / "results" / "latest").resolve()


def test_a_cell_is_rebuilt_with_the_same_packages_and_measured_again(
    stored: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], no_leftovers: object
) -> None:
    results = stored.parent.parent
    monkeypatch.setenv("RESULTS_DIR", str(results))
    assert cli.reproduce([str(stored), "flask-3.1.x--waitress"]) == 0
    out = capsys.readouterr().out
    (again,) = sorted((results / "reproduce" / "runs").iterdir())
    _, [record] = read_run(again)
    original = json.loads((stored / "cells" / "flask-3.1.x--waitress.json").read_text())
    assert record.packages == original["packages"]  # every version as the record listed it
    assert record.env is not None
    assert not record.env.reused  # built anew
    assert record.python == original["python"]
    assert "packages: the same" in out
    assert f"A: as cited, run {stored.name}; B: measured again, run {again.name}" in out
    assert "0 verdict change(s)" in out
    page = (stored / "report.html").read_text()
    from runner.publish.page import islands

    shown = islands(page)["cell-records"]["flask-3.1.x--waitress"]["reproduce"]
    assert shown == f"nox -s reproduce -- results/runs/{stored.name} flask-3.1.x--waitress"
    no_leftovers(again.name)  # type: ignore[operator]


def test_a_cell_that_is_not_there_or_not_measured_is_one_line(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.reproduce([str(stored), "flask-3.1.x--nothing"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "no cell 'flask-3.1.x--nothing' in the run" in err


def test_a_cell_cited_from_the_site_is_rebuilt_from_its_published_records(
    stored: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from runner.publish import site
    from runner.publish.page import islands

    built = site.build([stored], tmp_path / "site")
    published = built.out / "runs" / stored.name / "records.json.gz"
    shown = islands((built.out / "runs" / stored.name / "index.html").read_text())["cell-records"]
    assert shown["flask-3.1.x--flask-run"]["reproduce"] == (
        "nox -s reproduce -- records.json.gz flask-3.1.x--flask-run"  # the file beside the page
    )
    results = tmp_path / "results"
    monkeypatch.setenv("RESULTS_DIR", str(results))
    assert cli.reproduce([str(published), "flask-3.1.x--flask-run"]) == 0
    out = capsys.readouterr().out
    (again,) = sorted((results / "reproduce" / "runs").iterdir())
    _, [record] = read_run(again)
    original = json.loads((stored / "cells" / "flask-3.1.x--flask-run.json").read_text())
    assert record.packages == original["packages"]
    assert f"A: as cited, run {stored.name}; B: measured again, run {again.name}" in out
