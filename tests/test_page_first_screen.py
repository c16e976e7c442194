"""The page leads with its answer: Debian's chromium, headless, offline.

The summary lies within the first screen at 1400 x 900 and the concurrency
map starts there; a dark colour scheme changes the background; print shows
every collapsed section; the first column of a wide table stays in view when
it is scrolled; every cell name opens its record; the file stays under 5 MB;
and the console shows no error.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from runner import cli
from tests.browser import INSTALL, chromium

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "run-schema1"
MAX_BYTES = 5 * 1024 * 1024
DRAWN = "[...document.querySelectorAll('.chart')].every(c => c.dataset.drawn === 'yes')"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path]]:
    binary = chromium()
    if binary is None:
        pytest.skip(f"no chromium to open the page with: {INSTALL}")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the test group installs playwright")
    run = tmp_path_factory.mktemp("first-screen") / "run"
    shutil.copytree(FIXTURE, run)
    assert cli.report([str(run)]) == 0
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        try:
            yield launched, run / "report.html"
        finally:
            launched.close()


def opened(browser: tuple[Any, Path], **context: Any) -> tuple[Any, list[str]]:
    launched, page_file = browser
    shown = launched.new_context(offline=True, **context).new_page()
    errors: list[str] = []
    shown.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    shown.on("pageerror", lambda e: errors.append(str(e)))
    shown.goto(page_file.as_uri())
    shown.wait_for_function(DRAWN, timeout=30_000)
    return shown, errors


def box(shown: Any, selector: str) -> dict[str, float]:
    found: dict[str, float] = shown.eval_on_selector(
        selector,
        "e => { const r = e.getBoundingClientRect(); return {top: r.top, bottom: r.bottom, left: r.left}; }",
    )
    return found


def test_the_summary_and_the_map_are_on_the_first_screen(browser: tuple[Any, Path]) -> None:
    shown, errors = opened(browser, viewport={"width": 1400, "height": 900})
    assert box(shown, "#summary ol.findings")["bottom"] <= 900
    assert box(shown, "#chart-concurrency")["top"] < 900
    assert shown.eval_on_selector("details.section", "e => e.id") == "summary"  # the first section
    toc = shown.eval_on_selector_all("nav.toc a", "links => links.map(a => a.getAttribute('href'))")
    assert toc[:2] == ["#summary", "#concurrency"]
    assert errors == []


def test_a_dark_scheme_changes_the_background(browser: tuple[Any, Path]) -> None:
    background = "getComputedStyle(document.body).backgroundColor"
    light, _ = opened(browser, color_scheme="light")
    dark, errors = opened(browser, color_scheme="dark")
    assert light.evaluate(background) != dark.evaluate(background)
    assert errors == []


def test_print_shows_every_collapsed_section(browser: tuple[Any, Path]) -> None:
    shown, errors = opened(browser, viewport={"width": 1400, "height": 900})
    folded = shown.eval_on_selector_all("details.section:not([open])", "ds => ds.map(d => d.id)")
    assert folded  # the detail and the facts start collapsed
    seen = "id => document.getElementById(id).querySelector('summary + div > *').checkVisibility()"
    assert not any(shown.evaluate(seen, name) for name in folded)
    shown.emulate_media(media="print")
    assert all(shown.evaluate(seen, name) for name in folded), folded
    assert errors == []


def test_the_first_column_stays_in_view_when_a_table_scrolls(browser: tuple[Any, Path]) -> None:
    shown, errors = opened(browser, viewport={"width": 520, "height": 900})
    scroller = "#concurrency .table:nth-of-type(2)"
    wide = shown.eval_on_selector(scroller, "e => e.scrollWidth - e.clientWidth")
    assert wide > 100  # the full table is wider than its place
    first = f"{scroller} tbody tr:first-child td:first-child"
    before = box(shown, first)["left"]
    shown.eval_on_selector(scroller, "e => { e.scrollLeft = 300; }")
    shown.wait_for_timeout(100)
    assert abs(box(shown, first)["left"] - before) < 1
    assert box(shown, f"{scroller} tbody tr:first-child td:nth-child(4)")["left"] < before + 100
    assert errors == []


def test_every_cell_name_opens_its_record(browser: tuple[Any, Path]) -> None:
    shown, errors = opened(browser, viewport={"width": 1400, "height": 900})
    names = shown.eval_on_selector_all(
        "td[data-cell], a.cell",
        "es => [...new Set(es.map(e => e.dataset.cell || decodeURIComponent(e.hash.slice(6))))]",
    )
    assert len(names) == len(list((FIXTURE / "cells").glob("*.json")))
    assert shown.eval_on_selector_all("td[data-cell]", "es => es.every(e => e.tabIndex === 0)")
    for name in names:
        shown.evaluate(
            "name => document.querySelector(`td[data-cell='${name}'], a.cell[href='#cell=${name}']`).click()",
            name,
        )
        assert shown.eval_on_selector("#cell-panel", "d => d.open")
        assert shown.inner_text("#cell-panel h3") == name
        panel = shown.inner_text("#cell-panel")
        assert "Flask " in panel
        assert "concurrency" in panel or "skipped: " in panel  # its figures, or why it has none
        shown.click("#cell-panel button")
        assert not shown.eval_on_selector("#cell-panel", "d => d.open")
    assert errors == []


def test_a_cell_panel_opens_from_the_address(browser: tuple[Any, Path]) -> None:
    launched, page_file = browser
    shown = launched.new_context(offline=True).new_page()
    shown.goto(page_file.as_uri() + "#cell=flask-0.12.5--flask-run")
    assert shown.inner_text("#cell-panel h3") == "flask-0.12.5--flask-run"


def test_the_page_is_one_file_under_5_mb(browser: tuple[Any, Path]) -> None:
    _, page_file = browser
    assert page_file.stat().st_size <= MAX_BYTES
