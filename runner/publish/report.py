"""The report: finished cell records in, publishable Markdown out.

Pure functions of the records, so they are tested with plain data.  The
headline table has a row per version and a column per server; under it, the
changes: for each column, each pair of neighbouring rows whose verdict
differs.  Every other probe draws the table its registry entry describes.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import partial
from typing import Any, Callable

from runner.analysis import (
    Inputs,
    RowView,
    changed,
    changes,
    expected_peak,
    mismatches,
    rows_of,
    versions_label,
)
from runner.errors import CAUSES
from runner.measuring.probes import HEADLINE, PROBES
from runner.measuring.probes.base import Probe
from runner.publish.doc import Block, Bullets, Chart, Heading, Para, Table, markdown
from runner.publish.summary import release_of
from runner.records.record import BisectAnswer, CellRecord, RunMeta, Status


def cell_text(record: CellRecord | None) -> str:
    if record is None:
        return ""
    outcome = record.probe(HEADLINE)
    probe = record.concurrency
    if outcome is None or probe is None:
        return record.status.value
    text = PROBES[HEADLINE].text(probe, outcome.repeats)
    expected = expected_peak(record)
    if expected is not None and probe.peak != expected:
        text += f" (!= {expected})"
    if probe.errors:
        text += f", {probe.errors} failed"
    return text


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
    probe = PROBES[name]
    text = probe.text(outcome.result, outcome.repeats)
    tally = outcome.tally(probe)
    if tally is not None and probe.outcome is not None:
        if tally.varies:
            return f"varies ({probe.outcome.no} in {tally.no} of {tally.n})"
        if not tally.settled:
            return f"{text} (1 run: chance may decide it)" if tally.n == 1 else f"{text} ({tally.n} runs)"
        if tally.chance:
            return f"{text} ({tally.n} of {tally.n})"
    return text


def table(
    rows: Sequence[RowView],
    servers: Sequence[str],
    text: Callable[[CellRecord | None], str],
    *,
    skip_empty: bool = False,
) -> Table:
    """Rows of versions, a column per server, each cell ``text(record)``;
    ``skip_empty`` leaves out the rows and the columns with nothing to show."""
    if skip_empty:
        servers = [s for s in servers if any(text(row.cells.get(s)) for row in rows)]
    shown = [row for row in rows if not skip_empty or any(text(row.cells.get(s)) for s in servers)]
    versions = {server: server_versions(shown, server) for server in servers}
    body, links = [], []
    for row in shown:
        cells = [
            with_version(text(row.cells.get(server)), row.cells.get(server), len(versions[server]) > 1)
            for server in servers
        ]
        body.append((row.flask, row.werkzeug, row.python, *cells))
        named = (r.cell if (r := row.cells.get(server)) is not None else "" for server in servers)
        links.append(("", "", "", *named))
    headers = tuple(server_header(server, versions[server]) for server in servers)
    return Table(headers=("Flask", "Werkzeug", "Python", *headers), rows=tuple(body), links=tuple(links))


def server_versions(rows: Sequence[RowView], server: str) -> list[str]:
    """The server package's versions a column installed along the rows: ``gunicorn 23.0.0``."""
    found = []
    for row in rows:
        record = row.cells.get(server)
        if record is not None and record.server_version:
            named = f"{record.server_package or record.kind} {record.server_version}"
            if named not in found:
                found.append(named)
    return found


def server_header(server: str, versions: Sequence[str]) -> str:
    """A column's name, with the version of its server where one was installed
    throughout (differing versions are given in each cell)."""
    if len(versions) == 1:
        return f"{server} ({versions[0]})"
    return f"{server} (by row)" if versions else server


def with_version(text: str, record: CellRecord | None, differ: bool) -> str:
    if not differ or not text or record is None or not record.server_version:
        return text
    return f"{text} [{record.server_version}]"


def blocks_of(rows: Sequence[RowView]) -> list[tuple[tuple[str, str], list[RowView]]]:
    """The rows in their blocks (same Python and resolution), in matrix order."""
    found: dict[tuple[str, str], list[RowView]] = {}
    for row in rows:
        found.setdefault(row.group, []).append(row)
    return list(found.items())


def block_title(group: tuple[str, str]) -> str:
    return f"Python {group[0]}" + (" (period)" if group[1] == "period" else "")


def by_column(
    rows: Sequence[RowView], servers: Sequence[str], bisected: Sequence[BisectAnswer] = ()
) -> Table:
    """One line per column: its verdict along each block of rows, its range of
    peaks, and where the verdict changed (the release bisect found, where it
    has been asked)."""
    blocks = blocks_of(rows)
    found = changed(rows, servers)
    body = []
    for server in servers:
        cells = []
        peaks: list[int] = []
        for _, block in blocks:
            verdicts: list[str] = []
            for row in block:
                record = row.cells.get(server)
                probe = record.concurrency if record is not None else None
                if probe is None or probe.verdict is None:
                    continue
                if probe.peak is not None:
                    peaks.append(probe.peak)
                if not verdicts or verdicts[-1] != probe.verdict:
                    verdicts.append(probe.verdict)
            cells.append(" -> ".join(verdicts) if verdicts else "-")
        if not peaks and all(c == "-" for c in cells):
            continue
        span = (
            "" if not peaks else f"{min(peaks)}" if min(peaks) == max(peaks) else f"{min(peaks)}-{max(peaks)}"
        )
        where = []
        for change in (c for c in found if c.server == server):
            said = release_of(change, bisected)
            old, new = change.before.cells.get(server), change.after.cells.get(server)
            where.append(
                said
                or f"between {versions_label(change.before, change.after, old, new)} and "
                f"{versions_label(change.after, change.before, new, old)}"
            )
        body.append((server, *cells, span, "; ".join(where)))
    return Table(
        headers=("Column", *(block_title(g) for g, _ in blocks), "Peaks", "Changed at"), rows=tuple(body)
    )


def _cause(record: CellRecord) -> str:
    """`` (this machine)``: why a cell did not run, where it is not a fact about its versions."""
    return f" ({CAUSES[record.cause]})" if record.cause in CAUSES else ""


def _span(peaks: Sequence[int]) -> str:
    if not peaks:
        return ""
    return f"{min(peaks)}" if min(peaks) == max(peaks) else f"{min(peaks)}-{max(peaks)}"


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
    answers: Sequence[BisectAnswer] = (),
    detail: Sequence[Block] = (),
) -> list[Block]:
    """The whole report: ``opening`` (the summary) first, then the headline
    (its map, a line per column, the full table, the changes), each probe's
    table with its chart where ``charts`` has one, ``detail`` (the answers
    column by column), then the facts and failures."""
    rows = rows_of(records)
    servers = inputs.servers
    out: list[Block] = [Heading("Flask concurrency matrix", 1)]
    if run is not None:
        out.append(Para(f"Run `{run.run}`, started {run.started}, on {machines_text(run, records, inputs)}."))
        said = reused_line(records)
        if said:
            out.append(Para(said))
    out += opening
    out += headline(rows, servers, inputs.probe_settings.get(HEADLINE, {}), inputs.repeats, charts, answers)
    if bisected:
        out += [
            Heading("Where it changed"),
            Para(
                "Each change bisected to a release with `nox -s bisect`, "
                "probing the releases between the rows:"
            ),
            Bullets(tuple(bisected)),
        ]
    out += probe_sections(rows, servers, records, inputs, charts)
    out += detail
    out += trailer(rows, servers, records)
    return out


def probe_sections(
    rows: Sequence[RowView],
    servers: Sequence[str],
    records: Sequence[CellRecord],
    inputs: Inputs,
    charts: Collection[str],
) -> list[Block]:
    """Each probe's section but the headline's: what it does, its chart, its table."""
    out: list[Block] = []
    for name, probe in PROBES.items():
        if probe.always or name not in inputs.probe_settings or not any(r.probe(name) for r in records):
            continue
        out += [
            Heading(probe.title),
            Para(probe.about.format(**inputs.probe_settings[name]) + _runs_note(probe, inputs.repeats)),
        ]
        out += chart_blocks(probe, charts)  # the picture first: a long table may be folded under it
        out += _per_machine(
            rows,
            servers,
            records,
            partial(probe_text, name=name),
            inputs,
            varies=probe.machine_bound,
            title=probe.title,
        )
    return out


def _by_column(
    rows: Sequence[RowView], servers: Sequence[str], answers: Sequence[BisectAnswer]
) -> list[Block]:
    compact = by_column(rows, servers, answers)
    if not compact.rows:
        return []
    said = (
        "Each column along each block of rows (same Python and resolution), its peaks, and where it changed:"
    )
    return [Para(said), compact]


def _runs_note(probe: Probe[Any], repeats: int) -> str:
    """What the table of a probe whose yes/no chance can decide says of its runs."""
    if probe.outcome is None or not probe.outcome.chance:
        return ""
    runs = max(repeats, probe.runs_at_least)
    where = (
        " where a server's workers share connections unevenly (gunicorn's gthread and gevent with "
        "several workers), which worker took which connection"
        if probe.outcome.by_workers
        else ""
    )
    return (
        f" Chance can decide whether it is {probe.outcome.yes} or {probe.outcome.no}{where}, so each "
        f"such cell ran it {runs} times, each in a fresh server; a cell says `varies` with its counts "
        "where the runs did not all agree."
    )


def chart_blocks(probe: Probe[Any], drawn: Collection[str]) -> list[Block]:
    """The probe's charts that were drawn, each as its image or view."""
    return [Chart(chart.name, chart.title) for chart in probe.charts if chart.name in drawn]


def machines_text(run: RunMeta, records: Sequence[CellRecord], inputs: Inputs) -> str:
    machines = sorted({inputs.machine(r) for r in records})
    if len(machines) == 1:
        return machines[0]
    if not machines:
        return run.machine.describe()
    return f"{len(machines)} machines (each table of timed figures is split by machine)"


LONG_TABLE = 30  # rows; a table longer (or wider) is folded under its size
WIDE_TABLE = 20  # columns


def at_a_click(full: Table, what: str) -> list[Block]:
    """A long or wide table folded under a heading that gives its size (the
    page opens it on a click; what comes before it summarises it); a small one as it is."""
    if len(full.rows) <= LONG_TABLE and len(full.headers) <= WIDE_TABLE:
        return [full]
    size = f"{len(full.rows)} rows x {len(full.headers)} columns"
    return [Heading(f"{what}: every cell ({size})", 3, folded=True), full]


def _per_machine(
    rows: Sequence[RowView],
    servers: Sequence[str],
    records: Sequence[CellRecord],
    text: Callable[[CellRecord | None], str],
    inputs: Inputs,
    *,
    varies: bool,
    title: str = "",
) -> list[Block]:
    machines = sorted({inputs.machine(r) for r in records})
    if not varies or len(machines) <= 1:
        return at_a_click(table(rows, servers, text, skip_empty=True), title)
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
    answers: Sequence[BisectAnswer] = (),
) -> list[Block]:
    """The map, a line per column, the concurrency table and the changes under it."""
    about = PROBES[HEADLINE].about.format(
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
    # the map first, the steps chart under the changes
    drawn = chart_blocks(PROBES[HEADLINE], charts)
    out: list[Block] = [Heading(PROBES[HEADLINE].title), *drawn[:1]]
    out += _by_column(rows, servers, answers)
    out += [
        Para(about),
        Para(shown),
        *at_a_click(table(rows, servers, cell_text), PROBES[HEADLINE].title),
        Heading("Changes", 3),
    ]
    found = changes(rows, servers)
    out.append(
        Bullets(tuple(found)) if found else Para("No column changes its verdict between neighbouring rows.")
    )
    out.append(Para("Rows are compared with their neighbour on the same Python and resolution mode."))
    return [*out, *drawn[1:]]


def trailer(rows: Sequence[RowView], servers: Sequence[str], records: Sequence[CellRecord]) -> list[Block]:
    """HTTP facts, peaks that differ from capacity, and the cells that did not run."""
    out: list[Block] = []
    if any(r.http for r in records):
        out += [
            Heading("Protocol, connections and warnings", folded=True),
            Para(
                "The HTTP version each server answered an HTTP/1.1 request with, whether it "
                "answered a second request on the same connection (`keep-alive`) or closed it "
                "(`close`), and `warns` where it printed a development-server warning at start."
            ),
            table(rows, servers, fact_text),
        ]
    flagged = mismatches(rows, servers)
    if flagged:
        out += [
            Heading("Peaks that differ from the configured capacity", folded=True),
            Bullets(tuple(flagged)),
        ]
    out += reused_blocks(records, servers)
    out += found_pins_blocks(records)
    failed = sorted(
        (r for r in records if r.status is not Status.OK), key=lambda r: (r.row_index, r.server_index)
    )
    if failed:
        out += [
            Heading("Cells that did not run"),
            Bullets(
                tuple(
                    f"`{r.cell}`: {r.status.value}{_cause(r)}: {r.reason or 'no reason recorded'}"
                    for r in failed
                )
            ),
        ]
    return out


def _origins(records: Sequence[CellRecord]) -> dict[tuple[str, str], list[CellRecord]]:
    """The reused records by the run (and day) that measured them, oldest first."""
    by: dict[tuple[str, str], list[CellRecord]] = {}
    for record in records:
        if record.reused is not None:
            by.setdefault((record.reused.run, record.reused.date), []).append(record)
    return dict(sorted(by.items()))


def reused_line(records: Sequence[CellRecord]) -> str | None:
    """``228 of 238 cells were reused: ...``, where any was."""
    origins = _origins(records)
    if not origins:
        return None
    n = sum(len(v) for v in origins.values())
    where = "; ".join(f"{len(v)} measured in run `{run}` on {date}" for (run, date), v in origins.items())
    return (
        f"{n} of {len(records)} cells were not measured again: their inputs (installed versions, "
        f"server, probes, tools, machine) are those of an earlier run's, whose records they are ({where}). "
        "`nox -s matrix -- --fresh` measures every cell."
    )


def reused_blocks(records: Sequence[CellRecord], servers: Sequence[str]) -> list[Block]:
    """Which cells each earlier run measured: per row, its columns (or all of them)."""
    origins = _origins(records)
    if not origins:
        return []
    bullets = []
    for (run, date), taken in origins.items():
        rows: dict[str, list[str]] = {}
        for record in sorted(taken, key=lambda r: (r.row_index, r.server_index)):
            rows.setdefault(record.row, []).append(record.server)
        parts = [
            f"`{row}` ({'every column' if len(cols) == len(servers) else ', '.join(cols)})"
            for row, cols in rows.items()
        ]
        bullets.append(f"run `{run}` ({date}), {len(taken)} cells: " + "; ".join(parts))
    return [Heading("Cells reused from earlier runs", folded=True), Bullets(tuple(bullets))]


def found_pins_blocks(records: Sequence[CellRecord]) -> list[Block]:
    """The pins each ``resolve: compatible`` row found, as the row's ``pins:`` to paste."""
    rows: dict[str, CellRecord] = {}
    for record in sorted(records, key=lambda r: r.row_index):
        if record.asked.resolve == "compatible" and record.found_pins:
            rows.setdefault(record.row, record)
    if not rows:
        return []
    bullets = tuple(
        f"`{row}` (Flask {r.flask or r.asked.flask} on Python {r.python or r.asked.python}): "
        + "`pins: ["
        + ", ".join(f'"{p}"' for p in (*r.asked.pins, *r.found_pins))
        + "]`"
        for row, r in rows.items()
    )
    return [
        Heading("Pins found by resolve: compatible"),
        Para(
            "Each row below did not start with its dependencies' newest releases; the search found the "
            "newest release line of each dependency under which the app imports, starts and answers. "
            "Paste the `pins:` into the row to keep them:"
        ),
        Bullets(bullets),
    ]
