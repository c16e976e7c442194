"""Change detection and rendering, fed plain records."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from runner.analysis import changes, mismatches, rows_of
from runner.measuring import stats
from runner.measuring.facts import HttpFacts
from runner.measuring.probes.concurrency import ConcurrencyResult, verdict
from runner.publish.report import cell_text, fact_text, probe_text, render
from runner.records.record import Asked, CellRecord, ProbeOutcome, Status
from runner.workflow.cell import launch_groups


def concurrency(peak: int, *, per_process: Sequence[int] = (), runs: Sequence[int] = ()) -> ProbeOutcome:
    """The concurrency probe's outcome: ``peak`` shown, ``runs`` the peaks of every run."""
    result = ConcurrencyResult(
        requests=10,
        delay_ms=500,
        peak=peak,
        verdict=verdict(peak),
        wall_s=0.6,
        errors=0,
        per_process=list(per_process),
    )
    values = list(runs) or [peak]
    repeats = dataclasses.replace(stats.spread(values, figure="peak"), shown=values.index(peak))
    return ProbeOutcome(result=result, error=None, repeats=repeats)


def record(
    row_index: int,
    flask: str,
    server: str,
    peak: int | None = None,
    *,
    werkzeug: str = "0.16.1",
    python: str = "3.11.7",
    status: str = "ok",
    capacity: int | None = None,
    server_index: int = 0,
    reason: str | None = None,
    per_process: Sequence[int] = (),
    runs: Sequence[int] = (),
) -> CellRecord:
    probes = {} if peak is None else {"concurrency": concurrency(peak, per_process=per_process, runs=runs)}
    return CellRecord(
        cell=f"flask-{flask}--{server}",
        row=f"flask-{flask}",
        row_index=row_index,
        server=server,
        server_index=server_index,
        kind="flask-run",
        options={},
        asked=Asked(flask=flask, werkzeug=None, python="3.11"),
        status=Status(status),
        reason=reason,
        flask=flask if status != "skipped" else None,
        werkzeug=werkzeug,
        python=python,
        capacity=capacity,
        probes=probes,
    )


SERVERS = ["flask-run", "werkzeug"]


def sample() -> list[CellRecord]:
    return [
        record(0, "0.12.5", "flask-run", 1),
        record(0, "0.12.5", "werkzeug", 1, server_index=1),
        record(1, "1.0.4", "flask-run", 10),
        record(1, "1.0.4", "werkzeug", 1, server_index=1),
        record(2, "3.1.3", "flask-run", 10, werkzeug="3.1.9"),
        record(2, "3.1.3", "werkzeug", 1, werkzeug="3.1.9", server_index=1),
    ]


def test_rows_keep_matrix_order_and_installed_versions() -> None:
    rows = rows_of(reversed(sample()))
    assert [(r.flask, r.werkzeug) for r in rows] == [
        ("0.12.5", "0.16.1"),
        ("1.0.4", "0.16.1"),
        ("3.1.3", "3.1.9"),
    ]


def test_the_flask_1_0_change_is_named() -> None:
    assert changes(rows_of(sample()), SERVERS) == [
        "flask-run: serial in Flask 0.12.5 -> concurrent in Flask 1.0.4"
    ]


def test_a_column_that_never_changes_has_no_change() -> None:
    assert not [c for c in changes(rows_of(sample()), SERVERS) if c.startswith("werkzeug")]


def test_werkzeug_is_named_when_it_is_what_differs() -> None:
    records = [
        record(0, "1.0.4", "werkzeug", 1, werkzeug="0.14.1"),
        dataclasses.replace(record(1, "1.0.4", "werkzeug", 4, werkzeug="0.15.6"), row="flask-1.0.4-b"),
    ]
    assert changes(rows_of(records), ["werkzeug"]) == [
        "werkzeug: serial in Flask 1.0.4, Werkzeug 0.14.1 -> concurrent in Flask 1.0.4, Werkzeug 0.15.6"
    ]


def test_a_failed_cell_is_passed_over_not_compared() -> None:
    records = [
        record(0, "0.12.5", "flask-run", 1),
        record(1, "1.0.4", "flask-run", status="error", reason="boom"),
        record(2, "1.1.4", "flask-run", 10),
    ]
    assert changes(rows_of(records), ["flask-run"]) == [
        "flask-run: serial in Flask 0.12.5 -> concurrent in Flask 1.1.4"
    ]


def test_cell_text_shows_peak_verdict_status_and_mismatch() -> None:
    assert cell_text(record(0, "1.0.4", "flask-run", 10)) == "10 concurrent"
    assert cell_text(record(0, "1.0.4", "x", status="error")) == "error"
    assert cell_text(record(0, "1.0.4", "x", 6, capacity=8)) == "6 concurrent (!= 8)"
    # Capacity above the requests sent can only show as the requests sent.
    assert cell_text(record(0, "1.0.4", "x", 10, capacity=16)) == "10 concurrent"
    assert cell_text(None) == ""


def test_cell_text_shows_the_range_of_repeated_runs_and_marks_a_wide_one() -> None:
    assert cell_text(record(0, "1.0.4", "x", 10, runs=[10, 10, 10])) == "10 concurrent"
    assert cell_text(record(0, "1.0.4", "x", 9, runs=[10, 9, 8])) == "9 [8-10] ! concurrent"


def test_a_probe_that_failed_in_a_cell_that_ran_shows_error() -> None:
    failed = ProbeOutcome(result=None, error="OSError: refused", repeats=stats.spread([], figure="speedup"))
    rec = record(0, "1.0.4", "flask-run", 10)
    rec = dataclasses.replace(rec, probes={**rec.probes, "cpu": failed})
    assert probe_text(rec, "cpu") == "error"
    assert probe_text(rec, "throughput") == ""
    assert probe_text(None, "cpu") == ""


def test_mismatches_name_the_cell_and_the_share_per_process() -> None:
    rows = rows_of(
        [
            record(0, "3.1.3", "gthread", 6, capacity=8, per_process=[8, 2]),
            record(0, "3.1.3", "sync", 2, capacity=2, server_index=1),
        ]
    )
    assert mismatches(rows, ["gthread", "sync"]) == [
        "gthread on Flask 3.1.3, Werkzeug 0.16.1, Python 3.11.7: peak 6, but its options promise 8 "
        "(requests per process: 8+2)"
    ]


def test_render_holds_the_table_the_changes_and_the_failures() -> None:
    records = [
        *sample(),
        record(3, "9.9.9", "flask-run", status="error", reason="environment install failed: no such version"),
    ]
    text = render(records, SERVERS, probe_settings={"concurrency": {"requests": 10, "delay_ms": 500}})
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("| Flask"))
    assert [h.strip() for h in header.strip("|").split("|")] == [
        "Flask",
        "Werkzeug",
        "Python",
        "flask-run",
        "werkzeug",
    ]
    row = next(line for line in lines if line.startswith("| 0.12.5"))
    assert [c.strip() for c in row.strip("|").split("|")] == [
        "0.12.5",
        "0.16.1",
        "3.11.7",
        "1 serial",
        "1 serial",
    ]
    assert "- flask-run: serial in Flask 0.12.5 -> concurrent in Flask 1.0.4" in lines
    assert any("flask-9.9.9--flask-run`: error: environment install failed" in line for line in lines)
    assert "10 requests to a 500 ms endpoint" in text


def test_rows_on_another_python_or_resolution_are_not_compared() -> None:
    first = record(0, "1.0.2", "flask-run", 10)
    records = [
        dataclasses.replace(first, asked=dataclasses.replace(first.asked, python="3.6", resolve="period")),
        record(1, "0.12.5", "flask-run", 1),
        record(2, "1.0.4", "flask-run", 10),
    ]
    assert changes(rows_of(records), ["flask-run"]) == [
        "flask-run: serial in Flask 0.12.5 -> concurrent in Flask 1.0.4"
    ]


def test_fact_text() -> None:
    rec = dataclasses.replace(
        record(0, "1.0.4", "flask-run", 10),
        http=HttpFacts(protocol="HTTP/1.1", keep_alive=True, server_header=None),
        dev_server_warning="WARNING: This is a development server.",
    )
    assert fact_text(rec) == "1.1 keep-alive, warns"
    rec = dataclasses.replace(
        rec,
        http=HttpFacts(protocol="HTTP/1.0", keep_alive=False, server_header=None),
        dev_server_warning=None,
    )
    assert fact_text(rec) == "1.0 close"
    assert fact_text(record(0, "1.0.4", "x", status="error")) == ""


def test_probes_that_leave_a_server_clean_share_it_the_others_get_their_own() -> None:
    assert launch_groups(["concurrency", "cpu", "throughput", "burst", "slow_client"]) == [
        ["concurrency", "cpu", "throughput"],
        ["burst"],
        ["slow_client"],
    ]
    assert launch_groups(["concurrency"]) == [["concurrency"]]
