"""docs/extending.md's two examples, taken from the page as they are and registered
with the one entry the page names: nothing else is edited, and the new probe
and the new server are planned into shards, estimated, charted, reported and
answered by the rest of the tool.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from runner import analysis, shards
from runner.cli import DEFAULT_ENVS
from runner.matrix.cells import MatrixError, parse
from runner.measuring import probes
from runner.measuring.probes.base import Result
from runner.measuring.stats import spread
from runner.publish import answers, charts, doc, report, tidy
from runner.records.record import Asked, CellRecord, ProbeOutcome, RunMeta, Status
from runner.serving import servers
from runner.serving.process import RunningServer
from runner.workflow import run

PAGE = Path(__file__).resolve().parent.parent / "docs" / "extending.md"
Check = Callable[[str], None]


def example(section: str) -> str:
    """The Python block under a heading of docs/extending.md."""
    text = PAGE.read_text(encoding="utf-8").split(f"## {section}", 1)[1]
    block = re.search(r"```python\n(.*?)```", text, re.S)
    assert block, f"docs/extending.md's {section} section has no Python example"
    return block.group(1)


def load(name: str, source: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def first_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = load("first_byte", example("Adding a probe"), tmp_path, monkeypatch)
    monkeypatch.setitem(probes.PROBES, module.PROBE.name, module.PROBE)  # the one entry
    return module


@pytest.fixture
def wsgiref(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    module = load("wsgiref_recipe", example("Adding a server"), tmp_path, monkeypatch)
    for recipe in module.RECIPES:  # the one entry
        monkeypatch.setitem(servers.RECIPES, recipe.kind, recipe)
    return module


class Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def hello() -> Iterator[RunningServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", port, 0, 0.0, Path("/dev/null"), "")
    finally:
        httpd.shutdown()
        httpd.server_close()


MATRIX = {
    "versions": [{"flask": "3.1.*"}],
    "servers": {"flask-run": {"kind": "flask-run"}, "waitress": {"kind": "waitress"}},
}


def record(server: str, kind: str, index: int, results: dict[str, Result]) -> CellRecord:
    outcomes = {
        name: ProbeOutcome(result, None, spread([1.0], figure=probes.PROBES[name].key_figure))
        for name, result in results.items()
    }
    return CellRecord(
        cell=f"flask-3.1.x--{server}",
        row="flask-3.1.x",
        row_index=0,
        server=server,
        server_index=index,
        kind=kind,
        options={},
        asked=Asked("3.1.*", None, "3.11"),
        status=Status.OK,
        flask="3.1.3",
        werkzeug="3.1.9",
        python="3.11.7",
        probes=outcomes,
    )


def test_the_probe_is_accepted_run_recorded_and_reported(first_byte: Any, hello: RunningServer) -> None:
    matrix = parse({**MATRIX, "probes": {"first_byte": {"requests": 3}}})
    settings = matrix.probes["first_byte"]
    assert settings["requests"] == 3
    result = first_byte.PROBE.run(hello, settings)
    assert result.requests == 3
    assert 0 < result.best_ms < 10_000
    cell = record("flask-run", "flask-run", 0, {"first_byte": result})
    again = CellRecord.from_dict(cell.to_dict())
    assert again == cell
    text = report.render([again], ["flask-run"], probe_settings=matrix.probes)
    assert "## First byte" in text
    assert f"{result.best_ms:.2f} ms" in text


def test_the_probe_is_planned_estimated_charted_and_answered(first_byte: Any) -> None:
    plain = parse(MATRIX)
    matrix = parse({**MATRIX, "probes": {"first_byte": {"requests": 30}}})
    cost = 0.01 * 30 + 0.1  # what the example declares
    cells = matrix.cells()
    planned = sum(part.estimated_s for part in shards.plan(matrix, 2))
    assert planned == pytest.approx(
        sum(part.estimated_s for part in shards.plan(plain, 2)) + 2 * cost, abs=0.2
    )
    assert run.cell_cost(matrix, cells[0], 1) == pytest.approx(run.cell_cost(plain, cells[0], 1) + cost)
    assert run.cell_cost(matrix, cells[0], 8) > run.cell_cost(plain, cells[0], 8)  # needs the CPU: alone
    results = {"first_byte": first_byte.FirstByte(requests=30, best_ms=1.5)}
    records = [record("flask-run", "flask-run", 0, results), record("waitress", "waitress", 1, results)]
    drawn = charts.charts(tidy.cell_facts(records), {})
    assert "first_byte" in [c.name for c in drawn]
    meta = RunMeta(
        run="r", started="s", matrix={**MATRIX, "probes": {"first_byte": {"requests": 30}}}, cells=()
    )
    text = doc.markdown(answers.section(records, analysis.Inputs.of_run(meta, records)))
    assert "The fastest of 30 requests for a tiny page: `flask-run` (Flask 3.1.3) answered in 1.50 ms" in text


def test_a_setting_out_of_the_probe_bounds_is_refused(first_byte: Any) -> None:
    with pytest.raises(
        MatrixError, match=r"probes\.first_byte\.requests: expected a whole number from 1 to 100"
    ):
        parse({**MATRIX, "probes": {"first_byte": {"requests": 0}}})


def test_the_server_is_accepted_planned_and_estimated(wsgiref: Any) -> None:
    matrix = parse({**MATRIX, "servers": {**MATRIX["servers"], "ref": {"kind": "wsgiref"}}})
    [cell] = [c for c in matrix.cells() if c.server.kind == "wsgiref"]
    assert shards.planned_capacity(cell) == 1
    assert cell.name in [name for part in shards.plan(matrix, 3) for name in part.cells]
    # ten requests one at a time: ten rounds of 500 ms
    assert shards.probe_costs(matrix, cell)["concurrency"] == pytest.approx(10 * 0.5 + 0.3)
    with pytest.raises(MatrixError, match=r"expected one of.*wsgiref"):
        parse({**MATRIX, "servers": {"ref": {"kind": "wsgiref2"}}})


@pytest.mark.slow
def test_the_server_is_launched_probed_charted_and_answered(
    wsgiref: Any, tmp_path: Path, no_leftovers: Check
) -> None:
    matrix = parse(
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": {"flask-run": {"kind": "flask-run"}, "ref": {"kind": "wsgiref"}},
            "probes": {
                "concurrency": {"requests": 4, "delay_ms": 200},
                "throughput": {"connections": 2, "duration_s": 1, "warmup_s": 0, "generator": "builtin"},
            },
        }
    )
    outcome = run.run_cells(
        matrix, matrix.cells(), results=tmp_path, env_root=DEFAULT_ENVS, progress=lambda line: None
    )
    by_server = {r.server: r for r in outcome.records}
    ref = by_server["ref"]
    assert ref.status is Status.OK, f"{ref.reason}\n" + "\n".join(ref.log_tail)
    assert ref.concurrency is not None
    assert ref.concurrency.peak == 1
    assert ref.capacity == 1
    text = (outcome.run.path / "report.md").read_text()
    header = next(line for line in text.splitlines() if line.startswith("| Flask"))
    assert [c.strip() for c in header.strip("|").split("|")][3:] == ["flask-run", "ref"]
    assert "1 serial" in next(line for line in text.splitlines() if line.startswith("| 3.1"))
    assert "`ref` over `flask-run` gave" in text  # the WSGI answer compares it with the dev server
    assert (outcome.run.path / "charts" / "throughput.svg").is_file()
    no_leftovers(outcome.run.id)
