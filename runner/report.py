"""The report: finished cell records in, publishable Markdown out.

Pure functions of the records, so they are tested with plain data.  The
headline table has a row per version and a column per server; under it, the
changes: for each column, each pair of neighbouring rows whose verdict
differs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional, Sequence

from tabulate import tabulate

OK = "ok"


@dataclass
class RowView:
    name: str
    flask: str
    werkzeug: str
    python: str
    cells: dict[str, dict] = field(default_factory=dict)
    installed: bool = False  # versions read from a built environment
    group: tuple = ()  # rows are compared only within a group



def rows_of(records: Iterable[Mapping]) -> list[RowView]:
    """Group records by row, in matrix order, naming versions as installed."""
    rows: dict[str, RowView] = {}
    ordered = sorted(records, key=lambda r: (r.get("row_index", 0), r.get("server_index", 0)))
    for record in ordered:
        view = rows.get(record["row"])
        if view is None:
            asked = record.get("asked", {})
            view = rows[record["row"]] = RowView(
                name=record["row"],
                flask=asked.get("flask", "?"),
                werkzeug=asked.get("werkzeug") or "",
                python=asked.get("python", "?"),
                group=(asked.get("python"), asked.get("resolve", "latest")),
            )
        if record.get("flask") and not view.installed:
            view.flask = record["flask"]
            view.werkzeug = record.get("werkzeug") or ""
            view.python = record.get("python") or view.python
            view.installed = True
        view.cells[record["server"]] = dict(record)
    return list(rows.values())


def concurrency_of(record: Mapping) -> Optional[Mapping]:
    if record.get("status") != OK:
        return None
    return record.get("probes", {}).get("concurrency")


def expected_peak(record: Mapping) -> Optional[int]:
    """What the column's options promise, capped by the requests sent."""
    capacity = record.get("capacity")
    probe = concurrency_of(record)
    if capacity is None or probe is None:
        return None
    return min(capacity, probe["requests"])


def cell_text(record: Optional[Mapping]) -> str:
    if record is None:
        return ""
    probe = concurrency_of(record)
    if probe is None:
        return record.get("status", "?")
    text = f"{probe['peak']} {probe['verdict']}"
    expected = expected_peak(record)
    if expected is not None and probe["peak"] != expected:
        text += f" (!= {expected})"
    if probe.get("errors"):
        text += f", {probe['errors']} failed"
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
        previous: Optional[tuple[RowView, str]] = None
        for row in rows:
            probe = concurrency_of(row.cells.get(server, {}))
            if probe is None:
                continue
            current = probe["verdict"]
            if previous is not None and previous[0].group != row.group:
                previous = None
            if previous is not None and previous[1] != current:
                before = previous[0]
                lines.append(f"{server}: {previous[1]} in {_label(before, row)} -> "
                             f"{current} in {_label(row, before)}")
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
            expected = expected_peak(record) if record else None
            if expected is None:
                continue
            probe = concurrency_of(record)
            if probe["peak"] != expected:
                line = (f"{server} on Flask {row.flask}, Werkzeug {row.werkzeug}, Python {row.python}: "
                        f"peak {probe['peak']}, but its options promise {expected}")
                shares = probe.get("per_process") or []
                if len(shares) > 1:
                    line += f" (requests per process: {'+'.join(map(str, shares))})"
                lines.append(line)
    return lines


def fact_text(record: Optional[Mapping]) -> str:
    """``1.1 keep-alive, warns``: protocol, connection reuse, dev-server warning."""
    if record is None or record.get("status") != OK or not record.get("http"):
        return ""
    http = record["http"]
    if not http.get("protocol"):
        return "no answer"
    text = http["protocol"].replace("HTTP/", "")
    text += " keep-alive" if http.get("keep_alive") else " close"
    if record.get("dev_server_warning"):
        text += ", warns"
    return text


def facts_table(rows: Sequence[RowView], servers: Sequence[str]) -> str:
    headers = ["Flask", "Werkzeug", "Python", *servers]
    body = [[row.flask, row.werkzeug, row.python, *(fact_text(row.cells.get(s)) for s in servers)]
            for row in rows]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def concurrency_table(rows: Sequence[RowView], servers: Sequence[str]) -> str:
    headers = ["Flask", "Werkzeug", "Python", *servers]
    body = [[row.flask, row.werkzeug, row.python, *(cell_text(row.cells.get(s)) for s in servers)]
            for row in rows]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def render(records: Iterable[Mapping], servers: Sequence[str], *, probe_settings: Mapping,
           run: Optional[Mapping] = None) -> str:
    records = list(records)
    rows = rows_of(records)
    settings = probe_settings.get("concurrency", {})
    out = ["# Flask concurrency matrix", ""]
    if run:
        machine = run.get("machine", {})
        out += [f"Run `{run.get('run', '?')}`, started {run.get('started', '?')}, on "
                f"{machine.get('cpu', '?')} ({machine.get('cores', '?')} cores, "
                f"{machine.get('memory_gib', '?')} GiB), {machine.get('platform', '?')}.", ""]
    out += [
        "## Concurrency",
        "",
        f"Peak number of requests the server was inside at the same moment, from the "
        f"server's own timestamps, when {settings.get('requests', '?')} requests to a "
        f"{settings.get('delay_ms', '?')} ms endpoint arrive at once. `serial` means one at a "
        "time. Versions are the ones installed.",
        "",
        concurrency_table(rows, servers),
        "",
        "## Changes",
        "",
    ]
    found = changes(rows, servers)
    out += [f"- {line}" for line in found] or [
        "No column changes its verdict between neighbouring rows."]
    out += ["", "Rows are compared with their neighbour on the same Python and resolution mode."]
    if any(r.get("http") for r in records):
        out += ["", "## Protocol, connections and warnings", "",
                "The HTTP version each server answered an HTTP/1.1 request with, whether it "
                "answered a second request on the same connection (`keep-alive`) or closed it "
                "(`close`), and `warns` where it printed a development-server warning at start.",
                "", facts_table(rows, servers)]
    flagged = mismatches(rows, servers)
    if flagged:
        out += ["", "## Peaks that differ from the configured capacity", ""]
        out += [f"- {line}" for line in flagged]
    failed = [r for r in records if r.get("status") != OK]
    if failed:
        out += ["", "## Cells that did not run", ""]
        out += [f"- `{r['cell']}`: {r.get('status')}: {r.get('reason') or 'no reason recorded'}"
                for r in sorted(failed, key=lambda r: (r.get("row_index", 0), r.get("server_index", 0)))]
    return "\n".join(out) + "\n"
