"""How big and how slow the site of N runs is, from copies of a real run.

    python tests/benchmarks/bench_site.py [RUN_DIR] [--runs 3 30]

Copies the run (default: results/latest) under new run ids a day apart,
builds the site of the copies with ``nox -s site``'s builder into a
temporary folder, and prints the seconds, the number of pages and the
site's size for each count.  Not part of the test suite; the target (issue
29): a hundred runs of the default matrix under 50 MB.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runner.publish import site  # noqa: E402


def copies(source: Path, target: Path, count: int) -> list[Path]:
    out = []
    for k in range(count):
        run_id = f"2099{1 + k // 28:02d}{1 + k % 28:02d}T000000Z"
        folder = target / run_id
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("logs", "charts", "*.png", "report.*"))
        meta = json.loads((folder / "run.json").read_text())
        meta.update(run=run_id, started=f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}T00:00:00Z")
        (folder / "run.json").write_text(json.dumps(meta))
        out.append(folder)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default=str(REPO / "results" / "latest"))
    parser.add_argument("--runs", type=int, nargs="+", default=[3, 30])
    args = parser.parse_args()
    source = Path(args.run).resolve()
    for count in args.runs:
        with tempfile.TemporaryDirectory() as tmp:
            runs = copies(source, Path(tmp) / "runs", count)
            started = time.perf_counter()
            built = site.build(runs, Path(tmp) / "site")
            seconds = time.perf_counter() - started
            print(
                f"{count} runs of {source.name}: {built.pages} pages, {built.size / 1e6:.1f} MB in {seconds:.1f} s"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
