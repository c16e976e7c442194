"""The answers group columns by their recipe's role: every WSGI server is compared
with the development server (cheroot and granian were left out while the answers
kept their own list of WSGI servers)."""

from __future__ import annotations

import pytest

from runner import analysis
from runner.measuring.load import Throughput
from runner.measuring.probes import PROBES
from runner.measuring.stats import spread
from runner.publish import answers, doc
from runner.records.record import Asked, CellRecord, ProbeOutcome, RunMeta, Status

SERVERS = {
    "flask-run": {"kind": "flask-run"},
    "gunicorn": {"kind": "gunicorn", "workers": 2},
    "cheroot": {"kind": "cheroot", "threads": 4},
    "granian": {"kind": "granian", "workers": 2},
    "nginx-cheroot": {"kind": "cheroot", "threads": 4, "proxy": "nginx"},
}


def throughput(rps: float) -> Throughput:
    return Throughput(
        generator="builtin",
        connections=8,
        duration_s=1.0,
        requests=int(rps),
        rps=rps,
        latency_ms={"mean": 1.0, "p50": 1.0, "p90": 1.0, "p99": 1.0},
        errors=0,
        error_kinds={},
        client_cpu=0.2,
        client_bound=False,
    )


def cell(server: str, index: int, rps: float) -> CellRecord:
    spec = SERVERS[server]
    return CellRecord(
        cell=f"flask-3.1.x--{server}",
        row="flask-3.1.x",
        row_index=0,
        server=server,
        server_index=index,
        kind=spec["kind"],
        options={k: v for k, v in spec.items() if k not in ("kind", "proxy")},
        asked=Asked("3.1.*", None, "3.11"),
        status=Status.OK,
        flask="3.1.3",
        python="3.11.7",
        nginx="1.22.1" if "proxy" in spec else None,
        probes={"throughput": ProbeOutcome(throughput(rps), None, spread([rps], figure="rps"))},
    )


@pytest.fixture
def text() -> str:
    records = [cell(name, i, 1000.0 * (i + 1)) for i, name in enumerate(SERVERS)]
    meta = RunMeta(run="r", started="s", matrix={"versions": [], "servers": SERVERS}, cells=())
    return doc.markdown(answers.section(records, analysis.Inputs.of_run(meta, records)))


@pytest.mark.parametrize(
    ("server", "ratio"), [("gunicorn", "2.00"), ("cheroot", "3.00"), ("granian", "4.00")]
)
def test_every_wsgi_server_is_compared_with_the_development_server(
    text: str, server: str, ratio: str
) -> None:
    assert f"`{server}` over `flask-run` gave {ratio} times the requests per second" in text


def test_a_proxied_column_is_not_taken_for_a_wsgi_server(text: str) -> None:
    assert "`nginx-cheroot` over" not in text


def test_the_ratio_figure_comes_from_the_registry() -> None:
    assert [name for name, probe in PROBES.items() if probe.ratio is not None] == ["throughput"]
