"""How long publishing a run takes: every artefact, drawn from the records.

    python tests/benchmarks/bench_publish.py [RUN_DIR] [--times 5]

Copies the run (default: results/latest) to a temporary folder and publishes
it ``--times`` times in one process, as ``nox -s report`` does: the first
rendering is cold (the JavaScript engine starts, and the page's library is
bundled unless it is cached), the others warm.  Prints each rendering's
seconds, the phases of the last one, the artefacts' sizes, and whether every
rendering wrote the same bytes.  Not part of the test suite; the target is a
140-cell run under 5 s warm.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runner import analysis  # noqa: E402
from runner.publish import (  # noqa: E402
    artefacts,
    tidy,
)
from runner.records.store import read_meta, read_records  # noqa: E402


def digest(folder: Path) -> str:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock")
    sha = hashlib.sha256()
    for path in files:
        sha.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return sha.hexdigest()[:16]


def phases(run: Path) -> dict[str, float]:
    import vl_convert

    out: dict[str, float] = {}
    started = time.perf_counter()
    records, meta = read_records(run), read_meta(run)
    out["read records"] = time.perf_counter() - started
    started = time.perf_counter()
    drawn = artefacts.chart_specs(records, analysis.Inputs.of_run(meta, records))
    out["chart specs"] = time.perf_counter() - started
    started = time.perf_counter()
    for chart in drawn:
        vl_convert.svg_to_png(vl_convert.vegalite_to_svg(chart.spec), scale=1.5)
    out["SVG and PNG"] = time.perf_counter() - started
    started = time.perf_counter()
    tidy.csv_text(meta.run, records)
    out["CSV"] = time.perf_counter() - started
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", nargs="?", type=Path, default=REPO / "results" / "latest")
    parser.add_argument("--times", type=int, default=5)
    args = parser.parse_args()
    source = args.run.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / source.name
        shutil.copytree(source, run, ignore=shutil.ignore_patterns(".lock"))
        cells = len(list((run / "cells").glob("*.json")))
        seconds, digests = [], []
        for index in range(args.times):
            started = time.perf_counter()
            artefacts.publish(run)
            seconds.append(time.perf_counter() - started)
            digests.append(digest(run))
            print(f"rendering {index + 1}: {seconds[-1]:.2f} s")
        warm = seconds[1:] or seconds
        print(
            f"{cells} cells: cold {seconds[0]:.2f} s, warm median {statistics.median(warm):.2f} s "
            f"(min {min(warm):.2f}, max {max(warm):.2f})"
        )
        for name, value in phases(run).items():
            print(f"  {name:14} {value:.2f} s")
        for name in (*artefacts.ARTEFACTS, "charts"):
            path = run / name
            size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() else path.stat().st_size
            print(f"  {name:14} {size / 1024:,.0f} KiB")
        print("every rendering wrote the same bytes" if len(set(digests)) == 1 else "renderings differ!")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
