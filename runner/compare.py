"""Two runs side by side: the cells both have, what changed, and whether it is real.

Verdict changes come first, then the other probes' yes/no changes (each
probe's ``outcome`` in the registry: slow clients, bursts, and any probe to
come), then peak changes, throughput ratios and every other probe's key
figure; then the cells only one run has.  A difference of figures is called
real only by :data:`RULE`; otherwise it is marked ``~``.  A yes/no changes
only where both sides are stable (every run agreed, and runs enough for
chance not to decide); one that varies on either side is listed as such and
never called a change.  The exit status says whether any verdict or stable
yes/no changed, for CI: 0 none, 1 at least one, 2 bad input.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tabulate import tabulate

from runner.errors import UserError
from runner.measuring.probes import HEADLINE, PROBES
from runner.measuring.probes.base import Ratio, figure_of
from runner.measuring.stats import Spread
from runner.records.record import CellRecord, RunMeta, Tally, machine_namer, machine_names, one_measurement
from runner.records.store import read_any

# The figure compared as B/A: the first probe whose registry entry names one.
RATIO: tuple[str, Ratio] | None = next(
    ((name, probe.ratio) for name, probe in PROBES.items() if probe.ratio is not None), None
)
_RATIO_TITLE = f"{PROBES[RATIO[0]].title}, {RATIO[1].unit} (B/A)" if RATIO else ""
_RATIO_EMPTY = f"No {PROBES[RATIO[0]].title.lower()} figure to compare." if RATIO else ""
MIN_REPEATS = 3
RULE = (
    f"A difference is called real when both runs measured the cell at least {MIN_REPEATS} times and "
    "the ranges of their repeats do not overlap; otherwise it is marked `~` (it may be noise)."
)


@dataclass(frozen=True)
class Side:
    path: Path
    meta: RunMeta
    cells: dict[str, CellRecord]

    @classmethod
    def read(cls, path: Path) -> Side:
        meta, records = read_any(path)
        if not records:
            raise UserError(f"{path}: the run has no cell records to compare")
        return cls(path, meta, {r.cell: r for r in records})

    def machines(self) -> str:
        names = sorted(set(machine_names(self.cells.values()).values()))
        return names[0] if len(names) == 1 else f"{len(names)} machines: " + "; ".join(names)


def real(a: Spread, b: Spread) -> bool:
    """:data:`RULE`: enough repeats on both sides, and ranges apart."""
    if a.n < MIN_REPEATS or b.n < MIN_REPEATS:
        return False
    if a.min is None or a.max is None or b.min is None or b.max is None:
        return False
    return a.max < b.min or b.max < a.min


@dataclass(frozen=True)
class Line:
    cell: str
    was: str
    now: str
    real: bool
    note: str = ""

    def row(self) -> tuple[str, ...]:
        return (self.cell, self.was, self.now, "real" if self.real else "~", self.note)


@dataclass(frozen=True)
class Comparison:
    a: Side
    b: Side
    verdicts: list[Line]
    peaks: list[Line]
    throughput: list[Line]
    statuses: list[Line]
    only_a: list[str]
    only_b: list[str]
    outcomes: list[Line] = field(default_factory=list)  # stable yes/no that changed
    unsettled: list[Line] = field(default_factory=list)  # yes/no that varies, or too few runs, on a side
    figures: list[Line] = field(default_factory=list)  # other probes' key figures that differ
    # Cells whose record on both sides is one measurement (one run reused the
    # other's, or both an earlier one's): not a second measurement, not compared.
    same: list[str] = field(default_factory=list)

    @property
    def verdict_changed(self) -> bool:
        return bool(self.verdicts or self.outcomes)


def compare(a: Side, b: Side) -> Comparison:
    both = [name for name in a.cells if name in b.cells]
    order = sorted(both, key=lambda n: (a.cells[n].row_index, a.cells[n].server_index))
    machine = machine_namer([*a.cells.values(), *b.cells.values()])  # one naming for both runs
    verdicts: list[Line] = []
    peaks: list[Line] = []
    throughput: list[Line] = []
    statuses: list[Line] = []
    outcomes: list[Line] = []
    unsettled: list[Line] = []
    figures: list[Line] = []
    same: list[str] = []
    for name in order:
        x, y = a.cells[name], b.cells[name]
        if one_measurement(x, y):
            same.append(name)
            continue
        if x.status != y.status:
            statuses.append(Line(name, _status(x), _status(y), real=False))
            continue
        found = _concurrency(name, x, y)
        if found is not None:
            (verdicts if found[0] else peaks).append(found[1])
        line = _ratio(name, x, y, same_machine=machine(x) == machine(y))
        if line is not None:
            throughput.append(line)
        for probe in PROBES:
            if probe == HEADLINE or not x.ok:
                continue
            said = _outcome(name, probe, x, y)
            if said is not None:
                (outcomes if said[0] else unsettled).append(said[1])
            figure = _key_figure(name, probe, x, y)
            if figure is not None:
                figures.append(figure)
    return Comparison(
        a,
        b,
        verdicts,
        peaks,
        throughput,
        statuses,
        only_a=[n for n in a.cells if n not in b.cells],
        only_b=[n for n in b.cells if n not in a.cells],
        outcomes=outcomes,
        unsettled=unsettled,
        figures=figures,
        same=same,
    )


def _said(tally: Tally, probe: str) -> str:
    outcome = PROBES[probe].outcome
    assert outcome is not None
    if tally.varies:
        return f"varies ({outcome.no} in {tally.no} of {tally.n})"
    word = outcome.yes if tally.value else outcome.no
    return f"{word} ({tally.n} of {tally.n})" if tally.n > 1 else f"{word} (1 run)"


def _outcome(name: str, probe: str, x: CellRecord, y: CellRecord) -> tuple[bool, Line] | None:
    """(True, line) for a stable yes/no that changed; (False, line) for one that
    differs, or may, where a side varies or has too few runs; None otherwise."""
    ox, oy = x.probe(probe), y.probe(probe)
    if ox is None or oy is None:
        return None
    tx, ty = ox.tally(PROBES[probe]), oy.tally(PROBES[probe])
    if tx is None or ty is None or not tx.n or not ty.n:
        return None
    cell = f"{name} ({probe})"
    if tx.varies or ty.varies:
        return False, Line(cell, _said(tx, probe), _said(ty, probe), real=False, note="varies: not a change")
    if tx.value == ty.value:
        return None
    if not (tx.settled and ty.settled):
        return False, Line(cell, _said(tx, probe), _said(ty, probe), real=False, note="too few runs to call")
    return True, Line(cell, _said(tx, probe), _said(ty, probe), real=True)


def _key_figure(name: str, probe: str, x: CellRecord, y: CellRecord) -> Line | None:
    """A probe's key figure where the two runs differ (the ratio probe has its own table)."""
    if RATIO is not None and probe == RATIO[0]:
        return None
    ox, oy = x.probe(probe), y.probe(probe)
    if ox is None or oy is None:
        return None
    fx, fy = PROBES[probe].figure(ox.result), PROBES[probe].figure(oy.result)
    if fx is None or fy is None or fx == fy:
        return None
    note = f"{fy / fx:.2f}x" if fx else ""
    label = f"{name} ({probe} {PROBES[probe].key_figure})"
    return Line(label, f"{fx:g}", f"{fy:g}", real(ox.repeats, oy.repeats), note)


def _status(record: CellRecord) -> str:
    return record.status.value + (f" ({record.reason})" if record.reason else "")


def _verdict_text(record: CellRecord) -> str:
    """``2 concurrent``; where the probe gave no verdict, why."""
    outcome = record.probe(HEADLINE)
    probe = record.concurrency
    if outcome is None:
        return "not measured"
    if probe is None:
        return f"error: {outcome.error}"
    if probe.verdict is None:
        return f"no answer ({probe.errors} of {probe.requests} requests failed)"
    return f"{probe.peak} {probe.verdict}"


def _concurrency(name: str, x: CellRecord, y: CellRecord) -> tuple[bool, Line] | None:
    """(True, line) for a verdict that changed, also to or from no verdict at all;
    (False, line) for a peak that changed under the same verdict; None otherwise."""
    if not x.ok:
        return None
    px, py = x.probe(HEADLINE), y.probe(HEADLINE)
    vx, vy = (r.concurrency.verdict if r.concurrency else None for r in (x, y))
    if vx != vy:
        both = px is not None and py is not None and vx is not None and vy is not None
        real_change = both and px is not None and py is not None and real(px.repeats, py.repeats)
        return True, Line(name, _verdict_text(x), _verdict_text(y), real_change)
    cx, cy = x.concurrency, y.concurrency
    if cx is not None and cy is not None and px is not None and py is not None and cx.peak != cy.peak:
        return False, Line(name, str(cx.peak), str(cy.peak), real(px.repeats, py.repeats))
    return None


def _ratio(name: str, x: CellRecord, y: CellRecord, *, same_machine: bool) -> Line | None:
    """B/A of the ratio figure of the first probe that declares one (see :data:`RATIO`)."""
    if RATIO is None:
        return None
    probe, ratio = RATIO
    ox, oy = x.probe(probe), y.probe(probe)
    if ox is None or oy is None:
        return None
    rx, ry = (figure_of(o.result, ratio.figure) if o.result is not None else None for o in (ox, oy))
    if not rx or ry is None:  # the probe failed on one side (or both): say so, no ratio
        said = [f"{rps:g}" if rps else f"error: {o.error or 'no figure'}" for rps, o in ((rx, ox), (ry, oy))]
        return Line(name, said[0], said[1], real=False, note="could not compare")
    note = f"{ry / rx:.2f}x" + ("" if same_machine else ", different machines")
    return Line(name, f"{rx:g}", f"{ry:g}", real(ox.repeats, oy.repeats), note)


def changed_only(lines: Sequence[Line]) -> list[Line]:
    return [line for line in lines if line.real]


def render(result: Comparison, *, fmt: str = "text", only_changed: bool = False) -> str:
    """The comparison for a terminal (``text``) or a pull request (``md``)."""
    table_fmt = "github" if fmt == "md" else "simple"

    def heading(title: str) -> str:
        return f"## {title}" if fmt == "md" else f"{title}\n{'-' * len(title)}"

    out = [
        *(
            f"{label}: run {side.meta.run} ({side.path}), {len(side.cells)} cells, on {side.machines()}"
            for label, side in (("A", result.a), ("B", result.b))
        ),
        "",
        RULE,
        "",
    ]
    headers = ("cell", "A", "B", "real?", "B/A, note")
    throughput = changed_only(result.throughput) if only_changed else result.throughput
    figures = changed_only(result.figures) if only_changed else result.figures
    sections = [
        ("Verdict changes", result.verdicts, "No verdict changed."),
        ("Yes/no changes (stable on both sides)", result.outcomes, "No stable yes/no changed."),
        ("Yes/no that varies, or has too few runs, on a side", result.unsettled, ""),
        ("Peak changes (same verdict)", result.peaks, "No peak changed."),
        (_RATIO_TITLE, throughput, _RATIO_EMPTY),
        ("Other probes' key figures that differ", figures, ""),
        ("Cells whose status changed", result.statuses, ""),
    ]
    for title, lines, empty in sections:
        if not lines and (only_changed or not empty):
            continue
        out += [heading(title), ""]
        if lines:
            out += [
                tabulate(
                    [line.row() for line in lines], headers=headers, tablefmt=table_fmt, disable_numparse=True
                )
            ]
        else:
            out += [empty]
        out.append("")
    for label, names in (("Only in A", result.only_a), ("Only in B", result.only_b)):
        if names:
            out += [heading(label), "", ", ".join(f"`{n}`" for n in names), ""]
    out += _same_and_totals(result, heading)
    return "\n".join(out) + "\n"


def _names(names: Sequence[str], shown: int = 20) -> str:
    listed = ", ".join(f"`{n}`" for n in names[:shown])
    return listed + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _same_and_totals(result: Comparison, heading: Callable[[str], str]) -> list[str]:
    """The cells that are one measurement on both sides, and the comparison's last line."""
    out = []
    if result.same:
        out += [
            heading("One measurement on both sides"),
            "",
            f"{len(result.same)} cell(s) hold the same record on both sides, reused from the run that "
            "measured it, so they are not compared: " + _names(result.same),
            "",
        ]
    both = len(result.a.cells.keys() & result.b.cells.keys()) - len(result.same)
    out.append(
        f"{len(result.verdicts)} verdict change(s), {len(result.outcomes)} yes/no change(s), "
        f"{len(result.peaks)} peak change(s) over {both} cells both runs measured"
        + (f" ({len(result.same)} more are one measurement on both sides)." if result.same else ".")
    )
    return out
