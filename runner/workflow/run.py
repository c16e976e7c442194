"""A run: plan every cell, build their environments, then probe the cells.

1. Plan: find each row's interpreter and work out each cell's environment
   (what goes into it, the period cut-off).  A missing interpreter makes the
   cell ``skipped`` here.
2. Build: every environment the cells need, cached ones reused, the others
   built in parallel (they are independent, and mostly wait on the network).
3. Probe: launch each cell's server, probe it, stop it, write the record.
   Under the overlapping schedule (the default) many cells are in flight at
   once, but a probe that needs the CPU runs with nothing else of the run
   active (see :mod:`runner.workflow.schedule`); under the serial one, one cell at a
   time.

A cell that fails is recorded with its reason and the log tail, and the run
goes on.  The report is written at the end, also when the run is interrupted.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from packaging.requirements import Requirement

from runner import settings, shards
from runner.environments import envs, interpreters, period
from runner.errors import CellError, CellNotApplicable, CellSkipped
from runner.matrix.cells import Cell, Matrix
from runner.measuring.probes import PROBES
from runner.publish.artefacts import publish
from runner.publish.doc import Finding, terminal_safe
from runner.records import store
from runner.records.machine import tools
from runner.records.record import CellRecord, EnvInfo, Schedule, Status
from runner.serving import watchdog
from runner.serving.launch import RUN_MARK
from runner.serving.process import signals_as_interrupt
from runner.serving.proxies import PROXIES
from runner.serving.servers import Recipe, recipe_for
from runner.serving.servers.base import requirement
from runner.workflow import machine_lock, pins, reuse, schedule
from runner.workflow.cell import Built, Plan, first_record, launch_groups, run_cell, runs_of, starts_no_server
from runner.workflow.schedule import Gate, overlap_bound

__all__ = ["RUN_MARK", "Outcome", "build_envs", "build_jobs", "overlap_bound", "plan_cell", "run_cells"]

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(terminal_safe(settings.redact(line)), file=sys.stderr, flush=True)


@dataclass
class Outcome:
    run: store.Run
    records: list[CellRecord]
    report: str
    complete: bool
    counts: dict[str, int] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()  # the report's summary

    @property
    def failed(self) -> int:
        return self.counts.get(Status.ERROR.value, 0)


def build_jobs() -> int:
    """How many environments build at once: ``MATRIX_BUILD_JOBS``, else the cores (at most 4)."""
    chosen = settings.current().build_jobs
    return chosen if chosen is not None else max(1, min(4, os.cpu_count() or 1))


def run_cells(
    matrix: Matrix,
    cells: Sequence[Cell],
    *,
    results: Path,
    env_root: Path,
    progress: Progress = _stderr,
    fresh: bool = True,
    report: bool = True,
    overlap: int = 1,
    reuse_earlier: bool = False,
    reuse_from: Path | None = None,
    refresh: bool = False,
) -> Outcome:
    """Run ``cells`` into a new run folder, or, unless ``fresh``, go on with
    the newest run if it was interrupted with this same matrix and cells.
    Without ``report`` (bisect's probes) the run is not published; ``overlap``:
    see :func:`probe_cells`; rows of ``resolve: compatible``: :mod:`pins`.
    With ``reuse_earlier``, a cell measured before with the same inputs takes
    that record (:mod:`reuse`), from the run ``reuse_from`` alone if given;
    ``refresh``: see :func:`build_envs`."""
    names = [c.name for c in cells]
    run, cells = open_run(matrix, cells, results, progress, fresh)
    complete = False
    started = time.perf_counter()
    phases: dict[str, float] = {}
    watchdog.reap(progress)  # the backstop: what a run killed with its watchdog left
    dog = watchdog.start(run.id)  # ends what the run started, even if this process is killed
    try:
        with signals_as_interrupt():
            plans, built = prepare(matrix, cells, env_root, run, progress, phases, refresh=refresh)
            if reuse_earlier or reuse_from is not None:
                plans = take_over_earlier(matrix, plans, built, run, progress, reuse_from)
            with machine_lock.measuring(progress):  # no other run's probes beside these
                probe_cells(matrix, plans, built, run, progress, overlap)
        complete = True
    finally:
        with signals_as_interrupt():  # a signal while the report is drawn stops it as Ctrl-C does
            outcome = close_run(
                matrix,
                run,
                complete,
                {"wall_s": round(time.perf_counter() - started, 1), **phases},
                report=report,
            )
        watchdog.stop(dog)
        progress(last_line(outcome, len(names), time.perf_counter() - started, phases))
    return outcome


def prepare(
    matrix: Matrix,
    cells: Sequence[Cell],
    env_root: Path,
    run: store.Run,
    progress: Progress,
    phases: dict[str, float],
    *,
    refresh: bool = False,
) -> tuple[list[Plan], Built]:
    """Each cell planned (its row's pins found, where it asks), its environment
    built, and the hash of its inputs taken; the build's time into ``phases``."""
    plans = [plan_cell(cell, env_root) for cell in cells]
    plans = pins.find_pins(plans, env_root, run.id, run.log_path, progress, refresh=refresh)
    build_started = time.perf_counter()
    built = build_envs(plans, env_root, run, progress, refresh=refresh)
    phases["build_phase_s"] = round(time.perf_counter() - build_started, 1)
    return hash_inputs(matrix, plans, built), built


def hash_inputs(matrix: Matrix, plans: Sequence[Plan], built: Built) -> list[Plan]:
    """Each plan whose environment is built, with the hash of its cell's inputs."""
    out = []
    for plan in plans:
        env = built.get(plan.spec.key()) if plan.spec is not None else None
        if isinstance(env, envs.Env) and plan.interpreter is not None:
            plan = replace(plan, inputs=reuse.inputs_of(matrix, plan.cell, env, plan.interpreter.version))
        out.append(plan)
    return out


def take_over_earlier(
    matrix: Matrix,
    plans: Sequence[Plan],
    built: Built,
    run: store.Run,
    progress: Progress,
    source: Path | None = None,
) -> list[Plan]:
    """Write the record of each cell measured before with the same inputs (in
    the run ``source``, if given); the plans left are those to measure."""
    wanted = {p.cell.name: p.inputs for p in plans if p.inputs}
    if source is not None:
        found = reuse.records_from(source, wanted)
    else:
        found = reuse.earlier_records(run.root, wanted, skip=run.id, progress=progress) if wanted else {}
    left = []
    for plan in plans:
        earlier = found.get(plan.cell.name)
        if earlier is None:
            left.append(plan)
            continue
        env = built[plan.spec.key()] if plan.spec is not None else None
        fresh = first_record(matrix, plan, run.path, run.log_path(plan.cell.name))
        if isinstance(env, envs.Env):
            fresh = replace(fresh, env=EnvInfo(str(env.path), env.backend, True))
        run.write_cell(reuse.take_over(earlier, fresh, run))
    if len(left) < len(plans):
        progress(
            f"reused {len(plans) - len(left)} of {len(plans)} cells measured before with the same inputs "
            f"(`-- --fresh` measures them again); {len(left)} to measure"
        )
    return left


def last_line(outcome: Outcome, asked: int, wall_s: float, phases: Mapping[str, float]) -> str:
    """The run's last progress line: its total, or how far an interrupted one got."""
    run = outcome.run
    if not outcome.complete:
        got = len(outcome.records)
        return f"run {run.id} interrupted: {got} of {asked} cells recorded; run it again to go on"
    built = f", {_mmss(phases['build_phase_s'])} of it building" if "build_phase_s" in phases else ""
    return f"run {run.id}: {len(outcome.records)} cells in {_mmss(wall_s)} in all{built}"


def probe_cells(
    matrix: Matrix, plans: Sequence[Plan], built: Built, run: store.Run, progress: Progress, overlap: int = 1
) -> None:
    """Each cell's probes, its record written as soon as it is done, with the time left.

    With ``overlap`` above 1, up to ``overlap`` cells are in flight at once,
    longest wait first, through one :class:`~runner.workflow.schedule.Gate`: their
    server starts and waiting probes overlap, and each probe that needs the CPU
    runs with nothing else of the run active.  With 1, cells run one after
    another, each whole.
    """
    if overlap > 1:
        plans = sorted(plans, key=lambda p: -waiting_cost(matrix, p.cell))  # stable: matrix order on ties
    clock = Clock.start(
        {
            plan.cell.name: 0.0 if starts_no_server(plan, built) else cell_cost(matrix, plan.cell, overlap)
            for plan in plans
        },
        in_rounds=overlap > 1,
    )
    written = 0

    def write(record: CellRecord) -> None:
        nonlocal written
        written += 1
        run.write_cell(record)
        progress(progress_line(written, len(plans), record) + clock.tick(record.cell))

    def one(plan: Plan, gate: Gate | None = None) -> CellRecord:
        log = run.log_path(plan.cell.name)
        return run_cell(matrix, plan, built, run_id=run.id, run_path=run.path, log_path=log, gate=gate)

    if overlap <= 1:
        for plan in plans:
            write(replace(one(plan), schedule=Schedule(kind="serial")))
    elif plans:
        progress(f"up to {overlap} cells at once; the probes that need the CPU one at a time, alone")
        gate = Gate(overlap)
        with ThreadPoolExecutor(max_workers=overlap, thread_name_prefix="cell") as pool:
            try:
                futures = [pool.submit(one, plan, gate) for plan in plans]
                for future in as_completed(futures):
                    record = future.result()
                    write(replace(record, schedule=gate.schedule_of(record.cell)))
            except BaseException:
                gate.cancel()  # the cells under way end their section and stop their servers
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    if plans:
        progress(clock.verdict())


def waiting_cost(matrix: Matrix, cell: Cell) -> float:
    """Seconds the cell's waiting probes are estimated to take."""
    costs = shards.probe_costs(matrix, cell)
    return sum(
        s * shards.probe_runs(matrix, name, cell) for name, s in costs.items() if not PROBES[name].needs_cpu
    )


def cell_cost(matrix: Matrix, cell: Cell, overlap: int) -> float:
    """The run's time the cell is estimated to take: what needs the CPU has the
    machine alone; starting and stopping its servers takes its share of the
    cores; what it waits shares the machine with ``overlap`` cells."""
    if overlap <= 1:
        return shards.probe_cost(matrix, cell)
    probes = matrix.probes_for(cell)
    alone = sum(
        s * shards.probe_runs(matrix, name, cell)
        for name, s in shards.probe_costs(matrix, cell).items()
        if PROBES[name].needs_cpu
    )
    rounds = runs_of(matrix, probes, cell)
    servers = sum(
        len(launch_groups([n for n in probes if i < shards.probe_runs(matrix, n, cell)]))
        for i in range(rounds)
    )
    starts = servers * shards.START_CPU_S / (os.cpu_count() or 1)
    return alone + starts + waiting_cost(matrix, cell) / overlap


def open_run(
    matrix: Matrix, cells: Sequence[Cell], results: Path, progress: Progress, fresh: bool
) -> tuple[store.Run, list[Cell]]:
    """A new run folder, or the interrupted one to go on with, and the cells left to run."""
    names = [c.name for c in cells]
    run = None if fresh else store.resumable(results, dict(matrix.raw), names)
    if run is None:
        run = store.new_run(results, dict(matrix.raw), cells=names, tools=tools())
        progress(f"run {run.id}: {len(cells)} cells -> {run.path}")
        return run, list(cells)
    done = {r.cell for r in run.records()}
    progress(
        f"run {run.id}: going on where it stopped, {len(done)} of {len(cells)} cells "
        f"recorded earlier (start afresh with --fresh) -> {run.path}"
    )
    return run, [c for c in cells if c.name not in done]


def close_run(
    matrix: Matrix, run: store.Run, complete: bool, phases: dict[str, float], *, report: bool = True
) -> Outcome:
    """The report of what is on disk, the run marked complete or not, its lock released."""
    run.seal_logs()  # before anything reads them into a record, a report or a merge
    records = run.records()  # what is on disk is what the report shows
    counts = count_statuses(records)
    summary = {"counts": counts, **phases, **time_split(records)}
    run.finish(complete=complete, summary=summary)
    found: tuple[Finding, ...] = ()
    try:
        text = ""
        if report:
            done = publish(run.path)
            text, found = done.report, done.findings
    except Exception as exc:  # the records are safe; the report can be drawn again
        text = f"The report could not be drawn ({exc!r}); draw it with: nox -s report -- {run.path}"
        print(f"error: {text}", file=sys.stderr)
    finally:
        run.release()
    return Outcome(run=run, records=records, report=text, complete=complete, counts=counts, findings=found)


def plan_cell(cell: Cell, env_root: Path) -> Plan:
    plan = Plan(cell=cell)
    try:
        follows_its_servers(cell)
        plan.interpreter = usable_interpreter(cell)
        plan.spec = env_spec(cell, plan.interpreter, env_root)
    except CellError as exc:
        plan.problem = exc
    return plan


def follows_its_servers(cell: Cell) -> None:
    """A row that pins server packages follows them through their releases: a
    column that runs none of them (or pins its own) would measure again what
    the rows that pin nothing measure, so it is n/a there."""
    row, own = cell.row, recipe_for(cell.server.kind).package
    if not row.servers or (row.server_pin(own) is not None and cell.server.version is None):
        return
    followed = ", ".join(f"{package} {spec}" for package, spec in row.servers)
    why = f"pins {own} {cell.server.version} itself" if cell.server.version else "runs none of them"
    raise CellNotApplicable(
        f"this row follows {followed} through its releases and column {cell.server.name} {why}; "
        "the rows that pin no server measure it"
    )


def usable_interpreter(cell: Cell) -> interpreters.Interpreter:
    """The row's Python, where the cell's server runs on it and its proxy is installed."""
    row = cell.row
    exact = row.python.count(".") == 2  # a cell reproduced on the interpreter its record names
    interpreter = interpreters.find_exact(row.python) if exact else interpreters.find(row.python)
    if interpreter is None:
        raise CellSkipped(
            f"no Python {row.python} on PATH, under pyenv or from uv; " + interpreters.how_to_get(row.python),
            cause="interpreter",
        )
    recipe = recipe_for(cell.server.kind)
    if recipe.min_python and interpreter.minor < recipe.min_python:
        raise CellNotApplicable(
            f"{cell.server.kind} needs Python {'.'.join(map(str, recipe.min_python))} or later; "
            f"this row runs {interpreter.version}"
        )
    if cell.server.proxy is not None:
        PROXIES[cell.server.proxy].require()
    return interpreter


def env_spec(cell: Cell, interpreter: interpreters.Interpreter, env_root: Path) -> envs.EnvSpec:
    """What the cell's environment is built from: the row's requirements, the
    server's packages (pinned, of the row's day), and how to build them."""
    row, recipe = cell.row, recipe_for(cell.server.kind)
    exclude_newer = build_tools = None
    dates = env_root / "upload-dates.json"
    server_packages, binary_only = pinned_packages(cell, interpreter.minor)
    seeded: tuple[str, ...] = ()
    apart: tuple[tuple[str, str], ...] = ()
    backend = envs.backend_for(interpreter)
    if row.resolve == "period":
        exclude_newer = period.cutoff("flask", row.flask, dates)
        # a Python 2 environment comes with the build tools virtualenv 20.21.1 seeds
        build_tools = period.build_tools_cutoff(exclude_newer) if backend != "legacy" else None
        seeded = period.SEEDED if backend != "legacy" else ()
        apart = held_apart(cell, server_packages, dates)
        server_packages, binary_only = packages_of_the_day(
            recipe, server_packages, exclude_newer, dates, apart=[name for name, _ in apart]
        )
    from_source = set(recipe.built_from_source.values())
    build_env: tuple[tuple[str, str], ...] = ()
    if recipe.source_build_env and any(Requirement(p).name in from_source for p in server_packages):
        build_env = recipe.source_build_env(env_root)
    return envs.EnvSpec(
        interpreter=interpreter,
        requirements=row.requirements() + server_packages + seeded,
        exclude_newer=exclude_newer,
        build_tools_newer=build_tools,
        backend=backend,
        binary_only=binary_only,
        apart=apart,
        build_env=build_env,
    )


def pinned_packages(cell: Cell, python: tuple[int, int]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The cell's server packages with the version its column or row pins, and
    those that must come as wheels.  A pinned release that the wheels' package
    never had (pyuwsgi began at uWSGI 2.0.18) is built from the package the
    recipe names for it (uwsgi), as ``pip install uwsgi==X`` would."""
    recipe = recipe_for(cell.server.kind)
    pin = cell.server_pin
    packages = recipe.pinned(cell.server.options, python, pin)
    instead = recipe.built_from_source.get(recipe.package or "")
    if pin is None or instead is None or recipe.package is None or period.newest(recipe.package, pin):
        return packages, recipe.binary_only
    swapped = tuple(
        requirement(instead, pin) if p == requirement(recipe.package, pin) else p for p in packages
    )
    return swapped, tuple(b for b in recipe.binary_only if b != recipe.package)


def held_apart(cell: Cell, packages: Sequence[str], dates: Path) -> tuple[tuple[str, str], ...]:
    """On a period row, the pinned server package is held to its own release's
    day, not the row's: the version asked is installed, its dependencies as of
    the row's day.  None matching on the index makes the cell n/a."""
    pin = cell.server_pin
    if pin is None:
        return ()
    wanted = set(recipe_for(cell.server.kind).own_names)
    apart = []
    for package in (Requirement(p).name for p in packages if Requirement(p).name in wanted):
        release = period.newest(package, pin)
        if release is None:
            raise CellNotApplicable(f"{package} has no release {pin} on the index")
        apart.append((package, period.cutoff(package, str(release), dates)))
    return tuple(apart)


def packages_of_the_day(
    recipe: Recipe, packages: tuple[str, ...], day: str, dates: Path, apart: Sequence[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """A period row's server packages, and those that must come as wheels.

    A package with no release by the row's day makes the cell n/a, unless the
    recipe names one to build from source instead (uWSGI from its source
    distribution, as people installed it before the pyuwsgi wheels existed).
    A package held ``apart`` (pinned, with a day of its own) is kept as asked.
    """
    chosen, binary_only = [], list(recipe.binary_only)
    for asked in packages:
        name = Requirement(asked).name
        if name in apart:
            chosen.append(asked)
            continue
        if period.released_by(name, day, dates):
            chosen.append(asked)
            continue
        instead = recipe.built_from_source.get(name)
        if instead is None or not period.released_by(instead, day, dates):
            raise CellNotApplicable(
                f"{name} had no release by {day[:10]}, the day this period row is resolved as of"
            )
        chosen.append(instead)
        binary_only = [b for b in binary_only if b != name]
    return tuple(chosen), tuple(binary_only)


def build_envs(
    plans: Sequence[Plan],
    env_root: Path,
    run: store.Run,
    progress: Progress = _stderr,
    *,
    refresh: bool = False,
) -> Built:
    """Every environment the plans need, keyed by its spec's key; each one
    built before is asked of the index again once a day, and now with
    ``refresh`` (see :func:`envs.still_current`)."""
    specs = {p.spec.key(): p.spec for p in plans if p.spec is not None}
    if not specs:
        return {}
    jobs = min(build_jobs(), len(specs))
    progress(f"environments: {len(specs)} needed, up to {jobs} built at once")
    built: Built = {}

    def one(spec: envs.EnvSpec) -> tuple[str, envs.Env | CellError]:
        log_path = run.log_path(f"env-{spec.dirname()}")
        try:
            return spec.key(), envs.ensure(spec, env_root, log_path, refresh=refresh)
        except CellError as exc:
            exc.log_path = log_path
            return spec.key(), exc

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="build")
    try:
        for key, result in pool.map(one, specs.values()):
            built[key] = result
            name = specs[key].dirname()
            if isinstance(result, CellError):
                progress(f"  failed  {name}: {result.reason}")
            elif not result.reused:
                progress(f"  built   {name} in {result.build_s:.1f}s")
    except BaseException:
        # Interrupted: kill the builds under way rather than wait for them.
        envs.stop_builds()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    reused = sum(1 for r in built.values() if isinstance(r, envs.Env) and r.reused)
    rechecked = sum(1 for r in built.values() if isinstance(r, envs.Env) and r.rechecked)
    if reused:
        asked = (
            f", {rechecked} of them asked of the index again today and found the same" if rechecked else ""
        )
        progress(f"  reused  {reused} cached environments{asked}")
    return built


@dataclass
class Clock:
    """Time left, from the per-cell cost estimate the shard planner uses.

    The cells left are expected to take their estimates, scaled by how the
    time so far compares with the estimates of the cells done, so that a
    slower or faster machine is allowed for as it shows.  Where cells end
    ``in_rounds`` (the overlapping schedule), that pace is weighed against
    the plan itself (the sum of the estimates less the time gone) by the
    square of the share of the estimate done: the first cells of a round end
    after the start-ups and waiting probes of the whole round, so they had
    taken the time of many (in one run, after 87 s, 3 cells estimated at 5 s
    were done, and the pace alone put the time left at 81 minutes, for a run
    that took 4).
    """

    estimates: dict[str, float]  # by cell
    started: float
    done: set[str] = field(default_factory=set)
    in_rounds: bool = False

    @classmethod
    def start(cls, estimates: dict[str, float], *, in_rounds: bool = False) -> Clock:
        return cls(estimates, time.perf_counter(), in_rounds=in_rounds)

    def tick(self, cell: str) -> str:
        self.done.add(cell)
        return self.after(self.done)

    def after(self, done: Collection[str]) -> str:
        """The line's tail once the cells ``done`` are, in whatever order they ended."""
        elapsed = time.perf_counter() - self.started
        total = sum(self.estimates.values())
        planned = sum(self.estimates[c] for c in done)
        rest = total - planned
        as_planned = max(0.0, total - elapsed)  # the plan, whatever the pace so far
        if planned <= 0:
            left = as_planned
        else:
            at_pace = rest * elapsed / planned  # the rest at the pace of the cells done
            trust = (planned / total) ** 2 if self.in_rounds else 1.0
            left = max(0.0, trust * at_pace + (1.0 - trust) * as_planned)  # no "-1:59 left" from rounding
        return f"  [{_mmss(elapsed)} elapsed, about {_mmss(left)} left]"

    def verdict(self) -> str:
        elapsed = time.perf_counter() - self.started
        planned = sum(self.estimates.values())
        error = (planned - elapsed) / elapsed if elapsed else 0.0
        return (
            f"cells took {_mmss(elapsed)} against {_mmss(planned)} estimated before the first one "
            f"(the estimate was {abs(error):.0%} {'long' if error >= 0 else 'short'})"
        )


def _mmss(seconds: float) -> str:
    seconds = max(0.0, seconds)  # never "-1:59": a clock that ran past its estimate says 0:00
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


def progress_line(number: int, total: int, record: CellRecord) -> str:
    width = len(str(total))
    probe = record.concurrency
    if probe is not None:
        what = f"peak {probe.peak:>3} {probe.verdict}"
        if probe.errors:
            what += f", {probe.errors} failed"
    else:
        what = f"{record.status.value}: {record.reason}"
    t = record.timings
    clock = " ".join(
        f"{name} {s:.1f}s" for name, s in (("start", t.start_s), ("probe", t.probe_s)) if s is not None
    )
    return f"[{number:>{width}}/{total}] {record.cell:<44} {what}" + (f"  ({clock})" if clock else "")


def count_statuses(records: Sequence[CellRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.status.value] = counts.get(record.status.value, 0) + 1
    return counts


def time_split(records: Sequence[CellRecord]) -> dict[str, float]:
    """Seconds spent starting servers, probing and building, summed over cells."""
    records = [r for r in records if r.reused is None]  # the time this run spent
    split: dict[str, float] = {}
    split["start_s"] = round(sum(r.timings.start_s or 0.0 for r in records), 1)
    split["probe_s"] = round(sum(r.timings.probe_s or 0.0 for r in records), 1)
    built = {r.env.path: r.timings.build_s or 0.0 for r in records if r.env is not None and not r.env.reused}
    split["envs_built"] = len(built)
    split["env_build_s"] = round(sum(built.values()), 1)
    overlapped = [r.schedule for r in records if r.schedule.kind == "overlap"]
    if overlapped:
        split.update(schedule.time_split(overlapped))
    return split
