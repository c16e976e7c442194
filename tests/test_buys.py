"""What nginx buys, and what one core leaves of a WSGI server's gain: plain records in, words out."""

from __future__ import annotations

import dataclasses
from typing import Any

from runner.analysis import Inputs, dev_and_wsgi, rows_of
from runner.measuring.probes import PROBES
from runner.measuring.probes.silent import Silent
from runner.measuring.probes.slow_upload import SlowUpload
from runner.publish import buys, summary
from runner.publish.doc import Table
from runner.records.record import CellRecord, ProbeOutcome
from tests.test_record import EVERY_PROBE, cell, outcome, peak_of

COLUMNS = {
    # name: (kind, options, proxy options or None, cpus)
    "flask-run": ("flask-run", {}, None, None),
    "gunicorn-sync": ("gunicorn", {"workers": 2}, None, None),
    "nginx-gunicorn-sync": ("gunicorn", {"workers": 2}, {}, None),
    "nginx-unbuffered-gunicorn-sync": ("gunicorn", {"workers": 2}, {"buffering": False}, None),
    "flask-run-1cpu": ("flask-run", {}, None, 1),
    "gunicorn-sync-1cpu": ("gunicorn", {"workers": 2}, None, 1),
}


def silent(served: bool) -> Silent:
    return dataclasses.replace(EVERY_PROBE["silent"], served=served, waited_s=0.01 if served else 3.0)


def upload(served: bool) -> SlowUpload:
    return dataclasses.replace(EVERY_PROBE["slow_upload"], served=served)


def record(server: str, probes: dict[str, ProbeOutcome]) -> CellRecord:
    kind, options, proxy, cpus = COLUMNS[server]
    return cell(
        cell=f"flask-3.1.x--{server}",
        server=server,
        server_index=list(COLUMNS).index(server),
        kind=kind,
        options=options,
        nginx="1.22.1" if proxy is not None else None,
        proxy_options=proxy or {},
        cpus=cpus,
        probes={"concurrency": outcome("concurrency", peak_of(2)), **probes},
    )


def runs(name: str, results: list[Any]) -> ProbeOutcome:
    return ProbeOutcome.of_runs(PROBES[name], results)


def inputs() -> Inputs:
    return Inputs(servers=tuple(COLUMNS), probe_settings={n: p.defaults() for n, p in PROBES.items()})


def hostile_run() -> list[CellRecord]:
    six = 6
    return [
        record("flask-run", {"silent": runs("silent", [silent(True)] * six)}),
        record(
            "gunicorn-sync",
            {
                "silent": runs("silent", [silent(False)] * six),
                "slow_upload": runs("slow_upload", [upload(False)] * six),
            },
        ),
        record(
            "nginx-gunicorn-sync",
            {
                "silent": runs("silent", [silent(True)] * six),
                "slow_upload": runs("slow_upload", [upload(True)] * six),
            },
        ),
        record(
            "nginx-unbuffered-gunicorn-sync",
            {
                "silent": runs("silent", [silent(True)] * six),
                # held in 2 of 6 runs: chance decided it, and the grid says so
                "slow_upload": runs("slow_upload", [upload(False)] * 2 + [upload(True)] * 4),
            },
        ),
    ]


def test_the_grid_has_each_server_alone_behind_nginx_and_without_buffering() -> None:
    records = hostile_run()
    blocks = buys.section(rows_of(records), inputs())
    table = next(b for b in blocks if isinstance(b, Table))
    grid = {(row[0], row[1]): row[2:] for row in table.rows}
    assert grid[("Silent connections", "`gunicorn-sync`")] == ("blocked", "served", "served")
    assert grid[("Slow uploads", "`gunicorn-sync`")] == (
        "blocked",
        "served",
        "varies (blocked in 2 of 6 runs)",
    )
    # every entry opens the cell it was read from
    links = dict(zip(grid, (row[2:] for row in table.links)))
    assert links[("Silent connections", "`gunicorn-sync`")] == (
        "flask-3.1.x--gunicorn-sync",
        "flask-3.1.x--nginx-gunicorn-sync",
        "flask-3.1.x--nginx-unbuffered-gunicorn-sync",
    )


def test_the_summary_says_what_nginx_buys_and_what_its_buffering_does() -> None:
    records = hostile_run()
    found = buys.finding(rows_of(records), inputs(), "6 runs per cell")
    assert found is not None
    assert (
        "keeps serving where the server alone did not, under silent connections (`gunicorn-sync`)"
        in found.text
    )
    assert "its buffering is what does it under slow uploads (`gunicorn-sync`)" in found.text
    assert "flask-3.1.x--nginx-unbuffered-gunicorn-sync" in found.cells


def test_nothing_bought_is_said_so() -> None:
    same = [
        record("gunicorn-sync", {"silent": runs("silent", [silent(True)] * 6)}),
        record("nginx-gunicorn-sync", {"silent": runs("silent", [silent(True)] * 6)}),
    ]
    found = buys.finding(rows_of(same), inputs(), "6 runs per cell")
    assert found is not None
    assert found.text == "nginx in front changes nothing measured under silent connections."


def test_beyond_speed_says_who_comes_back_and_who_ends_a_hung_request() -> None:
    crash = EVERY_PROBE["crash"]
    down = dataclasses.replace(crash, idle_recovered=False, recovers=False, serving_recovered=None)
    hang = EVERY_PROBE["hang"]
    left = dataclasses.replace(hang, freed=0, frees=False)
    records = [
        record("flask-run", {"crash": outcome("crash", down), "hang": outcome("hang", left)}),
        record("gunicorn-sync", {"crash": outcome("crash", crash), "hang": outcome("hang", hang)}),
        # nginx in front is not the server alone: left out
        record("nginx-gunicorn-sync", {"crash": outcome("crash", down), "hang": outcome("hang", left)}),
    ]
    found = buys.protections(rows_of(records), inputs(), "1 run per cell")
    assert found is not None
    assert found.text == (
        "Beyond speed, alone: when the process that serves is killed, `gunicorn-sync` comes back; "
        "`flask-run` stays down; and with 2 requests that never return, `gunicorn-sync` ends them; "
        "`flask-run` lets them hang."
    )
    assert "flask-3.1.x--nginx-gunicorn-sync" not in found.cells


def rps(value: float) -> ProbeOutcome:
    return outcome("throughput", dataclasses.replace(EVERY_PROBE["throughput"], rps=value))


def test_one_core_columns_are_compared_among_themselves() -> None:
    records = [
        record("flask-run", {"throughput": rps(1000)}),
        record("gunicorn-sync", {"throughput": rps(3190)}),
        record("flask-run-1cpu", {"throughput": rps(1600)}),
        record("gunicorn-sync-1cpu", {"throughput": rps(2000)}),
    ]
    sides = dev_and_wsgi(rows_of(records), inputs())
    assert [(s.cpus, s.dev, s.wsgi) for s in sides] == [
        (None, "flask-run", ("gunicorn-sync",)),
        (1, "flask-run-1cpu", ("gunicorn-sync-1cpu",)),
    ]
    found = summary.ratio_finding(rows_of(records), inputs(), "throughput", PROBES["throughput"])
    assert found is not None
    assert found.text == (
        "A WSGI server gives 3.19 (`gunicorn-sync`) times the requests per second of `flask-run`; "
        "kept to one core each, `gunicorn-sync-1cpu` gives 1.25 times `flask-run-1cpu`'s "
        "(`gunicorn-sync`: 3.19 on every core)."
    )
