"""Rows that expand to one row per release line, from the index's releases or its cached answer.

The lines, the pins by range and the refusals are plain data.  The index is
a real one on 127.0.0.1 that answers PEP 691 JSON pages made up by the test
(file names and upload times, no files behind them), then a malformed page;
the loading nox does for every session reads the cache alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from runner import cli
from runner.errors import UserError
from runner.matrix import generate, releases
from runner.matrix.cells import MatrixError, parse
from tests.made_index import MadeIndex, serving

FLASK = [
    "0.9",
    "0.10",
    "0.10.1",
    "0.11",
    "0.11.1",
    "0.12",
    "0.12.5",
    "1.0",
    "1.0.4",
    "1.1.0",
    "1.1.4",
    "2.0.3",
]
SERVERS = {"flask-run": {"kind": "flask-run"}}


def _matrix(entry: dict[str, Any], known: list[str] | None = FLASK) -> Any:
    return parse({"versions": [entry], "servers": SERVERS}, releases=lambda package: known)


def test_each_minor_line_since_a_version_takes_its_newest_release() -> None:
    lines = generate.lines_of(FLASK, 2, Version("0.10"), None)
    assert [(line.label, line.newest) for line in lines] == [
        ("0.10", "0.10.1"),
        ("0.11", "0.11.1"),
        ("0.12", "0.12.5"),
        ("1.0", "1.0.4"),
        ("1.1", "1.1.4"),
        ("2.0", "2.0.3"),
    ]
    assert lines[2].releases == ("0.12", "0.12.5")
    majors = generate.lines_of(FLASK, 1, Version("1"), Version("1.1"))
    assert [(line.label, line.newest) for line in majors] == [("1", "1.1.4")]


def test_a_generator_makes_rows_with_the_pins_of_their_ranges() -> None:
    matrix = _matrix(
        {
            "flask": {"each": "minor", "since": "0.12", "until": "1.1"},
            "pins": {"<1.0": ["werkzeug<1"], "<1.1": ["jinja2<3"]},
            "python": "3.8",
        }
    )
    rows = {row.name: row for row in matrix.rows}
    assert list(rows) == ["flask-0.12.5-py3.8", "flask-1.0.4-py3.8", "flask-1.1.4-py3.8"]
    assert rows["flask-0.12.5-py3.8"].pins == ("werkzeug<1", "jinja2<3")
    assert rows["flask-1.0.4-py3.8"].pins == ("jinja2<3",)
    assert rows["flask-1.1.4-py3.8"].pins == ()
    (expansion,) = matrix.expansions
    assert expansion.rows == tuple(rows)
    listed = cli.listing(matrix)
    assert "versions[0]: each minor line of flask since 0.12 until 1.1: 3 release lines" in listed
    assert "flask-1.0.4-py3.8" in listed
    assert "releases 1.0, 1.0.4" in listed


def test_a_werkzeug_generator_keeps_its_flask() -> None:
    matrix = parse(
        {
            "versions": [{"flask": "1.0.4", "werkzeug": {"each": "minor", "since": "0.15"}}],
            "servers": SERVERS,
        },
        releases=lambda package: ["0.14.1", "0.15.6", "0.16.0", "0.16.1"] if package == "werkzeug" else None,
    )
    assert [(r.flask, r.werkzeug) for r in matrix.rows] == [("1.0.4", "0.15.6"), ("1.0.4", "0.16.1")]


@pytest.mark.parametrize(
    ("flask", "said"),
    [
        ({"each": "patch", "since": "0.10"}, "versions[0].flask.each: 'patch' is not a release line"),
        ({"each": "minor", "since": 0.1}, "versions[0].flask.since: 0.1 is not a quoted version"),
        ({"each": "minor"}, "versions[0].flask.since: None is not a quoted version"),
        ({"each": "minor", "since": "0.10", "from": "x"}, "versions[0].flask.from: is not a generator key"),
    ],
)
def test_a_bad_generator_is_one_line_naming_its_key(flask: dict[str, Any], said: str) -> None:
    with pytest.raises(MatrixError) as caught:
        _matrix({"flask": flask})
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_generator_cannot_name_its_rows_and_bad_ranges_are_refused() -> None:
    with pytest.raises(MatrixError, match="names each row itself"):
        _matrix({"flask": {"each": "minor", "since": "1.0"}, "name": "mine"})
    with pytest.raises(MatrixError, match="not a version range"):
        _matrix({"flask": {"each": "minor", "since": "1.0"}, "pins": {"~~1": ["x"]}})


def test_no_answer_expands_to_no_rows_and_says_so() -> None:
    matrix = parse(
        {"versions": [{"flask": {"each": "minor", "since": "0.10"}}, {"flask": "3.1.*"}], "servers": SERVERS},
        releases=lambda package: None,
    )
    assert [row.name for row in matrix.rows] == ["flask-3.1.x"]
    assert "no rows (no list of flask's releases cached" in cli.listing(matrix)


def _page(versions: list[str]) -> dict[str, Any]:
    return {
        "files": [{"filename": f"flask-{v}.tar.gz", "upload-time": "2020-01-01T00:00:00Z"} for v in versions]
    }


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[type[MadeIndex]]:
    with serving({"flask": _page([*FLASK, "2.1.0rc1"])}) as (handler, url):
        monkeypatch.setenv("UV_DEFAULT_INDEX", url)
        monkeypatch.setenv("MATRIX_CACHE", str(tmp_path / "cache"))
        yield handler


def test_the_index_is_asked_once_and_its_answer_kept_for_nox(index: type[MadeIndex], tmp_path: Path) -> None:
    from runner.environments import period

    period._releases.clear()
    path = tmp_path / "matrix.yaml"
    path.write_text(
        'servers: {flask-run: {kind: flask-run}}\nversions:\n  - flask: {each: minor, since: "1.0"}\n'
    )
    assert cli.load_matrix(path, cached_only=True).rows == ()  # nothing cached yet: no rows, no question
    assert index.asked == []
    asked = cli.load_matrix(path)
    assert [row.flask for row in asked.rows] == ["1.0.4", "1.1.4", "2.0.3"]  # no pre-release
    assert index.asked == ["flask"]
    period._releases.clear()
    again = cli.load_matrix(path)  # a day's answer is kept
    assert index.asked == ["flask"]
    assert [row.flask for row in cli.load_matrix(path, cached_only=True).rows] == [
        r.flask for r in again.rows
    ]


def test_a_malformed_answer_is_one_line(index: type[MadeIndex], tmp_path: Path) -> None:
    from runner.environments import period

    period._releases.clear()
    index.answers["flask"] = {"files": "nonsense"}
    with pytest.raises(UserError) as caught:
        releases.from_index(tmp_path / "r.json")("flask")
    assert str(caught.value).startswith("cannot list the releases of flask: the index at http://127.0.0.1:")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "r.json").exists()


def test_a_cache_file_that_is_not_ours_is_no_answer(tmp_path: Path) -> None:
    path = tmp_path / "releases.json"
    for text in ("[1, 2]", "{", json.dumps({"x": {"versions": ["1.0"], "asked": "then"}})):
        path.write_text(text)
        assert releases.cached(path)("flask") is None


def test_nox_loads_a_generator_from_the_cache_alone(tmp_path: Path) -> None:
    """With no cached answer, nox lists the other rows' cells and every session; it asks no index."""
    import os
    import re
    import subprocess
    import sys

    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        'versions: [{flask: {each: minor, since: "0.10"}}, {flask: "3.1.*"}]\nservers: {a: {kind: flask-run}}\n'
    )
    env = {
        **os.environ,
        "MATRIX_FILE": str(matrix),
        "MATRIX_CACHE": str(tmp_path / "cache"),
        "UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple",  # nothing listens: any question would fail
    }
    done = subprocess.run(
        [sys.executable, "-m", "nox", "-l"],
        cwd=cli.REPO,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    listed = re.findall(r"^[*-] (\S+) ->", done.stdout, re.M)
    assert [s for s in listed if "--" in s] == ["flask-3.1.x--a"]
    assert {"tests", "lint", "matrix"} <= set(listed)
