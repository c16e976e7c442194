"""The overlap count and the verdict, fed plain intervals."""

from __future__ import annotations

import pytest

from runner.measuring.facts import dev_server_warning
from runner.measuring.probes.concurrency import verdict
from runner.measuring.stats import peak_overlap


def test_one_after_another_is_one() -> None:
    assert peak_overlap([(0.0, 0.5), (0.5002, 1.0), (1.001, 1.5)]) == 1


def test_all_at_once_is_all() -> None:
    assert peak_overlap([(0.0, 0.5)] * 10) == 10


def test_touching_intervals_do_not_overlap() -> None:
    assert peak_overlap([(0.0, 1.0), (1.0, 2.0)]) == 1


def test_two_workers_serving_ten() -> None:
    # What gunicorn sync with two workers looks like: pairs, one pair after another.
    intervals = [(i // 2 * 0.5 + 0.001 * (i % 2), i // 2 * 0.5 + 0.499) for i in range(10)]
    assert peak_overlap(intervals) == 2


def test_nested_and_staggered() -> None:
    assert peak_overlap([(0, 10), (1, 2), (1.5, 3), (2.5, 4), (9, 11)]) == 3


def test_order_of_input_does_not_matter() -> None:
    intervals = [(3, 4), (0, 5), (1, 2), (4.5, 6)]
    assert peak_overlap(intervals) == peak_overlap(list(reversed(intervals))) == 2


def test_no_intervals_is_zero() -> None:
    assert peak_overlap([]) == 0


def test_an_interval_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="ends before it starts"):
        peak_overlap([(2.0, 1.0)])


@pytest.mark.parametrize(("peak", "expected"), [(1, "serial"), (2, "concurrent"), (10, "concurrent")])
def test_verdict(peak: int, expected: str) -> None:
    assert verdict(peak) == expected


def test_the_development_server_warning_is_found_in_a_log() -> None:
    log = [
        " * Serving Flask app 'target_app.app'",
        "\x1b[31mWARNING: This is a development server. Do not use it in a production deployment.\x1b[0m",
        " * Running on http://127.0.0.1:5000",
    ]
    assert dev_server_warning(log) == (
        "WARNING: This is a development server. Do not use it in a production deployment."
    )
    assert dev_server_warning([" * Running on http://127.0.0.1:5000/"]) is None
