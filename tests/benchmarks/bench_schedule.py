"""The default matrix under both schedules: wall time, intrinsic time, agreement.

    python tests/benchmarks/bench_schedule.py [--runs 3] [--cold [--cold-uv-cache]] [--only overlap]
                                              [--matrix matrix.yaml]

Runs the matrix ``--runs`` times with the overlapping schedule (the default)
and as many with ``--serial``, alternately, each into its own temporary
results folder; ``--cold`` also gives every run a fresh, empty environment
cache, and ``--cold-uv-cache`` an empty uv cache as well (every package
downloaded, every source archive built: a machine's first run).  For each
run it prints the wall time, the intrinsic time (what the
probes cannot do faster: for each cell, ceil(requests / peak) x the delay
of the concurrency probe, the throughput probe's duration and warm-up, the
burst's wall time and the slow-client wait) and their ratio; then whether
every verdict and peak agreed between the schedules, run by run (a gthread
peak may differ where it is the sum over workers of min(threads, requests the
worker took): the burst's split between workers), and how far the throughput
figures of the two schedules sit apart against how far two runs of one
schedule do.  ``--only overlap`` times one schedule.  Not part of the test
suite: it takes the better part of an hour.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runner import cli  # noqa: E402
from runner.matrix.cells import load  # noqa: E402
from runner.records import store  # noqa: E402
from runner.records.record import CellRecord  # noqa: E402


def intrinsic(records: list[CellRecord]) -> float:
    total = 0.0
    for record in records:
        probe = record.concurrency
        if probe is not None and probe.peak:
            total += math.ceil(probe.requests / probe.peak) * probe.delay_ms / 1000
        for name, seconds in (("throughput", "duration_s"), ("burst", "wall_s"), ("slow_client", "waited_s")):
            result: Any = record.result(name)
            if result is not None:
                total += float(getattr(result, seconds)) + float(getattr(result, "warmup_s", 0) or 0)
    return total


def one(
    matrix_path: Path, serial: bool, cold: bool, cold_uv: bool = False
) -> tuple[float, dict[str, Any], list[CellRecord]]:
    with tempfile.TemporaryDirectory() as tmp:
        envs = Path(tmp) / "envs" if cold else cli.DEFAULT_ENVS
        uv_cache = {"UV_CACHE_DIR": str(Path(tmp) / "uv-cache")} if cold_uv else {}
        started = time.perf_counter()
        # The report stays in its folder; uv, run by the builds, reads UV_CACHE_DIR.
        with contextlib.redirect_stdout(io.StringIO()), mock.patch.dict(os.environ, uv_cache):
            cli.run(
                load(matrix_path), results=Path(tmp) / "results", env_root=envs, fresh=True, serial=serial
            )
        wall = time.perf_counter() - started
        run = (Path(tmp) / "results" / "latest").resolve()
        meta = json.loads((run / "run.json").read_text())
        if not meta["complete"]:
            raise SystemExit(f"the {'serial' if serial else 'overlapping'} run was interrupted: no figures")
        summary = meta["summary"]
        return wall, summary, store.read_records(run)


def split_text(wall: float, summary: dict[str, Any]) -> str:
    """Wall time and where it went: building, then (overlapping) the shared and
    alone sections, or (serial) the servers' start-ups and the probes."""
    build = summary.get("build_phase_s", 0.0)
    if "alone_wall_s" in summary:
        parts = f"start-ups, stops and waiting probes {summary['shared_wall_s']:.0f} s, CPU probes alone {summary['alone_wall_s']:.0f} s"
    else:
        parts = (
            f"starting servers {summary.get('start_s', 0):.0f} s, probing {summary.get('probe_s', 0):.0f} s"
        )
    return f"wall {wall:.0f} s (building {build:.0f} s, {parts}, the rest {wall - build - cells_s(summary):.0f} s)"


def cells_s(summary: dict[str, Any]) -> float:
    if "alone_wall_s" in summary:
        return float(summary["shared_wall_s"] + summary["alone_wall_s"])
    return float(summary.get("start_s", 0) + summary.get("probe_s", 0))


def headline(records: list[CellRecord]) -> dict[str, tuple[object, object]]:
    return {
        r.cell: (r.concurrency.verdict, r.concurrency.peak) if r.concurrency else (r.status.value, None)
        for r in records
    }


def split_by_workers(record: CellRecord) -> bool:
    """A gthread peak that is the sum over workers of min(threads, requests it took):
    the split of the burst between workers, which the schedule does not decide."""
    probe = record.concurrency
    threads = int(record.options.get("threads", 0) or 0)
    if probe is None or record.kind != "gunicorn" or threads <= 1 or probe.peak is None:
        return False
    return probe.peak == sum(min(threads, took) for took in probe.per_process)


def disagreements(
    first: list[CellRecord], second: list[CellRecord]
) -> tuple[list[str], list[str], list[str]]:
    """Cells whose verdicts differ, whose peaks differ unexplained, and whose gthread split differs."""
    a, b = headline(first), headline(second)
    by_cell = {r.cell: r for r in first} | {f"{r.cell} ": r for r in second}
    verdicts = sorted(c for c in a if a[c][0] != b.get(c, (None,))[0])
    split = sorted(
        c
        for c in a
        if a[c] != b.get(c)
        and c not in verdicts
        and split_by_workers(by_cell[c])
        and split_by_workers(by_cell[f"{c} "])
    )
    peaks = sorted(c for c in a if a[c] != b.get(c) and c not in verdicts and c not in split)
    return verdicts, [f"{c} ({told(by_cell[c])} against {told(by_cell[f'{c} '])})" for c in peaks], split


def told(record: CellRecord) -> str:
    """A cell's peak, and how far apart its requests began on the server's clock."""
    probe = record.concurrency
    if probe is None or not probe.intervals:
        return "no answer"
    return f"peak {probe.peak}, starts within {start_spread_ms(probe.intervals):.0f} ms"


def start_spread_ms(intervals: list[list[float]]) -> float:
    """How far apart, on the server's clock, the first and last request began."""
    starts = [start for start, _ in intervals]
    return 1000 * (max(starts) - min(starts))


def volley_spread(records: list[CellRecord]) -> str:
    """How far apart, on the servers' clocks, the requests of a volley began,
    over the cells that served all of them at once: the margin the peaks have
    (each request lasts the probe's delay)."""
    spreads = []
    for record in records:
        probe = record.concurrency
        if probe is not None and probe.intervals and probe.peak == probe.requests:
            spreads.append(start_spread_ms(probe.intervals))
    if not spreads:
        return "no cell served all its requests at once"
    spreads.sort()
    return (
        f"the requests of a volley began a median {spreads[len(spreads) // 2]:.0f} ms and at most "
        f"{spreads[-1]:.0f} ms apart on the server's clock ({len(spreads)} cells that served all at once)"
    )


def rps(records: list[CellRecord]) -> dict[str, float]:
    out = {}
    for record in records:
        result: Any = record.result("throughput")
        if result is not None and result.rps:
            out[record.cell] = float(result.rps)
    return out


def spread(first: list[CellRecord], second: list[CellRecord]) -> float:
    """The median over cells of |log(rps ratio)|, as a percentage: how far two runs' throughputs sit apart."""
    a, b = rps(first), rps(second)
    logs = sorted(abs(math.log(a[c] / b[c])) for c in a if c in b)
    return 100 * (math.exp(logs[len(logs) // 2]) - 1) if logs else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--cold-uv-cache", action="store_true", help="with --cold: an empty uv cache too")
    parser.add_argument("--matrix", type=Path, default=REPO / "matrix.yaml")
    parser.add_argument(
        "--only", choices=("overlap", "serial"), help="time one schedule (no agreement is checked)"
    )
    args = parser.parse_args()
    schedules = [s == "serial" for s in ("overlap", "serial") if args.only in (None, s)]
    runs: dict[bool, list[list[CellRecord]]] = {False: [], True: []}
    for number in range(1, args.runs + 1):
        for serial in schedules:
            wall, summary, records = one(args.matrix, serial, args.cold, args.cold and args.cold_uv_cache)
            need = intrinsic(records)
            runs[serial].append(records)
            print(
                f"run {number} {'serial ' if serial else 'overlap'}: {split_text(wall, summary)}, "
                f"intrinsic {need:.0f} s, ratio {wall / need:.2f}; {volley_spread(records)}",
                flush=True,
            )
        if len(schedules) == 2:
            verdicts, peaks, split = disagreements(runs[False][-1], runs[True][-1])
            print(
                f"run {number}: {len(verdicts)} verdicts differ ({', '.join(verdicts) or 'none'}), "
                f"{len(peaks)} peaks differ unexplained ({', '.join(peaks) or 'none'}), "
                f"{len(split)} gthread peaks differ as their workers' split of the burst says",
                flush=True,
            )
            print(
                f"run {number}: throughput, median distance between the schedules {spread(runs[False][-1], runs[True][-1]):.1f}%",
                flush=True,
            )
    for serial in schedules:
        done = runs[serial]
        if len(done) > 1:
            within = [spread(done[i], done[i + 1]) for i in range(len(done) - 1)]
            name = "serial" if serial else "overlap"
            print(
                f"throughput, median distance between consecutive {name} runs: {', '.join(f'{w:.1f}%' for w in within)}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
