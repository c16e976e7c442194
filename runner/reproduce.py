"""``nox -s reproduce -- RUN_DIR CELL``: a cited cell built again from its record and measured again.

The stored run, a folder or a site's ``records.json.gz``, is read as
untrusted.  The cell's environment is rebuilt from the exact packages its
record lists (every one pinned ``==``), on the interpreter of exactly the
version it names, and the cell is measured again with the run's own probe
settings into ``results/reproduce/``.  Then the two
are set side by side: the packages (the same, or which differ) and every
figure compare reads (:mod:`runner.compare`).  Exit 0 when the packages are
the same and no verdict or stable yes/no changed, 1 otherwise, 2 bad input.
"""

from __future__ import annotations

import dataclasses
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from packaging.utils import canonicalize_name

from runner import compare
from runner.errors import UserError
from runner.matrix import releases
from runner.matrix.cells import Cell, Matrix, Row, parse
from runner.records import store
from runner.records.record import CellRecord, RunMeta, Status


def cited(run_path: Path, cell: str) -> tuple[RunMeta, Matrix, Cell, CellRecord]:
    """The run, its matrix, the cell with its row pinned to what the record
    installed, and the record; what cannot be reproduced is one line.  The
    run is a folder or a site's ``records.json.gz`` of one."""
    meta, records = store.read_any(run_path)
    record = next((r for r in records if r.cell == cell), None)
    if record is None:
        known = ", ".join(sorted(r.cell for r in records)[:5])
        raise UserError(f"{run_path}: no cell {cell!r} in the run (cells are such as {known})")
    if record.status is not Status.OK or not record.packages or not record.python:
        why = record.reason or "no packages recorded"
        raise UserError(
            f"{cell}: {record.status.value} in that run ({why}); only a measured cell is reproduced"
        )
    matrix = parse(dict(meta.matrix), f"run {meta.run}", releases=releases.from_index())
    found = next((c for c in matrix.cells() if c.name == cell), None)
    if found is None:
        raise UserError(f"{cell}: the run's matrix has no such cell; it cannot be built again from run.json")
    row = pinned_row(found.row, record)
    return meta, dataclasses.replace(matrix, rows=(row,)), Cell(row, found.server), record


def pinned_row(row: Row, record: CellRecord) -> Row:
    """The row as the record installed it: every package ``==``, on its exact Python."""
    asked = {canonicalize_name("flask"), canonicalize_name("werkzeug")}
    pins = tuple(
        f"{name}=={version}"
        for name, version in sorted(record.packages.items())
        if canonicalize_name(name) not in asked
    )
    return dataclasses.replace(
        row,
        flask=str(record.flask),
        werkzeug=record.werkzeug,
        python=str(record.python),
        pins=pins,
        resolve="period" if row.resolve == "period" else "latest",  # the pins are found: no search
    )


def package_lines(was: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    """The packages, the same or which differ, in a line each."""
    a = {canonicalize_name(k): v for k, v in was.items()}
    b = {canonicalize_name(k): v for k, v in now.items()}
    differ = [
        f"  {n}: {a.get(n, '-')} -> {b.get(n, '-')}"
        for n in sorted(a.keys() | b.keys())
        if a.get(n) != b.get(n)
    ]
    if not differ:
        return [f"packages: the same {len(a)}, each at the version recorded"]
    return [f"packages: {len(differ)} of {len(a.keys() | b.keys())} differ", *differ]


def reproduce(run_path: Path, cell: str, *, results: Path, env_root: Path) -> int:
    from runner.workflow.run import run_cells  # imported late: reading the record needs none of it

    meta, matrix, target, record = cited(run_path, cell)
    print(f"{cell}: rebuilding {len(record.packages)} packages on Python {record.python}", file=sys.stderr)
    env_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(
        prefix=".reproduce-", dir=env_root
    ) as fresh_envs:  # built anew, not reused
        outcome = run_cells(
            matrix,
            [target],
            results=results / "reproduce",
            env_root=Path(fresh_envs),
            fresh=True,
            report=False,
        )
    again = next((r for r in outcome.records if r.cell == cell), None)
    if again is None or not outcome.complete:
        print(f"{cell}: not measured again (interrupted)", file=sys.stderr)
        return 130
    if again.status is not Status.OK:
        print(f"{cell}: measured again as {again.status.value}: {again.reason}")
        return 1
    lines = package_lines(record.packages, again.packages)
    before = compare.Side(run_path, meta, {cell: record})
    after = compare.Side(outcome.run.path, outcome.run.meta, {cell: again})
    result = compare.compare(before, after)
    print("\n".join([f"A: as cited, run {meta.run}; B: measured again, run {outcome.run.id}", *lines, ""]))
    print(compare.render(result))
    same_packages = lines[0].startswith("packages: the same")
    return 0 if same_packages and not result.verdict_changed else 1
