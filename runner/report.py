"""The report: finished cell records in, publishable Markdown out.

Pure functions of the records, so they are tested with plain data.  The
headline table has a row per version and a column per server; under it, the
changes: for each column, each pair of neighbouring rows whose verdict
differs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Sequence

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


def concurrency_of(record: Optional[Mapping]) -> Optional[Mapping]:
    return _probe_of(record, "concurrency")


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
    text = f"{probe['peak']}{_range(probe)} {probe['verdict']}"
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


def _probe_of(record: Optional[Mapping], name: str) -> Optional[Mapping]:
    if record is None or record.get("status") != OK:
        return None
    return record.get("probes", {}).get(name)


def _range(probe: Mapping, fmt: str = "{:g}") -> str:
    """`` [min-max]`` where repeated runs differ, `` !`` where they differ too much."""
    repeats = probe.get("repeats") or {}
    if repeats.get("n", 1) > 1 and repeats.get("min") != repeats.get("max"):
        text = f" [{fmt.format(repeats['min'])}-{fmt.format(repeats['max'])}]"
        return text + (" !" if repeats.get("unstable") else "")
    return ""


def cpu_text(probe: Mapping) -> str:
    if probe.get("error") or probe.get("speedup") is None:
        return "error" if probe.get("error") else "failed"
    return (f"x{probe['speedup']:.2f}{_range(probe, '{:.2f}')} "
            f"({probe['processes']}p, x{probe['speedup_per_process']:.2f}/p, peak {probe['peak']})")


def throughput_text(probe: Mapping) -> str:
    if probe.get("error"):
        return "error"
    text = f"{probe['rps']:.0f}{_range(probe, '{:.0f}')} rps, p50 {probe['latency_ms']['p50']:.1f} ms, " \
           f"p99 {probe['latency_ms']['p99']:.1f} ms, {probe['generator']}"
    if probe.get("errors"):
        text += f", {probe['errors']} errors"
    if probe.get("client_bound"):
        text += ", client-bound"
    if probe.get("little") and not probe["little"].get("ok", True):
        text += f", Little x{probe['little']['ratio']:.2f}"
    return text


def burst_text(probe: Mapping) -> str:
    if probe.get("error"):
        return "error"
    lost = [f"{probe[k]} {k.replace('_', ' ')}" for k in ("refused", "reset", "timed_out", "other")
            if probe.get(k)]
    text = f"{probe['completed']}/{probe['requests']}{_range(probe, '{:.0f}')} in {probe['wall_s']:.1f} s, " \
           f"peak {probe['peak']}"
    return text + (", " + ", ".join(lost) if lost else "")


def slow_client_text(probe: Mapping) -> str:
    if probe.get("error"):
        return "error"
    if probe["served"]:
        return f"served in {probe['waited_s']:.2f} s{_range(probe, '{:.2f}')}"
    return f"blocked > {probe['wait_limit_s']:g} s"


PROBE_TABLES = {
    "cpu": ("CPU", cpu_text,
            "{requests} requests burning {iterations} Python loop iterations each, sent one after "
            "another and then all at once: the speed-up of the second over the first, the server "
            "processes that answered, the speed-up per process, and the overlap. Threads overlap "
            "(a peak above 1) but take turns on the GIL (a speed-up near 1 per process)."),
    "throughput": ("Throughput", throughput_text,
                   "{connections} connections asking for a tiny page for {duration_s} s after "
                   "{warmup_s} s of warm-up: requests per second and latency, and the generator "
                   "that made the load. `client-bound` marks a figure the generator itself limited; "
                   "`Little xR` marks a cell where requests per second x mean latency is R times the "
                   "connections, off by more than 20%: the measurement itself is then suspect."),
    "burst": ("Burst", burst_text,
              "{requests} connections opened at once, each asking for a {delay_ms} ms page, "
              "given {timeout_s} s: how many were answered, refused, reset or timed out, and the "
              "server-side overlap."),
    "slow_client": ("Slow clients", slow_client_text,
                    "{connections} connections send half a request and stall; then one ordinary "
                    "request: answered, and how fast, or still waiting after {wait_s} s."),
}


def probe_table(rows: Sequence[RowView], servers: Sequence[str], name: str,
                text: "Callable[[Mapping], str]") -> str:
    headers = ["Flask", "Werkzeug", "Python", *servers]
    body = []
    for row in rows:
        cells = []
        for server in servers:
            probe = _probe_of(row.cells.get(server), name)
            cells.append(text(probe) if probe else "")
        if any(cells):
            body.append([row.flask, row.werkzeug, row.python, *cells])
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def concurrency_table(rows: Sequence[RowView], servers: Sequence[str]) -> str:
    headers = ["Flask", "Werkzeug", "Python", *servers]
    body = [[row.flask, row.werkzeug, row.python, *(cell_text(row.cells.get(s)) for s in servers)]
            for row in rows]
    return tabulate(body, headers=headers, tablefmt="github", disable_numparse=True)


def render(records: Iterable[Mapping], servers: Sequence[str], *, probe_settings: Mapping,
           run: Optional[Mapping] = None, repeats: int = 1) -> str:
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
        f"Every figure in this report is the median of {repeats} run{'s' if repeats != 1 else ''} "
        "per cell, each probe in a fresh server process; `[min-max]` follows a figure whose runs "
        "differ, and `!` marks a spread wider than 10% of the median, too wide to trust.",
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
    for name, (title, text, about) in PROBE_TABLES.items():
        if name in probe_settings and any(_probe_of(r, name) for r in records):
            out += ["", f"## {title}", "", about.format(**probe_settings[name]), "",
                    probe_table(rows, servers, name, text)]
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
