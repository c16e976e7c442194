"""``nox -s bisect`` for real over short ranges: real environments, servers and probes.

Each test runs a one-row matrix, then bisects a change from it; every
candidate is a real cell, cached in the results folder's bisect store.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner import cli
from runner.records import store

pytestmark = pytest.mark.slow


def one_row_run(tmp_path: Path, versions: str) -> Path:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        f"versions:\n  - {versions}\n"
        "servers:\n  flask-run: {kind: flask-run}\n"
        "probes:\n  concurrency: {requests: 4, delay_ms: 100}\n"
    )
    assert cli.main(["--matrix", str(matrix), "--results", str(tmp_path / "results")]) == 0
    return (tmp_path / "results" / "latest").resolve()


def test_the_werkzeug_release_where_the_dev_server_speaks_http_1_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = one_row_run(tmp_path, '{flask: "2.1.3", werkzeug: "2.0.3"}')
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    args = ["flask-run", "--package", "werkzeug", "--from", "2.0.3", "--to", "2.1.2", "--on", "http.protocol"]
    assert cli.bisect(args) == 0
    out = capsys.readouterr().out
    assert "flask-run: HTTP/1.0 in Werkzeug 2.0.3, changed in Werkzeug 2.1.0 (uploaded 2022-03-28)" in out
    [answer] = store.bisect_answers(run)
    assert answer.kind == "found"
    assert answer.first_right == "2.1.0"
    assert answer.new_probes <= answer.budget
    assert "## Where it changed" in (run / "report.md").read_text()


def test_a_flask_verdict_is_bisected_and_a_second_bisect_probes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pins = '["werkzeug<1", "jinja2<3", "markupsafe<2.1", "itsdangerous<2", "click<8"]'
    run = one_row_run(tmp_path, f'{{flask: "0.12.5", python: "3.8", pins: {pins}}}')
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    record = json.loads(next((run / "cells").glob("*.json")).read_text())
    if record["status"] == "skipped":
        pytest.skip(record["reason"])
    args = ["flask-run", "--package", "flask", "--from", "0.12.5", "--to", "1.0.2"]
    assert cli.bisect(args) == 0
    assert (
        "serial in Flask 0.12.5, changed in Flask 1.0 (uploaded 2018-04-26) to concurrent"
        in capsys.readouterr().out
    )
    assert cli.bisect(args) == 0
    captured = capsys.readouterr()
    assert "0 new probes" in captured.err
    assert "(measured before)" in captured.err
    assert (
        len(json.loads((run / "bisect.json").read_text())["answers"]) == 1
    )  # the same question, answered once


def test_a_named_change_with_bad_input_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "none"
    assert (
        cli.bisect(["flask-run", "--package", "flask", "--from", "1.0", "--to", "0.12", "--run", str(run)])
        == 2
    )
    assert capsys.readouterr().err.count("\n") == 1


def test_the_gunicorn_release_where_gthread_is_held_by_silent_connections(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One gthread worker of 4 threads, 4 connections that send nothing: served
    at once in gunicorn 23, held from 24 (measured: docs/probes.md)."""
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        "versions:\n"
        '  - {flask: "3.1.*", servers: {gunicorn: "23.0.0"}}\n'
        '  - {flask: "3.1.*", servers: {gunicorn: "24.1.1"}}\n'
        "servers:\n  gthread-1x4: {kind: gunicorn, workers: 1, threads: 4}\n"
        "probes:\n  concurrency: {requests: 4, delay_ms: 100}\n  silent: {connections: 4, wait_s: 3}\n"
    )
    # the run bisects its own change lines: the silent connections' yes/no, over gunicorn
    assert cli.main(["--matrix", str(matrix), "--results", str(tmp_path / "results")]) == 0
    run = (tmp_path / "results" / "latest").resolve()
    [answer] = store.bisect_answers(run)
    assert (answer.package, answer.field, answer.kind) == ("gunicorn", "probes.silent.served", "found")
    assert (answer.last_left, answer.first_right) == ("23.0.0", "24.0.0")
    assert answer.new_probes <= answer.budget
    report = (run / "report.md").read_text()
    assert "gthread-1x4 (silent connections): served in Flask 3.1.3, gunicorn 23.0.0 -> blocked" in report
    # asked by name, the same question probes nothing new
    monkeypatch.setenv("RESULTS_DIR", str(tmp_path / "results"))
    args = ["gthread-1x4", "--package", "gunicorn", "--from", "23.0.0", "--to", "24.1.1"]
    assert cli.bisect([*args, "--on", "probes.silent.served"]) == 0
    assert "changed in gunicorn 24.0.0" in capsys.readouterr().out
