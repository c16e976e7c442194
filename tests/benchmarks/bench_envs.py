"""Environment builds for a matrix: uv cold and warm, and uv against virtualenv + pip.

    python tests/benchmarks/bench_envs.py [--matrix matrix.yaml] [--cold-uv-cache]

Plans the matrix's cells as a run does, then builds every environment they
need into fresh temporary folders:

1. uv, cold (no cached environments; with --cold-uv-cache, no uv cache either);
2. uv, warm (the same folder again: every environment should be reused);
3. uv and virtualenv + pip, each cold, on the environments both can build
   (pip has no upload-date cut-off for period rows, and virtualenv no longer
   seeds environments for Python 3.8 or older).

Builds run as a matrix run builds them (MATRIX_BUILD_JOBS at once).  Not part
of the test suite; run it on a quiet machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from runner.environments import envs  # noqa: E402
from runner.matrix.cells import load  # noqa: E402
from runner.records import store  # noqa: E402
from runner.workflow.run import build_envs, build_jobs, plan_cell  # noqa: E402


def timed_build(specs, root: Path, results: Path) -> tuple[float, int, int]:
    run = store.new_run(results, {}, cells=[], tools={})
    plans = [dataclasses.replace(plan_template, spec=spec) for spec in specs]
    started = time.perf_counter()
    built = build_envs(plans, root, run, progress=lambda line: None)
    wall = time.perf_counter() - started
    run.release()
    failed = sum(1 for r in built.values() if not isinstance(r, envs.Env))
    reused = sum(1 for r in built.values() if isinstance(r, envs.Env) and r.reused)
    return wall, failed, reused


def main() -> int:
    global plan_template
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=REPO / "matrix.yaml")
    parser.add_argument("--cold-uv-cache", action="store_true")
    args = parser.parse_args()
    matrix = load(args.matrix)
    with tempfile.TemporaryDirectory(prefix="bench-envs-") as tmp:
        tmp_path = Path(tmp)
        if args.cold_uv_cache:
            os.environ["UV_CACHE_DIR"] = str(tmp_path / "uv-cache")
        plans = [plan_cell(cell, tmp_path / "dates") for cell in matrix.cells()]
        plan_template = plans[0]
        specs = {p.spec.key(): p.spec for p in plans if p.spec is not None}
        uv_specs = [dataclasses.replace(s, backend="uv") for s in specs.values()]
        common = [s for s in uv_specs if s.exclude_newer is None and s.interpreter.minor >= (3, 9)]
        print(
            f"{len(uv_specs)} environments, {len(common)} that virtualenv + pip can build too; "
            f"{build_jobs()} at once",
            file=sys.stderr,
        )

        rows = []
        wall, failed, reused = timed_build(uv_specs, tmp_path / "uv", tmp_path / "r")
        rows.append(("uv, cold, all", len(uv_specs), wall, failed, reused))
        wall, failed, reused = timed_build(uv_specs, tmp_path / "uv", tmp_path / "r")
        rows.append(("uv, warm, all", len(uv_specs), wall, failed, reused))
        wall, failed, reused = timed_build(common, tmp_path / "uv-common", tmp_path / "r")
        rows.append(("uv, cold, common", len(common), wall, failed, reused))
        venv_specs = [dataclasses.replace(s, backend="virtualenv") for s in common]
        wall, failed, reused = timed_build(venv_specs, tmp_path / "venv-common", tmp_path / "r")
        rows.append(("virtualenv + pip, cold, common", len(common), wall, failed, reused))

    print(f"{'builder':<32} {'envs':>5} {'wall s':>8} {'failed':>7} {'reused':>7}")
    for label, count, wall, failed, reused in rows:
        print(f"{label:<32} {count:>5} {wall:>8.1f} {failed:>7} {reused:>7}")
    return 0


plan_template = None

if __name__ == "__main__":
    sys.exit(main())
