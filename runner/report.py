"""The report: finished cell records in, publishable Markdown out.

Pure functions of the records, so they are tested with plain data.  The
headline table has a row per version and a column per server; under it, the
changes: for each column, each pair of neighbouring rows whose verdict
differs.  Every other probe draws the table its registry entry describes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from tabulate import tabulate

from runner.probes import PROBES
from runner.record import CellRecord, RunMeta, Status


@dataclass
class RowView:
    name: str
    flask: str
    werkzeug: str
    python: str
    cells: dict[str, CellRecord] = field(default_factory=dict)
    installed: bool = False  # versions read from a built environment
    group: tuple[str, str] = ("", "")  # rows are compared only within a group


def rows_of(records: Iterable[CellRecord]) -> list[RowView]:
    """Group records by row, in matrix order, naming versions as installed."""
    rows: dict[str, RowView] = {}
    for record in sorted(records, key=lambda r: (r.row_index, r.server_index)):
        view = rows.get(record.row)
        if view is None:
            asked = record.asked
            view = rows[record.row] = RowView(
                name=record.row,
                flask=asked.flask,
                werkzeug=asked.werkzeug or "",
                python=asked.python,
                group=(asked.python, asked.resolve),
            )
        if record.flask and not view.installed:
            view.flask = record.flask
            view.werkzeug = record.werkzeug or ""
            view.python = record.python or view.python
            view.installed = True
        view.cells[record.server] = record
    return list(rows.values())


def expected_peak(record: CellRecord) -> int | None:
    """What the column's options promise, capped by the requests sent."""
    probe = record.concurrency
    if record.capacity is None or probe is None:
        return None
    return min(record.capacity, probe.requests)


def cell_text(record: CellRecord | None) -> str:
    if record is None:
        return ""
    outcome = record.probe("concurrency")
    probe = record.concurrency
    if outcome is None or probe is None:
        return record.status.value
    text = PROBES["concurrency"].text(probe, outcome.repeats)
    expected = expected_peak(record)
    if expected is not None and probe.peak != expected:
        text += f" (!= {expected})"
    if probe.errors:
        text += f", {probe.errors} failed"
    return text


def changes(rows: Sequence[RowView], servers: Sequence[str]) -> list[str]:
    """For each column, each neighbouring pair of measured rows whose verdict differs.

    Neighbours are compared only when they run on the same Python with the
    same resolution mode (their ``group``): a step from a period row on
    Python 3.6 to a today's row on 3.11 changes too much at once to name a
    cause.  A row whose cell did not run is passed over: the pair is the
    nearest rows on either side of it that have a verdict.
    """
    lines = []
    for server in servers:
        previous: tuple[RowView, str] | None = None
        for row in rows:
            cell = row.cells.get(server)
            probe = cell.concurrency if cell is not None else None
            if probe is None or probe.verdict is None:
                continue
            current = probe.verdict
            if previous is not None and previous[0].group != row.group:
                previous = None
            if previous is not None and previous[1] != current:
                before = previous[0]
                lines.append(
                    f"{server}: {previous[1]} in {_label(before, row)} -> {current} in {_label(row, before)}"
                )
            previous = (row, current)
    return lines


def _label(row: RowView, other: RowView) -> str:
    """Flask always; Werkzeug and Python too where they differ from ``other``."""
    parts = [f"Flask {row.flask}"]
    if row.werkzeug != other.werkzeug:
        parts.append(f"Werkzeug {row.werkzeug}")
    if row.python != other.python:
        parts.append(f"Python {row.python}")
    return ", ".join(parts)


def mismatches(rows: Sequence[RowView], servers: Sequence[str]) -> list[str]:
    lines = []
    for row in rows:
        for server in servers:
            record = row.cells.get(server)
            probe = record.concurrency if record is not None else None
            expected = expected_peak(record) if record is not None else None
            if probe is None or expected is None or probe.peak == expected:
                continue
            line = (
                f"{server} on Flask {row.flask}, Werkzeug {row.werkzeug}, Python {row.python}: "
                f"peak {probe.peak}, but its options promise {expected}"
            )
            if len(probe.per_process) > 1:
                line += f" (requests per process: {'+'.join(map(str, probe.per_process))})"
            lines.append(line)
    return lines


def fact_text(record: CellRecord | None) -> str:
    """``1.1 keep-alive, warns``: protocol, connection reuse, dev-server warning."""
    if record is None or not record.ok or record.http is None:
        return ""
    http = record.http
    if not http.protocol:
        return "no answer"
    text = http.protocol.replace("HTTP/", "")
    text += " keep-alive" if http.keep_alive else " close"
    if record.dev_server_warning:
        text += ", warns"
    return text


def probe_text(record: CellRecord | None, name: str) -> str:
    """One cell of a probe's table: its registry's text, or why there is none."""
    outcome = record.probe(name) if record is not None else None
    if outcome is None:
        return ""
    if outcome.result is None:
        return "error"
    return PROBES[name].text(outcome.result, outcome.repeats)


def table(
    rows: Sequence[RowView],
    servers: Sequence[str],
    text: Callable[[CellRecord | None], str],
    *,
    skip_empty: bool = False,
) -> str:
    """Rows of versions, a column per server, each cell ``text(record)``."""
    headers = ["Flask", "Werkzeug", "Python", *servers]
    body = []
    for row in rows:
        cells = [text(row.cells.get(server)) for server in servers]
        if any(cells) or not skip_empty:
            body.append([row.flask, row.werkzeug, row.python, *cells])
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def render(
    records: Iterable[CellRecord],
    servers: Sequence[str],
    *,
    probe_settings: Mapping[str, Mapping[str, Any]],
    run: RunMeta | None = None,
    repeats: int = 1,
) -> str:
    records = list(records)
    rows = rows_of(records)
    out = ["# Flask concurrency matrix", ""]
    if run is not None:
        out += [f"Run `{run.run}`, started {run.started}, on {run.machine.describe()}.", ""]
    out += headline(rows, servers, probe_settings.get("concurrency", {}), repeats)
    for name, probe in PROBES.items():
        if probe.always or name not in probe_settings:
            continue
        if any(r.probe(name) for r in records):
            out += [
                "",
                f"## {probe.title}",
                "",
                probe.about.format(**probe_settings[name]),
                "",
                table(rows, servers, partial(probe_text, name=name), skip_empty=True),
            ]
    out += trailer(rows, servers, records)
    return "\n".join(out) + "\n"


def headline(
    rows: Sequence[RowView], servers: Sequence[str], settings: Mapping[str, Any], repeats: int
) -> list[str]:
    """The concurrency table and the changes under it."""
    about = PROBES["concurrency"].about.format(
        requests=settings.get("requests", "?"), delay_ms=settings.get("delay_ms", "?")
    )
    if repeats > 1:
        shown = (
            f"Each cell ran every probe {repeats} times, each time in a fresh server process. "
            "A figure is that of the run at the median"
            + (
                " (of an even number of runs, one of the two middle ones, which the record's "
                "`repeats.shown` points to)"
                if repeats % 2 == 0
                else ""
            )
            + "; `[min-max]` follows a figure whose runs differ, and `!` marks a spread "
            "wider than 10% of the median, too wide to trust."
        )
    else:
        shown = "Each cell ran every probe once, in a fresh server process."
    out = ["## Concurrency", "", about, "", shown, "", table(rows, servers, cell_text), "", "## Changes", ""]
    found = changes(rows, servers)
    out += [f"- {line}" for line in found] or ["No column changes its verdict between neighbouring rows."]
    return [*out, "", "Rows are compared with their neighbour on the same Python and resolution mode."]


def trailer(rows: Sequence[RowView], servers: Sequence[str], records: Sequence[CellRecord]) -> list[str]:
    """HTTP facts, peaks that differ from capacity, and the cells that did not run."""
    out: list[str] = []
    if any(r.http for r in records):
        out += [
            "",
            "## Protocol, connections and warnings",
            "",
            "The HTTP version each server answered an HTTP/1.1 request with, whether it "
            "answered a second request on the same connection (`keep-alive`) or closed it "
            "(`close`), and `warns` where it printed a development-server warning at start.",
            "",
            table(rows, servers, fact_text),
        ]
    flagged = mismatches(rows, servers)
    if flagged:
        out += ["", "## Peaks that differ from the configured capacity", ""]
        out += [f"- {line}" for line in flagged]
    failed = sorted(
        (r for r in records if r.status is not Status.OK), key=lambda r: (r.row_index, r.server_index)
    )
    if failed:
        out += ["", "## Cells that did not run", ""]
        out += [f"- `{r.cell}`: {r.status.value}: {r.reason or 'no reason recorded'}" for r in failed]
    return out
