"""``nox -s site``: one static site across runs and machines, opened from disk.

::

    index.html                      the latest summary, every run, every comparison
    assets/vega-embed.js            the chart library, once, for every page (a relative <script src>)
    runs/<run>/index.html           each run's page, as its report.html, the library shared
    runs/<run>/records.json.gz      its records, compressed: what the next build reads back
    runs.json                       the runs the site holds and where their records are
    compare/<a>--<b>.html           each pair of consecutive runs on one class of machine
    cells/<cell>.html               each cell's key figures across the runs, each point a link

The same runs give the same bytes: nothing of the build's own time goes into
a page, every list is sorted, and gzip is written without a time.  Runs are
read as untrusted (:mod:`runner.records.store`); a run's page keeps its
address (``runs/<run>/``) across rebuilds.  The site carries no logs and no
pictures but the charts its pages draw.
"""

from __future__ import annotations

import gzip
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
from runner.publish.charts import ChartSpec
from runner.publish.doc import Block, Chart, Heading, Para
from runner.records import store
from runner.records.checks import RUN_ID, RecordError
from runner.records.record import SCHEMA, BisectAnswer, CellRecord, RunMeta, Status

MARK = ".flask-matrix-site"  # a folder holding it is one this command built, and may be built again
LIBRARY = "assets/vega-embed.js"
MAX_RECORDS_BYTES = 64 * 1024 * 1024


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
    if path.name.endswith(".json.gz"):
        return from_records(store.read_untrusted(path, MAX_RECORDS_BYTES), str(path))
    meta, records = store.read_run(path)
    return Stored(meta, tuple(records), tuple(store.bisect_answers(path)))


def from_records(raw: bytes, shown: str) -> Stored:
    """A site's ``records.json.gz``: the run's metadata and every record, each checked."""
    try:
        data = json.loads(gzip.decompress(raw)[: MAX_RECORDS_BYTES + 1])
    except (OSError, EOFError, ValueError) as exc:
        raise UserError(f"{shown}: not a site's compressed records ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise UserError(f"{shown}: not a site's compressed records (no list of cells)")
    try:
        from runner.records.record import load_cell, load_run_meta

        meta = load_run_meta(data.get("run") or {})
        records = tuple(load_cell(cell) for cell in data["cells"])
    except (ValueError, TypeError, KeyError) as exc:
        raise UserError(f"{shown}: {exc}") from None
    return Stored(meta, records)


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
    files[LIBRARY] = page.vega_embed_script().encode()
    for run in runs:
        files[f"runs/{run.id}/index.html"] = run_page(run).encode()
        files[f"runs/{run.id}/records.json.gz"] = records_gz(run)
    compared = pairs(runs)
    for a, b in compared:
        files[f"compare/{a.id}--{b.id}.html"] = compare_page(a, b).encode()
    cells = sorted({r.cell for run in runs for r in run.records})
    for cell in cells:
        files[f"cells/{cell}.html"] = timeline_page(cell, runs).encode()
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


def records_gz(run: Stored) -> bytes:
    ordered = sorted(run.records, key=lambda r: (r.row_index, r.server_index))
    data = {"schema": SCHEMA, "run": run.meta.to_dict(), "cells": [r.to_dict() for r in ordered]}
    return gzip.compress(json.dumps(data, sort_keys=True, separators=(",", ":")).encode(), 9, mtime=0)


def run_page(run: Stored) -> str:
    blocks, drawn, _ = artefacts.compose(run.meta, run.records, run.answers)
    back = '<p class="site-nav"><a href="../../index.html">All runs</a></p>'
    return page.page_html(run.meta, blocks, drawn, run.records, library=f"../../{LIBRARY}", extra=back)


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
        latest.meta, blocks, [], (), library=LIBRARY, title="Flask concurrency matrix", extra="".join(parts)
    )


def compare_page(a: Stored, b: Stored) -> str:
    sides = [compare.Side(Path(run.id), run.meta, {r.cell: r for r in run.records}) for run in (a, b)]
    text = compare.render(compare.compare(*sides), fmt="md")
    runs = " and ".join(_link(f"../runs/{r.id}/index.html", r.id) for r in (a, b))
    nav = f'<p class="site-nav">{_link("../index.html", "All runs")}: {runs}</p>'
    body = nav + '<pre class="compare">' + html.escape(text) + "</pre>"
    title = f"Run {b.id} against {a.id}"
    return page.page_html(
        b.meta, [Heading(title, 1)], [], (), library=f"../{LIBRARY}", title=title, extra=body
    )


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


def timeline_page(cell: str, runs: Sequence[Stored]) -> str:
    points = []
    rows = []
    for run in runs:
        record = next((r for r in run.records if r.cell == cell), None)
        if record is None:
            continue
        figures = figures_of(record)
        href = f"../runs/{run.id}/index.html#cell={cell}"
        for figure, value in sorted(figures.items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                points.append(
                    {
                        "run": run.id,
                        "started": run.meta.started,
                        "figure": figure,
                        "value": value,
                        "href": href,
                    }
                )
        said = "; ".join(
            f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(figures.items())
        )
        rows.append(
            [
                _link(href, run.id),
                html.escape(record.status.value),
                html.escape(said or (record.reason or "")),
            ]
        )
    drawn = [ChartSpec("timeline", f"{cell} across the runs", timeline_spec(points))] if points else []
    blocks: list[Block] = [Heading(f"{cell}: its key figures across the runs", 1)]
    blocks += [Chart("timeline", f"{cell}: each key figure by run; a point opens its run")] if points else []
    extra = f'<p class="site-nav">{_link("../index.html", "All runs")}</p>' + _table(
        ("run", "status", "figures"), rows
    )
    meta = runs[-1].meta
    return page.page_html(
        meta, blocks, drawn, (), library=f"../{LIBRARY}", title=f"{cell} across the runs", extra=extra
    )


def timeline_spec(points: list[dict[str, Any]]) -> dict[str, Any]:
    """Each key figure by run, a panel each (their units differ), each point a link to its run."""
    import altair as alt

    chart = (
        alt.Chart(alt.Data(values=points))  # type: ignore[no-untyped-call]
        .mark_line(point=True)
        .encode(
            x=alt.X("run:O", title="run", sort=None),
            y=alt.Y("value:Q", title=None),
            href="href:N",
            tooltip=["run:N", "started:N", "figure:N", "value:Q"],
        )
        .properties(width=600, height=120)
        .facet(row=alt.Row("figure:N", title=None, header=alt.Header(labelAngle=0, labelAlign="left")))
        .resolve_scale(y="independent")
    )
    spec: dict[str, Any] = chart.to_dict()
    return spec
