"""wrk's latency histogram, as measured rather than as wrk prints it.

After a run, wrk 4 "corrects" its latency histogram for coordinated omission
(``stats_correct`` in its ``src/stats.c``, called from ``main`` in
``src/wrk.c`` with ``interval = runtime_us / (complete / connections)``): for
every recorded latency ``n >= 2 x interval`` it adds as many samples again at
``n - interval``, ``n - 2 x interval``, ... down to just above ``interval``.
Those samples were never measured, and ``Requests/sec`` counts only real
responses, so wherever a server has occasional long stalls (gunicorn's gevent
worker) wrk's mean and percentiles no longer agree with its own request rate:
Little's law breaks by a factor of 3 to 30.

The correction only ever adds samples to buckets below the one that caused
them, so it is undone exactly from the top bucket down.  A Lua ``done()``
hook hands the runner the corrected histogram (value in microseconds, count)
and the run's duration; :func:`uncorrect` gives back the measured one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# Written next to wrk's run and passed with -s: dumps the histogram wrk has at
# the end (already corrected) to the file MATRIX_WRK_HISTOGRAM names.
DONE_SCRIPT = """
done = function(summary, latency, requests)
  local out = io.open(os.getenv("MATRIX_WRK_HISTOGRAM"), "w")
  out:write(string.format("duration %d\\nrequests %d\\n", summary.duration, summary.requests))
  for i = 1, #latency do
    local value, count = latency(i)
    out:write(string.format("%d %d\\n", value, count))
  end
  out:close()
end
"""

Histogram = dict[int, int]  # latency in microseconds -> how many samples


def parse(text: str) -> tuple[int, int, Histogram]:
    """``(duration_us, requests, histogram)`` from what :data:`DONE_SCRIPT` wrote."""
    duration = requests = 0
    histogram: Histogram = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        if parts[0] == "duration":
            duration = int(parts[1])
        elif parts[0] == "requests":
            requests = int(parts[1])
        elif int(parts[1]):
            histogram[int(parts[0])] = histogram.get(int(parts[0]), 0) + int(parts[1])
    if not duration or not histogram:
        raise ValueError("wrk's done() hook wrote no histogram")
    return duration, requests, histogram


def interval_us(duration_us: int, requests: int, connections: int) -> int:
    """The interval wrk corrects by: the run's time over the requests per connection."""
    per_connection = requests // connections
    return duration_us // per_connection if per_connection else 0


def correct(histogram: Mapping[int, int], interval: int) -> Histogram:
    """What wrk does to the histogram after a run (for tests: the inverse of :func:`uncorrect`)."""
    out = dict(histogram)
    if interval <= 0:
        return out
    for value in sorted(histogram):
        count = histogram[value]
        if value < 2 * interval or not count:
            continue
        lower = value - interval
        while lower > interval:
            out[lower] = out.get(lower, 0) + count
            lower -= interval
    return out


def uncorrect(histogram: Mapping[int, int], interval: int) -> Histogram:
    """The histogram as measured, from the one wrk corrected with ``interval``."""
    if interval <= 0:
        return {value: count for value, count in histogram.items() if count}
    added: dict[int, int] = {}
    measured: Histogram = {}
    for value in sorted(histogram, reverse=True):
        count = histogram[value] - added.pop(value, 0)
        if count < 0:
            raise ValueError(f"not a histogram wrk corrected with {interval} us (bucket {value})")
        if not count:
            continue
        measured[value] = count
        if value >= 2 * interval:
            lower = value - interval
            while lower > interval:
                added[lower] = added.get(lower, 0) + count
                lower -= interval
    if any(added.values()):
        raise ValueError(f"not a histogram wrk corrected with {interval} us")
    return measured


def mean(histogram: Mapping[int, int]) -> float:
    total = sum(histogram.values())
    return sum(value * count for value, count in histogram.items()) / total if total else 0.0


def percentile(histogram: Mapping[int, int], p: float) -> int:
    """wrk's own rule: the value at rank round(p/100 x count + 0.5), C's round
    (halves away from zero, unlike Python's)."""
    total = sum(histogram.values())
    rank = math.floor(p / 100 * total + 1.0)
    seen = 0
    for value in sorted(histogram):
        seen += histogram[value]
        if seen >= rank:
            return value
    return max(histogram) if histogram else 0
