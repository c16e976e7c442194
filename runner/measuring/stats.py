"""The maths of the probes, apart from the probing: pure functions of numbers.

Percentiles, speed-up, Little's law, the overlap of server-side intervals,
and the summary of repeated runs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# pyperf warns when a benchmark's standard deviation exceeds 10% of its mean;
# with a handful of runs the range is the honest measure, so the same bound
# is applied to (max - min) / median.
UNSTABLE_SPREAD = 0.10
LITTLE_TOLERANCE = 0.20


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100), interpolating linearly between ranks."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> float | None:
    return percentile(values, 50)


def speedup(sequential_s: float, concurrent_s: float) -> float | None:
    """How much faster the same work finished when sent at once."""
    if sequential_s <= 0 or concurrent_s <= 0:
        return None
    return sequential_s / concurrent_s


@dataclass(frozen=True)
class Little:
    """Little's law checked on one measurement: in flight = rate x time in the system."""

    concurrency: float  # the requests the generator kept in flight
    rps_x_latency: float  # what the figures say was in flight
    ratio: float  # the second over the first
    ok: bool  # within LITTLE_TOLERANCE of 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Little:
        return cls(
            concurrency=float(data.get("concurrency", 0)),
            rps_x_latency=float(data.get("rps_x_latency", 0)),
            ratio=float(data.get("ratio", 0)),
            ok=bool(data.get("ok", False)),
        )


def littles_law(
    concurrency: float, rps: float, mean_latency_s: float, tolerance: float = LITTLE_TOLERANCE
) -> Little:
    """Little's law: requests in flight = arrival rate x time in the system.

    A closed-loop generator keeps ``concurrency`` requests in flight, so
    ``rps x mean latency`` must come out close to it; when it does not, the
    measurement itself is off (time lost between requests, or in the client).
    """
    in_flight = rps * mean_latency_s
    ratio = in_flight / concurrency if concurrency else 0.0
    return Little(
        concurrency=concurrency,
        rps_x_latency=round(in_flight, 3),
        ratio=round(ratio, 3),
        ok=abs(ratio - 1) <= tolerance,
    )


def peak_overlap(intervals: Iterable[tuple[float, float]]) -> int:
    """The most intervals open at one instant.

    An interval that ends exactly when another starts does not overlap it:
    ends are counted before starts at the same timestamp.
    """
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        if end < start:
            raise ValueError(f"interval ends before it starts: {start} > {end}")
        events.append((start, 1))
        events.append((end, -1))
    events.sort()
    peak = inside = 0
    for _, step in events:
        inside += step
        peak = max(peak, inside)
    return peak


@dataclass(frozen=True)
class Spread:
    """Repeated runs of one probe in one cell, summed up by its key figure.

    ``median`` is the median of the values; ``values[shown]`` is the key
    figure of the run whose figures a record and the report show: the run at
    the median, and with an even number of runs the lower of the two middle
    ones (a run that really happened, not an average of two).  Runs that gave
    no figure (a probe that failed) are not in ``values``.
    """

    n: int
    median: float | None
    min: float | None
    max: float | None
    spread: float | None
    unstable: bool
    values: tuple[float, ...] = ()
    figure: str = ""
    shown: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["values"] = list(self.values)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Spread:
        values = tuple(data.get("values") or ())
        shown = data.get("shown")
        return cls(
            n=int(data.get("n", len(values))),
            median=data.get("median"),
            min=data.get("min"),
            max=data.get("max"),
            spread=data.get("spread"),
            unstable=bool(data.get("unstable", False)),
            values=values,
            figure=str(data.get("figure", "")),
            shown=int(shown) if shown is not None else 0,
        )


def spread(values: Sequence[float], figure: str = "") -> Spread:
    """Median, range, whether the range is too wide to trust, and the run to show."""
    if not values:
        return Spread(n=0, median=None, min=None, max=None, spread=None, unstable=False, figure=figure)
    mid = median(values)
    assert mid is not None
    low, high = min(values), max(values)
    relative = (high - low) / abs(mid) if mid else (0.0 if high == low else math.inf)
    return Spread(
        n=len(values),
        median=mid,
        min=low,
        max=high,
        spread=round(relative, 3) if math.isfinite(relative) else None,
        unstable=relative > UNSTABLE_SPREAD,
        values=tuple(values),
        figure=figure,
        shown=median_run(values),
    )


def median_run(values: Sequence[float]) -> int:
    """Index of the run at the median: the lower middle one when the count is even."""
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    return order[(len(order) - 1) // 2]
