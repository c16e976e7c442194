"""Throughput: requests per second and latency for a tiny page, closed loop.

``connections`` connections each send a request as soon as the last answer
is in, for ``duration_s`` seconds after ``warmup_s`` of warm-up, from wrk
where it is installed (or asked for) and the built-in generator otherwise.
Which generator measures a server, and which figures are published when one
breaks Little's law, is this probe's policy (:func:`measure_throughput`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from runner.measuring import builtin, facts, wrk
from runner.measuring.load import Throughput
from runner.measuring.probes.base import Chart, Probe, RateAndSpan, Ratio, Setting, range_text
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer, clients_beside

# Why ``auto`` measures such a server with the built-in generator first.
SILENT_CLOSE = (
    "the server closes after every answer without saying so: wrk would write its next request "
    "into the closed connection, count a read error and leave the reconnect out of its latency "
    "(its figures broke Little's law in such cells), so the built-in generator, which times "
    "each request from its connect, measured first"
)


def measure_throughput(
    port: int,
    *,
    path: str = "/hello",
    connections: int,
    duration_s: float,
    warmup_s: float,
    generator: str = "auto",
) -> Throughput:
    """wrk where it is installed (or asked for), else the built-in generator.

    With ``auto``, a server that closes after every answer without saying so
    (uWSGI's HTTP socket) is measured by the built-in generator first (see
    ``SILENT_CLOSE``).  With ``auto``, figures that break Little's law are not published as they
    are: the other generator measures again, and the figures that hold are
    the ones returned, the other generator's kept beside them.
    """
    binary = wrk.wrk_binary()
    if generator == "wrk" and not binary:
        raise RuntimeError("wrk is not installed; install it with `apt-get install wrk`")
    first_choice = "wrk" if generator == "wrk" or (generator == "auto" and binary) else "builtin"
    why = ""
    if first_choice == "wrk" and generator == "auto" and facts.probe_connection(port, 2.0).silent_close:
        first_choice, why = "builtin", SILENT_CLOSE
    first = _measure_with(first_choice, binary, port, path, connections, duration_s, warmup_s)
    if generator != "auto" or first.lawful:
        return replace(first, why=why)
    other = "builtin" if first_choice == "wrk" else ("wrk" if binary else None)
    if other is None:
        return replace(first, why=f"{first_choice} broke Little's law and no other generator is installed")
    second = _measure_with(other, binary, port, path, connections, duration_s, warmup_s)
    chosen = lawful(first, second)
    return replace(chosen, why=f"{why}; then {chosen.why}") if why else chosen


def lawful(first: Throughput, second: Throughput) -> Throughput:
    """Of two generators' figures for one server, the ones that obey Little's law
    (the first where both or neither do), with why, and the others beside them."""
    kept, dropped = (second, first) if _obeys(second) and not _obeys(first) else (first, second)
    ratio = {r.generator: r.little.ratio if r.little else None for r in (first, second)}
    if _obeys(kept) and not _obeys(dropped):
        why = f"{dropped.generator} broke Little's law (x{ratio[dropped.generator]}), {kept.generator} held"
    elif _obeys(kept):
        why = "both generators' figures obey Little's law"
    else:
        why = (
            f"neither generator's figures obey Little's law ({first.generator} x{ratio[first.generator]}, "
            f"{second.generator} x{ratio[second.generator]})"
        )
    return replace(kept, why=why, other=_brief(dropped))


def _measure_with(
    generator: str,
    binary: str | None,
    port: int,
    path: str,
    connections: int,
    duration_s: float,
    warmup_s: float,
) -> Throughput:
    if generator == "wrk" and binary:
        return wrk.wrk_throughput(binary, port, path, connections, duration_s, warmup_s)
    return builtin.builtin_throughput(port, path, connections, duration_s, warmup_s)


def _brief(result: Throughput) -> dict[str, Any]:
    """The figures of the generator not published, kept in the record beside those that are."""
    return {
        "generator": result.generator,
        "rps": result.rps,
        "latency_ms": result.latency_ms,
        "little": result.little.to_dict() if result.little else {},
        "errors": result.errors,
    }


def _obeys(result: Throughput) -> bool:
    return result.little is not None and result.little.ok


def _run(server: RunningServer, settings: Mapping[str, Any]) -> Throughput:
    with clients_beside(server):  # a column kept to some cores leaves the others to wrk
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
    if result.little and not result.little.ok:
        text += f", Little x{result.little.ratio:.2f}"
    if result.other and result.little and result.little.ok:
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
        "for coordinated omission (see the probes page of the docs)."
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
    # wrk stops on its next 100 ms tick after the duration
    cost=lambda settings, capacity: float(settings["duration_s"]) + float(settings["warmup_s"]) + 0.1,
    machine_bound=True,
    charts=(
        Chart(
            "throughput",
            "What a server buys: requests per second, p50 and p99",
            "rps",
            RateAndSpan(
                rate="rps",
                rate_axis="requests per second",
                low="latency_ms.p50",
                high="latency_ms.p99",
                span_axis="latency p50 (dot) to p99 (ms)",
                tips=(
                    ("rps", "requests/s"),
                    ("latency_ms.p50", "p50 (ms)"),
                    ("latency_ms.p99", "p99 (ms)"),
                    ("errors", "errors"),
                    ("generator", "generator"),
                    ("unstable", "unstable"),
                ),
            ),
        ),
    ),
    ratio=Ratio("rps", "requests per second"),
)
