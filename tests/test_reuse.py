"""Reuse: a cell whose inputs are unchanged is taken over from an earlier run, not measured again.

The hash of a cell's inputs is plain data.  The live tests run a real
matrix three and four times: once from nothing, then with a row added (only
its cells are measured), with ``--fresh`` (all are), and against a package
index on 127.0.0.1 that hides the newest Flask and waitress releases until
the test "publishes" them: the cells a release touches are measured again,
the others reused.  The index answers from PyPI's own pages, less the hidden
releases, so that uv downloads the real files.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import threading
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    parse_sdist_filename,
    parse_wheel_filename,
)

from runner import cli
from runner.compare import Side, compare, render
from runner.environments import envs
from runner.matrix.cells import parse
from runner.merge import merge
from runner.publish.page import islands
from runner.records.checks import RecordError
from runner.records.record import CellRecord, Machine, Reused, Status
from runner.records.store import read_run
from runner.workflow import reuse
from tests.test_record import cell as record_of

MACHINE = Machine(platform="Linux", cpu="CPU", cores=2, memory_gib=23.5, load_1m=0.5, host="vm")


def _matrix(probes: dict[str, Any] | None = None, servers: dict[str, Any] | None = None) -> Any:
    return parse(
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": servers or {"flask-run": {"kind": "flask-run"}},
            "probes": probes or {"concurrency": {"requests": 4, "delay_ms": 200}},
        }
    )


def _env(**packages: str) -> envs.Env:
    return envs.Env(path=Path("/envs/x"), packages=packages or {"Flask": "3.1.2"}, backend="uv", reused=True)


def _key(matrix: Any = None, env: envs.Env | None = None, python: str = "3.11.7") -> str:
    matrix = matrix or _matrix()
    return reuse.inputs_of(matrix, matrix.cells()[0], env or _env(), python)


def test_the_same_inputs_give_the_same_hash() -> None:
    assert _key() == _key()
    assert _key(env=_env(flask="3.1.2")) == _key(env=_env(Flask="3.1.2"))  # names as the index names them


@pytest.mark.parametrize(
    "changed",
    [{"cpu": "another CPU"}, {"host": "elsewhere"}, {"memory_gib": 7.8}, {"cores": 4}],
    ids=["cpu", "host", "memory", "cores"],
)
def test_the_machine_is_matched_apart_from_the_hash_and_its_load_is_not_part(changed: dict[str, Any]) -> None:
    assert reuse.identity(dataclasses.replace(MACHINE, **changed)) != reuse.identity(MACHINE)
    assert reuse.identity(dataclasses.replace(MACHINE, load_1m=1.9)) == reuse.identity(MACHINE)


@pytest.mark.parametrize(
    "changed",
    [
        {"env": _env(Flask="3.1.3")},
        {"python": "3.11.8"},
        {"matrix": _matrix(probes={"concurrency": {"requests": 5, "delay_ms": 200}})},
        {"matrix": _matrix(servers={"flask-run": {"kind": "flask-run", "cpus": 1}})},
    ],
    ids=["installed version", "python", "probe settings", "server options"],
)
def test_every_input_moves_the_hash(changed: dict[str, Any]) -> None:
    assert _key(**changed) != _key()


def test_the_measuring_codes_version_and_the_tools_move_the_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _key()
    monkeypatch.setattr(reuse, "tool_versions", lambda: {"nginx": "9.9.9", "wrk": "wrk 4.1.0"})
    assert _key() != before
    monkeypatch.undo()
    from runner.measuring.probes import PROBES

    newer = dataclasses.replace(PROBES["concurrency"], version=PROBES["concurrency"].version + 1)
    monkeypatch.setitem(PROBES, "concurrency", newer)
    assert _key() != before


def test_a_reused_record_keeps_where_it_was_measured_and_bad_ones_are_refused() -> None:
    record = dataclasses.replace(
        record_of(), inputs="ab" * 16, reused=Reused("20261201T000000Z", "2026-12-01")
    )
    again = CellRecord.from_dict(json.loads(json.dumps(record.to_dict())))
    assert again.reused == record.reused
    assert again.inputs == record.inputs
    assert again.measured_in("20261203T000000Z") == "20261201T000000Z"
    for bad, said in (
        ({"reused": {"run": "../../etc", "date": "2026-12-01"}}, "reused.run"),
        ({"reused": {"run": "20261201T000000Z", "date": "yesterday"}}, "reused.date"),
        ({"inputs": "not a hash"}, "inputs"),
    ):
        with pytest.raises(RecordError, match=said):
            CellRecord.from_dict({**record.to_dict(), **bad})


# --- live: a real matrix, run again and again -------------------------------------------------

HIDDEN = {"flask": "3.1.3", "waitress": "3.0.2"}  # released, as far as the test's index says, when shown


class _Index(BaseHTTPRequestHandler):
    """PyPI's JSON simple pages, less the releases the test still hides."""

    hidden: ClassVar[dict[str, str]] = {}
    pages: ClassVar[dict[str, dict[str, Any]]] = {}
    lock = threading.Lock()

    def do_GET(self) -> None:
        parts = [p for p in self.path.split("?")[0].split("/") if p]
        if len(parts) != 2 or parts[0] != "simple":
            self.send_error(404)
            return
        page = self._page(parts[1])
        hidden = self.hidden.get(parts[1])
        shown = {**page, "files": [f for f in page["files"] if _version_of(f["filename"]) != hidden]}
        shown["versions"] = [v for v in page.get("versions", []) if v != hidden]
        body = json.dumps(shown).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.send_header("Cache-Control", "max-age=0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _page(self, name: str) -> dict[str, Any]:
        with self.lock:
            if name not in self.pages:
                asked = urllib.request.Request(
                    f"https://pypi.org/simple/{name}/",
                    headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                )
                with urllib.request.urlopen(asked, timeout=60) as answer:
                    self.pages[name] = json.load(answer)
            return self.pages[name]

    def log_message(self, *args: Any) -> None:
        pass


def _version_of(filename: str) -> str | None:
    try:
        return str(parse_wheel_filename(filename)[1])
    except InvalidWheelFilename:
        pass
    try:
        return str(parse_sdist_filename(filename)[1])
    except InvalidSdistFilename:
        return None


@pytest.fixture(scope="module")
def index() -> Iterator[type[_Index]]:
    handler = type("Index", (_Index,), {"hidden": dict(HIDDEN), "pages": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("UV_DEFAULT_INDEX", f"http://127.0.0.1:{server.server_address[1]}/simple")
        yield handler
    server.shutdown()
    server.server_close()


MATRIX = """
python: "3.11"
versions:
  - flask: "3.1.*"
  - flask: "3.0.3"
servers:
  flask-run: {kind: flask-run}
  waitress: {kind: waitress, threads: 4}
probes:
  concurrency: {requests: 4, delay_ms: 200}
"""
ADDED_ROW = '  - flask: "2.3.3"\n'


@dataclasses.dataclass
class Runs:
    root: Path
    matrix: Path
    envs: Path

    def run(self, *args: str) -> tuple[Path, dict[str, CellRecord]]:
        before = set((self.root / "runs").glob("*")) if (self.root / "runs").exists() else set()
        code = cli.main(
            [
                "--matrix",
                str(self.matrix),
                "--results",
                str(self.root),
                "--envs",
                str(self.envs),
                "--no-bisect",
                *args,
            ]
        )
        assert code == 0
        (path,) = set((self.root / "runs").glob("*")) - before
        _, records = read_run(path)
        return path, {r.cell: r for r in records}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, index: type[_Index]) -> Runs:
    folder = tmp_path_factory.mktemp("reuse")
    (folder / "matrix.yaml").write_text(MATRIX)
    return Runs(folder / "results", folder / "matrix.yaml", folder / "envs")


def _measured(records: dict[str, CellRecord]) -> set[str]:
    return {name for name, r in records.items() if r.reused is None}


@pytest.mark.slow
def test_a_row_added_measures_its_cells_alone_and_fresh_measures_all(runs: Runs, no_leftovers: Any) -> None:
    first_path, first = runs.run()
    assert _measured(first) == set(first)
    assert all(r.status is Status.OK for r in first.values())
    assert first["flask-3.1.x--flask-run"].flask == "3.1.2"  # 3.1.3 is not on the test's index yet
    runs.matrix.write_text(MATRIX.replace("servers:", ADDED_ROW + "servers:"))

    path, second = runs.run()
    assert _measured(second) == {"flask-2.3.3--flask-run", "flask-2.3.3--waitress"}
    day = read_run(first_path)[0].started[:10]
    for name in first:
        taken = second[name]
        assert taken.reused == Reused(first_path.name, day)
        assert taken.probes == first[name].probes
        assert (path / str(taken.log)).read_bytes() == (first_path / str(first[name].log)).read_bytes()
    report = (path / "report.md").read_text()
    assert f"4 measured in run `{first_path.name}`" in report
    assert "## Cells reused from earlier runs" in report
    panels = islands((path / "report.html").read_text())["cell-records"]
    assert (
        panels["flask-3.0.3--waitress"]["measured"]
        == f"in run {first_path.name} on {day}, reused here (same inputs)"
    )
    assert panels["flask-2.3.3--waitress"]["measured"] == "in this run"
    assert "measured_in" in (path / "results.csv").read_text().splitlines()[0]

    said = render(compare(Side.read(first_path), Side.read(path)))
    assert "4 cell(s) hold the same record on both sides" in said
    assert "over 0 cells both runs measured" in said
    again_path, again = runs.run("--cell", "flask-2.3.3--waitress")
    assert again["flask-2.3.3--waitress"].reused == Reused(path.name, day)
    merged = merge([path, again_path], runs.root / "merged", runs.root)  # one measurement, kept once
    assert sorted(r.cell for r in read_run(merged)[1]) == sorted(second)

    fresh_path, fresh = runs.run("--fresh")
    assert _measured(fresh) == set(fresh) == set(second)
    assert "not measured again" not in (fresh_path / "report.md").read_text()
    no_leftovers(fresh_path.name)


@pytest.mark.slow
def test_a_new_release_measures_the_cells_it_touches_and_reuses_the_rest(
    runs: Runs, index: type[_Index], no_leftovers: Any
) -> None:
    _, before = runs.run()
    assert _measured(before) == set()  # nothing new on the index: every cell as the last run measured it

    index.hidden.pop("flask")
    _, after_flask = runs.run("--refresh")
    assert _measured(after_flask) == {"flask-3.1.x--flask-run", "flask-3.1.x--waitress"}
    assert after_flask["flask-3.1.x--flask-run"].flask == "3.1.3"

    index.hidden.pop("waitress")
    path, after_waitress = runs.run("--refresh")
    waitress = {name for name in after_waitress if name.endswith("--waitress")}
    assert _measured(after_waitress) == waitress
    assert {after_waitress[n].server_version for n in waitress} == {"3.0.2"}
    no_leftovers(path.name)


@pytest.mark.slow
def test_a_published_run_of_another_machine_gives_every_cell_a_change_leaves_alone(
    runs: Runs, tmp_path: Path, capsys: pytest.CaptureFixture[str], no_leftovers: Any
) -> None:
    """What a pull request runs: the site's records of the last run, from a hosted runner of another
    host and CPU, and a change of the waitress column's threads: only that column is measured."""
    base_path, base = runs.run()
    meta = json.loads((base_path / "run.json").read_text())
    meta["run"] = "20990101T000000Z"
    meta["machine"] = {**meta["machine"], "host": "fv-az123-456", "cpu": "AMD EPYC 7763 64-Core Processor"}
    published = tmp_path / "records.json.gz"
    cells = [r.to_dict() for r in base.values()]
    for cell in cells:
        cell["machine"] = {**cell["machine"], "host": "fv-az123-456"}
    published.write_bytes(gzip.compress(json.dumps({"run": meta, "cells": cells}).encode()))
    runs.matrix.write_text(runs.matrix.read_text().replace("threads: 4", "threads: 8"))

    path, after = runs.run("--reuse-from", str(published))
    waitress = {name for name in after if name.endswith("--waitress")}
    assert waitress
    assert _measured(after) == waitress
    for name in set(after) - waitress:
        assert after[name].probes == base[name].probes
        assert after[name].inputs == base[name].inputs
        assert after[name].machine is not None
        assert after[name].machine.host == "fv-az123-456"  # each keeps the machine that measured it
    capsys.readouterr()
    assert cli.compare([str(published), str(path), "--format", "md"]) in (0, 1)
    said = capsys.readouterr().out
    assert f"{len(after) - len(waitress)} cell(s) hold the same record on both sides" in said
    assert f"over {len(waitress)} cells both runs measured" in said  # the cells the change touched
    _, later = runs.run()  # plain reuse takes nothing measured on another machine
    assert all(r.machine is None or r.machine.host != "fv-az123-456" for r in later.values())
    no_leftovers(path.name)


def test_a_sites_records_that_are_not_records_are_one_line(tmp_path: Path) -> None:
    from runner.errors import UserError
    from runner.records import store

    cases = {
        "not gzip": b"{}",
        "not json": gzip.compress(b"\xff\xfe"),
        "no cells": gzip.compress(b'{"run": {}}'),
        "a bad cell": gzip.compress(json.dumps({"run": {}, "cells": [{"cell": "../x"}]}).encode()),
        "too big unpacked": gzip.compress(b" " * (store.MAX_PUBLISHED_BYTES + 10)),
    }
    for name, raw in cases.items():
        path = tmp_path / f"{name.replace(' ', '-')}.json.gz"
        path.write_bytes(raw)
        with pytest.raises(UserError, match=str(path)):
            store.read_published(path)
    with pytest.raises(UserError, match="give one of them"):
        cli.run(
            parse({"versions": [{"flask": "3.1.*"}], "servers": {"f": {"kind": "flask-run"}}}),
            fresh=True,
            reuse_from="x",
        )
