"""What the report, the answers, the charts and bisect read off a run's records alone.

Rows as the records installed them, the changes of verdict between
neighbouring rows, peaks that differ from what a column's server promises,
and the run's side of a report (its columns, probe settings, proxied
columns and machines).  No rendering here: :mod:`runner.publish` draws it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable

from runner.measuring.probes import HEADLINE, PROBES
from runner.records.record import CellRecord, RunMeta, machine_names
from runner.serving.servers import RECIPES, Role


@dataclass
class RowView:
    name: str
    flask: str
    werkzeug: str
    python: str
    cells: dict[str, CellRecord] = field(default_factory=dict)
    installed: bool = False  # versions read from a built environment
    group: tuple[str, str] = ("", "")  # rows are compared only within a group (Python, resolution)...
    follows: tuple[str, ...] = ()  # ...and among rows that pin the same server packages


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
                follows=asked.follows,
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
    promised = capacity(record)
    if promised is None or probe is None:
        return None
    return min(promised, probe.requests)


def capacity(record: CellRecord) -> int | None:
    """What the cell's server promises, from its options and the versions its
    environment installed (as recorded where the kind or versions are unknown)."""
    recipe = RECIPES.get(record.kind)
    if recipe is None or not record.packages:
        return record.capacity
    try:
        return recipe.capacity(record.options, record.packages)
    except (TypeError, ValueError):  # options this version of the recipe does not read
        return record.capacity


@dataclass(frozen=True)
class Change:
    """A column whose answer differs between two neighbouring rows: its
    concurrency verdict, or the yes/no of another probe (``probe``)."""

    server: str
    before: RowView
    after: RowView
    was: str
    now: str
    probe: str = HEADLINE

    @property
    def field(self) -> str:
        """The record's field that changed: ``probes.<probe>.<its yes/no>``."""
        outcome = PROBES[self.probe].outcome
        return f"probes.{self.probe}.{outcome.name if outcome is not None else 'verdict'}"

    def line(self) -> str:
        what = "" if self.probe == HEADLINE else f" ({PROBES[self.probe].title.lower()})"
        old, new = self.before.cells.get(self.server), self.after.cells.get(self.server)
        return (
            f"{self.server}{what}: {self.was} in {versions_label(self.before, self.after, old, new)} -> "
            f"{self.now} in {versions_label(self.after, self.before, new, old)}"
        )


def changes(rows: Sequence[RowView], servers: Sequence[str]) -> list[str]:
    """Every change between neighbouring rows: of verdict, then of each yes/no the registry declares."""
    return [change.line() for change in changed(rows, servers) + outcome_changes(rows, servers)]


def changed(rows: Sequence[RowView], servers: Sequence[str]) -> list[Change]:
    """For each column, each neighbouring pair of measured rows whose verdict differs.

    Neighbours are compared only when they run on the same Python with the
    same resolution mode (their ``group``), and pin the same server packages
    (a block that follows gunicorn through its releases is compared within
    itself, not with the row before it): a step from a period row on
    Python 3.6 to a today's row on 3.11 changes too much at once to name a
    cause.  A row whose cell did not run is passed over: the pair is the
    nearest rows on either side of it that have a verdict.
    """
    return _along(rows, servers, HEADLINE, _verdict)


def outcome_changes(rows: Sequence[RowView], servers: Sequence[str]) -> list[Change]:
    """The same for the yes/no of every other probe that declares one: a
    stable answer that differs, or one that becomes "varies" (an answer that
    too few runs left to chance is passed over)."""
    found = []
    for name, probe in PROBES.items():
        if name != HEADLINE and probe.outcome is not None:
            found += _along(rows, servers, name, partial(answer_of, name))
    return found


def _verdict(record: CellRecord) -> str | None:
    probe = record.concurrency
    return probe.verdict if probe is not None else None


def answer_of(name: str, record: CellRecord) -> str | None:
    """A probe's yes/no in a cell as words (``varies`` where its runs differ);
    None where it did not run, or too few runs leave it to chance."""
    probe, outcome = PROBES[name], record.probe(name)
    tally = outcome.tally(probe) if outcome is not None and outcome.result is not None else None
    if tally is None or probe.outcome is None or tally.n == 0:
        return None
    if tally.varies:
        return "varies"
    if not tally.settled:
        return None
    return probe.outcome.yes if tally.value else probe.outcome.no


def _along(
    rows: Sequence[RowView], servers: Sequence[str], name: str, answer: Callable[[CellRecord], str | None]
) -> list[Change]:
    found = []
    for server in servers:
        previous: tuple[RowView, str] | None = None
        for row in rows:
            cell = row.cells.get(server)
            now = answer(cell) if cell is not None else None
            if now is None:
                continue
            if previous is not None and (previous[0].group, previous[0].follows) != (row.group, row.follows):
                previous = None
            if previous is not None and previous[1] != now:
                found.append(Change(server, previous[0], row, previous[1], now, name))
            previous = (row, now)
    return found


def versions_label(
    row: RowView, other: RowView, cell: CellRecord | None = None, beside: CellRecord | None = None
) -> str:
    """Flask always; Werkzeug and Python too where they differ from ``other``,
    and the server's own package where the two cells installed different ones
    (``gunicorn 23.0.0``)."""
    parts = [f"Flask {row.flask}"]
    if row.werkzeug != other.werkzeug:
        parts.append(f"Werkzeug {row.werkzeug}")
    if row.python != other.python:
        parts.append(f"Python {row.python}")
    if cell is not None and beside is not None and cell.server_version != beside.server_version:
        parts.append(f"{cell.server_package or cell.kind} {cell.server_version or '?'}")
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


@dataclass(frozen=True)
class Sides:
    """The columns that serve with nothing in front, on one number of cores
    (``cpus``; None: every core): the development server the others are
    compared with, and the WSGI servers."""

    cpus: int | None
    dev: str
    wsgi: tuple[str, ...]


def proxied_columns(rows: Sequence[RowView], inputs: Inputs) -> set[str]:
    """The columns with a proxy in front, from the matrix and the records."""
    return set(inputs.proxied) | {c.server for row in rows for c in row.cells.values() if c.nginx}


def dev_and_wsgi(rows: Sequence[RowView], inputs: Inputs) -> list[Sides]:
    """For each number of cores the columns are kept to (every core first),
    the first development server and the WSGI servers beside it."""
    records = [c for row in rows for c in row.cells.values()]
    kinds = {c.server: c.kind for c in records}
    cores = {c.server: c.cpus for c in records}
    proxied = proxied_columns(rows, inputs)
    plain = [s for s in inputs.servers if s in kinds and s not in proxied]
    sides = []
    for cpus in sorted({cores[s] for s in plain}, key=lambda n: (n is not None, n or 0)):
        these = [s for s in plain if cores[s] == cpus]
        dev = next((s for s in these if _role(kinds[s]) is Role.DEV), None)
        wsgi = tuple(s for s in these if _role(kinds[s]) is Role.WSGI)
        if dev is not None and wsgi:
            sides.append(Sides(cpus, dev, wsgi))
    return sides


def _role(kind: str) -> Role | None:
    recipe = RECIPES.get(kind)
    return recipe.role if recipe is not None else None
