"""A thousand cells on one page: the page stays within its size and draws, offline, in chromium.

The run is made from the fixture run's 16 records, copied under new row
names to 1,008 cells (as ``tests/benchmarks/bench_scale.py`` makes its runs
from a real one), then published as ``nox -s report`` does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from runner import cli
from tests.browser import offline_page
from tests.test_page_browser import FIXTURE

BENCH = Path(__file__).resolve().parent / "benchmarks" / "bench_scale.py"
MAX_PAGE = 5 * 1000 * 1000


def _scaled_run(target: Path, copies: int) -> int:
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH)
    assert spec is not None
    assert spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return int(bench.scaled_run(FIXTURE, target, copies))


@pytest.mark.slow
def test_a_thousand_cell_page_is_within_5_mb_and_draws_every_chart_offline(tmp_path: Path) -> None:
    with offline_page() as (shown, errors):
        run = tmp_path / "20990101T000000Z"
        assert _scaled_run(run, 63) == 1008
        assert cli.report([str(run)]) == 0
        page = run / "report.html"
        assert page.stat().st_size <= MAX_PAGE
        report = (run / "report.md").read_text()
        assert "(63 times)" in report  # one change line per copy of the rows, said once
        shown.goto(page.as_uri())
        shown.wait_for_function(
            "document.querySelectorAll('.chart').length > 0 && "
            "[...document.querySelectorAll('.chart')].every(c => c.dataset.drawn === 'yes')",
            timeout=120_000,
        )
        marks = shown.eval_on_selector_all(
            ".chart", "charts => charts.map(c => c.querySelectorAll('svg .role-mark').length)"
        )
        assert marks
        assert all(n > 0 for n in marks)
        folded = shown.locator("details.fold:not([open]) > summary", has_text="every cell").first
        folded.click()  # the full table, a click away
        assert shown.locator("details.fold[open] table td[data-cell]").count() >= 900
        shown.locator("td[data-cell]").first.click()
        shown.wait_for_selector("dialog#cell-panel[open]")
    assert errors == []
