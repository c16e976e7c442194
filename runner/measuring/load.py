"""What a load generator reports: the throughput figures, whichever generator made them.

Both generators (the built-in one, :mod:`runner.measuring.builtin`, and wrk,
:mod:`runner.measuring.wrk`) return a :class:`Throughput`; which of them
measures a server is the throughput probe's choice.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runner.measuring import stats
from runner.measuring.result import Result
from runner.measuring.stats import Little

# A generator busier than this share of one core is what limits the figure.
CLIENT_BOUND_CPU = 0.9


@dataclass(frozen=True)
class Throughput(Result):
    generator: str  # "wrk" or "builtin"
    connections: int
    duration_s: float
    requests: int
    rps: float
    latency_ms: dict[str, float | None]  # mean, p50, p90, p99
    errors: int
    error_kinds: dict[str, int]
    client_cpu: float  # the generator's CPU time / wall time (1.0 = one core)
    client_bound: bool
    little: Little | None = None  # None: no request was answered
    # Where the latency figures come from, and wrk's own printed ones beside
    # them where they differ in kind (see runner/measuring/wrk_histogram.py).
    latency_from: str = ""
    wrk_printed_ms: dict[str, float | None] | None = None
    # Why this generator's figures were published (where the other measured
    # first or broke Little's law, or the server closes connections without
    # saying so), and the other generator's figures where it measured too.
    why: str = ""
    other: dict[str, Any] | None = None

    @property
    def lawful(self) -> bool:
        """Whether the figures obey Little's law (or there were none to check)."""
        return self.little is None or self.little.ok

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Throughput:
        little = data.get("little")
        return super().from_dict({**data, "little": Little.from_dict(little) if little else None})


def summarise(
    generator: str,
    connections: int,
    duration_s: float,
    latencies: list[float],
    kinds: Counter[str],
    cpu: float,
) -> Throughput:
    rps = len(latencies) / duration_s if duration_s else 0.0
    mean = sum(latencies) / len(latencies) if latencies else 0.0
    latency_ms: dict[str, float | None] = {
        "mean": round(mean * 1000, 3),
        **{f"p{q}": round((stats.percentile(latencies, q) or 0.0) * 1000, 3) for q in (50, 90, 99)},
    }
    return Throughput(
        generator=generator,
        connections=connections,
        duration_s=duration_s,
        requests=len(latencies),
        rps=round(rps, 1),
        latency_ms=latency_ms,
        errors=sum(kinds.values()),
        error_kinds=dict(kinds),
        client_cpu=round(cpu, 2),
        client_bound=cpu >= CLIENT_BOUND_CPU,
        little=stats.littles_law(connections, rps, mean) if latencies else None,
    )
