"""The command's top: parse arguments, run, print the report, pick an exit code.

Exit codes: 0 every cell ran (ok, skipped or n/a), 1 some cells are errors,
2 bad input (one line on stderr, nothing built), 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from runner.errors import UserError
from runner.matrix import Cell, Matrix, load

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MATRIX = REPO / "matrix.yaml"
DEFAULT_RESULTS = REPO / "results"
DEFAULT_ENVS = REPO / ".nox" / "envs"


def matrix_path() -> Path:
    """``MATRIX_FILE`` selects another matrix file without editing anything."""
    chosen = os.environ.get("MATRIX_FILE")
    return Path(chosen).resolve() if chosen else DEFAULT_MATRIX


def results_path() -> Path:
    """``RESULTS_DIR`` stores the runs elsewhere than ``results/``."""
    chosen = os.environ.get("RESULTS_DIR")
    return Path(chosen).resolve() if chosen else DEFAULT_RESULTS


def select(matrix: Matrix, names: Sequence[str]) -> list[Cell]:
    cells = matrix.cells()
    if not names:
        return cells
    by_name = {cell.name: cell for cell in cells}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UserError(
            f"{matrix.source}: no cell named {unknown[0]!r}; cells are named "
            f"<row>--<server>, e.g. {cells[0].name!r} (list them with `nox -l`)"
        )
    return [by_name[n] for n in names]


def run(
    matrix: Matrix,
    names: Sequence[str] = (),
    *,
    results: Path | None = None,
    env_root: Path = DEFAULT_ENVS,
    fresh: bool = False,
) -> int:
    from runner.run import run_cells  # imported late: parsing needs none of it

    cells = select(matrix, names)
    try:
        outcome = run_cells(matrix, cells, results=results or results_path(), env_root=env_root, fresh=fresh)
    except KeyboardInterrupt:
        print(
            "interrupted: finished cells are kept and the run is marked incomplete; "
            "run the same command again to go on",
            file=sys.stderr,
        )
        return 130
    print(outcome.report)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts.items()))
    print(
        f"{len(outcome.records)} cells: {counts}. Report: {outcome.run.path / 'report.md'}", file=sys.stderr
    )
    return 1 if outcome.failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m runner", description=__doc__)
    parser.add_argument(
        "--matrix", type=Path, default=None, help="matrix file (default: $MATRIX_FILE or matrix.yaml)"
    )
    parser.add_argument(
        "--results", type=Path, default=None, help="where runs are stored (default: $RESULTS_DIR or results/)"
    )
    parser.add_argument("--envs", type=Path, default=DEFAULT_ENVS, help="where cell environments are cached")
    parser.add_argument("--cell", action="append", default=[], help="run only this cell")
    parser.add_argument("--list", action="store_true", help="list the cells and exit")
    parser.add_argument(
        "--fresh", action="store_true", help="start a new run even if the last one was interrupted"
    )
    args = parser.parse_args(argv)
    try:
        matrix = load(args.matrix or matrix_path())
        if args.list:
            for cell in matrix.cells():
                print(cell.name)
            return 0
        return run(matrix, args.cell, results=args.results, env_root=args.envs, fresh=args.fresh)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
