"""``nox -s watch``: what the index released since a run, against an index on 127.0.0.1.

The index answers PEP 691 JSON pages the test makes up (file names and
first-upload times): a new Flask release, no new release, then a page that
is not the index's JSON.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.version import Version

from runner import cli, watch
from runner.environments import interpreters, period
from runner.matrix.cells import parse
from runner.records.record import RunMeta
from tests.made_index import MadeIndex, serving

SINCE = "2026-06-01T00:00:00Z"
MATRIX = 'versions: [{flask: "3.1.*"}]\nservers: {flask-run: {kind: flask-run}, waitress: {kind: waitress}}\n'


def _page(name: str, versions: dict[str, str]) -> dict[str, Any]:
    return {"files": [{"filename": f"{name}-{v}.tar.gz", "upload-time": t} for v, t in versions.items()]}


OLD = {
    "flask": _page("flask", {"3.1.2": "2025-08-19T21:03:20Z", "3.1.3": "2026-02-01T10:00:00Z"}),
    "werkzeug": _page("werkzeug", {"3.1.9": "2026-03-01T10:00:00Z"}),
    "waitress": _page("waitress", {"3.0.2": "2024-11-16T20:25:50Z"}),
}


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[type[MadeIndex]]:
    with serving(OLD) as (handler, url):
        monkeypatch.setenv("UV_DEFAULT_INDEX", url)
        (tmp_path / "matrix.yaml").write_text(MATRIX)
        monkeypatch.setenv("MATRIX_FILE", str(tmp_path / "matrix.yaml"))
        monkeypatch.setenv("MATRIX_CACHE", str(tmp_path / "cache"))
        period._first.clear()
        yield handler
        period._first.clear()


def _since(tmp_path: Path) -> Path:
    run = tmp_path / "runs" / "20260601T000000Z"
    run.mkdir(parents=True)
    meta = RunMeta(run=run.name, started=SINCE, matrix={}, cells=(), tools={"newest_python_offered": "3.99"})
    (run / "run.json").write_text(json.dumps(meta.to_dict()))
    return run


def _watch(tmp_path: Path, run: Path) -> tuple[int, Path, Path]:
    out, github = tmp_path / "would-run.yaml", tmp_path / "github-output"
    code = cli.watch(["--since", str(run), "--matrix-out", str(out), "--github-output", str(github)])
    return code, out, github


def test_a_new_flask_release_is_named_with_the_matrix_it_would_run(
    index: type[MadeIndex], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index.answers["flask"] = _page(
        "flask", {"3.1.3": "2026-02-01T10:00:00Z", "3.2.0": "2026-09-01T12:00:00Z"}
    )
    index.answers["waitress"] = _page(
        "waitress", {"3.0.2": "2024-11-16T20:25:50Z", "3.1.0": "2026-07-01T00:00:00Z"}
    )
    code, out, github = _watch(tmp_path, _since(tmp_path))
    said = capsys.readouterr().out
    assert code == 0
    assert "flask 3.2.0 (first uploaded 2026-09-01T12:00:00Z)" in said
    assert "waitress 3.1.0 (first uploaded 2026-07-01T00:00:00Z)" in said
    assert "werkzeug" not in said.split("\n", 1)[1]  # asked, and nothing new
    assert yaml.safe_load(out.read_text())["versions"] == [{"flask": "3.1.*"}, {"flask": "3.2.0"}]
    assert github.read_text() == "new=true\n"


def test_no_release_since_is_said_and_nothing_is_written(
    index: type[MadeIndex], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, github = _watch(tmp_path, _since(tmp_path))
    assert code == 0
    assert "nothing new" in capsys.readouterr().out
    assert not out.exists()
    assert github.read_text() == "new=false\n"


def test_a_malformed_answer_is_one_line_and_nothing_is_written(
    index: type[MadeIndex], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    index.answers["werkzeug"] = {"files": "not a list"}
    code, out, github = _watch(tmp_path, _since(tmp_path))
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert "\n" not in err
    assert "werkzeug" in err
    assert "nothing is run or published" in err
    assert not out.exists()
    assert not github.exists()


def test_a_python_is_new_only_above_what_the_run_was_offered() -> None:
    assert watch.newer_minors(["3.13", "3.14", "3.15"], "3.14") == ["3.15"]
    assert watch.newer_minors(["3.13", "3.14"], "3.14") == []
    assert watch.newer_minors(["3.15"], None) == []  # a run that did not say: no claim either way


def test_a_new_python_gets_a_row_of_the_newest_flask() -> None:
    raw = {"versions": [{"flask": "3.0.*", "python": "3.8"}, {"flask": "3.1.*"}]}
    assert watch.would_run(raw, [], ["3.15"])["versions"][-1] == {"flask": "3.1.*", "python": "3.15"}
    new = [watch.New("flask", "3.2.0", "2026-09-01T12:00:00Z")]
    rows = watch.would_run(raw, new, ["3.15"])["versions"]
    assert rows[2:] == [{"flask": "3.2.0"}, {"flask": "3.2.0", "python": "3.15"}]
    names = [
        row.name for row in parse({**raw, "versions": rows, "servers": {"f": {"kind": "flask-run"}}}).rows
    ]
    assert len(set(names)) == len(names) == 4


def test_the_pythons_pyenv_can_build_count_as_offered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "plugins" / "python-build" / "share" / "python-build"
    folder.mkdir(parents=True)
    for name in ("3.16.0", "3.16.1", "3.17.0a1", "3.17-dev", "pypy3.10-7.3.17", "2.7.18"):
        (folder / name).write_text("")
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path))
    assert interpreters._pyenv_offered() == {Version("2.7"), Version("3.16")}
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "none"))
    assert interpreters._pyenv_offered() == set()
