"""A run written by the previous version (schema 1) still loads and reports the same.

tests/fixtures/run-schema1 is a whole run folder as that version left it:
cells/*.json, run.json, report.md and the matrix.yaml it ran.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.matrix.cells import Matrix, load
from runner.publish import report
from runner.records import store
from runner.records.record import CellRecord, RunMeta, Status

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run-schema1"


@pytest.fixture(scope="module")
def matrix() -> Matrix:
    return load(FIXTURE / "matrix.yaml")


@pytest.fixture(scope="module")
def records() -> list[CellRecord]:
    return store.read_records(FIXTURE)


@pytest.fixture(scope="module")
def meta() -> RunMeta:
    return store.read_meta(FIXTURE)


def tables_of(text: str) -> list[str]:
    """The lines of every table, each line prefixed by its table's header line."""
    out, header = [], ""
    for line in text.splitlines():
        if not line.startswith("|"):
            header = ""
            continue
        header = header or line
        out.append(line if header.startswith("| Flask") else f"| Column {line}")
    return out


def lines_starting(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_the_fixture_is_a_schema_1_run() -> None:
    cells = sorted(FIXTURE.glob("cells/*.json"))
    assert len(cells) == 16
    assert {json.loads(path.read_text())["schema"] for path in cells} == {1}


def test_every_record_and_the_run_load(records: list[CellRecord], meta: RunMeta, matrix: Matrix) -> None:
    assert [r.cell for r in records] == sorted(c.name for c in matrix.cells())
    assert list(meta.cells) == [c.name for c in matrix.cells()]
    assert meta.run == "20261124T161901Z"
    assert meta.complete is True
    assert meta.machine.cores == 2
    statuses = {r.cell: r.status for r in records}
    assert [c for c, s in statuses.items() if s is not Status.OK] == [
        f"flask-3.1.x-py3.99--{server}"
        for server in ("flask-run", "gunicorn-gthread", "gunicorn-sync", "nginx-flask-run")
    ]
    assert {statuses[c] for c in statuses if "py3.99" in c} == {Status.SKIPPED}


def test_a_migrated_record_names_the_run_it_shows(records: list[CellRecord]) -> None:
    for record in records:
        for name, outcome in record.probes.items():
            repeats = outcome.repeats
            assert outcome.result is not None, (record.cell, name)
            figure = getattr(outcome.result, repeats.figure)
            assert repeats.values[repeats.shown] == figure, (record.cell, name)


def test_the_report_of_the_old_run_has_the_same_tables_and_changes(
    records: list[CellRecord], meta: RunMeta, matrix: Matrix
) -> None:
    text = report.render(
        records,
        [s.name for s in matrix.servers],
        probe_settings=matrix.probes,
        run=meta,
        repeats=matrix.repeats,
    )
    before = (FIXTURE / "report.md").read_text()
    tables = lines_starting(before, "|")
    changes = lines_starting(before, "- ")
    assert len(tables) > 20
    assert "- flask-run: serial in Flask 0.12.5 -> concurrent in Flask 1.0.4" in changes
    # what is new since: a yes/no that chance can decide, measured once, says so
    flag = " (1 run: chance may decide it)"
    # and the headline's line per column, a table of its own
    now = [line for line in tables_of(text) if not line.startswith("| Column")]
    assert any(flag in line for line in now)
    assert [_unpadded(line.replace(flag, "")) for line in now] == [_unpadded(line) for line in tables]
    assert lines_starting(text, "- ") == changes


def _unpadded(line: str) -> list[str]:
    return [cell.strip() if cell.strip("- ") else "---" for cell in line.split("|")]
