"""``nox -s clean``: what the caches and runs hold, and removing only what is named.

Real folders on disk, aged by their files' times; the environments are
stand-ins with the marker a built one carries.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from runner import cli
from runner.clean import DAY_S, MARKER, chosen, inventory, size_of
from runner.errors import UserError
from runner.workflow import machine_lock


def env(root: Path, name: str, days: float) -> Path:
    path = root / name
    (path / "bin").mkdir(parents=True)
    (path / "bin" / "python").write_bytes(b"x" * 5000)
    (path / MARKER).write_text("{}")
    then = time.time() - days * DAY_S
    os.utime(path / MARKER, (then, then))
    return path


def run(results: Path, name: str) -> Path:
    path = results / "runs" / name
    (path / "cells").mkdir(parents=True)
    (path / "run.json").write_text("{}")
    return path


@pytest.fixture
def place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    envs, results = tmp_path / "envs", tmp_path / "results"
    env(envs, "py3.11-old", 40)
    env(envs, "py3.11-new", 1)
    (envs / ".helpers" / "virtualenv-20.21.1").mkdir(parents=True)
    for name in ("20261101T000000Z", "20261201T000000Z", "20261202T000000Z", "20261203T000000Z"):
        run(results, name)
    (results / "latest").symlink_to(results / "runs" / "20261101T000000Z")  # the latest named is an old one
    monkeypatch.setenv("RESULTS_DIR", str(results))
    return envs, results


def test_the_listing_names_every_cache_and_run_and_removes_nothing(
    place: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    envs, results = place
    assert cli.clean(["--envs", str(envs)]) == 0
    out = capsys.readouterr().out
    for name in ("py3.11-old", "py3.11-new", ".helpers", "20261101T000000Z", "total"):
        assert name in out
    assert "nothing removed" in out
    assert len(list((results / "runs").iterdir())) == 4


def test_old_environments_and_old_runs_go_and_the_latest_stays(
    place: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    envs, results = place
    assert cli.clean(["--envs", str(envs), "--envs-unused-days", "30", "--keep-runs", "2"]) == 0
    assert sorted(p.name for p in envs.iterdir()) == [".helpers", "py3.11-new"]
    # the newest two, and the one results/latest names
    kept = sorted(p.name for p in (results / "runs").iterdir())
    assert kept == ["20261101T000000Z", "20261202T000000Z", "20261203T000000Z"]
    assert "removed 2" in capsys.readouterr().out


def test_nothing_is_removed_while_a_run_measures(tmp_path: Path) -> None:
    lock = tmp_path / "lock"
    with (
        machine_lock.measuring(lambda line: None, lock),
        pytest.raises(UserError, match="a run is measuring"),
        machine_lock.refusing_if_measuring(lock),
    ):
        pass
    with machine_lock.refusing_if_measuring(lock):
        pass  # free once the run ends


def test_clean_refuses_while_this_machine_measures(
    place: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    envs, results = place
    with machine_lock.measuring(lambda line: None):
        assert cli.clean(["--envs", str(envs), "--keep-runs", "1"]) == 2
    assert "a run is measuring on this machine" in capsys.readouterr().err
    assert len(list((results / "runs").iterdir())) == 4


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--keep-runs", "0"], "--keep-runs: '0': give a whole number of 1 or more"),
        (["--envs-unused-days", "soon"], "--envs-unused-days: 'soon': give a number of 0 or more"),
    ],
)
def test_a_bad_option_is_one_line(
    place: tuple[Path, Path], args: list[str], expected: str, capsys: pytest.CaptureFixture[str]
) -> None:
    envs, results = place
    assert cli.clean(["--envs", str(envs), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err
    assert "\n" not in err
    assert len(list((results / "runs").iterdir())) == 4


def test_a_hard_linked_file_counts_once(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x" * 10000)
    alone = size_of(tmp_path)
    os.link(tmp_path / "a", tmp_path / "b")
    assert size_of(tmp_path) == alone
    assert chosen(inventory(tmp_path / "none", tmp_path / "none"), tmp_path, 1, 1) == []
