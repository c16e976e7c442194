"""``nox -s site``: one static site over three stored runs, the same bytes each build, read in chromium.

The runs are the fixture run, the later of the verdict pair, and a run made
in the test.  The site is built twice, each time in a process of its own,
and every file compared; then chromium opens it from disk with the network
cut and clicks from the index to a run, a comparison and a cell's timeline,
each page drawing its charts with no console error.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from runner import cli
from runner.publish import site
from runner.records.store import read_meta
from tests.browser import offline_page

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MATRIX = """
python: "3.11"
versions:
  - flask: "3.1.*"
servers:
  gunicorn: {kind: gunicorn, workers: 2}
  waitress: {kind: waitress, threads: 4}
probes:
  concurrency: {requests: 4, delay_ms: 200}
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("site-runs")
    (folder / "matrix.yaml").write_text(MATRIX)
    argv = ["--matrix", str(folder / "matrix.yaml"), "--results", str(folder / "results")]
    assert cli.main([*argv, "--envs", str(folder / "envs"), "--no-bisect"]) == 0
    made = (folder / "results" / "latest").resolve()
    return [FIXTURES / "run-schema1", FIXTURES / "verdict-pair" / "after", made]


def _build(runs: list[Path], out: Path) -> None:
    argv = ["--only", *map(str, runs), "--out", str(out), "--watched", "2026-12-01"]
    code = f"import sys; from runner import cli; sys.exit(cli.site({argv!r}))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cli.REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_two_builds_in_two_processes_give_the_same_bytes(runs: list[Path], tmp_path: Path) -> None:
    _build(runs, tmp_path / "one")
    _build(runs, tmp_path / "two")
    one, two = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert sorted(one) == sorted(two)
    assert [name for name in one if one[name] != two[name]] == []
    made = runs[-1].name
    assert f"runs/{made}/index.html" in one  # a run's page keeps its address
    assert not any(name.endswith((".png", ".log")) for name in one)
    assert one[site.LIBRARY] == two[site.LIBRARY]
    pages = [data for name, data in one.items() if name.endswith(".html")]
    assert all(b'<script src="' in data for data in pages)  # the library, shared
    assert max(len(data) for data in pages) < len(one[site.LIBRARY])
    assert not any(b"<style>" in data for data in pages)  # the style, shared too
    cell_pages = [data for name, data in one.items() if name.startswith("cells/") and name.endswith(".html")]
    assert cell_pages
    assert all(len(data) < 4000 for data in cell_pages)  # a name and a place: the figures are shared
    listed = json.loads(one["runs.json"])["runs"]
    assert [entry["run"] for entry in listed] == [read_meta(p).run for p in runs]  # oldest first


@pytest.mark.slow
def test_a_sites_records_are_read_back_as_untrusted(runs: list[Path], tmp_path: Path) -> None:
    _build(runs, tmp_path / "site")
    made = runs[-1].name
    back = site.read(tmp_path / "site" / "runs" / made / "records.json.gz")
    assert back.id == made
    assert {r.cell for r in back.records} == {p.stem for p in (runs[-1] / "cells").glob("*.json")}
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(gzip.compress(json.dumps({"run": {}, "cells": [{"cell": "../x"}]}).encode()))
    with pytest.raises(cli.UserError):
        site.read(bad)


def _drawn(shown: Any) -> list[str]:
    shown.wait_for_function(
        "[...document.querySelectorAll('.chart')].every(c => c.dataset.drawn === 'yes' || c.className === 'chart-error')",
        timeout=60_000,
    )
    return list(shown.eval_on_selector_all(".chart", "cs => cs.map(c => c.dataset.drawn || 'failed')"))


@pytest.mark.slow
def test_the_site_opens_from_disk_offline_and_every_page_draws(runs: list[Path], tmp_path: Path) -> None:
    fetched: list[str] = []
    with offline_page() as (shown, errors):
        _build(runs, tmp_path / "site")
        shown.on("request", lambda r: fetched.append(r.url))
        shown.goto((tmp_path / "site" / "index.html").as_uri())
        assert "The release watch last looked on 2026-12-01." in shown.content()
        shown.click(f"a[href='runs/{runs[-1].name}/index.html']")
        assert all(d == "yes" for d in _drawn(shown))
        assert len(_drawn(shown)) >= 1
        shown.click("text=All runs")
        shown.click("text=side by side")
        assert "verdict change(s)" in shown.content()
        shown.click("text=All runs")
        shown.click("a[href='cells/flask-3.1.x--waitress.html']")
        assert _drawn(shown) == ["yes"]
        assert (
            shown.locator("#chart-timeline svg text", has_text=runs[-1].name).count() >= 1
        )  # the runs' axis
        shown.click(f"a[href$='{runs[-1].name}/index.html#cell=flask-3.1.x--waitress']")
        shown.wait_for_selector("dialog#cell-panel[open]")
    assert errors == []
    assert all(url.startswith("file://") for url in fetched)
