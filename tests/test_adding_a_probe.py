"""The README's "Adding a probe" example, taken from the README and run.

The example module is written out as the README shows it, registered the way
the README says, then parsed from a matrix, run against a real HTTP server on
127.0.0.1, stored in a record and shown in the report.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from runner.matrix.cells import parse
from runner.measuring import probes
from runner.publish import report
from runner.records.record import Asked, CellRecord, ProbeOutcome, Status
from runner.serving.process import RunningServer

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Adding a probe", 1)[1]
    block = re.search(r"```python\n(.*?)```", section, re.S)
    assert block, "the README's Adding a probe section has no Python example"
    return block.group(1)


@pytest.fixture
def first_byte(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "first_byte.py"
    path.write_text(readme_example(), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("first_byte", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "first_byte", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    monkeypatch.setitem(probes.PROBES, module.PROBE.name, module.PROBE)
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
def server() -> Iterator[RunningServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    try:
        yield RunningServer(f"http://127.0.0.1:{port}", port, 0, 0.0, Path("/dev/null"), "")
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_readme_probe_is_accepted_run_recorded_and_reported(
    first_byte: Any, server: RunningServer
) -> None:
    matrix = parse(
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": {"flask-run": {"kind": "flask-run"}},
            "probes": {"first_byte": {"requests": 3}},
        }
    )
    settings = matrix.probes["first_byte"]
    assert settings["requests"] == 3

    result = first_byte.PROBE.run(server, settings)
    assert result.requests == 3
    assert 0 < result.best_ms < 10_000

    outcome = ProbeOutcome.of_runs(first_byte.PROBE, [result])
    record = CellRecord(
        cell="flask-3.1.x--flask-run",
        row="flask-3.1.x",
        row_index=0,
        server="flask-run",
        server_index=0,
        kind="flask-run",
        options={},
        asked=Asked("3.1.*", None, "3.11"),
        status=Status.OK,
        flask="3.1.3",
        werkzeug="3.1.9",
        python="3.11.7",
        probes={"first_byte": outcome},
    )
    again = CellRecord.from_dict(record.to_dict())
    assert again == record
    text = report.render([again], ["flask-run"], probe_settings=matrix.probes)
    assert "## First byte" in text
    assert f"{result.best_ms:.2f} ms" in text


def test_a_setting_out_of_the_readme_probe_bounds_is_refused(first_byte: Any) -> None:
    from runner.matrix.cells import MatrixError

    with pytest.raises(
        MatrixError, match=r"probes\.first_byte\.requests: expected a whole number from 1 to 100"
    ):
        parse(
            {
                "versions": [{"flask": "3.1.*"}],
                "servers": {"flask-run": {"kind": "flask-run"}},
                "probes": {"first_byte": {"requests": 0}},
            }
        )
