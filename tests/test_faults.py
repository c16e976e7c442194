"""Fault injection against real processes: a bad cell never poisons a run.

Faults are injected per cell by :func:`faults_in`, a fixture-side wrapper of
the cell's launcher that hands that cell's target app TARGET_APP_FAULT (see
target_app/app.py); the shipped code has no such hook.
"""

from __future__ import annotations

import dataclasses
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from runner.cli import DEFAULT_ENVS
from runner.matrix.cells import parse
from runner.records.record import CellRecord, Status
from runner.serving.servers import Recipe
from runner.workflow import cell as cell_steps
from runner.workflow.run import Outcome, run_cells

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
Faulty = tuple[dict[str, CellRecord], Outcome]
Check = Callable[[str], None]


def faults_in(patch: pytest.MonkeyPatch, faults: dict[str, str]) -> None:
    """Each named cell's target app started with its fault: the cell's servers
    are launched with ``TARGET_APP_FAULT`` in their recipe's environment (a
    cell's log, which ``launched`` is given, is named after the cell)."""
    launched = cell_steps.launched

    def with_fault(recipe: Recipe, server: Any, env: Any, log_path: Path, run_id: str, **given: Any) -> Any:
        fault = faults.get(log_path.stem)
        if fault:
            recipe = dataclasses.replace(recipe, env={**recipe.env, "TARGET_APP_FAULT": fault})
        return launched(recipe, server, env, log_path, run_id, **given)

    patch.setattr(cell_steps, "launched", with_fault)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Faulty:
    matrix = parse(
        {
            "versions": [{"flask": "3.1.*"}, {"flask": "0.0.1"}],  # the second will not install
            "servers": {
                name: {"kind": "flask-run"}
                for name in ("plain", "never-ready", "ignores-sigterm", "crashes", "fails-all")
            },
            "probes": {"concurrency": {"requests": 4, "delay_ms": 100}},
        }
    )
    faults = {
        "never-ready": "hang-at-start",
        "ignores-sigterm": "ignore-sigterm",
        "crashes": "crash-on-slow",
        "fails-all": "fail-requests",
    }
    cells = [c for c in matrix.cells() if c.row.flask == "3.1.*" or c.server.name == "plain"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MATRIX_READY_TIMEOUT", "4")
        faults_in(patch, {f"flask-3.1.x--{s}": f for s, f in faults.items()})
        outcome = run_cells(
            matrix,
            cells,
            results=tmp_path_factory.mktemp("results"),
            env_root=DEFAULT_ENVS,
            progress=lambda line: None,
        )
    return {r.cell: r for r in outcome.records}, outcome


def test_the_plain_cell_is_ok_beside_the_faulty_ones(faulty: Faulty) -> None:
    assert faulty[0]["flask-3.1.x--plain"].status is Status.OK


def test_a_server_that_never_becomes_ready_meets_its_deadline(faulty: Faulty) -> None:
    record = faulty[0]["flask-3.1.x--never-ready"]
    assert record.status is Status.ERROR
    assert (record.reason or "").startswith("server not ready within 4 s"), record.reason
    assert record.log_tail


def test_a_server_that_ignores_sigterm_is_killed(faulty: Faulty) -> None:
    record = faulty[0]["flask-3.1.x--ignores-sigterm"]
    assert record.status is Status.OK
    assert record.log is not None
    log = (faulty[1].run.path / record.log).read_text()
    assert "after SIGTERM: killed" in log


def test_a_server_that_dies_in_the_middle_of_a_probe(faulty: Faulty) -> None:
    record = faulty[0]["flask-3.1.x--crashes"]
    assert record.status is Status.ERROR
    assert (record.reason or "").startswith("all 4 requests failed"), record.reason


def test_a_probe_whose_requests_all_fail(faulty: Faulty) -> None:
    record = faulty[0]["flask-3.1.x--fails-all"]
    assert record.status is Status.ERROR
    assert record.reason == "all 4 requests failed (HTTP 500 x4)"


def test_a_package_that_does_not_install(faulty: Faulty) -> None:
    record = faulty[0]["flask-0.0.1--plain"]
    assert record.status is Status.ERROR
    assert (record.reason or "").startswith("environment install failed: No solution found"), record.reason


def test_failed_cells_are_counted_and_reported_and_nothing_is_left(
    faulty: Faulty, no_leftovers: Check
) -> None:
    _, outcome = faulty
    assert outcome.failed == 4
    for name in ("never-ready", "crashes", "fails-all"):
        assert f"`flask-3.1.x--{name}`: error:" in outcome.report
    no_leftovers(outcome.run.id)


def test_a_port_taken_by_another_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_leftovers: Check
) -> None:
    class Other(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok", "token": "not ours"}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.HTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    try:
        import runner.serving.launch

        monkeypatch.setattr(runner.serving.launch, "free_port", lambda: other.server_address[1])
        monkeypatch.setenv("MATRIX_READY_TIMEOUT", "3")
        matrix = parse({"versions": [{"flask": "3.1.*"}], "servers": {"w": {"kind": "waitress"}}})
        outcome = run_cells(
            matrix, matrix.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
        )
    finally:
        other.shutdown()
    [record] = outcome.records
    assert record.status is Status.ERROR
    # waitress cannot bind, or (were it to) the other program's answer is not taken for ours
    reason = record.reason or ""
    assert "before it was ready" in reason or "another program" in reason, reason
    no_leftovers(outcome.run.id)


def write_matrix(tmp_path: Path) -> Path:
    path = tmp_path / "matrix.yaml"
    path.write_text(
        'versions: [{flask: "3.1.*"}, {flask: "0.12.5", pins: ["werkzeug<1", "jinja2<3", '
        '"markupsafe<2.1", "itsdangerous<2", "click<8"]}]\n'
        "servers: {flask-run: {kind: flask-run}, werkzeug: {kind: werkzeug}, "
        "waitress: {kind: waitress}}\n"
        "probes: {concurrency: {requests: 6, delay_ms: 300}}\n"
    )
    return path


def runner_cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "runner", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_run_keeps_its_cells_and_the_next_run_finishes_it(
    tmp_path: Path, sig: signal.Signals, no_leftovers: Check
) -> None:
    matrix, results = write_matrix(tmp_path), tmp_path / "results"
    # one cell after another, so that the signal lands between two cells; the
    # run that goes on from it uses the default schedule
    proc = runner_cli("--matrix", str(matrix), "--results", str(results), "--serial")
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        if len(list(results.glob("runs/*/cells/*.json"))) >= 2:
            break
        time.sleep(0.1)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    [run_dir] = list((results / "runs").iterdir())
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["complete"] is False
    kept = sorted(p.name for p in (run_dir / "cells").glob("*.json"))
    assert 2 <= len(kept) < 6
    no_leftovers(meta["run"])

    again = runner_cli("--matrix", str(matrix), "--results", str(results))
    _, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "going on where it stopped" in err
    assert [p.name for p in (results / "runs").iterdir()] == [run_dir.name]
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["complete"] is True
    cells = sorted(p.name for p in (run_dir / "cells").glob("*.json"))
    assert len(cells) == 6
    assert set(kept) <= set(cells)
    report = (run_dir / "report.md").read_text()
    assert "- flask-run: serial in Flask 0.12.5" not in report  # 3.1 comes first: no such pair
    assert "| 0.12.5 " in report
    assert "| 3.1." in report

    fresh = runner_cli("--matrix", str(matrix), "--results", str(results), "--fresh")
    fresh.communicate(timeout=600)
    assert fresh.returncode == 0
    runs = sorted((results / "runs").iterdir())
    assert len(runs) == 2
    # The resumed run reports what an uninterrupted one does.
    assert concurrency_table(runs[0] / "report.md") == concurrency_table(runs[1] / "report.md")
    no_leftovers(meta["run"])
    no_leftovers(runs[1].name)


def concurrency_table(report: Path) -> list[str]:
    lines = report.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Flask"))
    end = next(i for i in range(start, len(lines)) if not lines[i].startswith("|"))
    return lines[start:end]


def test_two_runs_at_once_in_one_checkout_do_not_clobber_each_other(
    tmp_path: Path, no_leftovers: Check
) -> None:
    matrix, results = write_matrix(tmp_path), tmp_path / "results"
    first = runner_cli("--matrix", str(matrix), "--results", str(results), "--cell", "flask-3.1.x--waitress")
    second = runner_cli(
        "--matrix", str(matrix), "--results", str(results), "--cell", "flask-3.1.x--flask-run"
    )
    assert first.wait(timeout=600) == 0
    assert second.wait(timeout=600) == 0
    runs = sorted((results / "runs").iterdir())
    assert len(runs) == 2
    cells = sorted(p.name for run in runs for p in (run / "cells").glob("*.json"))
    assert cells == ["flask-3.1.x--flask-run.json", "flask-3.1.x--waitress.json"]
    for run in runs:
        no_leftovers(run.name)


def listening_sockets_of(pids: set[int]) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket in LISTEN that one of ``pids`` holds."""
    inodes = set()
    for pid in pids:
        try:
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except OSError:
            continue
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == "0A" and inode in inodes:  # 0A: LISTEN
                address, port = local.split(":")
                found.append((_address(address), int(port, 16)))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(hex_address)[::-1])
    raw = bytes.fromhex(hex_address)
    return socket.inet_ntop(socket.AF_INET6, b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4)))


def test_every_server_and_nginx_listens_on_loopback_only(tmp_path: Path, no_leftovers: Check) -> None:
    from conftest import processes_of_run as ours  # the pids, while the run is under way

    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        'versions: [{flask: "3.1.*"}]\n'
        "servers: {n: {kind: gunicorn, workers: 2, proxy: nginx}, u: {kind: uwsgi, "
        "processes: 2}, w: {kind: waitress}}\n"
        "probes: {concurrency: {requests: 4, delay_ms: 2000}}\n"
    )
    results = tmp_path / "results"
    proc = runner_cli("--matrix", str(matrix), "--results", str(results), "--fresh")
    seen: dict[tuple[str, int], int] = {}
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        runs = list((results / "runs").glob("*"))
        if runs:
            for listener in listening_sockets_of(set(ours(runs[0].name))):
                seen[listener] = seen.get(listener, 0) + 1
        time.sleep(0.2)
    assert proc.wait(timeout=60) == 0
    assert seen, "no listening socket was seen during the run"
    assert {address for address, _ in seen} == {"127.0.0.1"}
    for run in (results / "runs").iterdir():
        no_leftovers(run.name)


def test_no_environment_variable_leaks_into_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "s3cret-" + os.urandom(6).hex()
    monkeypatch.setenv("MATRIX_TEST_SECRET", secret)
    matrix = parse({"versions": [{"flask": "3.1.*"}], "servers": {"flask-run": {"kind": "flask-run"}}})
    outcome = run_cells(
        matrix, matrix.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    assert outcome.records[0].status is Status.OK
    for path in outcome.run.path.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
