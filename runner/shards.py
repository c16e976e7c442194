"""The matrix in N parts: ``--shard K/N`` runs one, ``--list-shards N`` prints the plan.

The plan is a function of the matrix alone, never of the machine (its
caches, its history), so that N runners that each compute it agree: the
parts are disjoint and together are every cell.  Cells that share an
environment (the same row and the same server packages) stay in one part,
so no environment is built twice.  Parts are balanced by an estimate of each
cell's cost: a serial cell's concurrency probe waits for its requests one
after another (ten times a concurrent one's, by default), the other probes
last what their settings say, and each environment costs a build.  Groups
are placed largest first on the least loaded part (longest processing time
first), ties broken by matrix order, so the plan is the same everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from runner.errors import UserError
from runner.matrix.cells import Cell, Matrix
from runner.measuring.probes import probe_named
from runner.measuring.probes.base import Column
from runner.serving.servers import recipe_for

START_S = 0.6  # launching a server and waiting for it
# What starting and stopping a server costs the cores: 32 started together took
# 8.7 and 10.6 s of CPU (children's rusage), about 0.3 s each.
START_CPU_S = 0.3
BUILD_S = 6.0  # building an environment with uv, from a warm download cache
PERIOD_BUILD_S = 10.0  # a period row also asks the index for upload dates
SOURCE_BUILD_S = 45.0  # compiling a server of 2018 that had no wheel (uWSGI)


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int
    cells: tuple[str, ...]
    estimated_s: float

    @property
    def label(self) -> str:
        return f"{self.index}/{self.count}"

    @property
    def name(self) -> str:
        """``shard-2-of-3``: valid as an artifact's or a job's name."""
        return f"shard-{self.index}-of-{self.count}"


def parse_shard(text: str) -> tuple[int, int]:
    found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not found or not 1 <= int(found.group(1)) <= int(found.group(2)) <= 256:
        raise UserError(f"--shard {text!r}: expected K/N with 1 <= K <= N <= 256, e.g. --shard 2/3")
    return int(found.group(1)), int(found.group(2))


def parse_count(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text.strip()) or not 1 <= int(text) <= 256:
        raise UserError(f"--list-shards {text!r}: expected a number of shards from 1 to 256")
    return int(text)


def _python(spec: str) -> tuple[int, int]:
    major, _, minor = spec.partition(".")
    return int(major), int(re.match(r"\d+", minor or "0").group(0))  # type: ignore[union-attr]


def probe_cost(matrix: Matrix, cell: Cell) -> float:
    """Seconds the cell's server and probes are estimated to take, repeats
    included: a server per round, and one more for each further run of a
    probe that chance can decide (it runs alone in a fresh server)."""
    runs = {name: probe_runs(matrix, name, cell) for name in matrix.probes_for(cell)}
    extra = sum(n - matrix.repeats for n in runs.values())
    probes = sum(cost * runs[name] for name, cost in probe_costs(matrix, cell).items())
    return START_S * (matrix.repeats + extra) + probes


def probe_runs(matrix: Matrix, name: str, cell: Cell) -> int:
    """How many times the cell runs the probe: ``repeats``, or more for a
    yes/no that chance can decide on its column (see
    :data:`runner.measuring.probes.base.CHANCE_RUNS`)."""
    return max(matrix.repeats, probe_named(name).runs_on(column(cell), matrix.probes_for(cell)[name]))


def chance_on(matrix: Matrix, name: str, cell: Cell) -> bool:
    """Whether chance can decide the probe's yes/no in the cell."""
    return probe_named(name).chance_on(column(cell), matrix.probes_for(cell)[name])


def column(cell: Cell) -> Column:
    """What the cell's column tells of chance before any run."""
    shares = recipe_for(cell.server.kind).shares_connections(cell.server.options)
    return Column(shares_connections=shares, capacity=planned_capacity(cell))


def probe_costs(matrix: Matrix, cell: Cell) -> dict[str, float]:
    """Seconds each of the cell's probes is estimated to take, once: each probe's own estimate."""
    capacity = planned_capacity(cell)
    return {
        name: probe_named(name).cost(settings, capacity) for name, settings in matrix.probes_for(cell).items()
    }


def planned_capacity(cell: Cell) -> int | None:
    """How many requests the cell's server is expected to take at once, from the
    versions the row asks for (None: no bound known)."""
    return recipe_for(cell.server.kind).capacity(cell.server.options, cell.row.versions())


def env_key(cell: Cell) -> tuple[str, tuple[str, ...]]:
    """What decides a cell's environment, as far as the matrix alone tells it."""
    recipe = recipe_for(cell.server.kind)
    return cell.row.name, tuple(recipe.packages(cell.server.options, _python(cell.row.python)))


def build_cost(cell: Cell) -> float:
    recipe = recipe_for(cell.server.kind)
    if cell.row.resolve != "period":
        return BUILD_S
    return SOURCE_BUILD_S if recipe.built_from_source else PERIOD_BUILD_S


def plan(matrix: Matrix, count: int, cells: Sequence[Cell] | None = None) -> list[Shard]:
    """``count`` parts of ``cells`` (default: every cell), balanced by estimated cost."""
    cells = list(cells if cells is not None else matrix.cells())
    order = {cell.name: number for number, cell in enumerate(cells)}
    groups: dict[tuple[str, tuple[str, ...]], list[Cell]] = {}
    for cell in cells:
        groups.setdefault(env_key(cell), []).append(cell)
    costed = [
        (build_cost(members[0]) + sum(probe_cost(matrix, c) for c in members), members)
        for members in groups.values()
    ]
    costed.sort(key=lambda item: (-item[0], order[item[1][0].name]))
    loads = [0.0] * count
    parts: list[list[Cell]] = [[] for _ in range(count)]
    for cost, members in costed:
        lightest = min(range(count), key=lambda i: (loads[i], i))
        loads[lightest] += cost
        parts[lightest] += members
    return [
        Shard(
            i + 1, count, tuple(c.name for c in sorted(part, key=lambda c: order[c.name])), round(loads[i], 1)
        )
        for i, part in enumerate(parts)
    ]


def plan_json(shards: Sequence[Shard]) -> str:
    """The plan as one line of JSON: ``{"include": [...]}``, a GitHub Actions job
    matrix as it is (``strategy.matrix: ${{ fromJSON(...) }}``).  Shards with no
    cells (more shards than environments) are left out: a job for them would
    have nothing to run or upload."""
    include = [
        {
            "shard": s.label,
            "name": s.name,
            "cells": list(s.cells),
            "cell_count": len(s.cells),
            "estimated_s": s.estimated_s,
            "estimated_min": round(s.estimated_s / 60, 1),
        }
        for s in shards
        if s.cells
    ]
    return json.dumps({"include": include}, separators=(",", ":"))
