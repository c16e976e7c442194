"""wrk, driven from the runner: its request rate, and its latency as measured.

wrk is run for the warm-up, then for the measurement with a ``done()`` hook
that dumps its latency histogram (see :mod:`runner.measuring.wrk_histogram`),
from which the latency is read with wrk's after-the-run correction undone.
"""

from __future__ import annotations

import re
import resource
import shutil
import subprocess
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

from runner import settings
from runner.measuring import stats, wrk_histogram
from runner.measuring.load import Throughput, summarise
from runner.wire import HOST


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def wrk_throughput(
    wrk: str, port: int, path: str, connections: int, duration_s: float, warmup_s: float
) -> Throughput:
    """wrk's request rate, and its latency as measured: wrk's own histogram, taken
    through a done() hook, with wrk's after-the-run correction undone."""
    url = f"http://{HOST}:{port}{path}"
    base = [wrk, "-t1", f"-c{connections}", "--timeout", "10s", "--latency"]
    if warmup_s > 0:
        command = [*base, f"-d{max(1, round(warmup_s))}s", url]
        subprocess.run(command, capture_output=True, timeout=warmup_s + 30, check=False)
    with tempfile.TemporaryDirectory(prefix="matrix-wrk-") as folder:
        script, dump = Path(folder) / "done.lua", Path(folder) / "histogram.txt"
        script.write_text(wrk_histogram.DONE_SCRIPT, encoding="utf-8")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            [*base, "-s", str(script), f"-d{max(1, round(duration_s))}s", url],
            capture_output=True,
            text=True,
            timeout=duration_s + 30,
            check=False,
            env={**settings.child_environ(), "MATRIX_WRK_HISTOGRAM": str(dump)},
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            raise RuntimeError(f"wrk failed: {(done.stderr or done.stdout).strip()[:200]}")
        cpu = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / wall
        printed = parse_wrk(done.stdout, connections, cpu)
        histogram = dump.read_text(encoding="utf-8") if dump.exists() else ""
    return measured_latency(printed, histogram, connections) if histogram else printed


def measured_latency(printed: Throughput, histogram_text: str, connections: int) -> Throughput:
    """wrk's figures with the latency taken from its histogram as measured."""
    duration_us, requests, corrected = wrk_histogram.parse(histogram_text)
    interval = wrk_histogram.interval_us(duration_us, requests, connections)
    measured = wrk_histogram.uncorrect(corrected, interval)
    latency_ms: dict[str, float | None] = {"mean": round(wrk_histogram.mean(measured) / 1000, 3)}
    for q in (50, 90, 99):
        latency_ms[f"p{q}"] = round(wrk_histogram.percentile(measured, q) / 1000, 3)
    mean_s = (latency_ms["mean"] or 0.0) / 1000
    return replace(
        printed,
        latency_ms=latency_ms,
        wrk_printed_ms=printed.latency_ms,
        latency_from="wrk's histogram, its coordinated-omission correction undone",
        little=stats.littles_law(connections, printed.rps, mean_s),
    )


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def _found(pattern: str, output: str) -> str:
    """The first group of ``pattern`` in wrk's output; wrk's own words if it is not there."""
    match = re.search(pattern, output)
    if match is None:
        raise ValueError(f"wrk printed no figures: {output.strip()[:200]!r}")
    return match.group(1)


def parse_wrk(output: str, connections: int, cpu: float = 0.0) -> Throughput:
    """Figures from the text ``wrk --latency`` prints."""
    requests_done = int(_found(r"(\d+) requests in [\d.]+\w+", output))
    duration_s = _ms(_found(r"\d+ requests in ([\d.]+\w+)", output)) / 1000
    rps = float(_found(r"Requests/sec:\s+([\d.]+)", output))
    mean = _ms(_found(r"Latency\s+([\d.]+\w+)", output))
    latency_ms: dict[str, float | None] = {"mean": round(mean, 3)}
    for q in (50, 90, 99):
        found = re.search(rf"^\s+{q}%\s+([\d.]+\w+)", output, re.M)
        latency_ms[f"p{q}"] = round(_ms(found.group(1)), 3) if found else None
    kinds: Counter[str] = Counter()
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if socket_errors:
        for name, value in zip(("connect", "read", "write", "timeout"), socket_errors.groups()):
            if int(value):
                kinds[name] = int(value)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        kinds["non-2xx"] = int(non_2xx.group(1))
    # A server that closes the connection after every answer without saying
    # so (uWSGI's http-socket) makes wrk count one read error per request,
    # though every request was answered: those are closes, not failures.
    if kinds.get("read", 0) >= 0.9 * requests_done > 0:
        kinds.pop("read")
    good = requests_done - kinds.get("non-2xx", 0)
    result = summarise("wrk", connections, duration_s, [], kinds, cpu)
    return replace(
        result,
        requests=good,
        rps=rps,
        latency_ms=latency_ms,
        little=stats.littles_law(connections, rps, mean / 1000),
    )
