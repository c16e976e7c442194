"""Percentiles, speed-up, Little's law, spread and overlap, with plain numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.measuring.stats import (
    Spread,
    littles_law,
    median,
    median_run,
    peak_overlap,
    percentile,
    speedup,
    spread,
)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert percentile(values, 50) == 5.5
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile(values, 99) == pytest.approx(9.91)
    assert percentile(values, 0) == 1
    assert percentile(values, 100) == 10
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None
    assert median([3, 1, 2]) == 2


def test_a_percentile_outside_0_to_100_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1, 2], 101)


def test_speedup() -> None:
    assert speedup(0.8, 0.4) == 2.0
    assert speedup(0.8, 0.8) == 1.0
    assert speedup(0.8, 0) is None


def test_littles_law_holds_for_a_closed_loop() -> None:
    # 8 connections, 4000 req/s at 2 ms each: 8 in flight.
    check = littles_law(8, 4000, 0.002)
    assert check.ok
    assert check.ratio == 1.0


def test_littles_law_flags_a_gap_over_20_percent() -> None:
    # 8 connections but only 5 in flight: 3/8 of the time went somewhere else.
    check = littles_law(8, 2500, 0.002)
    assert not check.ok
    assert check.ratio == 0.625
    assert littles_law(8, 4000, 0.0023).ok  # 15% over: still fine
    assert not littles_law(8, 4000, 0.0025).ok  # 25% over: flagged


def test_spread_and_stability() -> None:
    assert spread([100, 102, 98]) == Spread(
        n=3,
        median=100,
        min=98,
        max=102,
        spread=0.04,
        unstable=False,
        values=(100, 102, 98),
        figure="",
        shown=0,
    )
    assert spread([100, 150, 90]).unstable
    assert spread([5]).n == 1
    assert not spread([5]).unstable
    assert spread([]).median is None
    assert spread([], figure="peak") == Spread(
        n=0, median=None, min=None, max=None, spread=None, unstable=False, figure="peak"
    )


def test_spread_shows_the_run_at_the_median_the_lower_middle_of_an_even_count() -> None:
    assert spread([3, 1, 2], figure="peak").shown == 2  # the run that measured 2
    assert spread([40, 10, 30, 20]).shown == 3  # 20: the lower of 20 and 30
    assert spread([5, 5]).shown == 0
    assert median_run([7]) == 0


def test_a_spread_survives_its_dict() -> None:
    figures = spread([1.5, 2.5, 2.0], figure="rps")
    assert figures.to_dict()["values"] == [1.5, 2.5, 2.0]
    assert Spread.from_dict(figures.to_dict()) == figures


# --- properties -------------------------------------------------------------

times = st.integers(min_value=0, max_value=50).map(lambda t: t / 4)  # repeated values, exact sums
lengths = st.integers(min_value=0, max_value=20).map(lambda t: t / 4)
intervals_of = st.lists(st.tuples(times, lengths).map(lambda p: (p[0], p[0] + p[1])), max_size=30)


def open_at(intervals: list[tuple[float, float]], instant: float) -> int:
    """Intervals open at ``instant``: started, and not yet ended (an end is not inside)."""
    return sum(1 for start, end in intervals if start <= instant < end)


@given(intervals_of)
def test_peak_overlap_is_the_most_intervals_open_at_one_instant(intervals: list[tuple[float, float]]) -> None:
    # The count only rises at a start, so the starts are the instants to try.
    brute = max((open_at(intervals, start) for start, _ in intervals), default=0)
    assert peak_overlap(intervals) == brute
    assert peak_overlap(reversed(intervals)) == brute


@given(
    st.lists(
        st.tuples(times, lengths.filter(lambda length: length > 0)).map(lambda p: (p[0], p[0] + p[1])),
        min_size=1,
        max_size=30,
    )
)
def test_the_peak_of_requests_that_took_time_is_between_one_and_all(
    intervals: list[tuple[float, float]],
) -> None:
    assert 1 <= peak_overlap(intervals) <= len(intervals)


values_of = st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=1, max_size=15)


@given(values_of)
def test_median_run_is_a_run_at_the_lower_median(values: list[float]) -> None:
    chosen = median_run(values)
    assert 0 <= chosen < len(values)
    assert values[chosen] == sorted(values)[(len(values) - 1) // 2]
    if len(values) % 2:
        assert values[chosen] == median(values)
    assert spread(values).shown == chosen
