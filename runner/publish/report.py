"""The report: finished cell records in, publishable Markdown out.

Pure functions of the records, so they are tested with plain data.  The
headline table has a row per version and a column per server; under it, the
changes: for each column, each pair of neighbouring rows whose verdict
differs.  Every other probe draws the table its registry entry describes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from runner.measuring.probes import PROBES
from runner.publish.doc import Block, Bullets, Chart, Heading, Para, Table, markdown
from runner.records.record import CellRecord, RunMeta, Status, machine_names


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


@dataclass(frozen=True)
class Change:
    """A column whose verdict differs between two neighbouring rows."""

    server: str
    before: RowView
    after: RowView
    was: str
    now: str

    def line(self) -> str:
        return (
            f"{self.server}: {self.was} in {versions_label(self.before, self.after)} -> "
            f"{self.now} in {versions_label(self.after, self.before)}"
        )


def changes(rows: Sequence[RowView], servers: Sequence[str]) -> list[str]:
    return [change.line() for change in changed(rows, servers)]


def changed(rows: Sequence[RowView], servers: Sequence[str]) -> list[Change]:
    """For each column, each neighbouring pair of measured rows whose verdict differs.

    Neighbours are compared only when they run on the same Python with the
    same resolution mode (their ``group``): a step from a period row on
    Python 3.6 to a today's row on 3.11 changes too much at once to name a
    cause.  A row whose cell did not run is passed over: the pair is the
    nearest rows on either side of it that have a verdict.
    """
    found = []
    for server in servers:
        previous: tuple[RowView, str] | None = None
        for row in rows:
            cell = row.cells.get(server)
            probe = cell.concurrency if cell is not None else None
            if probe is None or probe.verdict is None:
                continue
            if previous is not None and previous[0].group != row.group:
                previous = None
            if previous is not None and previous[1] != probe.verdict:
                found.append(Change(server, previous[0], row, previous[1], probe.verdict))
            previous = (row, probe.verdict)
    return found


def versions_label(row: RowView, other: RowView) -> str:
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
) -> Table:
    """Rows of versions, a column per server, each cell ``text(record)``."""
    body = []
    for row in rows:
        cells = [text(row.cells.get(server)) for server in servers]
        if any(cells) or not skip_empty:
            body.append((row.flask, row.werkzeug, row.python, *cells))
    return Table(headers=("Flask", "Werkzeug", "Python", *servers), rows=tuple(body))


@dataclass(frozen=True)
class Inputs:
    """What a report is drawn from besides the records: the run's matrix."""

    servers: tuple[str, ...]
    probe_settings: Mapping[str, Mapping[str, Any]]
    repeats: int = 1
    proxied: frozenset[str] = frozenset()  # the columns with nginx in front
    machines: Mapping[str, str] = field(default_factory=dict)  # cell -> its machine's name

    def machine(self, record: CellRecord) -> str:
        """The name of the machine that measured ``record`` (see :func:`machine_names`)."""
        found = self.machines.get(record.cell)
        if found is None:
            found = record.machine.describe() if record.machine else "an unrecorded machine"
        return found

    @classmethod
    def of_run(cls, meta: RunMeta, records: Sequence[CellRecord]) -> Inputs:
        """From the matrix a run stored (its servers' order from the records)."""
        written = dict(meta.matrix.get("probes") or {})
        repeats = int(written.pop("repeats", 1) or 1)
        # the matrix as written: a probe's settings left out take their defaults
        probes = {
            name: {**probe.defaults(), **(written.get(name) or {})}
            for name, probe in PROBES.items()
            if name in written or probe.always
        }
        order = sorted({(r.server_index, r.server) for r in records})
        servers = [name for _, name in order]
        declared = dict(meta.matrix.get("servers") or {})
        servers += [name for name in declared if name not in servers]
        proxied = {
            name for name, server in declared.items() if isinstance(server, dict) and server.get("proxy")
        }
        proxied |= {r.server for r in records if r.nginx}
        return cls(
            servers=tuple(servers),
            probe_settings=probes,
            repeats=repeats,
            proxied=frozenset(proxied),
            machines=machine_names(records),
        )


def render(
    records: Iterable[CellRecord],
    servers: Sequence[str],
    *,
    probe_settings: Mapping[str, Mapping[str, Any]],
    run: RunMeta | None = None,
    repeats: int = 1,
) -> str:
    """The report as Markdown, without charts or answers."""
    inputs = Inputs(servers=tuple(servers), probe_settings=probe_settings, repeats=repeats)
    return markdown(document(list(records), inputs, run=run))


def document(
    records: Sequence[CellRecord],
    inputs: Inputs,
    *,
    run: RunMeta | None = None,
    opening: Sequence[Block] = (),
    charts: Collection[str] = (),
    bisected: Sequence[str] = (),
) -> list[Block]:
    """The whole report: ``opening`` (the answers) first, then each probe's
    table with its chart where ``charts`` has one, then the facts and failures."""
    rows = rows_of(records)
    servers = inputs.servers
    out: list[Block] = [Heading("Flask concurrency matrix", 1)]
    if run is not None:
        out.append(Para(f"Run `{run.run}`, started {run.started}, on {machines_text(run, records, inputs)}."))
    out += opening
    out += headline(rows, servers, inputs.probe_settings.get("concurrency", {}), inputs.repeats, charts)
    if bisected:
        out += [
            Heading("Where it changed"),
            Para(
                "Each change bisected to a release with `nox -s bisect`, "
                "probing the releases between the rows:"
            ),
            Bullets(tuple(bisected)),
        ]
    for name, probe in PROBES.items():
        if probe.always or name not in inputs.probe_settings or not any(r.probe(name) for r in records):
            continue
        out += [
            Heading(probe.title),
            Para(probe.about.format(**inputs.probe_settings[name])),
        ]
        out += _per_machine(
            rows, servers, records, partial(probe_text, name=name), inputs, varies=name in VARIES
        )
        if name in charts:
            out.append(Chart(name, probe.title))
    out += trailer(rows, servers, records)
    return out


# Figures that depend on the machine: with cells from several machines, each
# machine gets its own table, never one table that mixes them.
VARIES = frozenset({"throughput", "cpu", "burst"})


def machines_text(run: RunMeta, records: Sequence[CellRecord], inputs: Inputs) -> str:
    machines = sorted({inputs.machine(r) for r in records})
    if len(machines) == 1:
        return machines[0]
    if not machines:
        return run.machine.describe()
    return f"{len(machines)} machines (each table of timed figures is split by machine)"


def _per_machine(
    rows: Sequence[RowView],
    servers: Sequence[str],
    records: Sequence[CellRecord],
    text: Callable[[CellRecord | None], str],
    inputs: Inputs,
    *,
    varies: bool,
) -> list[Block]:
    machines = sorted({inputs.machine(r) for r in records})
    if not varies or len(machines) <= 1:
        return [table(rows, servers, text, skip_empty=True)]
    out: list[Block] = []
    for machine in machines:

        def on(record: CellRecord | None, machine: str = machine) -> str:
            return text(record) if record is not None and inputs.machine(record) == machine else ""

        measured = table(rows, servers, on, skip_empty=True)
        if measured.rows:  # a machine that measured none of this probe's cells gets no table
            out += [Para(f"Measured on {machine}:"), measured]
    return out


def headline(
    rows: Sequence[RowView],
    servers: Sequence[str],
    settings: Mapping[str, Any],
    repeats: int,
    charts: Collection[str] = (),
) -> list[Block]:
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
    out: list[Block] = [Heading("Concurrency"), Para(about), Para(shown), table(rows, servers, cell_text)]
    if "concurrency" in charts:
        out.append(Chart("concurrency", "The concurrency map: verdict and peak of every cell"))
    out.append(Heading("Changes"))
    found = changes(rows, servers)
    out.append(
        Bullets(tuple(found)) if found else Para("No column changes its verdict between neighbouring rows.")
    )
    out.append(Para("Rows are compared with their neighbour on the same Python and resolution mode."))
    if "changes" in charts:
        out.append(Chart("changes", "Where it changed: the peak of each column along the rows"))
    return out


def trailer(rows: Sequence[RowView], servers: Sequence[str], records: Sequence[CellRecord]) -> list[Block]:
    """HTTP facts, peaks that differ from capacity, and the cells that did not run."""
    out: list[Block] = []
    if any(r.http for r in records):
        out += [
            Heading("Protocol, connections and warnings"),
            Para(
                "The HTTP version each server answered an HTTP/1.1 request with, whether it "
                "answered a second request on the same connection (`keep-alive`) or closed it "
                "(`close`), and `warns` where it printed a development-server warning at start."
            ),
            table(rows, servers, fact_text),
        ]
    flagged = mismatches(rows, servers)
    if flagged:
        out += [Heading("Peaks that differ from the configured capacity"), Bullets(tuple(flagged))]
    failed = sorted(
        (r for r in records if r.status is not Status.OK), key=lambda r: (r.row_index, r.server_index)
    )
    if failed:
        out += [
            Heading("Cells that did not run"),
            Bullets(
                tuple(f"`{r.cell}`: {r.status.value}: {r.reason or 'no reason recorded'}" for r in failed)
            ),
        ]
    return out
