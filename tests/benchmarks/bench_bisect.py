"""How long ``nox -s bisect`` takes on a run's change lines, first and again.

    python tests/benchmarks/bench_bisect.py [RUN_DIR]

Copies the run (default: results/latest) to a temporary folder and bisects
every change line twice into a fresh bisect store (``RESULTS_DIR`` set to a
temporary folder): the first pass probes the candidates (their environments
come from ``.nox/envs`` where they exist, and are built where not), the
second must probe nothing new.  Prints both wall times and every answer.
Not part of the test suite; the target is under five minutes warm.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runner import cli  # noqa: E402


def main() -> int:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "results" / "latest").resolve()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "runs" / source.name
        shutil.copytree(source, run, ignore=shutil.ignore_patterns(".lock", "bisect.json"))
        os.environ["RESULTS_DIR"] = tmp
        times = []
        for attempt in ("first", "again"):
            started = time.perf_counter()
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                code = cli.bisect(["--run", str(run)])
            times.append(time.perf_counter() - started)
            summary = err.getvalue().strip().splitlines()[-1]
            print(f"{attempt}: {times[-1]:.1f} s, exit {code}: {summary}")
        for answer in json.loads((run / "bisect.json").read_text())["answers"]:
            print(f"- {answer.line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
