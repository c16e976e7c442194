"""The results store, in a temporary folder: run folders, records, latest, resuming."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.measuring import stats
from runner.measuring.probes.concurrency import ConcurrencyResult
from runner.records import store
from runner.records.record import Asked, CellRecord, Machine, ProbeOutcome, RecordError, Status

MATRIX = {"versions": [{"flask": "3.1.*"}], "servers": {"flask-run": {"kind": "flask-run"}}}
CELLS = ["flask-3.1.x--flask-run", "flask-3.1.x--waitress"]


def record(cell: str, peak: int = 3) -> CellRecord:
    row, server = cell.split("--")
    result = ConcurrencyResult(
        requests=4, delay_ms=100, peak=peak, verdict="concurrent", wall_s=0.2, errors=0
    )
    return CellRecord(
        cell=cell,
        row=row,
        row_index=0,
        server=server,
        server_index=CELLS.index(cell),
        kind=server,
        options={},
        asked=Asked(flask="3.1.*", werkzeug=None, python="3.11"),
        status=Status.OK,
        flask="3.1.3",
        werkzeug="3.1.9",
        python="3.11.7",
        probes={
            "concurrency": ProbeOutcome(
                result=result, error=None, repeats=stats.spread([peak], figure="peak")
            )
        },
        machine=Machine(cpu="a test machine", cores=2, host="vm"),
    )


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[store.Run]]:
    """Runs a test opens, their locks released at its end."""
    opened: list[store.Run] = []
    yield opened
    for run in opened:
        run.release()


def new_run(root: Path, runs: list[store.Run]) -> store.Run:
    run = store.new_run(root, MATRIX, cells=CELLS, tools={"uv": "uv 0.9"})
    runs.append(run)
    return run


def test_records_written_are_the_records_read(tmp_path: Path, runs: list[store.Run]) -> None:
    run = new_run(tmp_path, runs)
    written = [record(CELLS[1], peak=4), record(CELLS[0])]
    for one in written:
        run.write_cell(one)
    assert sorted(p.name for p in (run.path / "cells").glob("*")) == [f"{c}.json" for c in CELLS]
    assert run.records() == sorted(written, key=lambda r: r.cell)
    assert store.read_records(run.path) == run.records()
    run.write_cell(record(CELLS[0], peak=5))  # written again, whole
    assert [r.concurrency.peak for r in run.records() if r.concurrency] == [5, 4]


def test_a_run_folder_without_cells_has_no_records(tmp_path: Path) -> None:
    assert store.read_records(tmp_path) == []


def test_the_run_file_is_read_back(tmp_path: Path, runs: list[store.Run]) -> None:
    run = new_run(tmp_path, runs)
    meta = store.read_meta(run.path)
    assert meta == run.meta
    assert (meta.run, meta.cells, dict(meta.matrix), meta.complete) == (run.id, tuple(CELLS), MATRIX, False)


def test_two_runs_in_the_same_second_get_folders_of_their_own(
    tmp_path: Path, runs: list[store.Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    moment = time.gmtime(1790000000)
    monkeypatch.setattr(time, "gmtime", lambda *args: moment)
    first, second = new_run(tmp_path, runs), new_run(tmp_path, runs)
    assert first.path != second.path
    stamp = time.strftime("%Y%m%dT%H%M%SZ", moment)
    assert first.id == stamp
    assert second.id == f"{stamp}-2"
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [first.id, second.id]
    assert store.read_meta(first.path).run == first.id
    assert store.read_meta(second.path).run == second.id


def test_latest_points_at_the_newest_run(tmp_path: Path, runs: list[store.Run]) -> None:
    assert store.latest(tmp_path) is None
    first = new_run(tmp_path, runs)
    assert store.latest(tmp_path) == first.path.resolve()
    second = new_run(tmp_path, runs)
    assert store.latest(tmp_path) == second.path.resolve()
    store.point_latest(tmp_path, first.path)
    assert store.latest(tmp_path) == first.path.resolve()
    assert (tmp_path / "latest").is_symlink()
    assert not (tmp_path / "latest").readlink().is_absolute()  # the results folder can move
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".latest")] == []


def test_an_interrupted_run_is_resumable_and_a_complete_one_is_not(
    tmp_path: Path, runs: list[store.Run]
) -> None:
    run = new_run(tmp_path, runs)
    assert store.resumable(tmp_path, MATRIX, CELLS) is None  # its own process still holds it
    run.release()
    again = store.resumable(tmp_path, MATRIX, CELLS)
    assert again is not None
    assert again.path == run.path
    runs.append(again)
    assert store.resumable(tmp_path, MATRIX, CELLS[:1]) is None  # other cells: a new run
    assert store.resumable(tmp_path, {**MATRIX, "python": "3.12"}, CELLS) is None  # another matrix

    again.finish(complete=True, summary={"counts": {"ok": 2}})
    again.release()
    assert store.read_meta(run.path).complete is True
    assert store.resumable(tmp_path, MATRIX, CELLS) is None


def test_a_corrupt_cell_file_is_refused_naming_the_file(tmp_path: Path, runs: list[store.Run]) -> None:
    run = new_run(tmp_path, runs)
    run.write_cell(record(CELLS[0]))
    broken = run.cell_path(CELLS[1])
    broken.write_text('{"cell": "flask-3.1.x--waitress", "status": "ok", ')  # cut short
    with pytest.raises(RecordError, match=str(broken)):
        store.read_records(run.path)


def test_a_cell_file_from_a_newer_version_is_refused_naming_the_file_and_schema(
    tmp_path: Path, runs: list[store.Run]
) -> None:
    run = new_run(tmp_path, runs)
    path = run.cell_path(CELLS[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema": 99, "cell": "x"}\n')
    with pytest.raises(RecordError, match=rf"{path}: .*schema 99"):
        store.read_records(run.path)
