"""What ``nox -s matrix`` leaves in the terminal after its progress lines.

At most :data:`MAX_LINES` lines of at most :data:`WIDTH` columns: a compact
concurrency table (a line per column, its verdict along each block of rows),
the summary's findings, the counts of cells, and the page as a ``file://``
link.  The whole Markdown is ``nox -s report -- --full`` away.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from pathlib import Path

from tabulate import tabulate

from runner.analysis import Inputs, rows_of
from runner.publish.doc import Finding, Table
from runner.publish.report import by_column
from runner.records.record import CellRecord

MAX_LINES = 40
WIDTH = 100
MAX_TABLE = 20  # lines of the compact table; a wider matrix is in report.md
STATUSES = ("ok", "error", "skipped", "n/a")
_SHORT = {"serial": "S", "concurrent": "C", " -> ": ">"}


def ending(
    records: Sequence[CellRecord],
    inputs: Inputs,
    findings: Sequence[Finding],
    counts: Mapping[str, int],
    page: Path,
) -> list[str]:
    """The lines, in order; never more than :data:`MAX_LINES`, none wider than :data:`WIDTH`."""
    table = compact_table(records, inputs)
    tail = [
        "",
        f"{len(records)} cells: "
        + ", ".join(f"{counts.get(s, 0)} {s}" for s in ("ok", "error", "skipped", "n/a"))
        + _reused(records),
        f"Page: {page.resolve().as_uri()}",
        "Everything: nox -s report -- --full",
    ]
    budget = MAX_LINES - len(table) - len(tail) - 2  # the blank line and "Summary"
    found = summary_lines(findings, budget)
    lines = [*table, "", "Summary", *found, *tail] if found else [*table, *tail]
    # a link is never cut: a path longer than the width is the one line that may be wider
    return [line if line.startswith("Page: ") else line[:WIDTH] for line in lines[:MAX_LINES]]


def compact_table(records: Sequence[CellRecord], inputs: Inputs) -> list[str]:
    """A line per column, a cell per block of rows; symbols where words would not fit."""
    rows = rows_of(records)
    table = by_column(rows, inputs.servers)
    plain = Table(
        table.headers[:-1], tuple(row[:-1] for row in table.rows)
    )  # where it changed: the summary says
    for short in (False, True):
        shown = _shorten(plain) if short else plain
        lines = tabulate(
            shown.rows, headers=shown.headers, tablefmt="simple", disable_numparse=True
        ).splitlines()
        if max((len(line) for line in lines), default=0) <= WIDTH:
            break
    if short:
        lines.append("S: one request at a time, C: several at once, >: then")
    if len(lines) > MAX_TABLE:
        more = len(lines) - MAX_TABLE + 1
        lines = [*lines[: MAX_TABLE - 1], f"... {more} more columns in report.md"]
    return lines


def _shorten(table: Table) -> Table:
    def short(text: str) -> str:
        for word, symbol in _SHORT.items():
            text = text.replace(word, symbol)
        return text

    headers = tuple(h.replace("Python ", "py") for h in table.headers)
    return Table(headers, tuple((row[0], *(short(c) for c in row[1:-1]), row[-1]) for row in table.rows))


def summary_lines(findings: Sequence[Finding], budget: int) -> list[str]:
    """Each finding wrapped to the width, with how sure it is while the budget allows."""
    for sure in (_whole, _short, _none):
        lines: list[str] = []
        for number, finding in enumerate(findings, 1):
            said = sure(finding.sure)
            lines += _wrapped(number, finding.text.replace("`", "") + (f" [{said}]" if said else ""))
        if len(lines) <= budget:
            return lines
    kept: list[str] = []
    for number, finding in enumerate(findings, 1):
        wrapped = textwrap.wrap(
            finding.text.replace("`", ""), WIDTH, initial_indent=f"{number}. ", subsequent_indent="   "
        )
        if len(kept) + len(wrapped) + 1 > budget:
            kept.append(f"... {len(findings) - number + 1} more in report.md")
            break
        kept += wrapped
    return kept


def _wrapped(number: int, text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=f"{number}. ", subsequent_indent="   ")


def _whole(sure: str) -> str:
    return sure


def _short(sure: str) -> str:
    """How sure, to its first clause: ``6 runs per cell``."""
    return sure.split(";")[0].split(",")[0]


def _none(sure: str) -> str:
    return ""


def _reused(records: Sequence[CellRecord]) -> str:
    """``; 228 of them reused from earlier runs (same inputs)``, where any was."""
    n = sum(1 for r in records if r.reused)
    return f"; {n} of them reused from earlier runs (same inputs)" if n else ""
