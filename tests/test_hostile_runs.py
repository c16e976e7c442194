"""Stored runs are untrusted: report, compare and merge on hostile run folders.

Each folder is a real copy of a stored run with one thing made hostile.  Every
command answers with one line on stderr and exit 2, or does its work without
writing a byte outside its target.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner import cli

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run-schema1"
CELL = "flask-3.1.x--flask-run"


@pytest.fixture
def run(tmp_path: Path) -> Path:
    folder = tmp_path / "downloaded" / "20261124T161901Z"
    shutil.copytree(FIXTURE, folder)
    return folder


def record(run: Path, cell: str = CELL) -> dict[str, Any]:
    return json.loads((run / "cells" / f"{cell}.json").read_text())


def rewrite(run: Path, change: Callable[[dict[str, Any]], None], cell: str = CELL) -> None:
    data = record(run, cell)
    change(data)
    (run / "cells" / f"{cell}.json").write_text(json.dumps(data))


def one_line(capsys: pytest.CaptureFixture[str], *names: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: "), err
    for name in names:
        assert name in err[0], err
    return err[0]


def files_under(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


HOSTILE: dict[str, Callable[[Path], None]] = {
    "a record that is a list": lambda run: (run / "cells" / f"{CELL}.json").write_text("[1, 2]"),
    "a folder named like a record": lambda run: (run / "cells" / "x--y.json").mkdir(),
    "a FIFO named like a record": lambda run: os.mkfifo(run / "cells" / "x--y.json"),
    "a huge record": lambda run: os.truncate(_touch(run / "cells" / "x--y.json"), 64 * 1024 * 1024),
    "not JSON": lambda run: (run / "cells" / f"{CELL}.json").write_text("{"),
    "NaN": lambda run: (run / "cells" / f"{CELL}.json").write_text(
        json.dumps(record(run)).replace('"wall_s": ', '"wall_s": NaN, "x": ', 1)
    ),
    "a status of the wrong type": lambda run: rewrite(run, lambda d: d.update(status=5)),
    "a peak that is text": lambda run: rewrite(run, lambda d: d["probes"]["concurrency"].update(peak="ten")),
    "a cell that names a path": lambda run: rewrite(run, lambda d: d.update(cell="../../../x")),
    "a row that names a path": lambda run: rewrite(
        run, lambda d: d.update(row="/etc", cell="/etc--flask-run")
    ),
    "a log outside the folder": lambda run: rewrite(run, lambda d: d.update(log="../../../noxfile.py")),
    "a version with markup": lambda run: rewrite(run, lambda d: d.update(flask="<img src=x>")),
    "an asked version with markup": lambda run: rewrite(run, lambda d: d["asked"].update(flask="[x](y)")),
    "a link for a record": lambda run: _link(run / "cells" / "x--y.json", Path("/etc/hostname")),
    "a link for its cells": lambda run: (_remove(run / "cells"), _link(run / "cells", FIXTURE / "cells")),
    "a run.json that is a list": lambda run: (run / "run.json").write_text("[]"),
    "nested without end": lambda run: (run / "cells" / f"{CELL}.json").write_text(
        "[" * 100000 + "]" * 100000
    ),
    "tools that are a list": lambda run: _meta(run, tools=[1]),
    "a machine that is a list": lambda run: _meta(run, machine=[1]),
    "a number of 400 digits": lambda run: rewrite(run, lambda d: d.update(row_index=10**400)),
    "a time that is not a number": lambda run: rewrite(run, lambda d: d.update(timings={"total_s": "nan"})),
    "a median that is text": lambda run: rewrite(
        run, lambda d: d["probes"]["concurrency"].setdefault("repeats", {}).update(median="x")
    ),
    "a protocol that is a list": lambda run: rewrite(run, lambda d: d.update(http={"protocol": [1]})),
    "intervals that are text": lambda run: rewrite(
        run, lambda d: d["probes"]["concurrency"].update(intervals=["a"])
    ),
}


def _meta(run: Path, **changes: Any) -> None:
    data = json.loads((run / "run.json").read_text())
    data.update(changes)
    (run / "run.json").write_text(json.dumps(data))


def _touch(path: Path) -> Path:
    path.write_text("{}")
    return path


def _link(path: Path, to: Path) -> None:
    path.symlink_to(to)


def _remove(path: Path) -> None:
    shutil.rmtree(path)


@pytest.mark.parametrize("hostile", list(HOSTILE), ids=list(HOSTILE))
@pytest.mark.parametrize("command", ["report", "compare", "merge"])
def test_a_hostile_run_gets_one_line_and_exit_2(
    run: Path, tmp_path: Path, hostile: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    HOSTILE[hostile](run)
    before = files_under(tmp_path / "downloaded")
    good = tmp_path / "good"
    shutil.copytree(FIXTURE, good)
    if command == "report":
        code = cli.report([str(run)])
    elif command == "compare":
        code = cli.compare([str(good), str(run)])
    else:
        code = cli.merge([str(run), "--out", str(tmp_path / "merged")])
    assert code == 2
    one_line(capsys)
    assert files_under(tmp_path / "downloaded") == before  # nothing written into the folder either
    assert not (tmp_path / "merged").exists()


def test_report_replaces_a_link_for_its_charts_and_spares_where_it_pointed(run: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "someone-elses-pictures"
    elsewhere.mkdir()
    (elsewhere / "holiday.png").write_bytes(b"\x89PNG keep me")
    shutil.rmtree(run / "charts", ignore_errors=True)
    (run / "charts").symlink_to(elsewhere)
    assert cli.report([str(run)]) == 0
    assert files_under(elsewhere) == {"holiday.png": b"\x89PNG keep me"}
    assert (run / "charts").is_dir()
    assert not (run / "charts").is_symlink()
    assert (run / "charts" / "concurrency.svg").is_file()


def test_merge_writes_nothing_outside_its_target_and_copies_no_link(run: Path, tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("mine")
    log = run / record(run)["log"]
    log.parent.mkdir(exist_ok=True)
    log.unlink(missing_ok=True)
    log.symlink_to(victim)  # a log that is a link to a file of the user's
    out = tmp_path / "merged"
    assert cli.merge([str(run), "--out", str(out)]) == 0
    assert victim.read_text() == "mine"
    assert not (out / record(run)["log"]).exists()  # the link was not followed, nor copied
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(out)]
    assert sorted(str(p.relative_to(tmp_path)) for p in written if not p.is_relative_to(run)) == [
        "victim.txt"
    ]


def test_merge_reads_no_log_through_a_linked_logs_folder(run: Path, tmp_path: Path) -> None:
    theirs = tmp_path / "elsewhere"
    theirs.mkdir()
    name = Path(record(run)["log"]).name
    (theirs / name).write_text("a file from outside the run folder")
    shutil.rmtree(run / "logs", ignore_errors=True)
    (run / "logs").symlink_to(theirs)
    out = tmp_path / "merged"
    assert cli.merge([str(run), "--out", str(out)]) == 0
    assert not (out / "logs" / name).exists()


def test_merge_names_each_log_after_its_cell(run: Path, tmp_path: Path) -> None:
    cells = sorted(p.stem for p in (run / "cells").glob("*.json"))
    first, second = cells[0], cells[1]
    shared = record(run, first)["log"]
    (run / shared).parent.mkdir(exist_ok=True)
    (run / shared).write_text("the first cell's log\n")
    rewrite(run, lambda d: d.update(log=shared), cell=second)  # both records name one log
    out = tmp_path / "merged"
    assert cli.merge([str(run), "--out", str(out)]) == 0
    logs = {json.loads((out / "cells" / f"{c}.json").read_text())["log"] for c in (first, second)}
    assert logs == {f"logs/{first}.log", f"logs/{second}.log"}
    assert (out / "logs" / f"{first}.log").read_text() == "the first cell's log\n"
    assert (out / "logs" / f"{second}.log").read_text() == "the first cell's log\n"  # a copy, not a clash


def test_a_run_folder_given_through_a_link_is_read(run: Path, tmp_path: Path) -> None:
    latest = tmp_path / "latest"
    latest.symlink_to(run)  # as results/latest is
    assert cli.report([str(latest)]) == 0


def test_a_thousand_cell_run_loads_within_the_bounds(tmp_path: Path) -> None:
    from runner.records import store

    run = tmp_path / "big"
    shutil.copytree(FIXTURE, run)
    data = record(run)
    names = []
    for i in range(1000):
        row = f"flask-3.1.x-{i}"
        names.append(f"{row}--flask-run")
        (run / "cells" / f"{names[-1]}.json").write_text(
            json.dumps({**data, "row": row, "cell": names[-1], "row_index": i + 10})
        )
    meta = json.loads((run / "run.json").read_text())
    meta["cells"] = meta["cells"] + names
    (run / "run.json").write_text(json.dumps(meta))
    loaded_meta, records = store.read_run(run)
    assert len(records) == 1016
    assert len(loaded_meta.cells) == 1016


def test_a_hostile_bisect_answer_is_one_line(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run / "bisect.json").write_text(json.dumps({"schema": 1, "answers": [{"line": ["not", "text"]}]}))
    assert cli.report([str(run)]) == 2
    one_line(capsys, "bisect.json", "line")
