"""A small matrix run as shards 1/3, 2/3 and 3/3 in separate folders, merged,
against the same matrix run whole: the same cells, the same verdicts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from runner import cli
from runner.records import store

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
MATRIX = """
versions:
  - {flask: "0.12.5", pins: ["werkzeug<1", "jinja2<3", "markupsafe<2.1", "itsdangerous<2", "click<8"]}
  - {flask: "3.1.*"}
servers:
  flask-run: {kind: flask-run}
  gunicorn-sync: {kind: gunicorn, workers: 2}
  waitress: {kind: waitress, threads: 4}
probes:
  concurrency: {requests: 4, delay_ms: 100}
"""


def verdicts(path: Path) -> dict[str, str | None]:
    return {
        r.cell: r.concurrency.verdict if r.concurrency else r.status.value for r in store.read_records(path)
    }


def nox_matrix(matrix: Path, results: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nox", "-s", "matrix", "--", *args],
        cwd=REPO,
        env={**__import__("os").environ, "MATRIX_FILE": str(matrix), "RESULTS_DIR": str(results)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_three_shards_merged_equal_the_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(MATRIX)
    whole = nox_matrix(matrix, tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr[-2000:]
    parts = []
    for index in (1, 2, 3):
        done = nox_matrix(matrix, tmp_path / f"shard-{index}", "--shard", f"{index}/3")
        assert done.returncode == 0, done.stderr[-2000:]
        parts.append((tmp_path / f"shard-{index}" / "latest").resolve())
    sizes = [len(list((p / "cells").glob("*.json"))) for p in parts]
    assert sum(sizes) == 6
    assert all(sizes)  # two rows x (flask-run, gunicorn, waitress): three environments per row
    assert cli.merge([*map(str, parts), "--out", str(tmp_path / "merged")]) == 0
    whole_run = (tmp_path / "whole" / "latest").resolve()
    assert verdicts(tmp_path / "merged") == verdicts(whole_run)
    assert verdicts(whole_run)["flask-0.12.5--flask-run"] == "serial"
    capsys.readouterr()
    assert cli.compare([str(whole_run), str(tmp_path / "merged")]) == 0


def test_list_shards_prints_the_plan_as_one_line_of_json(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(MATRIX)
    done = nox_matrix(matrix, tmp_path / "results", "--list-shards", "3")
    assert done.returncode == 0, done.stderr
    plan = __import__("json").loads(done.stdout)
    assert [entry["shard"] for entry in plan["include"]] == ["1/3", "2/3", "3/3"]
    assert sorted(c for entry in plan["include"] for c in entry["cells"]) == sorted(
        f"{row}--{server}"
        for row in ("flask-0.12.5", "flask-3.1.x")
        for server in ("flask-run", "gunicorn-sync", "waitress")
    )
    assert not (tmp_path / "results").exists()  # planning measures nothing
