"""The maths of the probes, apart from the probing: pure functions of numbers."""
from __future__ import annotations

import math
from typing import Optional, Sequence

# pyperf warns when a benchmark's standard deviation exceeds 10% of its mean;
# with a handful of runs the range is the honest measure, so the same bound
# is applied to (max - min) / median.
UNSTABLE_SPREAD = 0.10
LITTLE_TOLERANCE = 0.20


def percentile(values: Sequence[float], q: float) -> Optional[float]:
    """The q-th percentile (0-100), interpolating linearly between ranks."""
    if not values:
        return None
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be between 0 and 100, not {q}")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(values: Sequence[float]) -> Optional[float]:
    return percentile(values, 50)


def speedup(sequential_s: float, concurrent_s: float) -> Optional[float]:
    """How much faster the same work finished when sent at once."""
    if sequential_s <= 0 or concurrent_s <= 0:
        return None
    return sequential_s / concurrent_s


def littles_law(concurrency: float, rps: float, mean_latency_s: float,
                tolerance: float = LITTLE_TOLERANCE) -> dict:
    """Little's law: requests in flight = arrival rate x time in the system.

    A closed-loop generator keeps ``concurrency`` requests in flight, so
    ``rps x mean latency`` must come out close to it; when it does not, the
    measurement itself is off (time lost between requests, or in the client).
    """
    in_flight = rps * mean_latency_s
    ratio = in_flight / concurrency if concurrency else 0.0
    return {"concurrency": concurrency, "rps_x_latency": round(in_flight, 3),
            "ratio": round(ratio, 3), "ok": abs(ratio - 1) <= tolerance}


def spread(values: Sequence[float]) -> dict:
    """Median, range and whether the range is too wide to trust."""
    if not values:
        return {"n": 0, "median": None, "min": None, "max": None, "spread": None, "unstable": False}
    mid = median(values)
    low, high = min(values), max(values)
    relative = (high - low) / abs(mid) if mid else (0.0 if high == low else math.inf)
    return {"n": len(values), "median": mid, "min": low, "max": high,
            "spread": round(relative, 3) if math.isfinite(relative) else None,
            "unstable": relative > UNSTABLE_SPREAD}
