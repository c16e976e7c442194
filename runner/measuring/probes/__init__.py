"""The probe registry: every probe the runner knows, declared once.

Adding a probe is one module in this package that defines a ``PROBE`` (see
:mod:`runner.measuring.probes.base`) and one entry below.  The order is the order of
the report's tables; ``concurrency`` is the headline and always runs.
"""

from __future__ import annotations

from typing import Any

from runner.measuring.probes import (
    backlog,
    burst,
    concurrency,
    cpu,
    crash,
    hang,
    idle_keepalive,
    silent,
    slow_client,
    slow_reader,
    slow_upload,
    throughput,
)
from runner.measuring.probes.base import Probe

PROBES: dict[str, Probe[Any]] = {
    probe.PROBE.name: probe.PROBE
    for probe in (
        concurrency,
        cpu,
        throughput,
        burst,
        slow_client,
        # the hostile connections and the faults a server exists for
        silent,
        slow_upload,
        slow_reader,
        idle_keepalive,
        backlog,
        crash,
        hang,
    )
}


# The probe the report leads with, and whose verdict is the answer.
HEADLINE = concurrency.PROBE.name


def probe_named(name: str) -> Probe[Any]:
    try:
        return PROBES[name]
    except KeyError:
        raise KeyError(f"no probe named {name!r}; probes are {', '.join(PROBES)}") from None
