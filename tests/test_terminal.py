"""The terminal's ending: at most 40 lines within 100 columns, whatever the run's size."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from runner.analysis import Inputs
from runner.publish import summary, terminal
from runner.publish.doc import Finding
from runner.records import store

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run-schema1"


def test_the_ending_has_the_table_summary_counts_and_page() -> None:
    meta, records = store.read_run(FIXTURE)
    inputs = Inputs.of_run(meta, records)
    found = summary.findings(records, inputs)
    lines = terminal.ending(records, inputs, found, {"ok": len(records)}, FIXTURE / "report.html")
    assert len(lines) <= terminal.MAX_LINES
    assert max(map(len, lines)) <= terminal.WIDTH
    assert lines[0].split() == ["Column", "Python", "3.11", "Python", "3.99", "Peaks"]
    assert "Summary" in lines
    assert lines[lines.index("Summary") + 1].startswith("1. flask-run and nginx-flask-run serve one request")
    assert f"{len(records)} cells: {len(records)} ok, 0 error, 0 skipped, 0 n/a" in lines
    assert f"Page: {(FIXTURE / 'report.html').resolve().as_uri()}" in lines


def test_a_wide_matrix_and_long_findings_still_fit() -> None:
    meta, records = store.read_run(FIXTURE)
    many = [
        dataclasses.replace(
            r, server=f"{r.server}-{i}", cell=f"{r.row}--{r.server}-{i}", server_index=i * 10 + r.server_index
        )
        for i in range(12)
        for r in records
    ]
    inputs = dataclasses.replace(Inputs.of_run(meta, many), servers=tuple(sorted({r.server for r in many})))
    long = [
        Finding(text="word " * 120, figure="f", sure="6 runs per cell; more", cells=("a",)) for _ in range(8)
    ]
    lines = terminal.ending(many, inputs, long, {"ok": len(many)}, FIXTURE / "report.html")
    assert len(lines) <= terminal.MAX_LINES
    assert max(map(len, lines)) <= terminal.WIDTH
    assert any(line.endswith("more columns in report.md") for line in lines)
    assert any(line.endswith("more in report.md") for line in lines)
    assert lines[-1] == "Everything: nox -s report -- --full"
