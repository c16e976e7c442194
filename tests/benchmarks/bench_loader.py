"""How long the untrusted-run loader takes on a 1,016-cell run, the reaper's
scan, and how soon the watchdog ends a killed runner's processes.

    python tests/benchmarks/bench_loader.py

The run is the test fixture's 16 cells plus 1,000 copies of one record, as
tests/test_hostile_runs.py builds it; each figure is the median of 5.
"""

from __future__ import annotations

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from runner.records import store  # noqa: E402
from runner.serving import watchdog  # noqa: E402

FIXTURE = ROOT / "tests" / "fixtures" / "run-schema1"


def big_run(folder: Path, extra: int = 1000) -> Path:
    run = folder / "big"
    shutil.copytree(FIXTURE, run)
    first = sorted((run / "cells").glob("*.json"))[0]
    data = json.loads(first.read_text())
    names = []
    for i in range(extra):
        row = f"flask-3.1.x-{i}"
        names.append(f"{row}--{data['server']}")
        (run / "cells" / f"{names[-1]}.json").write_text(
            json.dumps({**data, "row": row, "cell": names[-1], "row_index": i + 10})
        )
    meta = json.loads((run / "run.json").read_text())
    meta["cells"] = meta["cells"] + names
    (run / "run.json").write_text(json.dumps(meta))
    return run


def timed(what: object, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        what()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


KILLED_RUNNER = """
import os, signal, subprocess, sys
sys.path.insert(0, sys.argv[1])
from runner.serving import watchdog
watchdog.start("bench-run")
child = subprocess.Popen(["sleep", "60"], start_new_session=True)
watchdog.watch(child.pid)
print(child.pid, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def watchdog_latency() -> float:
    """From a runner's SIGKILL to the end of the process group it registered."""
    import os
    import subprocess

    runner = subprocess.Popen([sys.executable, "-c", KILLED_RUNNER, str(ROOT)], stdout=subprocess.PIPE)
    assert runner.stdout is not None
    pid = int(runner.stdout.readline())
    runner.wait()
    killed = time.perf_counter()
    while (
        Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split(")")[-1][:3]
    ):
        if time.perf_counter() - killed > 10:
            os.kill(pid, 9)
            return float("inf")
        time.sleep(0.005)
    return time.perf_counter() - killed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = big_run(Path(tmp))
        size = sum(p.stat().st_size for p in run.rglob("*") if p.is_file())
        load = timed(lambda: store.read_run(run))
        print(f"load 1016 cells ({size / 1e6:.1f} MB): {load:.2f} s, {load / 1016 * 1e3:.2f} ms per cell")
    processes = sum(1 for p in Path("/proc").iterdir() if p.name.isdigit())
    scan = timed(watchdog.orphans)
    print(f"reaper scan of {processes} processes: {scan * 1e3:.0f} ms")
    latency = timed(watchdog_latency)
    print(f"watchdog: a killed runner's server group gone after {latency * 1e3:.0f} ms")


if __name__ == "__main__":
    main()
