"""Undoing wrk's after-the-run latency correction, with plain histograms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.measuring import wrk_histogram as wh
from runner.measuring.stats import littles_law


def test_a_stall_adds_samples_that_were_never_measured() -> None:
    measured = {1000: 90, 50_000: 1}  # ninety 1 ms answers and one 50 ms stall
    corrected = wh.correct(measured, interval=1000)
    # wrk adds one sample at 49, 48, ... 2 ms for the single 50 ms one.
    assert sum(corrected.values()) == 90 + 1 + 48
    assert wh.mean(corrected) > 2 * wh.mean(measured)
    assert wh.uncorrect(corrected, 1000) == measured


@settings(max_examples=200, deadline=None, database=None)
@given(
    measured=st.dictionaries(st.integers(1, 20_000), st.integers(1, 50), min_size=1, max_size=40),
    interval=st.integers(0, 3_000),
)
def test_uncorrect_gives_back_what_correct_was_given(measured: dict[int, int], interval: int) -> None:
    assert wh.uncorrect(wh.correct(measured, interval), interval) == measured


def test_a_histogram_wrk_did_not_correct_so_is_refused() -> None:
    with pytest.raises(ValueError, match="not a histogram wrk corrected"):
        wh.uncorrect({1000: 1, 5000: 3}, interval=1000)


def test_the_interval_is_wrks_integer_arithmetic() -> None:
    # wrk: interval = runtime_us / (complete / connections), both divisions whole.
    assert wh.interval_us(1_000_000, 2725, 8) == 1_000_000 // (2725 // 8)
    assert wh.interval_us(1_000_000, 3, 8) == 0  # fewer requests than connections: no correction


def test_percentiles_follow_wrks_rank_rule() -> None:
    histogram = {100: 50, 200: 49, 9000: 1}
    assert wh.percentile(histogram, 49) == 100  # rank round(49.5) = 50
    assert wh.percentile(histogram, 50) == 200  # rank 51: C rounds 50.5 up, Python would not
    assert wh.percentile(histogram, 98) == 200
    assert wh.percentile(histogram, 99) == 9000  # rank round(99.5) = 100


def test_the_dump_of_the_done_hook_is_read() -> None:
    text = "duration 1099816\nrequests 2494\n310 4\n311 0\n450 2\n"
    assert wh.parse(text) == (1099816, 2494, {310: 4, 450: 2})
    with pytest.raises(ValueError):
        wh.parse("duration 0\n")


def test_with_the_correction_undone_littles_law_holds_again() -> None:
    """The shape seen on gunicorn's gevent worker: mostly fast, a few long stalls."""
    connections, duration_us = 8, 1_000_000
    measured = {2_000: 3000, 60_000: 30}  # 3030 requests, mean 2.57 ms: 7.8 in flight
    requests = sum(measured.values())
    rps = requests / (duration_us / 1e6)
    corrected = wh.correct(measured, wh.interval_us(duration_us, requests, connections))
    printed = littles_law(connections, rps, wh.mean(corrected) / 1e6)
    undone = wh.uncorrect(corrected, wh.interval_us(duration_us, requests, connections))
    assert not printed.ok
    assert printed.ratio > 2
    assert undone == measured
    assert littles_law(connections, rps, wh.mean(undone) / 1e6).ok
