"""The rows of ``resolve: compatible``: their pins searched for before anything else is built.

The search itself is :mod:`runner.environments.compatible`; here it is given
the real check (the app started with Werkzeug's server, in the run's name,
and asked for ``/hello``), run once per row, and its answer put into every
plan of the row: the pins found join the row's requirements, or the row's
cells are n/a with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from runner.environments import compatible, envs
from runner.errors import CellError
from runner.matrix.cells import Row, Server
from runner.serving.launch import launched
from runner.serving.servers import PLAIN
from runner.workflow.cell import Plan

Progress = Callable[[str], None]
COMPATIBLE = "compatible"


def checker(run_id: str) -> compatible.Check:
    """The check of a trial environment: None where the app starts and
    answers, else what its log said since the check began."""

    def check(env: envs.Env, log: Path) -> str | None:
        start = log.stat().st_size if log.exists() else 0
        try:
            with launched(PLAIN, Server(name="check", kind=PLAIN.kind), env, log, run_id) as front:
                if compatible.answers(front.base_url):
                    return None
        except CellError as exc:
            return _since(log, start) + "\n" + exc.reason
        return _since(log, start) + "\nthe app started but did not answer /hello with 200"

    return check


def _since(log: Path, start: int) -> str:
    with open(log, encoding="utf-8", errors="replace") as handle:
        handle.seek(start)
        return handle.read()


def find_pins(
    plans: Sequence[Plan],
    env_root: Path,
    run_id: str,
    log_for: Callable[[str], Path],
    progress: Progress,
    *,
    refresh: bool = False,
) -> list[Plan]:
    """Each plan of a ``resolve: compatible`` row with the pins its search found, or n/a."""
    rows: dict[str, compatible.Found] = {}
    out = []
    for plan in plans:
        row = plan.cell.row
        if row.resolve != COMPATIBLE or plan.spec is None or plan.problem is not None:
            out.append(plan)
            continue
        if row.name not in rows:
            try:
                rows[row.name] = search_row(
                    row, plan.spec, env_root, checker(run_id), log_for(row.name), progress, refresh
                )
            except CellError as exc:  # the index could not be asked: this run's cells of the row say so
                progress(f"row {row.name}: the search for pins stopped: {exc.reason}")
                rows[row.name] = compatible.Found(
                    problem=f"the search for pins stopped: {exc.reason}", failed=True
                )
        found = rows[row.name]
        if found.failed:
            out.append(replace(plan, problem=CellError(str(found.problem))))
        elif found.problem:
            out.append(replace(plan, problem=compatible.not_applicable(found)))
        else:
            spec = replace(plan.spec, requirements=plan.spec.requirements + found.pins)
            out.append(replace(plan, spec=spec, found_pins=found.pins))
    return out


def search_row(
    row: Row,
    spec: envs.EnvSpec,
    env_root: Path,
    check: compatible.Check,
    log: Path,
    progress: Progress,
    refresh: bool,
) -> compatible.Found:
    """The row's pins: from today's search where there was one, else searched now."""
    base = envs.EnvSpec(interpreter=spec.interpreter, requirements=row.requirements(), backend=spec.backend)
    key = compatible.cache_key(base)
    found = None if refresh else compatible.cached(env_root, key)
    if found is None:
        progress(f"row {row.name}: resolve: compatible, looking for pins under which it runs")
        found = compatible.Search(base, env_root / ".trials", log, check, progress).run(
            row.flask, spec.interpreter.version
        )
        if not found.failed:
            compatible.remember(env_root, key, found)
    if found.problem:
        progress(f"row {row.name}: {found.problem}")
    elif not found.pins:
        progress(f"row {row.name}: runs as resolved today, no pins needed")
    else:
        progress(
            f"row {row.name}: runs with {', '.join(found.pins)} ({found.tries} trial builds); in matrix.yaml:"
        )
        progress(yaml_of(row, found.pins))
    return found


def yaml_of(row: Row, pins: Sequence[str]) -> str:
    """The row as matrix.yaml would have it, with the pins found, ready to paste."""
    lines = [f'  - flask: "{row.flask}"']
    if row.werkzeug:
        lines.append(f'    werkzeug: "{row.werkzeug}"')
    lines.append(f'    python: "{row.python}"')
    lines.append("    pins: [" + ", ".join(f'"{p}"' for p in (*row.pins, *pins)) + "]")
    return "\n".join(lines)
