"""How long the default matrix takes, cold and warm, and where the time goes.

    python tests/benchmarks/bench_matrix.py [--matrix matrix.yaml] [--cold-uv-cache]

Runs the matrix twice into a temporary results folder: first with no cached
environments (a new, empty environment folder; with --cold-uv-cache also an
empty uv download cache), then again warm.  Prints wall time and the sums
of building environments, starting servers and probing, from each run's
run.json.  Run it on a quiet machine; it is not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def one_run(matrix: Path, results: Path, envs: Path, env: dict) -> dict:
    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "--matrix",
            str(matrix),
            "--results",
            str(results),
            "--envs",
            str(envs),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    wall = time.perf_counter() - started
    meta = json.loads((results / "latest" / "run.json").read_text())
    return {"exit": done.returncode, "wall_s": round(wall, 1), **meta["summary"]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=REPO / "matrix.yaml")
    parser.add_argument("--cold-uv-cache", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-matrix-") as tmp:
        tmp_path = Path(tmp)
        env = dict(os.environ)
        if args.cold_uv_cache:
            env["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")
        rows = []
        for label in ("cold", "warm"):
            summary = one_run(args.matrix, tmp_path / "results", tmp_path / "envs", env)
            rows.append((label, summary))
            print(f"{label}: {json.dumps(summary)}", file=sys.stderr, flush=True)
    print(
        f"{'run':<5} {'exit':>4} {'wall s':>7} {'build s':>8} {'start s':>8} {'probe s':>8} "
        f"{'envs built':>10}"
    )
    for label, s in rows:
        print(
            f"{label:<5} {s['exit']:>4} {s['wall_s']:>7} {s['build_phase_s']:>8} {s['start_s']:>8} "
            f"{s['probe_s']:>8} {s['envs_built']:>10}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
