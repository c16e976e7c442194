"""The default matrix under both schedules: wall time, intrinsic time, agreement.

    python tests/benchmarks/bench_schedule.py [--runs 3] [--cold] [--matrix matrix.yaml]

Runs the matrix ``--runs`` times with the overlapping schedule (the default)
and as many with ``--serial``, alternately, each into its own temporary
results folder; ``--cold`` also gives every run a fresh, empty environment
cache.  For each run it prints the wall time, the intrinsic time (what the
probes cannot do faster: for each cell, ceil(requests / peak) x the delay
of the concurrency probe, the throughput probe's duration and warm-up, the
burst's wall time and the slow-client wait) and their ratio; then whether
every verdict and peak agreed between the schedules, run by run.  Not part
of the test suite: it takes the better part of an hour.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runner import cli, store  # noqa: E402
from runner.matrix import load  # noqa: E402
from runner.record import CellRecord  # noqa: E402


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


def one(matrix_path: Path, serial: bool, cold: bool) -> tuple[float, list[CellRecord]]:
    with tempfile.TemporaryDirectory() as tmp:
        envs = Path(tmp) / "envs" if cold else cli.DEFAULT_ENVS
        started = time.perf_counter()
        cli.run(load(matrix_path), results=Path(tmp) / "results", env_root=envs, fresh=True, serial=serial)
        wall = time.perf_counter() - started
        return wall, store.read_records((Path(tmp) / "results" / "latest").resolve())


def figures(records: list[CellRecord]) -> dict[str, tuple[object, object]]:
    return {
        r.cell: (r.concurrency.verdict, r.concurrency.peak) if r.concurrency else (r.status.value, None)
        for r in records
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--matrix", type=Path, default=REPO / "matrix.yaml")
    args = parser.parse_args()
    rows = []
    for number in range(1, args.runs + 1):
        results = {}
        for serial in (False, True):
            wall, records = one(args.matrix, serial, args.cold)
            need = intrinsic(records)
            results[serial] = records
            name = "serial " if serial else "overlap"
            print(
                f"run {number} {name}: wall {wall:.0f} s, intrinsic {need:.0f} s, ratio {wall / need:.2f}",
                flush=True,
            )
        a, b = figures(results[False]), figures(results[True])
        differ = sorted(cell for cell in a if a[cell] != b.get(cell))
        verdicts = sorted(cell for cell in a if a[cell][0] != b.get(cell, (None,))[0])
        rows.append((number, len(differ), len(verdicts)))
        print(
            f"run {number}: {len(verdicts)} verdicts and {len(differ)} peaks differ: {', '.join(differ) or 'none'}"
        )
    agreed = sum(1 for _, _, verdicts in rows if verdicts == 0)
    print(
        f"verdicts identical in {agreed} of {len(rows)} runs; peaks differing per run: {[d for _, d, _ in rows]}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
