"""How long adding one row to the default matrix takes to publish, with reuse.

    python tests/benchmarks/bench_add_row.py [--results results] [--no-bisect]
        [--row '{flask: "2.2.5", pins: ["werkzeug<3"]}'] [--after '"2.0.3"']

Needs a complete run of the default matrix in the results folder (run
`nox -s matrix` first): that is the run the new one reuses.  Writes a copy
of matrix.yaml with the row added after the line holding ``--after`` and
runs the matrix on it as `nox -s matrix` does, timed from start to the
published report (and the bisect of its changes, unless --no-bisect).
Prints the wall time and how many cells were measured and reused, from the
new run's records.  The row must have an exact version and be in no
probe's ``rows:``; environments and uv's cache are as the machine has them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def with_row(matrix: str, row: str, after: str) -> str:
    lines = matrix.splitlines()
    at = next(i for i, line in enumerate(lines) if after in line and line.lstrip().startswith("- "))
    end = at + 1
    while end < len(lines) and lines[end].startswith("    ") and not lines[end].lstrip().startswith("- "):
        end += 1
    return "\n".join([*lines[:end], f"  - {row}", *lines[end:]]) + "\n"


def counts(run: Path) -> dict[str, int]:
    records = [json.loads(p.read_text()) for p in (run / "cells").glob("*.json")]
    return {
        "cells": len(records),
        "reused": sum(1 for r in records if r.get("reused")),
        "measured": sum(1 for r in records if not r.get("reused") and r["status"] == "ok"),
        "not ok": sum(1 for r in records if not r.get("reused") and r["status"] != "ok"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=REPO / "results")
    parser.add_argument("--row", default='{flask: "2.2.5", pins: ["werkzeug<3"]}')
    parser.add_argument("--after", default='flask: "2.0.3"')
    parser.add_argument("--no-bisect", action="store_true")
    args = parser.parse_args()
    base = (args.results / "latest").resolve()
    if not (base / "run.json").is_file() or not json.loads((base / "run.json").read_text()).get("complete"):
        print(f"no complete run at {args.results / 'latest'}: run `nox -s matrix` first", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-add-row-") as tmp:
        matrix = Path(tmp) / "matrix.yaml"
        matrix.write_text(with_row((REPO / "matrix.yaml").read_text(), args.row, args.after))
        argv = [sys.executable, "-m", "runner", "--matrix", str(matrix), "--results", str(args.results)]
        started = time.perf_counter()
        done = subprocess.run(argv + (["--no-bisect"] if args.no_bisect else []), cwd=REPO, check=False)
        wall = time.perf_counter() - started
    run = (args.results / "latest").resolve()
    summary = json.loads((run / "run.json").read_text())["summary"]
    print(
        json.dumps(
            {
                "base": base.name,
                "run": run.name,
                "exit": done.returncode,
                "wall_s": round(wall, 1),
                "bisect": not args.no_bisect,
                "run_wall_s": summary.get("wall_s"),
                "build_phase_s": summary.get("build_phase_s"),
                **counts(run),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
