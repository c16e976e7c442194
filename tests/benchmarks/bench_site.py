"""How big and how slow the site of N runs is, from copies of a real run.

    python tests/benchmarks/bench_site.py [RUN_DIR] [--runs 3 30]

Copies the run (default: results/latest) under new run ids a day apart,
each record's times moved by as much (so compare reads each as a
measurement of its own, not one shared),
builds the site of the copies with ``nox -s site``'s builder into a
temporary folder, and prints the seconds, the number of pages and the
site's size for each count.  Not part of the test suite; the target (issue
29): a hundred runs of the default matrix under 50 MB (``--runs 3 30 100``).
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
        for path in (folder / "cells").glob("*.json"):  # each copy its own measurement, a day later
            record = json.loads(path.read_text())
            for key in ("started", "ended"):
                if isinstance(record.get(key), (int, float)):
                    record[key] += k * 86400
            path.write_text(json.dumps(record))
        out.append(folder)
    return out


def parts(files: dict[str, bytes]) -> dict[str, int]:
    """The site's bytes by kind of file, largest first."""
    kinds = {
        "run pages": lambda n: n.startswith("runs/") and n.endswith(".html"),
        "records": lambda n: n.startswith("runs/") and n.endswith(".json.gz"),
        "compare pages": lambda n: n.startswith("compare/"),
        "cell pages": lambda n: n.startswith("cells/") and n.endswith(".html"),
        "timelines data": lambda n: n == site.TIMELINES,
        "assets": lambda n: n.startswith(site.ASSETS + "/"),
        "index": lambda n: n in ("index.html", "runs.json"),
    }
    sizes = {
        kind: sum(len(data) for name, data in files.items() if test(name)) for kind, test in kinds.items()
    }
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


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
            print(
                "  " + "; ".join(f"{part} {size / 1e6:.2f} MB" for part, size in parts(built.files).items())
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
