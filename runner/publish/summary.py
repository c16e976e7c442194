"""The summary every report leads with: at most eight findings, ranked.

A finding is an aggregate over cells (a range across columns, "in k of n
rows"), never one sentence per column.  Each says its key figure, how sure it
is, and the cells it rests on.  They come from the records alone, by the
rules below, which docs/report.md states for readers:

- **change**: the headline verdict changes between neighbouring rows; the
  columns that change the same way are one finding, with each block of rows
  where they do, and the release ``nox -s bisect`` found (or why it is a
  range, or that it has not been asked).
- **steady**: the columns whose verdict is the same in every row they were
  measured in, grouped by that verdict, with their range of peaks.
- **nginx**: columns with nginx in front of an otherwise equal column:
  whether any verdict changes, and the ratio of each ratio figure.
- **ratio**: each probe that declares a ratio, for the WSGI servers over
  the development server: the range of the per-column medians.
- **outcome**: each other probe that declares a yes/no: the columns for
  which it is yes in every row, no in every row, or varies, with counts.
- **figure**: each remaining probe: the range of its key figure.

Ranking: changes first; then the headline's and the ratios' findings, then
those over several probes (what nginx buys, beyond speed), then each
probe's own; within each, by the number of cells a finding rests on, most
first, then in registry order (the headline's rules before the other
probes', in the order the registry lists them).  The first :data:`MOST` are
kept.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from runner.analysis import Change, Inputs, RowView, Sides, changed, dev_and_wsgi, rows_of
from runner.measuring.probes import HEADLINE, PROBES
from runner.measuring.probes.base import Probe, figure_of
from runner.publish import buys
from runner.publish.doc import Block, Finding, Findings, Heading, Para, counted
from runner.records.record import Asked, BisectAnswer, CellRecord

MOST = 8
HEADLINE_RANK = 0  # the headline's rules come first among equals


# The tiers of the ranking after the changes: the headline's and the
# ratios' findings, those over several probes, each probe's own.
MAIN, OVER_PROBES, ONE_PROBE = 0, 1, 2


@dataclass(frozen=True)
class _Ranked:
    change: bool
    order: int  # the registry position of the probe the rule reads
    finding: Finding
    tier: int = MAIN

    def key(self) -> tuple[int, int, int, int]:
        return (0 if self.change else 1, self.tier, -len(self.finding.cells), self.order)


def findings(
    records: Sequence[CellRecord], inputs: Inputs, bisected: Sequence[BisectAnswer] = ()
) -> list[Finding]:
    """The ranked findings of a run, at most :data:`MOST`."""
    rows = rows_of(records)
    ranked: list[_Ranked] = []
    ranked += [_Ranked(True, HEADLINE_RANK, f) for f in change_findings(rows, inputs, bisected)]
    ranked += [_Ranked(False, HEADLINE_RANK, f) for f in steady_findings(rows, inputs)]
    ranked += [_Ranked(False, HEADLINE_RANK, f) for f in nginx_findings(rows, inputs)]
    for said in (buys.finding, buys.protections):
        found_here = said(rows, inputs, _outcomes_sure(records))
        ranked += [_Ranked(False, HEADLINE_RANK, found_here, OVER_PROBES)] if found_here is not None else []
    for order, (name, probe) in enumerate(PROBES.items(), 1):
        if name == HEADLINE or not any(r.probe(name) for r in records):
            continue
        found: Finding | None
        tier = ONE_PROBE
        if probe.ratio is not None:
            found, tier = ratio_finding(rows, inputs, name, probe), MAIN
        elif probe.outcome is not None:
            found = outcome_finding(rows, inputs, name, probe)
        else:
            found = figure_finding(rows, inputs, name, probe)
        if found is not None:
            ranked.append(_Ranked(False, order, found, tier))
    ranked.sort(key=_Ranked.key)
    return [r.finding for r in ranked[:MOST]]


# --- words -------------------------------------------------------------------


def columns(names: Iterable[str]) -> str:
    """```a```, ```a`` and ``b```, ```a``, ``b`` and ``c```."""
    quoted = [f"`{n}`" for n in names]
    if len(quoted) <= 1:
        return "".join(quoted)
    return ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _ordered(names: Iterable[str], inputs: Inputs) -> list[str]:
    order = {s: i for i, s in enumerate(inputs.servers)}
    return sorted(set(names), key=lambda n: (order.get(n, len(order)), n))


def _cells(records: Iterable[CellRecord]) -> tuple[str, ...]:
    ordered = sorted({r.cell: r for r in records}.values(), key=lambda r: (r.row_index, r.server_index))
    return tuple(r.cell for r in ordered)


def _runs_per_cell(runs: Sequence[int]) -> str:
    """``1 run per cell``, ``6 runs per cell``, ``2 to 6 runs per cell``: ``runs`` sorted, distinct."""
    if len(runs) > 1:
        return f"{runs[0]} to {runs[-1]} runs per cell"
    return "1 run per cell" if runs[0] == 1 else f"{runs[0]} runs per cell"


def _sure(records: Sequence[CellRecord], probe: str) -> str:
    """How sure a figure over ``records`` is: its runs and their agreement."""
    outcomes = [o for r in records if (o := r.probe(probe)) is not None]
    if not outcomes:
        return "not measured"
    runs = sorted({o.repeats.n for o in outcomes})
    unstable = sum(1 for o in outcomes if o.repeats.unstable)
    said = _runs_per_cell(runs)
    if unstable:
        return f"{said}; repeats disagree by more than 10% in {unstable} of {len(outcomes)} cells"
    if runs == [1]:
        return "1 run per cell, each figure from a single run"
    return f"{said}, repeats agree within 10%"


def _lowest_to_highest(medians: Mapping[str, float], unit: str = "") -> str:
    """``2.16 (`waitress`) to 5.68 (`uwsgi`)``: the range of per-column figures, naming both ends."""
    low = min(medians, key=medians.__getitem__)
    high = max(medians, key=medians.__getitem__)
    if low == high:
        return f"{_num(medians[low])}{unit} (`{low}`)"
    return f"{_num(medians[low])}{unit} (`{low}`) to {_num(medians[high])}{unit} (`{high}`)"


def _peaks(peaks: Sequence[int]) -> str:
    if not peaks:
        return ""
    return f"peak {peaks[0]}" if len(peaks) == 1 else f"peak {peaks[0]} to {peaks[-1]}"


def _num(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}" if value < 10 else f"{value:.0f}" if value >= 100 else f"{value:.1f}"


# --- change ------------------------------------------------------------------

_VERDICT_WORDS = {"serial": "one request at a time", "concurrent": "several requests at once"}


def change_findings(
    rows: Sequence[RowView], inputs: Inputs, bisected: Sequence[BisectAnswer] = ()
) -> list[Finding]:
    """One finding per way of changing (serial to concurrent, or back) and set
    of columns that change so: each block of rows where they do, with what
    bisect found there."""
    by_way: dict[tuple[str, str, tuple[str, ...]], list[list[Change]]] = {}
    boundaries: dict[tuple[str, str, str, str], list[Change]] = {}
    for change in changed(rows, inputs.servers):
        boundaries.setdefault((change.was, change.now, change.before.name, change.after.name), []).append(
            change
        )
    for (was, now, _, _), group in boundaries.items():
        servers = tuple(_ordered((c.server for c in group), inputs))
        by_way.setdefault((was, now, servers), []).append(group)
    out = []
    for (was, now, servers), groups in by_way.items():
        spans = []
        for group in groups:
            first = group[0]
            before, after = _versions(first.before, first.after), _versions(first.after, first.before)
            spans.append(
                f"up to {before} and from {after} ({_block(first.after)}; {_located(group, bisected)})"
            )
        verb = "serves" if len(servers) == 1 else "serve"
        text = (
            f"{columns(servers)} {verb} {_VERDICT_WORDS.get(was, was)}, then "
            f"{_VERDICT_WORDS.get(now, now)}: " + ", and ".join(_each_once(spans)) + "."
        )
        cells = [c.before.cells[c.server] for g in groups for c in g]
        cells += [c.after.cells[c.server] for g in groups for c in g]
        peaks = sorted(
            {p for c in cells if c.concurrency is not None and (p := c.concurrency.peak) is not None}
        )
        out.append(Finding(text=text, figure=_peaks(peaks), sure=_sure(cells, HEADLINE), cells=_cells(cells)))
    return out


def _block(row: RowView) -> str:
    return f"Python {row.group[0]}" + (", as of each release's upload" if row.group[1] == "period" else "")


def _versions(row: RowView, other: RowView) -> str:
    parts = [f"Flask {row.flask}"]
    if row.werkzeug != other.werkzeug:
        parts.append(f"Werkzeug {row.werkzeug}")
    return " with ".join(parts)


def answer_for(change: Change, bisected: Sequence[BisectAnswer]) -> BisectAnswer | None:
    """Bisect's answer to where ``change`` happened, if it has been asked."""
    for answer in bisected:
        if (
            answer.server == change.server
            and answer.field == change.field
            and answer.row in (change.before.name, change.after.name)
        ):
            return answer
    return None


def release_of(change: Change, bisected: Sequence[BisectAnswer]) -> str | None:
    """``Flask 1.0``, or ``Flask 0.12.4 to 1.0.2`` for a range: bisect's answer, short."""
    answer = answer_for(change, bisected)
    if answer is None:
        return None
    package = _package(answer.package)
    if answer.kind == "found" and answer.first_right:
        return f"{package} {answer.first_right}"
    if answer.last_left and answer.first_right:
        return f"{package} {answer.last_left} to {answer.first_right}"
    return None


def _located(group: Sequence[Change], bisected: Sequence[BisectAnswer]) -> str:
    """What bisect found between the two rows, for any column of the group."""
    for change in group:
        answer = answer_for(change, bisected)
        if answer is not None:
            return _answer_words(answer)
    return "not bisected yet: `nox -s bisect` names the release"


_ROW_AXES = {f.name for f in fields(Asked)}  # flask, werkzeug, ...: named as the rows name them


def _package(name: str) -> str:
    return name.capitalize() if name in _ROW_AXES else name


def _answer_words(answer: BisectAnswer) -> str:
    package = _package(answer.package)
    if answer.kind == "found" and answer.first_right:
        day = (answer.uploaded.get(answer.first_right) or "")[:10]
        released = f" (released {day})" if day else ""
        return f"the first release with the change is {package} {answer.first_right}{released}"
    if answer.kind == "narrowed" and answer.last_left and answer.first_right:
        skipped = [str(u.get("version", "?")) for u in answer.untested]
        if skipped:
            span = skipped[0] if len(skipped) == 1 else f"{skipped[0]} to {skipped[-1]}"
            return (
                f"{package} {span} cannot be measured here, so the first release measured with "
                f"the change is {answer.first_right}"
            )
        return f"bisect narrows it to {package} {answer.last_left} to {answer.first_right}"
    return f"bisect could not name a release ({answer.kind})"


# --- steady ------------------------------------------------------------------


def steady_findings(rows: Sequence[RowView], inputs: Inputs) -> list[Finding]:
    """The columns with one verdict in every row, as one finding."""
    moved = {c.server for c in changed(rows, inputs.servers)}
    groups: dict[str, list[str]] = {}
    cells: dict[str, list[CellRecord]] = {}
    for server in inputs.servers:
        if server in moved:
            continue
        measured = [
            c
            for row in rows
            if (c := row.cells.get(server)) is not None
            and c.concurrency is not None
            and c.concurrency.verdict
        ]
        verdicts = {c.concurrency.verdict for c in measured if c.concurrency is not None}
        if not measured:
            continue
        key = verdicts.pop() if len(verdicts) == 1 else "depends"
        groups.setdefault(key or "depends", []).append(server)
        cells[server] = measured
    if not groups:
        return []
    parts = []
    for key, servers in groups.items():
        peaks = sorted(
            {p for s in servers for c in cells[s] if c.concurrency is not None and (p := c.concurrency.peak)}
        )
        span = f"peak {peaks[0]}" if len(peaks) == 1 else f"peaks {peaks[0]} to {peaks[-1]}"
        verb = "serves" if len(servers) == 1 else "serve"
        if key == "depends":
            parts.append(f"{columns(servers)} {verb} differently on different Pythons ({span})")
        else:
            parts.append(f"{columns(servers)} {verb} {_VERDICT_WORDS.get(key, key)} ({span})")
    everything = [c for s in cells for c in cells[s]]
    all_peaks = sorted({c.concurrency.peak for c in everything if c.concurrency and c.concurrency.peak})
    return [
        Finding(
            text="In every row measured, " + "; ".join(parts) + ".",
            figure=f"peaks {all_peaks[0]} to {all_peaks[-1]}" if len(all_peaks) > 1 else "",
            sure=_sure(everything, HEADLINE),
            cells=_cells(everything),
        )
    ]


# --- nginx -------------------------------------------------------------------


def nginx_findings(rows: Sequence[RowView], inputs: Inputs) -> list[Finding]:
    """Whether nginx in front changes a verdict, and what it does to each ratio figure."""
    from runner.publish.answers import nginx_pairs

    pairs = nginx_pairs(rows, inputs)
    both = [
        (r.cells[p.plain], r.cells[p.front], p)
        for p in pairs
        for r in rows
        if p.plain in r.cells and p.front in r.cells
    ]
    both = [(a, b, p) for a, b, p in both if a.concurrency and b.concurrency and a.concurrency.verdict]
    if not both:
        return []
    differ = [
        (a, b)
        for a, b, _ in both
        if a.concurrency and b.concurrency and a.concurrency.verdict != b.concurrency.verdict
    ]
    fronted = columns(_ordered((p.plain for p in pairs), inputs))
    if differ:
        text = f"nginx in front of {fronted} changes the verdict in {len(differ)} of {len(both)} rows."
    else:
        text = f"nginx in front of {fronted} changes no verdict, in {len(both)} rows measured both ways."
    figure = ""
    for name, probe in PROBES.items():
        if probe.ratio is None:
            continue
        ratios = [
            y / x
            for a, b, _ in both
            if inputs.machine(a) == inputs.machine(b)
            and (x := _figure(a, name, probe.ratio.figure))
            and (y := _figure(b, name, probe.ratio.figure)) is not None
        ]
        if ratios:
            low, high = min(ratios), max(ratios)
            span = (
                f"{_num(low)} to {_num(high)}" if len(ratios) > 1 and _num(low) != _num(high) else _num(low)
            )
            text += f" With it, they give {span} times the {probe.ratio.unit}."
            figure = f"{span} times the {probe.ratio.unit}"
            break
    cells = [c for a, b, _ in both for c in (a, b)]
    return [Finding(text=text, figure=figure, sure=_sure(cells, HEADLINE), cells=_cells(cells))]


def _figure(record: CellRecord, probe: str, name: str) -> float | None:
    result = record.result(probe)
    value = figure_of(result, name) if result is not None else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


# --- ratio -------------------------------------------------------------------


def ratio_finding(rows: Sequence[RowView], inputs: Inputs, name: str, probe: Probe[Any]) -> Finding | None:
    """The WSGI servers' figure over the development server's, as a range of
    medians; beside it, the same on one core each where columns are kept to
    fewer cores, and how much of the gain that leaves."""
    assert probe.ratio is not None
    sides = dev_and_wsgi(rows, inputs)
    measured = [(side, *_medians(rows, inputs, name, probe.ratio.figure, side)) for side in sides]
    measured = [(side, medians, cells) for side, medians, cells in measured if medians]
    if not measured or measured[0][0].cpus is not None:
        return None
    side, medians, cells = measured[0]
    cores = {c.machine.cores for c in cells if c.machine is not None and c.machine.cores}
    on = f", on {cores.pop()} cores" if len(cores) == 1 else ""
    said = _lowest_to_highest(medians)
    text = f"A WSGI server gives {said} times the {probe.ratio.unit} of `{side.dev}`{on}"
    for fewer, less, more_cells in measured[1:]:
        twins = {s: _twin(s, side.wsgi, rows) for s in less}
        kept = "; ".join(
            f"`{s}` gives {_num(m)} times `{fewer.dev}`'s"
            + (f" (`{twins[s]}`: {_num(medians[twins[s]])} on every core)" if twins[s] in medians else "")
            for s, m in less.items()
        )
        cores_word = "one core" if fewer.cpus == 1 else f"{fewer.cpus} cores"
        text += f"; kept to {cores_word} each, {kept}"
        cells += more_cells
    return Finding(
        text=text + ".",
        figure=f"median ratio over rows, {len(medians)} WSGI columns",
        sure=_sure(cells, name),
        cells=_cells(cells),
    )


def _medians(
    rows: Sequence[RowView], inputs: Inputs, name: str, figure: str, side: Sides
) -> tuple[dict[str, float], list[CellRecord]]:
    """Each WSGI column's median ratio over the development server's, over the
    rows where both were measured on one machine, and the cells it rests on."""
    medians: dict[str, float] = {}
    cells: list[CellRecord] = []
    for server in side.wsgi:
        ratios = []
        for row in rows:
            a, b = row.cells.get(side.dev), row.cells.get(server)
            if a is None or b is None or inputs.machine(a) != inputs.machine(b):
                continue
            x, y = _figure(a, name, figure), _figure(b, name, figure)
            if x and y is not None:
                ratios.append(y / x)
                cells += [a, b]
        if ratios:
            medians[server] = statistics.median(ratios)
    return medians, cells


def _twin(server: str, among: Sequence[str], rows: Sequence[RowView]) -> str:
    """The column of ``among`` that serves as ``server`` does on every core."""
    kinds = {c.server: (c.kind, dict(c.options)) for row in rows for c in row.cells.values()}
    return next((s for s in among if kinds.get(s) == kinds.get(server)), "")


# --- outcome -----------------------------------------------------------------


@dataclass
class _Column:
    server: str
    yes: int = 0  # rows where every run said yes
    no: int = 0
    varies: int = 0
    said_yes: int = 0  # runs, over the rows that vary
    said_no: int = 0
    unsettled: int = 0  # rows with too few runs for chance not to decide


def outcome_finding(rows: Sequence[RowView], inputs: Inputs, name: str, probe: Probe[Any]) -> Finding | None:
    """Which columns say yes, which no, and which vary, over every row measured."""
    outcome = probe.outcome
    assert outcome is not None
    seen, cells = _tallied(rows, name, probe)
    settings: Mapping[str, Any] = inputs.probe_settings.get(name) or probe.defaults()
    if not seen:
        return None
    order = _ordered(seen, inputs)
    yes = [s for s in order if seen[s].yes and not (seen[s].no or seen[s].varies)]
    no = [s for s in order if seen[s].no and not (seen[s].yes or seen[s].varies)]
    mixed = [s for s in order if s not in yes and s not in no]
    parts = []
    if yes:
        parts.append(f"{columns(yes)} {outcome.yes_phrase[len(yes) > 1]}")
    if no:
        parts.append(f"{columns(no)} {outcome.no_phrase[len(no) > 1]}")
    for server in mixed:
        column = seen[server]
        if column.varies:
            runs = column.said_yes + column.said_no
            parts.append(f"`{server}` varies ({outcome.no} in {column.said_no} of {runs} runs)")
        else:
            parts.append(f"`{server}` {outcome.no_phrase[0]} in {column.no} of {column.yes + column.no} rows")
    unsettled = sum(c.unsettled for c in seen.values())
    sure = _outcome_sure(cells, name, probe, unsettled)
    key = _key_range(cells, name, probe)
    return Finding(
        text=f"{outcome.lead(settings)}: " + "; ".join(parts) + ".",
        figure=key,
        sure=sure,
        cells=_cells(cells),
    )


def _tallied(
    rows: Sequence[RowView], name: str, probe: Probe[Any]
) -> tuple[dict[str, _Column], list[CellRecord]]:
    """Each column's rows by what the probe's yes/no said there, and the cells counted."""
    seen: dict[str, _Column] = {}
    cells: list[CellRecord] = []
    for row in rows:
        for server, record in row.cells.items():
            got = record.probe(name)
            tally = got.tally(probe) if got is not None and got.result is not None else None
            if tally is None or tally.n == 0:
                continue
            column = seen.setdefault(server, _Column(server))
            cells.append(record)
            if tally.varies:
                column.varies += 1
                column.said_yes += tally.yes
                column.said_no += tally.no
            elif tally.value:
                column.yes += 1
            else:
                column.no += 1
            column.unsettled += 0 if tally.settled else 1
    return seen, cells


def _outcomes_sure(records: Sequence[CellRecord]) -> str:
    """How sure a finding over every yes/no is: the runs of the one that ran most."""
    runs = sorted(
        {len(o.said) or 1 for c in records for n, p in buys.conditions() if (o := c.probe(n)) is not None}
    )
    return _runs_per_cell(runs) if runs else ""


def _outcome_sure(cells: Sequence[CellRecord], name: str, probe: Probe[Any], unsettled: int) -> str:
    runs = sorted({len(o.said) or 1 for c in cells if (o := c.probe(name)) is not None})
    said = _runs_per_cell(runs)
    fresh = ", each in a fresh server" if runs[-1] > 1 else ""
    if unsettled:
        cells_word = "1 cell" if unsettled == 1 else f"{unsettled} cells"
        return f"{said}{fresh}; too few runs in {cells_word} to rule out chance"
    if probe.outcome is not None and probe.outcome.chance:
        return f"{said}{fresh}; a plain answer only where every run agreed"
    return said + fresh


def _key_range(cells: Sequence[CellRecord], name: str, probe: Probe[Any]) -> str:
    values = [v for c in cells if (v := _figure(c, name, probe.key_figure)) is not None]
    if not values:
        return ""
    unit = probe.figures.get(probe.key_figure, "")
    label = _label(probe.key_figure)
    low, high = min(values), max(values)
    span = _num(low) if _num(low) == _num(high) else f"{_num(low)} to {_num(high)}"
    return f"{label} {span}{' ' + unit if unit else ''}"


def _label(figure: str) -> str:
    """A figure's name in words: ``waited_s`` is "waited" (its unit says seconds)."""
    return re.sub(r"_(s|ms)$", "", figure).replace("_", " ")


# --- figure ------------------------------------------------------------------


def figure_finding(rows: Sequence[RowView], inputs: Inputs, name: str, probe: Probe[Any]) -> Finding | None:
    """The range of the probe's key figure over the columns (each column's median over rows)."""
    per: dict[str, list[float]] = {}
    cells: list[CellRecord] = []
    machines = {inputs.machine(c) for row in rows for c in row.cells.values() if c.probe(name)}
    only = sorted(machines)[0] if probe.machine_bound and len(machines) > 1 else None
    for row in rows:
        for server, record in row.cells.items():
            value = _figure(record, name, probe.key_figure)
            if value is None or (only is not None and inputs.machine(record) != only):
                continue
            per.setdefault(server, []).append(value)
            cells.append(record)
    if not per:
        return None
    medians = {s: statistics.median(v) for s, v in per.items()}
    label = _label(probe.key_figure)
    unit = probe.figures.get(probe.key_figure, "")
    unit = "" if unit in ("", "x") else f" {unit}"
    where = f" (on {only})" if only else ""
    said = _lowest_to_highest(medians, unit)
    return Finding(
        text=f"{probe.title}: the {label} ranges from {said}{where}.",
        figure=f"median over rows, {len(medians)} columns",
        sure=_sure(cells, name),
        cells=_cells(cells),
    )


# --- blocks ------------------------------------------------------------------

RULES_DOC = "docs/report.md#the-summary"


def section(found: Sequence[Finding]) -> list[Block]:
    """The summary as the report's first section."""
    if not found:
        return []
    return [
        Heading("Summary"),
        Para(
            f"{len(found)} findings from this run's records, ranked: changes of verdict first, then by "
            f"the number of cells each rests on. The rules that make them are in `{RULES_DOC}`."
        ),
        Findings(tuple(found)),
    ]


def _each_once(phrases: Sequence[str]) -> list[str]:
    """Each phrase once, with how many blocks of rows say the same where several do."""
    return [f"{phrase} (so in {n} blocks)" if n > 1 else phrase for phrase, n in counted(phrases)]
