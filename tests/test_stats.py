"""Percentiles, speed-up, Little's law and spread, with plain numbers."""
from __future__ import annotations

import pytest

from runner.stats import littles_law, median, percentile, speedup, spread


def test_percentiles_interpolate_between_ranks():
    values = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert percentile(values, 50) == 5.5
    assert percentile(values, 90) == pytest.approx(9.1)
    assert percentile(values, 99) == pytest.approx(9.91)
    assert percentile(values, 0) == 1 and percentile(values, 100) == 10
    assert percentile([7], 99) == 7
    assert percentile([], 50) is None
    assert median([3, 1, 2]) == 2


def test_a_percentile_outside_0_to_100_is_refused():
    with pytest.raises(ValueError):
        percentile([1, 2], 101)


def test_speedup():
    assert speedup(0.8, 0.4) == 2.0
    assert speedup(0.8, 0.8) == 1.0
    assert speedup(0.8, 0) is None


def test_littles_law_holds_for_a_closed_loop():
    # 8 connections, 4000 req/s at 2 ms each: 8 in flight.
    check = littles_law(8, 4000, 0.002)
    assert check["ok"] and check["ratio"] == 1.0


def test_littles_law_flags_a_gap_over_20_percent():
    # 8 connections but only 5 in flight: 3/8 of the time went somewhere else.
    check = littles_law(8, 2500, 0.002)
    assert not check["ok"] and check["ratio"] == 0.625
    assert littles_law(8, 4000, 0.0023)["ok"]       # 15% over: still fine
    assert not littles_law(8, 4000, 0.0025)["ok"]   # 25% over: flagged


def test_spread_and_stability():
    assert spread([100, 102, 98]) == {"n": 3, "median": 100, "min": 98, "max": 102,
                                      "spread": 0.04, "unstable": False}
    assert spread([100, 150, 90])["unstable"]
    assert spread([5])["n"] == 1 and not spread([5])["unstable"]
    assert spread([])["median"] is None
