"""report.html in a real browser: Debian's chromium, headless, with the network cut off.

Every chart must draw, hovering a mark must show the cell's figures and
versions, the filters must narrow a chart, and the console must stay free of
errors.  A screenshot is kept in the test's temporary folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner import cli
from runner.publish.page import islands
from tests.browser import INSTALL, chromium

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run-schema1"


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[str], list[str], Path]]:
    binary = chromium()
    if binary is None:
        pytest.skip(f"no chromium to open the page with: {INSTALL}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the test group installs playwright")
    folder = tmp_path_factory.mktemp("page")
    run = folder / "run"
    shutil.copytree(FIXTURE, run)
    _give_a_record_hostile_text(run)
    assert cli.report([str(run)]) == 0
    errors: list[str] = []
    fetched: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        context = browser.new_context(offline=True, viewport={"width": 1300, "height": 900})
        shown = context.new_page()
        shown.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        shown.on("pageerror", lambda e: errors.append(str(e)))
        shown.on("request", lambda r: fetched.append(r.url))
        shown.goto((run / "report.html").as_uri())
        shown.wait_for_function(
            "document.querySelectorAll('.chart').length > 0 && "
            "[...document.querySelectorAll('.chart')].every(c => c.dataset.drawn === 'yes')",
            timeout=30_000,
        )
        try:
            yield shown, errors, fetched, folder
        finally:
            browser.close()


HOSTILE_TEXT = "</script><script>alert(1)</script><!-- \u2028\u2029 ]]> `x` [a](b) |"


def _give_a_record_hostile_text(run: Path) -> None:
    """A stored run is untrusted: text in a record must not stop the charts from drawing."""
    path = sorted((run / "cells").glob("*.json"))[0]
    data = json.loads(path.read_text())
    data["reason"] = HOSTILE_TEXT
    path.write_text(json.dumps(data))


def test_every_chart_draws_offline_with_no_console_error(
    page: tuple[Any, list[str], list[str], Path],
) -> None:
    shown, errors, fetched, folder = page
    drawn = shown.eval_on_selector_all(
        ".chart", "charts => charts.map(c => [c.dataset.chart, c.querySelectorAll('svg .role-mark').length])"
    )
    assert [name for name, _ in drawn] == [
        "concurrency",
        "changes",
        "cpu",
        "throughput",
        "burst",
        "slow_client",
    ]
    assert all(marks > 0 for _, marks in drawn), drawn
    shown.screenshot(path=str(folder / "report.png"), full_page=True)
    assert (folder / "report.png").stat().st_size > 10_000
    assert errors == []
    assert [url for url in fetched if not url.startswith("file:")] == []
    # the hostile text is in its data, which the page decoded itself
    assert "alert(1)" in json.dumps(islands((folder / "run" / "report.html").read_text()))


def test_hovering_a_cell_shows_its_figures_and_versions(page: tuple[Any, list[str], list[str], Path]) -> None:
    shown, errors, _, _ = page
    # the peak's label lies over the cell and carries the same tooltip
    shown.hover('#chart-concurrency svg .mark-text text[aria-label*="cell: flask-0.12.5--flask-run"]')
    tooltip = ""
    for _ in range(50):  # vega-tooltip shows the element once the pointer rests
        shown.wait_for_timeout(100)
        tooltip = shown.evaluate(
            "(e => e && e.classList.contains('visible') ? e.innerText : '')"
            "(document.getElementById('vg-tooltip-element'))"
        )
        if tooltip:
            break
    assert "flask-0.12.5--flask-run" in tooltip
    assert "serial" in tooltip
    assert "0.12.5" in tooltip
    assert "3.11.7" in tooltip
    assert errors == []


def test_the_server_filter_narrows_a_chart(page: tuple[Any, list[str], list[str], Path]) -> None:
    shown, errors, _, _ = page
    rects = "#chart-concurrency svg .mark-rect path"
    before = len(shown.query_selector_all(rects))
    shown.select_option("#chart-concurrency select[name='server_pick']", label="gunicorn-sync")
    shown.wait_for_function(f"document.querySelectorAll({rects!r}).length < {before}", timeout=5_000)
    labels = [e.get_attribute("aria-label") for e in shown.query_selector_all(rects)]
    assert labels
    assert all("server: gunicorn-sync" in (label or "") for label in labels)
    assert errors == []
