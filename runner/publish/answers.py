"""The questions this project started from, answered in plain words from one run.

Every sentence is made from the run's records and names the cells it rests
on; a question the run did not measure gets no answer, and a figure that
came from one run, that its repeats disagree on, or that the report flags
is worded so.  Nothing here is written ahead of the data.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from runner.analysis import (
    Change,
    Inputs,
    RowView,
    changed,
    dev_and_wsgi,
    expected_peak,
    rows_of,
    versions_label,
)
from runner.measuring.probes import HEADLINE, PROBES
from runner.measuring.probes.base import Answer, Ratio, figure_of
from runner.publish.doc import Block, Bullets, Heading, Para
from runner.records.record import CellRecord

NOISE = 0.10  # run-to-run spread of a throughput figure measured once, as seen on this project's machines


def section(records: Sequence[CellRecord], inputs: Inputs) -> list[Block]:
    """The "Answers, column by column" section, after the tables: the detail
    behind the summary's findings for nginx in front and the WSGI servers
    (the summary and the headline's table of columns say the verdicts)."""
    rows = rows_of(records)
    out: list[Block] = []
    for question, answer in (
        ("What changes with nginx in front?", nginx_in_front),
        ("What does a WSGI server buy over the development server?", wsgi_over_dev),
    ):
        lines = answer(rows, inputs)
        if lines:
            out += [Heading(question, 3), Bullets(tuple(lines))]
    if not out:
        return []
    caution = (
        "Each probe ran once per cell, so a single odd run is not ruled out; "
        if inputs.repeats == 1
        else f"Each probe ran {inputs.repeats} times per cell; "
    )
    head: list[Block] = [
        Heading("Answers, column by column", folded=True),
        Para(
            "The detail behind the summary, answered from this run's records only. "
            + caution
            + "the cells each answer rests on are named after it."
        ),
    ]
    return head + out


# --- citing ------------------------------------------------------------------


def cite(records: Sequence[CellRecord]) -> str:
    """``(cell `a`)``, ``(cells `a`, `b`)`` or ``(cells `a` to `z`, 14 in all)``."""
    names = [r.cell for r in sorted(records, key=lambda r: (r.row_index, r.server_index))]
    if len(names) == 1:
        return f"(cell `{names[0]}`)"
    if len(names) <= 3:
        return "(cells " + ", ".join(f"`{n}`" for n in names) + ")"
    return f"(cells `{names[0]}` to `{names[-1]}`, {len(names)} in all)"


def _measured(rows: Sequence[RowView], server: str) -> list[CellRecord]:
    cells = [row.cells.get(server) for row in rows]
    return [
        c for c in cells if c is not None and c.concurrency is not None and c.concurrency.peak is not None
    ]


# --- one request at a time? --------------------------------------------------


def one_at_a_time(rows: Sequence[RowView], inputs: Inputs) -> list[str]:
    found = changed(rows, inputs.servers)
    lines = []
    for server in inputs.servers:
        cells = _measured(rows, server)
        if not cells:
            continue
        here = [c for c in found if c.server == server]
        if here:
            lines += [_change_line(change) for change in here]
        else:
            lines.append(_steady_line(server, cells))
    return lines


def _verdict(record: CellRecord) -> str | None:
    return record.concurrency.verdict if record.concurrency is not None else None


def _change_line(change: Change) -> str:
    before, after = change.before.cells[change.server], change.after.cells[change.server]
    word = {"serial": "one request at a time", "concurrent": "several requests at once"}
    group = f"Python {change.after.python}" + (", as of upload" if change.after.group[1] == "period" else "")
    text = (
        f"`{change.server}` served {word.get(change.was, change.was)} with "
        f"{versions_label(change.before, change.after)} and {word.get(change.now, change.now)} with "
        f"{versions_label(change.after, change.before)} "
        f"(peak {_peak(before)} then {_peak(after)}; {group}); the change lies between these two rows, "
        f"releases between them were not measured {cite([before, after])}."
    )
    return text + _caution([before, after])


def _steady_line(server: str, cells: Sequence[CellRecord]) -> str:
    verdicts = {c.concurrency.verdict for c in cells if c.concurrency is not None}
    peaks = sorted({c.concurrency.peak for c in cells if c.concurrency is not None and c.concurrency.peak})
    span = f"peak {peaks[0]}" if len(peaks) == 1 else f"peak {peaks[0]} to {peaks[-1]}"
    if verdicts == {"serial"}:
        what = "served one request at a time"
    elif verdicts == {"concurrent"}:
        what = "served several requests at once"
    else:  # verdicts differ only across groups of rows, which are not compared
        what = (
            "served "
            + " or ".join(sorted(v for v in verdicts if v))
            + " depending on the Python and resolution"
        )
    return f"`{server}` {what} in every row measured, {span} {cite(cells)}." + _caution(cells)


def _peak(record: CellRecord) -> str:
    probe = record.concurrency
    return str(probe.peak) if probe is not None else "?"


def _caution(cells: Iterable[CellRecord]) -> str:
    """What makes these cells' verdicts less than certain, said after the sentence."""
    notes = []
    cells = list(cells)
    unstable = [c for c in cells if (o := c.probe(HEADLINE)) is not None and o.repeats.unstable]
    if unstable:
        notes.append(f"the peak varied between repeats in {_count(unstable)} {cite(unstable)}")
    short = [c for c in cells if c.concurrency is not None and c.concurrency.peak != expected_peak(c)]
    short = [c for c in short if expected_peak(c) is not None]
    if short:
        notes.append(f"the peak differs from what the options promise in {_count(short)} {cite(short)}")
    failed = [c for c in cells if c.concurrency is not None and c.concurrency.errors]
    if failed:
        notes.append(f"some probe requests failed in {_count(failed)} {cite(failed)}")
    return (" Caution: " + "; ".join(notes) + ".") if notes else ""


def _count(cells: Sequence[Any]) -> str:
    return "1 cell" if len(cells) == 1 else f"{len(cells)} cells"


# --- nginx in front ----------------------------------------------------------


@dataclass(frozen=True)
class Pair:
    """Two columns that differ in one thing: ``front`` adds it to ``plain``."""

    plain: str
    front: str


def nginx_pairs(rows: Sequence[RowView], inputs: Inputs) -> list[Pair]:
    """Columns that serve alike but for nginx in front of one of them."""
    proxied = inputs.proxied | {c.server for row in rows for c in row.cells.values() if c.nginx}
    kinds = {c.server: (c.kind, dict(c.options), c.cpus) for row in rows for c in row.cells.values()}
    return [
        Pair(plain, front)
        for front in inputs.servers
        if front in proxied and front in kinds
        for plain in inputs.servers
        if plain not in proxied and kinds.get(plain) == kinds[front]
    ]


def nginx_in_front(rows: Sequence[RowView], inputs: Inputs) -> list[str]:
    lines = []
    for pair in nginx_pairs(rows, inputs):
        both = [
            (r.cells[pair.plain], r.cells[pair.front])
            for r in rows
            if pair.plain in r.cells and pair.front in r.cells
        ]
        # a probe with no answer (every request failed) has no verdict to compare
        both = [(a, b) for a, b in both if _verdict(a) is not None and _verdict(b) is not None]
        if not both:
            continue
        lines.append(_verdicts_with_nginx(pair, both))
        lines += _protocol_with_nginx(pair, both)
        lines += _ratio_lines(f"nginx in front of `{pair.plain}`", both, inputs)
    return lines


def _verdicts_with_nginx(pair: Pair, both: Sequence[tuple[CellRecord, CellRecord]]) -> str:
    same = [
        (a, b)
        for a, b in both
        if a.concurrency and b.concurrency and a.concurrency.verdict == b.concurrency.verdict
    ]
    cells = [c for ab in both for c in ab]
    if len(same) == len(both):
        peaks = all(
            a.concurrency.peak == b.concurrency.peak for a, b in both if a.concurrency and b.concurrency
        )
        nor = ", nor its peak" if peaks else ""
        still = any(a.concurrency and a.concurrency.verdict == "serial" for a, _ in both)
        return (
            f"nginx in front of `{pair.plain}` did not change its verdict in any of the {len(both)} rows "
            f"measured with and without it{nor}"
            + (": a server that served one request at a time still did" if still else "")
            + f" {cite(cells)}."
            + _caution(cells)
        )
    differ = [(a, b) for a, b in both if (a, b) not in same]
    names = ", ".join(f"Flask {a.flask}" for a, _ in differ)
    return (
        f"nginx in front of `{pair.plain}` changed the verdict in {len(differ)} of {len(both)} rows "
        f"({names}) {cite([c for ab in differ for c in ab])}." + _caution(cells)
    )


def _protocol_with_nginx(pair: Pair, both: Sequence[tuple[CellRecord, CellRecord]]) -> list[str]:
    def facts(record: CellRecord) -> str | None:
        if record.http is None or not record.http.protocol:
            return None
        return f"{record.http.protocol} {'keep-alive' if record.http.keep_alive else 'close'}"

    seen = [(facts(a), facts(b), a, b) for a, b in both if facts(a) and facts(b) and facts(a) != facts(b)]
    if not seen:
        return []
    kinds = sorted({(x, y) for x, y, _, _ in seen})
    said = "; ".join(f"`{pair.plain}` answered {x}, nginx {y}" for x, y in kinds)
    cells = [c for *_, a, b in seen for c in (a, b)]
    return [f"What a client sees changes with nginx in front: {said} {cite(cells)}."]


# --- figures compared --------------------------------------------------------


def _figure(record: CellRecord, probe: str, name: str) -> float | None:
    result = record.result(probe)
    value = figure_of(result, name) if result is not None else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _ratio_lines(subject: str, both: Sequence[tuple[CellRecord, CellRecord]], inputs: Inputs) -> list[str]:
    """A line for each probe whose registry entry compares columns by a ratio."""
    lines = []
    for name, probe in PROBES.items():
        if probe.ratio is not None:
            line = _ratio_line(subject, both, inputs, name, probe.ratio)
            lines += [line] if line else []
    return lines


def _ratio_line(
    subject: str, both: Sequence[tuple[CellRecord, CellRecord]], inputs: Inputs, probe: str, ratio: Ratio
) -> str | None:
    """``subject`` gave N x the figure (median over rows, range), from pairs
    of cells measured on one machine only."""
    ratios, cells = [], []
    for a, b in both:
        x, y = _figure(a, probe, ratio.figure), _figure(b, probe, ratio.figure)
        if x and y is not None and inputs.machine(a) == inputs.machine(b):
            ratios.append(y / x)
            cells += [a, b]
    if not ratios:
        return None
    median = statistics.median(ratios)
    span = f", {min(ratios):.2f} to {max(ratios):.2f} across {len(ratios)} rows" if len(ratios) > 1 else ""
    text = f"{subject} gave {median:.2f} times the {ratio.unit} (the median ratio{span}) {cite(cells)}."
    unstable = [c for c in cells if (o := c.probe(probe)) is not None and o.repeats.unstable]
    once = all((o := c.probe(probe)) is not None and o.repeats.n <= 1 for c in cells)
    if unstable:
        text += f" Caution: the figure varied between repeats in {_count(unstable)} {cite(unstable)}."
    elif once and abs(median - 1) < NOISE:
        text += (
            f" Each figure was measured once, and a difference under {NOISE:.0%} is within run-to-run noise."
        )
    return text


# --- WSGI server over the development server ---------------------------------


def wsgi_over_dev(rows: Sequence[RowView], inputs: Inputs) -> list[str]:
    """Each WSGI server's ratio over the development server beside it, on
    every core and where columns are kept to fewer; then each probe's
    sentence over the columns of every core."""
    sides = dev_and_wsgi(rows, inputs)
    lines = []
    for side in sides:
        kept = f" (kept to {side.cpus} core{'s' if side.cpus != 1 else ''} each)" if side.cpus else ""
        for server in side.wsgi:
            both = [
                (r.cells[side.dev], r.cells[server])
                for r in rows
                if side.dev in r.cells and server in r.cells
            ]
            lines += _ratio_lines(f"`{server}` over `{side.dev}`{kept}", both, inputs)
    if not sides or sides[0].cpus is not None:
        return lines
    dev, wsgi = sides[0].dev, sides[0].wsgi
    measured = [c for row in rows for c in row.cells.values() if c.server in (dev, *wsgi)]
    machines = sorted({inputs.machine(c) for c in measured})
    for name, probe in PROBES.items():
        if probe.answer is None:
            continue
        for machine in machines:  # figures of one machine at a time, never side by side with another's
            cells = [c for c in measured if c.result(name) is not None and inputs.machine(c) == machine]
            if any(c.server == dev for c in cells) and any(c.server != dev for c in cells):
                where = f"On {machine}: " if len(machines) > 1 else ""
                lines.append(where + _answer_line(name, probe.answer, cells))
    return lines


def _answer_line(name: str, answer: Answer[Any], cells: Sequence[CellRecord]) -> str:
    """A probe's sentence over the cells: its opening, what each did, its closing, the cells cited."""
    results = [c.result(name) for c in cells]
    each = "; ".join(f"`{c.server}` (Flask {c.flask}) {answer.each(r)}" for c, r in zip(cells, results))
    return answer.opening(results[0]) + each + answer.closing(results) + f" {cite(cells)}."
