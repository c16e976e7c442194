"""The run as tidy data: one row per cell x figure (``results.csv``), and one
flat mapping per cell that the charts and comparisons read.

Every row carries the versions installed, the server and its options, the
machine that measured it and the number of repeats, so that a spreadsheet,
pandas or DuckDB needs nothing else to group or filter by.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from runner.analysis import expected_peak, rows_of
from runner.measuring.probes import HEADLINE, PROBES
from runner.measuring.probes.base import figure_of
from runner.records.record import CellRecord, ProbeOutcome, machine_names

COLUMNS = (
    "run",
    "cell",
    "row",
    "server",
    "kind",
    "options",
    "status",
    "cause",
    "flask",
    "werkzeug",
    "python",
    "resolve",
    "pins",
    "server_package",
    "server_version",
    "probe",
    "figure",
    "value",
    "unit",
    "repeats",
    "min",
    "max",
    "unstable",
    "machine",
    "measured_in",
)


def options_text(options: Mapping[str, Any]) -> str:
    """``proxy=nginx;workers=2``: a server's options in one sortable field."""
    return ";".join(f"{key}={options[key]}" for key in sorted(options))


def row_labels(records: Sequence[CellRecord]) -> dict[str, str]:
    """Each row as a person names it: the versions its cells installed (as
    asked, where none did), and how they were chosen; unique within the run."""
    labels: dict[str, str] = {}
    for view in rows_of(records):
        period = ", as of upload" if view.group[1] == "period" else ""
        label = f"Flask {view.flask}, Werkzeug {view.werkzeug or '?'}, Python {view.python}{period}"
        labels[view.name] = label if label not in labels.values() else f"{label} ({view.name})"
    return labels


def _cell_columns(run: str, record: CellRecord) -> dict[str, Any]:
    return {
        "run": run,
        "cell": record.cell,
        "row": record.row,
        "server": record.server,
        "kind": record.kind,
        "options": options_text(record.options),
        "status": record.status.value,
        "cause": record.cause or "",
        "flask": record.flask or "",
        "werkzeug": record.werkzeug or "",
        "python": record.python or "",
        "resolve": record.asked.resolve,
        "pins": " ".join(record.asked.pins),
        "measured_in": record.measured_in(run),
        "server_package": record.server_package or "",
        "server_version": record.server_version or "",
        "machine": record.machine.describe() if record.machine else "",
    }


def figure_rows(run: str, records: Sequence[CellRecord]) -> Iterator[dict[str, Any]]:
    """One row per cell x figure, in matrix order; a cell that did not run has
    one row, its status (the reason in ``value``)."""
    for record in sorted(records, key=lambda r: (r.row_index, r.server_index)):
        base = _cell_columns(run, record)
        if not record.ok or (not record.probes and record.http is None):
            yield {**base, "probe": "cell", "figure": "status", "value": record.reason or "", "unit": ""}
            continue
        for name, outcome in record.probes.items():
            yield from _probe_rows(base, name, outcome)
        if record.http is not None:
            http = {
                "protocol": record.http.protocol,
                "keep_alive": record.http.keep_alive,
                "dev_server_warning": record.dev_server_warning is not None,
            }
            for figure, value in http.items():
                yield {**base, "probe": "http", "figure": figure, "value": _plain(value), "unit": ""}


def _probe_rows(base: dict[str, Any], name: str, outcome: ProbeOutcome) -> Iterator[dict[str, Any]]:
    probe = PROBES[name]
    spread = outcome.repeats
    if outcome.result is None:
        yield {**base, "probe": name, "figure": "error", "value": outcome.error or "", "unit": ""}
        return
    for figure, unit in probe.figures.items():
        row = {**base, "probe": name, "figure": figure, "unit": unit, "repeats": spread.n}
        row["value"] = _plain(figure_of(outcome.result, figure))
        if figure == probe.key_figure and spread.n > 1:
            row.update(min=spread.min, max=spread.max, unstable=_plain(spread.unstable))
        yield row


def _plain(value: Any) -> Any:
    """CSV has no booleans or nulls: ``true``/``false`` and an empty field."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A field a spreadsheet would read as a formula (``=HYPERLINK(...)``), made text
    by a leading apostrophe; numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA):
        return "'" + value
    return value


def csv_text(run: str, records: Sequence[CellRecord]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: _cell(value) for key, value in row.items()} for row in figure_rows(run, records))
    return out.getvalue()


def field_name(probe: str, figure: str) -> str:
    """``throughput_latency_ms_p99``: a figure's name where a dot would mean nesting."""
    return f"{probe}_{figure.replace('.', '_')}"


def cell_facts(records: Sequence[CellRecord]) -> list[dict[str, Any]]:
    """One flat mapping per cell: who it is, and every published figure as
    ``probe_figure`` (what the charts plot and their tooltips show)."""
    facts = []
    labels = row_labels(records)
    machines = machine_names(records)
    for record in sorted(records, key=lambda r: (r.row_index, r.server_index)):
        fact: dict[str, Any] = {
            "cell": record.cell,
            "row": labels[record.row],
            "row_index": record.row_index,
            "server": record.server,
            "server_index": record.server_index,
            "python": record.python or record.asked.python,
            "flask": record.flask or record.asked.flask,
            "werkzeug": record.werkzeug or record.asked.werkzeug or "",
            "group": f"Python {record.python or record.asked.python}, {record.asked.resolve}",
            "status": record.status.value,
            "reason": record.reason or "",
            "machine": machines[record.cell],
            "repeats": max((o.repeats.n for o in record.probes.values()), default=0),
        }
        for name, outcome in record.probes.items() if record.ok else ():
            if outcome.result is None:
                fact[f"{name}_error"] = outcome.error
                continue
            for figure in PROBES[name].figures:
                fact[field_name(name, figure)] = figure_of(outcome.result, figure)
            fact[f"{name}_unstable"] = outcome.repeats.unstable
        fact[field_name(HEADLINE, "expected")] = expected_peak(record)
        facts.append(fact)
    return facts
