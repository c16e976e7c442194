"""Bisect over any package of a cell's environment, on plain data: the
candidate rows, the package a change line differs in, the questions a run
gives, and a chance-dependent yes/no as the value bisect compares.

The bisect of a real gunicorn release is measured, not tested here: see
docs/probes.md (the gthread worker through its releases) for the run.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from runner.analysis import changed, outcome_changes, rows_of
from runner.bisection import driver
from runner.errors import CellError, CellNotApplicable, UserError
from runner.matrix.cells import Row, parse, valid_name
from runner.serving.servers import recipe_for
from runner.workflow.cell import period_server_not_applicable
from runner.workflow.run import follows_its_servers, plan_cell
from tests.test_server_versions import history

BLOCK = {
    "versions": [
        {"flask": "3.1.*", "servers": {"gunicorn": version}} for version in ("22.0.0", "23.0.0", "24.0.0")
    ],
    "servers": {
        "gthread": {"kind": "gunicorn", "workers": 2, "threads": 4},
        "waitress": {"kind": "waitress"},
        "gunicorn-23": {"kind": "gunicorn", "version": "23.0.0"},
    },
    "probes": {"silent": {"connections": 4, "wait_s": 2}},
}


def base() -> Row:
    return parse(BLOCK).rows[1]


def test_a_server_release_is_a_candidate_row_of_the_rows_servers() -> None:
    row = driver.candidate_row(base(), "gunicorn", "23.1.0")
    assert row.servers == (("gunicorn", "23.1.0"),)
    assert row.name.startswith("flask-3.1.x-gunicorn-23.1.0")
    assert driver.row_version(row, "gunicorn") == "23.1.0"
    assert (row.flask, row.pins) == (base().flask, base().pins)


def test_uwsgi_is_pinned_as_the_package_its_recipe_builds_it_for() -> None:
    assert driver.pinned_as("uwsgi") == driver.pinned_as("uWSGI") == "pyuwsgi"
    assert driver.pinned_as("gevent") is None
    row = driver.candidate_row(base(), "uwsgi", "2.0.13.1")
    assert ("pyuwsgi", "2.0.13.1") in row.servers


def test_another_package_is_a_pin_that_replaces_the_rows_own() -> None:
    pinned = dataclasses.replace(base(), pins=("gevent<24", "click<9"))
    row = driver.candidate_row(pinned, "gevent", "24.2.1")
    assert row.pins == ("click<9", "gevent==24.2.1")
    assert driver.row_version(row, "gevent") == "24.2.1"
    # the pin is in the row's name, so that two candidates never share one
    other = driver.candidate_row(pinned, "gevent", "24.10.1")
    assert "gevent-24.2.1" in row.name
    assert row.name != other.name


def test_a_change_between_server_releases_names_that_package() -> None:
    records = [history("23.0.0", 0, [True] * 6), history("24.0.0", 1, [False] * 6)]
    views = rows_of(records)
    (change,) = outcome_changes(views, ["gthread"])
    assert driver.differing(change) == ("gunicorn", "23.0.0", "24.0.0")
    assert change.field == "probes.silent.served"
    assert changed(views, ["gthread"]) == []  # the verdict is the same in both


def test_a_block_that_follows_a_server_is_compared_within_itself() -> None:
    plain = dataclasses.replace(
        history("27.0.1", 0, [False] * 6), row="flask-3.1.x", cell="flask-3.1.x--gthread"
    )
    block = [history(v, i + 1, [True] * 6) for i, v in enumerate(("20.1.0", "21.2.0"))]
    block = [dataclasses.replace(r, asked=dataclasses.replace(r.asked, follows=("gunicorn",))) for r in block]
    assert outcome_changes(rows_of([plain, *block]), ["gthread"]) == []
    assert (
        len(
            outcome_changes(
                rows_of([plain, *(dataclasses.replace(r, asked=plain.asked) for r in block)]), ["gthread"]
            )
        )
        == 1
    )


def test_a_change_in_two_other_packages_asks_for_one_by_name() -> None:
    same = {"Flask": "3.1.3", "gunicorn": "23.0.0"}
    one = dataclasses.replace(history("23.0.0", 0, [True] * 6), packages={**same, "a": "1", "b": "1"})
    two = dataclasses.replace(
        history("23.0.0", 1, [False] * 6),
        row="other",
        cell="other--gthread",
        packages={**same, "a": "2", "b": "2"},
    )
    (change,) = outcome_changes(rows_of([one, two]), ["gthread"])
    assert driver.differing(change) == "the rows differ in a, b: bisect one with --package"


def stored(records: list[object]) -> driver.StoredRun:
    columns = {name: BLOCK["servers"][name] for name in ("gthread", "waitress")}  # type: ignore[index]
    matrix = parse({**BLOCK, "servers": columns})
    return driver.StoredRun(path=Path("run"), matrix=matrix, records=records)  # type: ignore[arg-type]


def test_a_runs_questions_cover_every_yes_no_that_changed() -> None:
    run = stored(
        [
            history("22.0.0", 0, [True] * 6),
            history("23.0.0", 1, [True] * 6),
            history("24.0.0", 2, [False] * 6),
        ]
    )
    questions, unanswerable = driver.changes_of(run)
    assert unanswerable == []
    (question,) = questions
    assert (question.package, question.start_version, question.end_version) == (
        "gunicorn",
        "23.0.0",
        "24.0.0",
    )
    assert question.field == "probes.silent.served"
    assert question.describe() == "gthread: probes.silent.served from gunicorn 23.0.0 to 24.0.0"


@pytest.mark.parametrize(
    ("said", "value", "skipped"),
    [
        ([True] * 6, "served", None),
        ([False] * 6, "blocked", None),
        ([True, False] * 3, "varies", None),
        ([True], None, "1 run(s) leave probes.silent to chance"),
    ],
)
def test_a_chance_dependent_answer_is_a_value_varies_included(
    said: list[bool], value: str | None, skipped: str | None
) -> None:
    probed = driver.value_of(history("23.0.0", 0, said), "probes.silent.served")
    assert (probed.value, probed.skipped) == (value, skipped)


def test_a_probe_that_did_not_run_is_no_value() -> None:
    record = history("23.0.0", 0, [True] * 6)
    probed = driver.value_of(record, "probes.hang.frees")
    assert str(probed.skipped).startswith("the record has no probes.hang")


@pytest.mark.parametrize(
    ("server", "package", "low", "expected"),
    [
        ("gthread", "gun icorn", "23.0.0", "--package 'gun icorn': give a package's name"),
        (
            "gthread",
            "gunicorn",
            "20.1.0",
            "no cell of 'gthread' in run ran gunicorn 20.1.0 (its cells ran 22.0.0",
        ),
        (
            "gthread",
            "gevent",
            "1.0",
            "no cell of 'gthread' in run ran gevent 1.0 (gevent is in none of them)",
        ),
        ("nowhere", "gunicorn", "23.0.0", "no column named 'nowhere'"),
        ("waitress", "gunicorn", "23.0.0", "column 'waitress' runs waitress, not gunicorn"),
    ],
)
def test_a_bad_question_is_one_line(server: str, package: str, low: str, expected: str) -> None:
    run = stored([history("22.0.0", 0, [True] * 6), history("23.0.0", 1, [True] * 6)])
    with pytest.raises(UserError) as caught:
        driver.named(run, server, package, low, "24.0.0", "probes.silent.served", None)
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_column_that_pins_its_own_server_cannot_be_bisected_over_it() -> None:
    run = driver.StoredRun(path=Path("run"), matrix=parse(BLOCK), records=[])
    with pytest.raises(UserError, match=r"pins gunicorn 23\.0\.0 itself"):
        driver.named(run, "gunicorn-23", "gunicorn", "22.0.0", "24.0.0", "probes.silent.served", None)


def test_a_row_that_follows_gunicorn_leaves_the_other_columns_n_a(tmp_path: Path) -> None:
    cells = {c.server.name: c for c in parse(BLOCK).cells() if c.row.name == base().name}
    follows_its_servers(cells["gthread"])  # runs the release the row pins
    for name, why in (("waitress", "runs none of them"), ("gunicorn-23", "pins gunicorn 23.0.0 itself")):
        with pytest.raises(CellNotApplicable, match=why):
            follows_its_servers(cells[name])
        assert isinstance(plan_cell(cells[name], tmp_path).problem, CellNotApplicable)


def test_a_gunicorn_before_21_brings_a_setuptools_with_pkg_resources() -> None:
    gunicorn = recipe_for("gunicorn")
    assert "setuptools<82" in gunicorn.pinned({}, (3, 11), "20.1.0")
    assert "setuptools<82" in gunicorn.pinned({}, (3, 11), ">=19,<20")
    assert "setuptools<82" not in gunicorn.pinned({}, (3, 11), "21.0.0")
    assert "setuptools<82" not in gunicorn.pinned({}, (3, 11), None)


def test_a_row_pin_of_the_server_gives_way_to_the_candidate() -> None:
    pinned = dataclasses.replace(base(), pins=("gunicorn<22", "click<9"))
    row = driver.candidate_row(pinned, "gunicorn", "21.2.0")
    assert row.pins == ("click<9",)
    assert row.servers == (("gunicorn", "21.2.0"),)


def test_a_candidate_name_too_long_for_the_matrix_is_shortened_and_kept_apart() -> None:
    long = dataclasses.replace(base(), flask="0.12.4", werkzeug="0.14.1", python="3.6", resolve="period")
    one = driver.candidate_row(long, "markupsafe", "1.1.1")
    two = driver.candidate_row(long, "markupsafe", "1.1.0")
    assert valid_name(one.name)
    assert valid_name(two.name)
    assert one.name != two.name


def test_a_probe_kept_to_columns_is_probed_on_the_one_column(tmp_path: Path) -> None:
    """The one-cell matrix of a candidate keeps a probe's settings, not the
    columns it was kept to (a name the one-column matrix does not have)."""
    kept = {
        **BLOCK,
        "probes": {"silent": {"connections": 4, "wait_s": 2, "servers": ["gthread", "waitress"]}},
    }
    run = driver.StoredRun(path=tmp_path, matrix=parse(kept), records=[])
    server = run.matrix.servers[0]
    matrix = driver.probe_matrix(run, base(), server, "probes.silent.served")
    assert [c.name for c in matrix.cells()] == [f"{base().name}--gthread"]
    assert matrix.probes["silent"].servers is None


def test_only_the_pinned_release_failing_makes_a_today_row_n_a(tmp_path: Path) -> None:
    (cell,) = parse(
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": {"g": {"kind": "gunicorn", "worker_class": "gevent", "version": "23.0.0"}},
        }
    ).cells()
    plan = plan_cell(cell, tmp_path)
    assert plan.problem is None
    other = CellError("environment install failed: Failed to build `gevent==24.2.1`: x.c:1:1: error: no")
    assert period_server_not_applicable(plan, other) is None
    own = CellError("environment install failed: Failed to build `gunicorn==23.0.0`: SyntaxError: bad")
    found = period_server_not_applicable(plan, own)
    assert isinstance(found, CellNotApplicable)
    assert found.cause == "upstream"
