"""Publishing a run: every artefact of a run folder, drawn from its records alone.

::

    report.md        answers, tables and changes, the charts beside it
    charts/*.svg     the charts as images (and *.png for hosts that want one)
    report.html      the same report as one page that needs no network
    results.csv      tidy: one row per cell x figure
    results.json     the run's metadata and every record, schema-versioned

:func:`publish` measures nothing and reads nothing but the run folder, so
``nox -s report`` on a stored run writes the same bytes that the run itself
wrote at its end.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from runner import analysis, settings
from runner.files import write_bytes, write_json, write_text
from runner.publish import answers, buys, page, report, summary, tidy
from runner.publish.charts import ChartSpec, charts
from runner.publish.doc import Block, Finding, markdown
from runner.records import store
from runner.records.record import SCHEMA, BisectAnswer, CellRecord, RecordError, RunMeta
from runner.records.store import artefact_path, read_meta, read_records

ARTEFACTS = ("report.md", "report.html", "results.csv", "results.json")


@dataclass(frozen=True)
class Published:
    path: Path
    report: str  # the whole Markdown (``nox -s report -- --full`` prints it)
    findings: tuple[Finding, ...]  # the summary
    charts: tuple[str, ...]
    seconds: float


def publish(run_path: Path) -> Published:
    """Write every artefact of the run folder ``run_path`` from its records."""
    started = time.perf_counter()
    meta = read_meta(run_path)
    records = read_records(run_path)
    if not records:
        raise RecordError(f"{run_path}: no cell records in it")
    blocks, drawn, found = compose(meta, records, store.bisect_answers(run_path))
    images = write_charts(store.charts_path(run_path), drawn)
    text = settings.redact(markdown(blocks, images))
    write_text(artefact_path(run_path, "report.md"), text)
    write_text(artefact_path(run_path, "report.html"), page.page_html(meta, blocks, drawn, records))
    write_text(artefact_path(run_path, "results.csv"), tidy.csv_text(meta.run, records))
    write_json(artefact_path(run_path, "results.json"), results_json(meta, records))
    return Published(
        run_path, text, tuple(found), tuple(c.name for c in drawn), time.perf_counter() - started
    )


def compose(
    meta: RunMeta, records: Sequence[CellRecord], answered: Sequence[BisectAnswer]
) -> tuple[list[Block], list[ChartSpec], list[Finding]]:
    """The run's report as blocks, its charts and its summary's findings."""
    inputs = analysis.Inputs.of_run(meta, records)
    drawn = chart_specs(records, inputs)
    found = summary.findings(records, inputs, answered)
    blocks = report.document(
        records,
        inputs,
        run=meta,
        opening=summary.section(found),
        charts=[c.name for c in drawn],
        bisected=[answer.line for answer in answered if answer.line],
        answers=answered,
        detail=buys.section(analysis.rows_of(records), inputs) + answers.section(records, inputs),
    )
    return blocks, drawn, found


def chart_specs(records: Sequence[CellRecord], inputs: analysis.Inputs) -> list[ChartSpec]:
    rows = analysis.rows_of(records)
    changed = {
        change.after.cells[change.server].cell: f"{change.was} -> {change.now}"
        for change in analysis.changed(rows, inputs.servers)
    }
    return charts(tidy.cell_facts(records), changed)


def write_charts(folder: Path, drawn: Sequence[ChartSpec]) -> dict[str, str]:
    """Each chart as SVG and PNG; the relative paths ``report.md`` shows."""
    import vl_convert  # imported here: it starts a JavaScript engine

    names = {c.name for c in drawn}
    folder = store.own_folder(folder)  # a link there is replaced, never written through
    for old in folder.iterdir():  # charts a previous rendering drew and this one does not
        if old.suffix in (".svg", ".png") and old.stem not in names:
            old.unlink()
    images = {}
    for chart in drawn:
        key = hashlib.sha256(json.dumps(chart.spec, sort_keys=True, default=str).encode()).hexdigest()
        if key not in _RENDERED:
            if len(_RENDERED) >= 64:
                _RENDERED.clear()
            svg = vl_convert.vegalite_to_svg(chart.spec)
            # from the SVG, not drawn again: the same picture, in a fifth of the time
            _RENDERED[key] = (svg, vl_convert.svg_to_png(svg, scale=1.5))
        svg, png = _RENDERED[key]
        write_text(folder / f"{chart.name}.svg", svg)
        write_bytes(folder / f"{chart.name}.png", png)
        images[chart.name] = f"charts/{chart.name}.svg"
    return images


# The pictures this process drew, by their spec: a run's report drawn again
# after bisect redraws only the charts that changed.  Kept in memory, never
# read from a run folder, which may come from elsewhere.
_RENDERED: dict[str, tuple[str, bytes]] = {}


def results_json(meta: RunMeta, records: Sequence[CellRecord]) -> dict[str, object]:
    ordered = sorted(records, key=lambda r: (r.row_index, r.server_index))
    return {"schema": SCHEMA, "run": meta.to_dict(), "cells": [r.to_dict() for r in ordered]}
