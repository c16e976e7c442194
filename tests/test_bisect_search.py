"""The bisect search on plain data: candidates are numbers, values a list lookup."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runner.bisection.driver import untested_text
from runner.bisection.search import Probed, budget, search

SERIAL, CONCURRENT = "serial", "concurrent"


def values_changing_at(n: int, change: int) -> list[str]:
    """The field along start, candidates 1..n, end: serial before ``change``, concurrent from it."""
    return [SERIAL if i < change else CONCURRENT for i in range(n + 2)]


def run(values: list[object], skip: dict[int, str] | None = None):  # type: ignore[no-untyped-def]
    skip = skip or {}
    asked: list[int] = []

    def probe(i: int) -> Probed:
        asked.append(i)
        return Probed(skipped=skip[i]) if i in skip else Probed(value=values[i])

    n = len(values) - 2
    return search(0, list(range(1, n + 1)), n + 1, values[0], values[-1], probe), asked


def test_a_monotonic_change_is_found_within_the_budget() -> None:
    answer, asked = run(values_changing_at(11, 7))
    assert answer.kind == "found"
    assert (answer.last_left, answer.first_right) == (6, 7)
    assert len(asked) <= budget(11)
    assert asked[-2:] == [0, 12]  # both ends probed again at the close


@given(st.integers(min_value=0, max_value=60), st.data())
def test_any_monotonic_change_is_found_at_its_place(n: int, data: st.DataObject) -> None:
    change = data.draw(st.integers(min_value=1, max_value=n + 1))
    answer, asked = run(values_changing_at(n, change))
    assert answer.kind == "found"
    assert (answer.last_left, answer.first_right) == (change - 1, change)
    assert len(asked) <= budget(n)
    assert answer.candidates == n


def test_no_candidate_between_the_ends_names_the_end() -> None:
    answer, asked = run([SERIAL, CONCURRENT])
    assert answer.kind == "found"
    assert (answer.last_left, answer.first_right) == (0, 1)
    assert answer.tried == 0
    assert asked == [0, 1]


def test_a_skipped_candidate_away_from_the_boundary_is_searched_around() -> None:
    values = values_changing_at(9, 3)
    answer, asked = run(values, skip={5: "does not build on Python 3.6"})
    assert answer.kind == "found"
    assert (answer.last_left, answer.first_right) == (2, 3)
    assert 5 in asked


def test_skipped_candidates_at_the_boundary_narrow_the_range_and_say_why() -> None:
    values = values_changing_at(9, 5)
    answer, _ = run(values, skip={4: "environment failed", 5: "server did not start"})
    assert answer.kind == "narrowed"
    assert (answer.last_left, answer.first_right) == (3, 6)
    assert answer.between == ((4, "environment failed"), (5, "server did not start"))


def test_a_third_value_stops_the_search_and_shows_it() -> None:
    values: list[object] = [SERIAL, SERIAL, "no answer", CONCURRENT, CONCURRENT]
    answer, _ = run(values)
    assert answer.kind == "contradiction"
    assert answer.seen == ((2, "no answer"),)
    assert answer.first_right is None


def test_an_end_that_no_longer_shows_its_value_is_a_contradiction() -> None:
    values = values_changing_at(5, 3)
    calls: list[int] = []

    def probe(i: int) -> Probed:
        calls.append(i)
        return Probed(value=CONCURRENT if i == 0 else values[i])  # the start measures differently now

    answer = search(0, [1, 2, 3, 4, 5], 6, SERIAL, CONCURRENT, probe)
    assert answer.kind == "contradiction"
    assert answer.seen == ((0, CONCURRENT),)


def test_a_non_monotonic_range_that_bisection_cannot_see_is_not_claimed_beyond_what_was_probed() -> None:
    # serial, concurrent, serial, concurrent: the search lands on one boundary it measured on both sides
    values: list[object] = [SERIAL, CONCURRENT, SERIAL, SERIAL, CONCURRENT]
    answer, _ = run(values)
    assert answer.kind == "found"
    assert answer.last_left is not None
    assert answer.first_right is not None
    assert values[answer.last_left] == SERIAL
    assert values[answer.first_right] == CONCURRENT
    assert answer.first_right == answer.last_left + 1


def test_every_candidate_skipped_leaves_the_whole_range() -> None:
    values = values_changing_at(3, 2)
    answer, _ = run(values, skip={1: "a", 2: "b", 3: "c"})
    assert answer.kind == "narrowed"
    assert (answer.last_left, answer.first_right) == (0, 4)
    assert [c for c, _ in answer.between] == [1, 2, 3]
    assert answer.tried == 3


def test_the_budget_is_log2_plus_two() -> None:
    assert [budget(n) for n in (0, 1, 2, 3, 4, 7, 8, 100)] == [2, 3, 4, 4, 5, 5, 6, 9]


def test_releases_that_could_not_run_are_grouped_with_a_hint() -> None:
    why = "error: server exited with code 1 before it was ready: ImportError: cannot import name 'MutableMapping' from 'collections' (/usr/lib/python3.11/collections/__init__.py)"
    text = untested_text(
        [("Flask 1.0", why), ("Flask 1.0.1", why), ("Flask 1.0.2", "skipped: no Python 3.6")]
    )
    assert text.startswith(
        "Flask 1.0, Flask 1.0.1: ImportError: cannot import name 'MutableMapping' from 'collections'"
    )
    assert "might run on Python 3.9 or earlier" in text
    assert text.endswith("Flask 1.0.2: skipped: no Python 3.6")


# --- the driver's answer, with a probe made of plain data ---------------------

from typing import Any, Callable  # noqa: E402

from runner.bisection import driver  # noqa: E402
from runner.matrix.cells import Row  # noqa: E402


class FakeProbe:
    """Stands in for driver.Prober: the value is a function of the row."""

    def __init__(self, value: Callable[[Row], object]) -> None:
        self.value, self.ends, self.fresh, self.records = value, None, 0, {}
        self.asked: list[Row] = []

    def chance(self, row: Row) -> bool:
        return False

    def __call__(self, row: Row) -> Probed:
        self.asked.append(row)
        self.fresh += 1
        return driver.classify(Probed(value=self.value(row)), self.ends)


def question(
    start: Row, end: Row, package: str = "flask", field: str = driver.DEFAULT_FIELD
) -> driver.Question:
    return driver.Question(
        "flask-run", package, start, end, getattr(start, package), getattr(end, package), field
    )


def releases(*versions: str) -> list[driver.Release]:
    return [driver.Release(v, f"2018-0{i + 1}-01T00:00:00Z") for i, v in enumerate(versions)]


def test_a_change_that_comes_with_the_rows_other_pins_is_not_pinned_on_the_package() -> None:
    start = Row("a", "1.0.4", None, "3.11", pins=("werkzeug<1",))
    end = Row("b", "1.1.4", None, "3.11", pins=())
    # the verdict follows the Werkzeug pin, not Flask
    probe = FakeProbe(lambda row: "serial" if "werkzeug<1" in row.pins else "concurrent")
    answer: dict[str, Any] = driver.bisect(question(start, end), releases("1.1.0", "1.1.1"), probe)  # type: ignore[arg-type]
    assert answer.kind == "not reproduced"
    assert "comes with their other differences" in answer.line
    assert all(row.pins == ("werkzeug<1",) for row in probe.asked)  # both ends keep the left row's settings


def test_a_numeric_field_is_bisected_by_the_nearer_end() -> None:
    start, end = Row("a", "0.12.4", None, "3.6"), Row("b", "1.0.2", None, "3.6")
    peaks = {"0.12.4": 1, "0.12.5": 1, "1.0": 8, "1.0.1": 10, "1.0.2": 10}
    probe = FakeProbe(lambda row: peaks[row.flask])
    answer: dict[str, Any] = driver.bisect(  # type: ignore[arg-type]
        question(start, end, field="probes.concurrency.peak"), releases("0.12.5", "1.0", "1.0.1"), probe
    )
    assert answer.kind == "found"
    assert (answer.last_left, answer.first_right) == ("0.12.5", "1.0")
    assert "changed in Flask 1.0 (uploaded 2018-02-01)" in answer.line


def test_classify_leaves_categories_and_ties_alone() -> None:
    assert driver.classify(Probed(value="HTTP/1.1"), ("HTTP/1.0", "HTTP/1.1")).value == "HTTP/1.1"
    assert driver.classify(Probed(value=5.5), (1, 10)).value == 5.5  # a tie: neither end's
    assert driver.classify(Probed(value=2), (1, 10)).value == 1
    assert driver.classify(Probed(skipped="no"), (1, 10)).skipped == "no"


def test_a_field_no_record_has_is_refused_before_anything_runs(capsys: Any) -> None:
    from pathlib import Path

    from runner import cli

    run = Path(__file__).resolve().parent / "fixtures" / "run-schema1"
    args = [
        "flask-run",
        "--package",
        "flask",
        "--from",
        "0.12.5",
        "--to",
        "1.0.4",
        "--on",
        "probes.concurrency.verdic",
    ]
    assert cli.bisect([*args, "--run", str(run)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --on 'probes.concurrency.verdic': no record of 'flask-run' has that field")
    assert "\n" not in err
    assert cli.bisect(["--on", "http.protocol", "--run", str(run)]) == 2
    assert "--on needs a named change" in capsys.readouterr().err
