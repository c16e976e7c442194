"""The overlapping schedule on real servers: what needs the CPU ran alone, the
verdicts are the serial schedule's, and an interrupted run leaves nothing behind."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.cli import DEFAULT_ENVS
from runner.matrix.cells import parse
from runner.records.record import CellRecord, Status
from runner.workflow.run import run_cells
from runner.workflow.schedule import meets

REPO = Path(__file__).resolve().parent.parent
OLD_PINS = ["werkzeug<1", "jinja2<3", "markupsafe<2.1", "itsdangerous<2", "click<8"]
MATRIX = {
    "versions": [{"flask": "0.12.5", "pins": OLD_PINS}, {"flask": "3.1.*"}],
    "servers": {
        "flask-run": {"kind": "flask-run"},
        "gunicorn-sync": {"kind": "gunicorn", "workers": 2},
        "nginx-flask-run": {"kind": "flask-run", "proxy": "nginx"},
    },
    "probes": {
        "concurrency": {"requests": 6, "delay_ms": 300},
        "throughput": {"duration_s": 1, "warmup_s": 0},
        "slow_client": {"connections": 4, "wait_s": 1, "rows": ["flask-3.1.x"]},
    },
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory) -> dict[int, dict[str, CellRecord]]:
    """The same six cells under the serial schedule and four at a time."""
    matrix = parse(MATRIX)
    runs = {}
    for overlap in (1, 4):
        outcome = run_cells(
            matrix,
            matrix.cells(),
            results=tmp_path_factory.mktemp(f"overlap-{overlap}"),
            env_root=DEFAULT_ENVS,
            progress=lambda line: None,
            overlap=overlap,
        )
        runs[overlap] = {r.cell: r for r in outcome.records}
    return runs


def test_every_cell_ran_and_says_how(both: dict[int, dict[str, CellRecord]]) -> None:
    for overlap, records in both.items():
        assert len(records) == 6
        for record in records.values():
            assert record.status is Status.OK, (record.cell, record.reason, record.log_tail)
            assert record.result("throughput") is not None, record.cell
            assert record.schedule.kind == ("serial" if overlap == 1 else "overlap")
    overlapped = both[4]
    assert any(r.schedule.beside for r in overlapped.values())  # waiting probes did overlap


def test_no_probe_that_needs_the_cpu_met_anything_else_of_the_run(
    both: dict[int, dict[str, CellRecord]],
) -> None:
    records = list(both[4].values())
    for record in records:
        alone = [tuple(w) for w in record.schedule.alone]
        assert alone, record.cell  # throughput ran in an alone section
        for other in records:
            if other.cell != record.cell:
                assert not meets(alone, [tuple(w) for w in other.schedule.alone])
                assert not meets(alone, [tuple(w) for w in other.schedule.shared]), (
                    record.cell,
                    other.cell,
                )


def test_the_verdicts_and_peaks_are_the_serial_schedules(both: dict[int, dict[str, CellRecord]]) -> None:
    def headline(records: dict[str, CellRecord]) -> dict[str, tuple[str, int | None]]:
        return {
            name: (r.concurrency.verdict, r.concurrency.peak) for name, r in records.items() if r.concurrency
        }

    assert headline(both[4]) == headline(both[1])
    assert headline(both[4])["flask-0.12.5--flask-run"] == ("serial", 1)
    assert headline(both[4])["flask-3.1.x--flask-run"] == ("concurrent", 6)
    assert headline(both[4])["flask-3.1.x--gunicorn-sync"] == ("concurrent", 2)


def test_an_interrupted_overlapping_run_stops_its_servers(
    tmp_path: Path, no_leftovers: Callable[[str], None]
) -> None:
    matrix, results = tmp_path / "matrix.yaml", tmp_path / "results"
    matrix.write_text(json.dumps(MATRIX))  # YAML reads JSON
    proc = subprocess.Popen(
        [sys.executable, "-m", "runner", "--matrix", str(matrix), "--results", str(results)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MATRIX_OVERLAP": "4"},
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if list(results.glob("runs/*/cells/*.json")):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # with other cells' servers up and probes under way
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    [run_dir] = list((results / "runs").iterdir())
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["complete"] is False
    for path in (run_dir / "cells").glob("*.json"):
        record = CellRecord.from_dict(json.loads(path.read_text()))
        assert record.status is Status.OK, record.reason  # no cell cut short is written as a result
    no_leftovers(meta["run"])
