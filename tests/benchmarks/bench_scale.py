"""A thousand cells on one page: publishing, page size and shard planning at scale.

    python tests/benchmarks/bench_scale.py [RUN_DIR] [--copies 6] [--plan-cells 5000]

Makes a run of ``--copies`` copies of a real run's rows (default:
results/latest), each copy's records under new row names
(``<row>-copyK``), its matrix in run.json with the copies as rows, in a
temporary folder; then publishes it once as ``nox -s report`` does and
prints the seconds, the peak memory of this process, and the sizes of
report.html, results.json and results.csv.  Then plans 4 shards of a
matrix with enough copies of the run's rows for ``--plan-cells`` cells and
prints how long the plan took.  Not part of the test suite.  The targets
(issue 28): for 1,000 cells report.html at most 5 MB and the report in at
most 15 s; for 5,000 cells a shard plan in under 2 s.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runner import shards  # noqa: E402
from runner.matrix.cells import parse  # noqa: E402
from runner.publish import artefacts  # noqa: E402


def copied_rows(matrix: dict[str, Any], names: list[str], copies: int) -> list[dict[str, Any]]:
    """The matrix's rows ``copies`` times, each copy named after its row."""
    rows = []
    for k in range(copies):
        for entry, name in zip(matrix["versions"], names, strict=True):
            row = dict(entry) if isinstance(entry, dict) else {"flask": entry}
            rows.append({**row, "name": name if k == 0 else f"{name}-copy{k}"})
    return rows


def scaled_run(source: Path, target: Path, copies: int) -> int:
    meta = json.loads((source / "run.json").read_text())
    names = [row.name for row in parse(dict(meta["matrix"]), "run.json").rows]
    meta["matrix"] = {**meta["matrix"], "versions": copied_rows(meta["matrix"], names, copies)}
    width = len(names)
    (target / "cells").mkdir(parents=True)
    cells = []
    for path in sorted((source / "cells").glob("*.json")):
        record = json.loads(path.read_text())
        for k in range(copies):
            row = record["row"] if k == 0 else f"{record['row']}-copy{k}"
            copy = {**record, "row": row, "cell": f"{row}--{record['server']}", "log": None, "log_tail": []}
            copy["row_index"] = record["row_index"] + k * width
            (target / "cells" / f"{copy['cell']}.json").write_text(json.dumps(copy))
            cells.append(copy["cell"])
    meta["cells"] = sorted(cells)
    meta["run"] = target.name
    (target / "run.json").write_text(json.dumps(meta))
    return len(cells)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", default=str(REPO / "results" / "latest"))
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--plan-cells", type=int, default=5000)
    parser.add_argument("--keep", type=Path, default=None, help="also copy the scaled run's page here")
    args = parser.parse_args()
    source = Path(args.run).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "20990101T000000Z"
        count = scaled_run(source, target, args.copies)
        started = time.perf_counter()
        artefacts.publish(target)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        sizes = {
            name: (target / name).stat().st_size / 1e6
            for name in ("report.html", "results.json", "results.csv")
        }
        print(
            f"{count} cells ({args.copies} copies of {source.name}): report in {seconds:.1f} s, peak RSS {peak:.0f} MiB"
        )
        print("  " + ", ".join(f"{name} {size:.1f} MB" for name, size in sizes.items()))
        if args.keep is not None:
            shutil.copytree(target, args.keep, dirs_exist_ok=True)
        shutil.rmtree(target)
    meta = json.loads((source / "run.json").read_text())
    base = parse(dict(meta["matrix"]), "run.json")
    copies = math.ceil(args.plan_cells / len(base.cells()))
    names = [row.name for row in base.rows]
    matrix = parse({**meta["matrix"], "versions": copied_rows(meta["matrix"], names, copies)}, "scaled")
    started = time.perf_counter()
    shards.plan(matrix, 4)
    print(f"shard plan of {len(matrix.cells())} cells into 4: {time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
