"""A column's server version and a row's server pins: parsed, planned, installed, shown.

The parsing and the planning of requirements are plain data; the last test
builds two real gunicorn environments side by side (23.0.0 and whatever is
newest) and reads the version from the records, the tables and the CSV.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest

from runner.analysis import changes, rows_of
from runner.cli import DEFAULT_ENVS
from runner.environments import interpreters, workarounds
from runner.matrix.cells import MatrixError, parse
from runner.measuring.probes import PROBES
from runner.publish import tidy
from runner.publish.report import table
from runner.records.record import Asked, CellRecord, ProbeOutcome, Status
from runner.serving.servers import recipe_for
from runner.workflow.run import pinned_packages, run_cells
from tests.test_record import EVERY_PROBE, cell, outcome, peak_of


def matrix(servers: dict[str, Any], versions: list[Any] | None = None) -> Any:
    return parse({"versions": versions or [{"flask": "3.1.*"}], "servers": servers})


def refusal(servers: dict[str, Any], versions: list[Any] | None = None) -> str:
    with pytest.raises(MatrixError) as caught:
        matrix(servers, versions)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_column_pins_its_server_version() -> None:
    found = matrix({"gunicorn-23": {"kind": "gunicorn", "version": "23.0.0", "threads": 4}})
    cell = found.cells()[0]
    assert cell.server.version == "23.0.0"
    assert cell.server_pin == "23.0.0"
    packages, _ = pinned_packages(cell, (3, 11))
    assert packages == ("gunicorn==23.0.0",)


def test_a_specifier_replaces_the_recipes_rule_for_old_pythons() -> None:
    cell = matrix({"g": {"kind": "gunicorn", "version": ">=19,<20"}}).cells()[0]
    # gunicorn's own rule for Python 3.6 is gunicorn<22; the pin replaces it
    # (gunicorn before 21 imports pkg_resources: a setuptools that has it comes along)
    assert recipe_for("gunicorn").pinned(cell.server.options, (3, 6), cell.server_pin) == (
        "gunicorn>=19,<20",
        "setuptools<82",
    )
    assert recipe_for("gunicorn").pinned(cell.server.options, (3, 6), None) == ("gunicorn<22",)


def test_a_gevent_column_keeps_its_other_packages() -> None:
    cell = matrix({"g": {"kind": "gunicorn", "worker_class": "gevent", "version": "23.0.0"}}).cells()[0]
    packages, _ = pinned_packages(cell, (3, 11))
    assert packages == ("gunicorn==23.0.0", "gevent", "packaging")


def test_a_row_pins_a_server_package_for_every_column_of_that_kind() -> None:
    found = matrix(
        {"gthread": {"kind": "gunicorn", "threads": 4}, "waitress": {"kind": "waitress"}},
        [
            {"flask": "3.1.*", "servers": {"gunicorn": "21.2.0"}},
            {"flask": "3.1.*", "servers": {"gunicorn": "22.0.0"}},
        ],
    )
    names = [row.name for row in found.rows]
    assert names == ["flask-3.1.x-gunicorn-21.2.0", "flask-3.1.x-gunicorn-22.0.0"]
    pins = {cell.name: cell.server_pin for cell in found.cells()}
    assert pins["flask-3.1.x-gunicorn-21.2.0--gthread"] == "21.2.0"
    assert pins["flask-3.1.x-gunicorn-21.2.0--waitress"] is None


def test_a_columns_own_version_wins_over_the_rows() -> None:
    found = matrix(
        {"g23": {"kind": "gunicorn", "version": "23.0.0"}},
        [{"flask": "3.1.*", "servers": {"gunicorn": "21.2.0"}}],
    )
    assert found.cells()[0].server_pin == "23.0.0"


def test_uwsgi_releases_before_the_wheels_are_built_from_source() -> None:
    """pyuwsgi has no 2.0.13.1: the pin installs uwsgi 2.0.13.1 from its sdist."""
    cell = matrix({"u": {"kind": "uwsgi", "version": "2.0.13.1"}}).cells()[0]
    packages, binary_only = pinned_packages(cell, (3, 11))
    assert packages == ("uwsgi==2.0.13.1",)
    assert "pyuwsgi" not in binary_only
    newer = matrix({"u": {"kind": "uwsgi", "version": "2.0.29"}}).cells()[0]
    assert pinned_packages(newer, (3, 11)) == (("pyuwsgi==2.0.29",), ("pyuwsgi",))


@pytest.mark.parametrize(
    ("servers", "versions", "expected"),
    [
        (
            {"g": {"kind": "gunicorn", "version": 23}},
            None,
            "servers.g.version: 23 must be quoted",
        ),
        (
            {"g": {"kind": "gunicorn", "version": "twenty-three"}},
            None,
            "servers.g.version: 'twenty-three' is not a version or specifier",
        ),
        (
            {"f": {"kind": "flask-run", "version": "3.1.0"}},
            None,
            "servers.f.version: flask-run has no package of its own to pin",
        ),
        (
            {"g": {"kind": "gunicorn", "threads": 4, "version": "18.0"}},
            None,
            "servers.g.version: gunicorn 18.0 has no gthread worker (it arrived in 19.0)",
        ),
        (
            {"g": {"kind": "gunicorn"}},
            [{"flask": "3.1.*", "servers": {"nginx": "1.22"}}],
            "versions[0].servers.nginx: 'nginx' is not a server package; expected one of",
        ),
        (
            {"g": {"kind": "gunicorn"}},
            [{"flask": "3.1.*", "servers": ["gunicorn"]}],
            "versions[0].servers: expected a mapping of server package to version",
        ),
        (
            {"g": {"kind": "gunicorn"}},
            [{"flask": "3.1.*", "servers": {"gunicorn": "2x"}}],
            "versions[0].servers.gunicorn: '2x' is not a version or specifier",
        ),
    ],
)
def test_a_bad_server_version_is_one_line(
    servers: dict[str, Any], versions: list[Any] | None, expected: str
) -> None:
    assert expected in refusal(servers, versions)


@pytest.mark.slow
def test_gunicorn_23_and_the_newest_side_by_side(tmp_path: Path) -> None:
    found = parse(
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": {
                "gunicorn-23": {"kind": "gunicorn", "workers": 2, "version": "23.0.0"},
                "gunicorn": {"kind": "gunicorn", "workers": 2},
            },
            "probes": {"concurrency": {"requests": 4, "delay_ms": 200}},
        }
    )
    outcome = run_cells(
        found, found.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    records = {r.server: r for r in outcome.records}
    assert all(r.status is Status.OK for r in records.values()), [r.reason for r in records.values()]
    pinned, newest = records["gunicorn-23"], records["gunicorn"]
    assert (pinned.server_package, pinned.server_version) == ("gunicorn", "23.0.0")
    assert pinned.packages["gunicorn"] == "23.0.0"
    assert newest.server_version == newest.packages["gunicorn"]
    assert newest.server_version != "23.0.0"
    assert pinned.asked.server == "23.0.0"
    assert newest.asked.server is None

    rows = list(csv.DictReader(io.StringIO(tidy.csv_text("run", outcome.records))))
    assert {(r["server"], r["server_version"]) for r in rows} == {
        ("gunicorn-23", "23.0.0"),
        ("gunicorn", str(newest.server_version)),
    }
    report = (outcome.run.path / "report.md").read_text()
    assert "gunicorn-23 (gunicorn 23.0.0)" in report
    assert f"gunicorn (gunicorn {newest.server_version})" in report
    html = (outcome.run.path / "report.html").read_text()
    assert "gunicorn-23 (gunicorn 23.0.0)" in html


def history(version: str, index: int, served: list[bool]) -> CellRecord:
    """A gthread cell of a row that pins gunicorn ``version``, whose silent-connection runs said ``served``."""
    runs = [dataclasses.replace(EVERY_PROBE["silent"], served=s) for s in served]
    row = f"flask-3.1.x-gunicorn-{version}"
    return cell(
        cell=f"{row}--gthread",
        row=row,
        row_index=index,
        server="gthread",
        server_index=0,
        asked=Asked(flask="3.1.*", werkzeug=None, python="3.11", server=version),
        server_package="gunicorn",
        server_version=version,
        packages={"Flask": "3.1.3", "gunicorn": version},
        probes={
            "concurrency": outcome("concurrency", peak_of(8)),
            "silent": ProbeOutcome.of_runs(PROBES["silent"], runs, chance=True),
        },
    )


def test_change_lines_name_the_server_release_for_every_yes_no() -> None:
    six = 6
    records = [
        history("21.2.0", 0, [True] * six),
        history("22.0.0", 1, [True] * six),
        history("23.0.0", 2, [False] * six),
        history("24.0.0", 3, [True, False] * 3),
    ]
    lines = changes(rows_of(records), ["gthread"])
    assert lines == [
        "gthread (silent connections): served in Flask 3.1.3, gunicorn 22.0.0 -> "
        "blocked in Flask 3.1.3, gunicorn 23.0.0",
        "gthread (silent connections): blocked in Flask 3.1.3, gunicorn 23.0.0 -> "
        "varies in Flask 3.1.3, gunicorn 24.0.0",
    ]


def test_an_answer_left_to_one_run_of_chance_is_no_change() -> None:
    records = [history("22.0.0", 0, [True]), history("23.0.0", 1, [False])]
    assert changes(rows_of(records), ["gthread"]) == []


def test_a_table_names_the_version_in_its_header_or_in_each_cell() -> None:
    same = [history("23.0.0", 0, [True] * 6), dataclasses.replace(history("23.0.0", 1, [True] * 6), row="b")]
    shown = table(rows_of(same), ["gthread"], lambda r: "x" if r else "")
    assert shown.headers[-1] == "gthread (gunicorn 23.0.0)"
    assert [row[-1] for row in shown.rows] == ["x", "x"]
    differ = [history("22.0.0", 0, [True] * 6), history("23.0.0", 1, [True] * 6)]
    shown = table(rows_of(differ), ["gthread"], lambda r: "x" if r else "")
    assert shown.headers[-1] == "gthread (by row)"
    assert [row[-1] for row in shown.rows] == ["x [22.0.0]", "x [23.0.0]"]


def test_the_compiler_wrapper_answers_dumpversion_the_old_way(tmp_path: Path) -> None:
    """uWSGI 1.9's ``uwsgiconfig.py`` splits ``-dumpversion`` into three parts."""
    env = dict(workarounds.uwsgi_source_build(tmp_path))
    wrapper = env["CC"]
    assert Path(wrapper).is_relative_to(tmp_path)
    answer = subprocess.run([wrapper, "-dumpversion"], capture_output=True, text=True, check=True)
    assert len(answer.stdout.strip().split(".")) == 3, answer.stdout
    assert "ssl = false" in Path(env["UWSGI_PROFILE"]).read_text()
    # the same content gives the same paths, so the environment's key is stable
    assert dict(workarounds.uwsgi_source_build(tmp_path)) == env


@pytest.mark.slow
def test_the_uwsgi_of_2013_and_2016_builds_and_serves(tmp_path: Path) -> None:
    if interpreters.find("3.6") is None:
        pytest.skip("Python 3.6 is not on this machine (pyenv install 3.6)")
    found = parse(
        {
            "versions": [
                {"flask": "0.10.1", "python": "3.6", "resolve": "period"},
                {"flask": "0.11.1", "python": "3.6", "resolve": "period"},
            ],
            "servers": {"uwsgi": {"kind": "uwsgi", "processes": 2, "threads": 2}},
            "probes": {"concurrency": {"requests": 4, "delay_ms": 200}},
        }
    )
    outcome = run_cells(
        found, found.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    records = {r.asked.flask: r for r in outcome.records}
    assert all(r.status is Status.OK for r in records.values()), [r.reason for r in records.values()]
    assert records["0.10.1"].server_version == "1.9.12"
    assert records["0.11.1"].server_version == "2.0.13.1"
    peaks = [r.concurrency.peak if r.concurrency else None for r in records.values()]
    assert peaks == [4, 4]
