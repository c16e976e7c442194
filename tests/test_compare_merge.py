"""``nox -s compare`` and ``nox -s merge`` on stored runs.

tests/fixtures/verdict-pair holds two real runs of one cell whose verdict
differs between them (gunicorn with one worker, then three; three repeats
each) beside a cell that does not change; tests/fixtures/run-schema1 is a
16-cell run, split here into halves as two machines or shards would leave it.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from runner import cli
from runner.records import store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REPO = FIXTURES.parent.parent
BEFORE, AFTER = FIXTURES / "verdict-pair" / "before", FIXTURES / "verdict-pair" / "after"
WHOLE = FIXTURES / "run-schema1"


def verdicts(path: Path) -> dict[str, str | None]:
    return {
        r.cell: (r.concurrency.verdict if r.concurrency else r.status.value) for r in store.read_records(path)
    }


def test_a_changed_verdict_exits_1_and_comes_first(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.compare([str(BEFORE), str(AFTER)]) == 1
    out = capsys.readouterr().out
    assert out.index("Verdict changes") < out.index("Peak changes") < out.index("Throughput")
    verdict_section = out[out.index("Verdict changes") : out.index("Peak changes")]
    assert "flask-3.1.x--gunicorn  1 serial  3 concurrent  real" in verdict_section
    assert "waitress" not in verdict_section
    assert "at least 3 times and the ranges of their repeats do not overlap" in out
    assert "1 verdict change(s)" in out


def test_only_changed_leaves_out_what_may_be_noise(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.compare([str(BEFORE), str(AFTER), "--only-changed", "--format", "md"]) == 1
    out = capsys.readouterr().out
    assert "## Verdict changes" in out
    assert "| flask-3.1.x--gunicorn | 1 serial | 3 concurrent | real" in out
    assert "flask-3.1.x--waitress" not in out  # its throughput ranges overlap: `~`


def test_a_run_compared_with_itself_has_no_change(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.compare([str(WHOLE), str(WHOLE)]) == 0
    out = capsys.readouterr().out
    assert "No verdict changed." in out
    assert "No peak changed." in out
    assert "1.00x" in out
    assert "0 verdict change(s)" in out


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.compare([str(WHOLE), str(tmp_path / "missing")]) == 2
    assert cli.compare([str(WHOLE)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2
    assert "not a run folder" in err[0]
    assert "required" in err[1]


def split(tmp_path: Path, machine_b: dict[str, object] | None = None) -> tuple[Path, Path]:
    """The whole run's cells in two run folders, alternately, as two shards would hold them."""
    halves = (tmp_path / "half-a", tmp_path / "half-b")
    cells = sorted((WHOLE / "cells").glob("*.json"))
    for index, half in enumerate(halves):
        (half / "cells").mkdir(parents=True)
        shutil.copyfile(WHOLE / "run.json", half / "run.json")
        for cell in cells[index::2]:
            shutil.copyfile(cell, half / "cells" / cell.name)
    if machine_b is not None:
        meta = json.loads((halves[1] / "run.json").read_text())
        meta["machine"].update(machine_b)
        (halves[1] / "run.json").write_text(json.dumps(meta))
    return halves


def test_two_halves_merged_equal_the_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = split(tmp_path)
    out = tmp_path / "merged"
    assert cli.merge([str(a), str(b), "--out", str(out)]) == 0
    assert verdicts(out) == verdicts(WHOLE)
    for artefact in ("report.md", "report.html", "results.csv", "results.json"):
        assert (out / artefact).is_file()
    capsys.readouterr()
    assert cli.compare([str(WHOLE), str(out)]) == 0
    assert "Only in" not in capsys.readouterr().out


def test_cells_from_two_machines_are_never_one_throughput_table(tmp_path: Path) -> None:
    a, b = split(tmp_path, machine_b={"cpu": "another CPU", "cores": 16, "host": "elsewhere"})
    out = tmp_path / "merged"
    assert cli.merge([str(a), str(b), "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "on 2 machines" in report
    throughput = report[report.index("## Throughput") : report.index("## Burst")]
    assert throughput.count("Measured on ") == 2
    assert "another CPU (16 cores" in throughput
    machines = {r.machine.cpu for r in store.read_records(out) if r.machine}
    assert machines == {"AMD EPYC", "another CPU"}


def test_merging_different_matrices_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.merge([str(BEFORE), str(AFTER), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "ran different matrices (servers.gunicorn.workers differs)" in err[0]
    assert not (tmp_path / "m").exists()


def test_a_cell_present_twice_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, _ = split(tmp_path)
    assert cli.merge([str(a), str(WHOLE), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err.strip()
    assert "is in both" in err
    assert str(a) in err
    assert "\n" not in err


def test_a_cell_skipped_for_want_of_python_gives_way_to_one_measured(tmp_path: Path) -> None:
    """The 2.7 rows skipped on a runner without 2.7 join from a machine that ran them."""
    a, b = split(tmp_path)
    moved = sorted((b / "cells").glob("*.json"))[0]
    data = json.loads(moved.read_text())
    measured = data["probes"]
    shutil.copyfile(moved, a / "cells" / moved.name)  # a holds it, skipped
    skipped = {**data, "status": "skipped", "cause": "interpreter", "reason": "no Python 2.7", "probes": {}}
    (a / "cells" / moved.name).write_text(json.dumps(skipped))
    out = tmp_path / "merged"
    assert cli.merge([str(a), str(b), "--out", str(out)]) == 0
    kept = json.loads((out / "cells" / moved.name).read_text())
    assert kept["status"] == data["status"]
    assert set(kept["probes"]) == set(measured)
    assert kept["probes"]["concurrency"]["peak"] == measured["concurrency"]["peak"]
    # skipped for want of Python in both, or here for it and there for nginx: one is kept
    (b / "cells" / moved.name).write_text(json.dumps({**skipped, "cause": "machine"}))
    assert cli.merge([str(a), str(b), "--out", str(tmp_path / "nginx")]) == 0
    assert json.loads((tmp_path / "nginx" / "cells" / moved.name).read_text())["cause"] == "machine"
    (b / "cells" / moved.name).write_text(json.dumps(skipped))
    assert cli.merge([str(a), str(b), "--out", str(tmp_path / "both")]) == 0
    # measured in both: refused, as any cell two runs have
    (a / "cells" / moved.name).write_text(json.dumps(data))
    (b / "cells" / moved.name).write_text(json.dumps(data))
    assert cli.merge([str(a), str(b), "--out", str(tmp_path / "again")]) == 2


def with_cell(tmp_path: Path, source: Path, cell: str, change: object) -> Path:
    """A copy of a run whose record ``cell`` is passed through ``change(dict)``."""
    copy = tmp_path / f"{source.name}-changed"
    shutil.copytree(source, copy)
    path = copy / "cells" / f"{cell}.json"
    data = json.loads(path.read_text())
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data))
    return copy


def test_a_verdict_lost_to_failed_requests_counts_as_a_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_answer(data: dict[str, Any]) -> None:
        data["probes"]["concurrency"].update(peak=None, verdict=None, errors=6, intervals=[])

    failed = with_cell(tmp_path, WHOLE, "flask-3.1.x--flask-run", no_answer)
    assert cli.compare([str(WHOLE), str(failed)]) == 1
    out = capsys.readouterr().out
    section = out[out.index("Verdict changes") : out.index("Peak changes")]
    assert "flask-3.1.x--flask-run" in section
    assert "no answer (6 of 6 requests failed)" in section


def test_a_throughput_probe_that_failed_on_one_side_is_listed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def error(data: dict[str, Any]) -> None:
        data["probes"]["throughput"] = {"error": "wrk printed nothing", "repeats": {"n": 0}}

    failed = with_cell(tmp_path, WHOLE, "flask-3.1.x--flask-run", error)
    assert cli.compare([str(WHOLE), str(failed)]) == 0
    line = next(
        text for text in capsys.readouterr().out.splitlines() if text.startswith("flask-3.1.x--flask-run ")
    )
    assert "error: wrk printed nothing" in line
    assert "could not compare" in line


def workflow_steps(job: str) -> list[str]:
    """The ``run:`` scripts of a job of .github/workflows/matrix.yml, in order."""
    import yaml

    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "matrix.yml").read_text())
    return [step["run"] for step in workflow["jobs"][job]["steps"] if "run" in step]


@pytest.mark.slow
def test_the_workflows_merge_job_takes_a_single_shard(tmp_path: Path) -> None:
    """The merge job's own lines, run in a checkout (the code, not its results)
    over one shard's run laid out as download-artifact lays it out:
    shards/<artifact>/<run-id>/."""
    import os
    import subprocess
    import sys

    checkout = tmp_path / "checkout"
    for part in ("runner", "target_app"):
        shutil.copytree(REPO / part, checkout / part, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("noxfile.py", "pyproject.toml", "matrix.yaml", "README.md"):
        shutil.copy(REPO / name, checkout / name)
    shutil.copytree(FIXTURES / "run-schema1", checkout / "shards" / "run-shard-1-of-1" / "20261124T161901Z")
    shim = tmp_path / "bin" / "nox"  # nox as the job installs it, in the environment the tests run in
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m nox --script-mode none "$@"\n')
    shim.chmod(0o755)
    summary = tmp_path / "summary.md"
    env = {**os.environ, "PATH": f"{shim.parent}:{os.environ['PATH']}", "GITHUB_STEP_SUMMARY": str(summary)}
    steps = [s for s in workflow_steps("merge") if "nox -s merge" in s or "nox -s report" in s]
    assert len(steps) == 2
    for script in steps:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert (checkout / "merged" / "report.html").is_file()
    assert "## Concurrency" in summary.read_text()


PAIR = Path(__file__).resolve().parent / "fixtures" / "slow-client-pair"


def test_a_stable_slow_client_change_is_listed_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.compare([str(PAIR / "a"), str(PAIR / "b")]) == 1
    out = capsys.readouterr().out
    changes = out.split("Yes/no changes (stable on both sides)", 1)[1].split("Yes/no that varies", 1)[0]
    assert "flask-3.1.x--gunicorn-sync (slow_client)  blocked (6 of 6)  served (6 of 6)" in changes
    assert "gunicorn-gthread" not in changes  # it varies on both sides: never a change
    varies = out.split("Yes/no that varies, or has too few runs, on a side", 1)[1]
    assert "flask-3.1.x--gunicorn-gthread (slow_client)" in varies.split("\n\n")[1]
    assert "varies (blocked in 3 of 6)" in varies
    assert "0 verdict change(s), 1 yes/no change(s)" in out


def test_a_pair_whose_only_difference_varies_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.compare([str(PAIR / "a"), str(PAIR / "a")]) == 0
    assert "No stable yes/no changed." in capsys.readouterr().out
