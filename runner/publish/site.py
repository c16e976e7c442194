"""``nox -s site``: one static site across runs and machines, opened from disk.

::

    index.html                      the latest summary, every run, every comparison
    assets/                         the chart library, style and page script, once for every page
    runs/<run>/index.html           each run's page, as its report.html, the assets shared
    runs/<run>/records.json.gz      its records, compressed: what the next build reads back
    runs.json                       the runs the site holds and where their records are
    compare/<a>--<b>.html           each pair of consecutive runs on one class of machine
    cells/<cell>.html               each cell's key figures across the runs, each point a link
    cells/timelines.js              every cell's figures in every run, compressed, for those pages

The same runs give the same bytes: nothing of the build's own time goes into
a page, every list is sorted, and gzip is written without a time.  Each page
refers to the shared files by relative ``<script src>`` and ``<link>``,
which work from disk, and a cell's page holds only its name: its figures
are in the one compressed ``cells/timelines.js``, so the site grows by a
run's page and records a run.  Runs are read as untrusted
(:mod:`runner.records.store`); a run's page keeps its address
(``runs/<run>/``) across rebuilds.  The site carries no logs and no
pictures but the charts its pages draw.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from runner import compare
from runner.errors import UserError
from runner.files import write_bytes
from runner.measuring.probes import HEADLINE, PROBES
from runner.publish import artefacts, page
from runner.publish.doc import Heading, Para
from runner.records import store
from runner.records.checks import RUN_ID, RecordError
from runner.records.record import BisectAnswer, CellRecord, RunMeta, Status

MARK = ".flask-matrix-site"  # a folder holding it is one this command built, and may be built again
ASSETS = "assets"
LIBRARY = f"{ASSETS}/{page.LIBRARY}"
TIMELINES = "cells/timelines.js"


@dataclass(frozen=True)
class Stored:
    """A run the site holds: its metadata, records and bisect answers."""

    meta: RunMeta
    records: tuple[CellRecord, ...]
    answers: tuple[BisectAnswer, ...] = ()

    @property
    def id(self) -> str:
        return self.meta.run

    def machine_class(self) -> tuple[str, int | None, float | None]:
        """What makes two runs comparable: the CPU model, cores and memory, not the host."""
        machine = self.meta.machine
        return machine.cpu, machine.cores, machine.memory_gib


@dataclass
class Built:
    out: Path
    runs: list[str]
    pages: int = 0
    files: dict[str, bytes] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return sum(len(v) for v in self.files.values())


def read(path: Path) -> Stored:
    """A run folder, or a site's compressed records of one, read as untrusted."""
    if store.is_published(path):
        meta, records = store.read_published(path)
        return Stored(meta, tuple(records))
    meta, records = store.read_run(path)
    return Stored(meta, tuple(records), tuple(store.bisect_answers(path)))


def default_runs(results: Path) -> list[Path]:
    """Every complete run under ``results/runs``."""
    runs = results / "runs"
    found = []
    for path in sorted(runs.iterdir()) if runs.is_dir() else []:
        if path.is_dir() and not path.is_symlink() and (path / "run.json").is_file():
            try:
                if store.read_meta(path).complete:
                    found.append(path)
            except RecordError:
                continue
    return found


def gathered(paths: Sequence[Path]) -> list[Stored]:
    """The runs, each once (the first of an id), oldest first; an id that is
    not a run's name is refused, since it names a folder of the site."""
    by_id: dict[str, Stored] = {}
    for path in paths:
        run = read(path)
        if not RUN_ID.fullmatch(run.id) or run.id in (".", ".."):
            raise UserError(f"{path}: its run is named {run.id[:80]!r}, not a run's name")
        by_id.setdefault(run.id, run)
    return sorted(by_id.values(), key=lambda r: (r.meta.started, r.id))


def pairs(runs: Sequence[Stored]) -> list[tuple[Stored, Stored]]:
    """Each run with the one before it on the same class of machine, where they share cells."""
    out = []
    last: dict[tuple[str, int | None, float | None], Stored] = {}
    for run in runs:
        before = last.get(run.machine_class())
        if before is not None and {r.cell for r in before.records} & {r.cell for r in run.records}:
            out.append((before, run))
        last[run.machine_class()] = run
    return out


def build(paths: Sequence[Path], out: Path, *, watched: str | None = None) -> Built:
    """The site of the runs at ``paths`` into ``out`` (replaced whole, if a site was there)."""
    runs = gathered(paths)
    if not runs:
        raise UserError("no complete run to build a site of; run `nox -s matrix` first, or name run folders")
    built = Built(out, [r.id for r in runs])
    files = built.files
    files.update({f"{ASSETS}/{name}": text.encode() for name, text in page.shared_assets().items()})
    for run in runs:
        files[f"runs/{run.id}/index.html"] = run_page(run).encode()
        files[f"runs/{run.id}/records{store.PUBLISHED}"] = store.published_bytes(run.meta, run.records)
    compared = pairs(runs)
    for a, b in compared:
        files[f"compare/{a.id}--{b.id}.html"] = compare_page(a, b).encode()
    cells = sorted({r.cell for run in runs for r in run.records})
    files[TIMELINES] = timelines_script(cells, runs).encode()
    for cell in cells:
        files[f"cells/{cell}.html"] = timeline_page(cell, runs[-1].meta).encode()
    files["index.html"] = index_page(runs, compared, cells, watched).encode()
    files["runs.json"] = (
        json.dumps(
            {"runs": [{"run": r.id, "records": f"runs/{r.id}/records.json.gz"} for r in runs]}, indent=1
        )
        + "\n"
    ).encode()
    files[MARK] = b"built by nox -s site\n"
    built.pages = sum(1 for name in files if name.endswith(".html"))
    write_site(files, out)
    return built


def write_site(files: dict[str, bytes], out: Path) -> None:
    """Every file into a new folder beside ``out``, then that folder in its place."""
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise UserError(f"{out}: not a folder; give --out a folder the site may fill")
    if out.is_dir() and any(out.iterdir()) and not (out / MARK).is_file():
        raise UserError(f"{out} holds files that are not a site's; give --out an empty or new folder")
    fresh = out.with_name(f".{out.name}.new-{os.getpid()}")
    shutil.rmtree(fresh, ignore_errors=True)
    for name, data in sorted(files.items()):
        target = fresh / name
        target.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(target, data)
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    if out.is_dir():
        out.rename(old)
    fresh.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def run_page(run: Stored) -> str:
    blocks, drawn, _ = artefacts.compose(run.meta, run.records, run.answers)
    records = f"records{store.PUBLISHED}"
    back = (
        f'<p class="site-nav">{_link("../../index.html", "All runs")}. This run\'s records: '
        f"{_link(records, records)}, which <code>nox -s reproduce</code>, <code>compare</code> "
        "and <code>watch</code> read as they read a run folder.</p>"
    )
    return page.page_html(
        run.meta, blocks, drawn, run.records, assets=f"../../{ASSETS}", extra=back, cited_as=records
    )


def _link(href: str, text: str) -> str:
    return f'<a href="{html.escape(href)}">{html.escape(text)}</a>'


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A table of ready HTML cells (each escaped or a link)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _counts(run: Stored) -> str:
    counts = {s.value: sum(1 for r in run.records if r.status is s) for s in Status}
    return f"{counts['ok']} ok, {counts['error']} error, {counts['n/a']} n/a, {counts['skipped']} skipped"


def index_page(
    runs: Sequence[Stored],
    compared: Sequence[tuple[Stored, Stored]],
    cells: Sequence[str],
    watched: str | None,
) -> str:
    latest = runs[-1]
    _, _, found = artefacts.compose(latest.meta, latest.records, latest.answers)
    from runner.publish import summary

    blocks = [
        Heading("Flask concurrency matrix: every run", 1),
        Para(
            f"{len(runs)} runs, the newest `{latest.id}` (started {latest.meta.started})."
            + (f" The release watch last looked on {watched}." if watched else "")
        ),
        *summary.section(found),
    ]
    rows = [
        [
            _link(f"runs/{r.id}/index.html", r.id),
            html.escape(r.meta.started[:10]),
            html.escape(r.meta.machine.describe(host=False)),
            html.escape(f"{len(r.records)} cells, {len({x.row for x in r.records})} rows"),
            html.escape(_counts(r)),
        ]
        for r in reversed(runs)
    ]
    parts = [
        "<h2>Runs</h2>",
        _table(("run", "date", "machine", "matrix", "cells"), rows),
        "<h2>Compared</h2>",
        "<p>" + html.escape(compare.RULE) + "</p>",
        _table(
            ("from", "to", "comparison"),
            [
                [html.escape(a.id), html.escape(b.id), _link(f"compare/{a.id}--{b.id}.html", "side by side")]
                for a, b in reversed(compared)
            ],
        )
        if compared
        else "<p>No two runs on one class of machine share cells yet.</p>",
        "<h2>Each cell across the runs</h2>",
        "<p>" + " ".join(_link(f"cells/{c}.html", c) for c in cells) + "</p>",
    ]
    return page.page_html(
        latest.meta, blocks, [], (), assets=ASSETS, title="Flask concurrency matrix", extra="".join(parts)
    )


def compare_page(a: Stored, b: Stored) -> str:
    sides = [compare.Side(Path(run.id), run.meta, {r.cell: r for r in run.records}) for run in (a, b)]
    text = compare.render(compare.compare(*sides), fmt="md")
    runs = " and ".join(_link(f"../runs/{r.id}/index.html", r.id) for r in (a, b))
    nav = f'<p class="site-nav">{_link("../index.html", "All runs")}: {runs}</p>'
    body = nav + '<pre class="compare">' + html.escape(text) + "</pre>"
    title = f"Run {b.id} against {a.id}"
    return page.page_html(b.meta, [Heading(title, 1)], [], (), assets=f"../{ASSETS}", title=title, extra=body)


def figures_of(record: CellRecord) -> dict[str, Any]:
    """A cell's key figures in one run: the headline's peak and verdict, each other probe's key figure."""
    out: dict[str, Any] = {}
    for name, probe in PROBES.items():
        outcome = record.probe(name)
        if outcome is None or outcome.result is None:
            continue
        value = probe.figure(outcome.result)
        if value is not None:
            out[f"{probe.title}: {probe.key_figure}"] = value
    concurrency = record.concurrency
    if concurrency is not None and concurrency.verdict:
        out[f"{PROBES[HEADLINE].title}: verdict"] = concurrency.verdict
    return out


def timelines_script(cells: Sequence[str], runs: Sequence[Stored]) -> str:
    """Every cell's figures in every run, compressed, and the code that draws
    one cell's timeline from them: the one file the cells' pages share."""
    figures: dict[str, int] = {}
    table: dict[str, list[Any]] = {cell: [] for cell in cells}
    for index, run in enumerate(runs):
        for record in sorted(run.records, key=lambda r: r.cell):
            said = figures_of(record)
            numbers = [
                [figures.setdefault(name, len(figures)), value]
                for name, value in sorted(said.items())
                if isinstance(value, (int, float)) and not isinstance(value, bool)
            ]
            words = "; ".join(
                f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(said.items())
            )
            table[record.cell].append([index, record.status.value, words or record.reason or "", numbers])
    data = {
        "runs": [[run.id, run.meta.started] for run in runs],
        "figures": list(figures),
        "cells": table,
        "spec": timeline_spec(),
    }
    return f'const flaskMatrixTimelines = "{page.packed(data)}";\n{TIMELINE_SCRIPT}'


# Draws the timeline of the page's cell (its <div data-timeline>) from the
# shared data: a point and a row for each run the cell was in, each a link.
TIMELINE_SCRIPT = """
unpack(flaskMatrixTimelines).then((data) => {
  const place = document.querySelector("[data-timeline]");
  const cell = place.dataset.timeline;
  const target = place.querySelector(".chart");
  const body = place.querySelector("tbody");
  const points = [];
  for (const [index, status, said, numbers] of data.cells[cell] || []) {
    const [run, started] = data.runs[index];
    const href = "../runs/" + run + "/index.html#cell=" + cell;
    for (const [figure, value] of numbers) {
      points.push({run, started, figure: data.figures[figure], value, href});
    }
    const row = add(body, "tr");
    const link = add(add(row, "td"), "a", run);
    link.href = href;
    add(row, "td", status);
    add(row, "td", said).className = "wrap";
  }
  if (!points.length) {
    target.closest("figure").replaceWith("No figure of this cell was measured in any run.");
    return;
  }
  draw(target, {...data.spec, datasets: {points}});
}).catch((error) => console.error(error));
"""


def timeline_page(cell: str, meta: RunMeta) -> str:
    """A cell's page: its name, a place for its chart and table, which the shared data fill."""
    name = html.escape(cell)
    extra = (
        f'<p class="site-nav">{_link("../index.html", "All runs")}</p>'
        f'<div data-timeline="{name}">'
        f'<figure class="tall"><div class="chart" id="chart-timeline"></div>'
        f"<figcaption>{name}: each key figure by run; a point opens its run</figcaption></figure>"
        "<noscript><p>The chart and the table are drawn from the site's data by JavaScript;"
        " each run's page has the figures as tables.</p></noscript>"
        '<div class="table"><table><thead><tr><th>run</th><th>status</th><th>figures</th></tr></thead>'
        "<tbody></tbody></table></div></div>"
    )
    title = f"{cell} across the runs"
    heading = Heading(f"{cell}: its key figures across the runs", 1)
    return page.page_html(
        meta, [heading], [], (), assets=f"../{ASSETS}", title=title, extra=extra, scripts=["timelines.js"]
    )


def timeline_spec() -> dict[str, Any]:
    """Each key figure by run, a panel each (their units differ), each point a
    link to its run; its data are named ``points``, which the page supplies."""
    import altair as alt

    chart = (
        alt.Chart(alt.NamedData("points"))
        .mark_line(point=True)
        .encode(
            x=alt.X("run:O", title="run", sort=None, axis=alt.Axis(labelAngle=-40, orient="top")),
            y=alt.Y("value:Q", title=None),
            href="href:N",
            tooltip=["run:N", "started:N", "figure:N", "value:Q"],
        )
        .properties(width=600, height=70)  # eight panels and the runs' axis within one screen
        .facet(row=alt.Row("figure:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")))
        .resolve_scale(y="independent")
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec
