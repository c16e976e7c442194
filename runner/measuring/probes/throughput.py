"""Throughput: requests per second and latency for a tiny page, closed loop.

``connections`` connections each send a request as soon as the last answer
is in, for ``duration_s`` seconds after ``warmup_s`` of warm-up, from wrk
where it is installed (or asked for) and the built-in generator otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.measuring.loadgen import Throughput, measure_throughput
from runner.measuring.probes.base import Probe, Setting, range_text
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer


def _run(server: RunningServer, settings: Mapping[str, Any]) -> Throughput:
    return measure_throughput(
        server.port,
        connections=settings["connections"],
        duration_s=settings["duration_s"],
        warmup_s=settings["warmup_s"],
        generator=settings["generator"],
    )


def _text(result: Throughput, spread: Spread) -> str:
    latency = result.latency_ms
    text = (
        f"{result.rps:.0f}{range_text(spread, '{:.0f}')} rps, p50 {latency['p50']:.1f} ms, "
        f"p99 {latency['p99']:.1f} ms, {result.generator}"
    )
    if result.errors:
        text += f", {result.errors} errors"
    if result.client_bound:
        text += ", client-bound"
    if result.little and not result.little.get("ok", True):
        text += f", Little x{result.little['ratio']:.2f}"
    if result.other and result.little.get("ok", False):
        other = result.other
        text += f" (not {other['generator']}: Little x{other['little'].get('ratio', 0):.2f})"
    return text


PROBE = Probe(
    name="throughput",
    title="Throughput",
    result=Throughput,
    run=_run,
    key_figure="rps",
    settings={
        "connections": Setting(8, 1, 500),
        "duration_s": Setting(2, 1, 60),
        "warmup_s": Setting(1, 0, 60),
        "generator": Setting("auto", choices=("auto", "wrk", "builtin")),
    },
    about=(
        "{connections} connections asking for a tiny page for {duration_s} s after "
        "{warmup_s} s of warm-up: requests per second and latency, and the generator "
        "that made the load. `client-bound` marks a figure the generator itself limited; "
        "`Little xR` marks a cell where requests per second x mean latency is R times the "
        "connections, off by more than 20%: the measurement itself is then suspect. Where one "
        "generator's figures break that law the other measures again, and the figures that hold "
        "are shown, with `(not wrk: Little xR)` naming the ones left out. A server that closes "
        "after every answer without saying so (uWSGI's HTTP socket) is measured by the built-in "
        "generator first: wrk leaves each of its reconnects out of the latency. wrk's latency is read "
        "from its histogram as measured, without the samples wrk adds after a run to correct "
        "for coordinated omission (see the README)."
    ),
    text=_text,
    figures={
        "rps": "requests/s",
        "latency_ms.p50": "ms",
        "latency_ms.p90": "ms",
        "latency_ms.p99": "ms",
        "latency_ms.mean": "ms",
        "errors": "requests",
        "requests": "requests",
        "connections": "connections",
        "client_cpu": "cores",
        "generator": "",
    },
)
