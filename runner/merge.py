"""Several run folders of one matrix (shards, or machines that each ran part
of it) made into one run folder, with its report.

Refused, with one line naming them: runs of different matrices (or probe
settings, which are part of the matrix), and a cell that two runs both have
(but one where a run skipped it for want of an interpreter, and another
measured it: the measured one is kept, so that the Python 2.7 rows run where
2.7 is join the shards of runners that have none).  Every cell keeps the
machine it was measured on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from runner.errors import UserError
from runner.records.record import CellRecord, RunMeta, Status, machine_names, one_measurement
from runner.records.store import new_run_path, now, read_run, write_merged


def _differs(a: object, b: object, where: str = "") -> str | None:
    """The first key path at which two matrices differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            found = _differs(a.get(key), b.get(key), f"{where}.{key}" if where else str(key))
            if found:
                return found
        return None
    return None if json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True) else where or "the matrix"


def check(runs: Sequence[tuple[Path, RunMeta, list[CellRecord]]]) -> None:
    """Refuse runs of different matrices and cells present twice."""
    first_path, first, _ = runs[0]
    for path, meta, _ in runs[1:]:
        key = _differs(dict(first.matrix), dict(meta.matrix))
        if key is not None:
            raise UserError(
                f"{first_path} and {path} ran different matrices ({key} differs); "
                "only runs of the same matrix file and probe settings can be merged"
            )
    seen: dict[str, Path] = {}
    for path, _, records in runs:
        for record in records:
            if record.cell in seen:
                raise UserError(
                    f"cell {record.cell!r} is in both {seen[record.cell]} and {path}; "
                    "merge runs that each measured different cells"
                )
            seen[record.cell] = path


Runs = list[tuple[Path, RunMeta, list[CellRecord]]]


def measured_over_skipped(runs: Runs) -> Runs:
    """The runs less each cell one skipped for want of an interpreter where
    another has it otherwise (measured, or skipped for another reason); where
    every run skipped it so, the first run's copy is kept."""
    other = {r.cell for _, _, records in runs for r in records if not _wanting(r)}
    kept: set[str] = set()
    out: Runs = []
    for path, meta, records in runs:
        mine = []
        for record in records:
            if _wanting(record) and (record.cell in other or record.cell in kept):
                continue
            kept.add(record.cell)
            mine.append(record)
        out.append((path, meta, mine))
    return out


def measured_once(runs: Runs) -> Runs:
    """The runs less each record that is one measurement with an earlier run's
    (a run that reused the other's cells): it is kept once, not refused as twice."""
    seen: dict[str, CellRecord] = {}
    out: Runs = []
    for path, meta, records in runs:
        mine = [r for r in records if not (r.cell in seen and one_measurement(seen[r.cell], r))]
        seen.update((r.cell, r) for r in mine)
        out.append((path, meta, mine))
    return out


def _wanting(record: CellRecord) -> bool:
    return record.status is Status.SKIPPED and record.cause == "interpreter"


def merge(paths: Sequence[Path], out: Path | None, results: Path) -> Path:
    """Write the merged run folder (``out``, or a new one under ``results/runs``)."""
    if not paths:
        raise UserError("merge needs at least one run folder")
    runs = measured_once(measured_over_skipped([(path, *read_run(path)) for path in paths]))
    check(runs)
    target = out if out is not None else new_run_path(results, suffix="merged")
    if out is not None and out.exists() and any(out.iterdir()):
        raise UserError(f"{out} exists and is not empty; give a new folder to --out")
    metas = [meta for _, meta, _ in runs]
    records = sorted((r for _, _, rs in runs for r in rs), key=lambda r: (r.row_index, r.server_index))
    merged = RunMeta(
        run=target.name,
        started=min(m.started for m in metas),
        matrix=metas[0].matrix,
        cells=tuple(r.cell for r in records),
        machine=metas[0].machine,
        tools=metas[0].tools,
        ended=max((m.ended or "" for m in metas), default=None) or now(),
        complete=all(m.complete for m in metas),
        summary={
            "merged_from": [m.run for m in metas],
            "machines": len(set(machine_names(records).values())),
        },
    )
    write_merged(target, merged, [(path, record) for path, _, rs in runs for record in rs])
    return target
