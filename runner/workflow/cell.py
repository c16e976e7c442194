"""One cell, from its plan to its record, as a chain of named steps.

Like a task list, each step does one thing to the :class:`CellJob` and either
returns or raises a :class:`~runner.errors.CellError`, which ends the cell
with that status and reason; whatever the steps found before is kept::

    check_plan -> take_environment -> check_server -> measure -> check_headline

The record is written by the caller; nothing here touches the results folder
but the cell's own log.
"""

from __future__ import annotations

import dataclasses
import re
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable, Union

from packaging.requirements import Requirement

from runner import shards
from runner.environments import envs, interpreters
from runner.errors import CellError, CellNotApplicable
from runner.matrix.cells import Cell, Matrix
from runner.measuring import facts
from runner.measuring.probes import HEADLINE, probe_named
from runner.measuring.probes.base import Result
from runner.records.machine import this_machine
from runner.records.record import (
    Asked,
    CellRecord,
    EnvInfo,
    ProbeFailed,
    ProbeOutcome,
    ProbeRun,
    Status,
    Timings,
)
from runner.serving.launch import cores_missing, launched
from runner.serving.process import RunningServer, kill_now, log_head, log_tail, split_cores
from runner.serving.proxies import PROXIES
from runner.serving.servers import Recipe, recipe_for
from runner.workflow.schedule import Gate, NoGate

Built = dict[str, Union[envs.Env, CellError]]
# What a probe may raise that means "this probe could not run here", not a bug.
PROBE_FAILURES = (OSError, RuntimeError, ValueError, AttributeError)


@dataclass
class Plan:
    """A cell before anything is built: its environment, or why it has none."""

    cell: Cell
    spec: envs.EnvSpec | None = None
    interpreter: interpreters.Interpreter | None = None
    problem: CellError | None = None  # found before anything was built
    inputs: str | None = None  # the hash of its inputs, once its environment is built (see reuse)
    found_pins: tuple[str, ...] = ()  # what its row's ``resolve: compatible`` found (see pins)


@dataclass
class CellJob:
    """A cell on its way to a record: what the steps have found so far."""

    matrix: Matrix
    plan: Plan
    built: Built
    run_id: str
    run_path: Path
    log_path: Path
    record: CellRecord
    env: envs.Env | None = None
    timings: dict[str, float] = field(default_factory=dict)
    runs: list[dict[str, ProbeRun]] = field(default_factory=list)
    gate: Gate = field(default_factory=NoGate)  # the schedule's sections (see runner.workflow.schedule)

    @property
    def recipe(self) -> Recipe:
        return recipe_for(self.plan.cell.server.kind)

    def update(self, **changes: Any) -> None:
        self.record = dataclasses.replace(self.record, **changes)


Step = Callable[[CellJob], None]


def run_cell(
    matrix: Matrix,
    plan: Plan,
    built: Built,
    *,
    run_id: str,
    run_path: Path,
    log_path: Path,
    gate: Gate | None = None,
) -> CellRecord:
    """Every step in order; a failing step ends the cell with its status and reason.

    ``gate`` is the overlapping schedule's (none: the cell runs as if alone).
    """
    job = CellJob(
        matrix=matrix,
        plan=plan,
        built=built,
        run_id=run_id,
        run_path=run_path,
        log_path=log_path,
        record=first_record(matrix, plan, run_path, log_path),
        gate=gate or NoGate(),
    )
    try:
        for step in STEPS:
            step(job)
    except CellError as exc:
        job.update(status=Status(exc.status), reason=with_way_out(plan.cell, exc), cause=exc.cause)
    except Exception as exc:  # an unexpected failure: keep its traceback
        with open(job.log_path, "a", encoding="utf-8") as log:
            log.write(traceback.format_exc())
        job.update(status=Status.ERROR, reason=f"internal error: {exc!r} (traceback in the cell's log)")
    return finished(job)


_IMPORT_FAILURE = re.compile(r"\b(ImportError|ModuleNotFoundError|AttributeError)\b|cannot import name")
WAY_OUT = (
    "; its dependencies' newest releases may not fit this Flask: `resolve: compatible` on the row "
    "searches for pins under which it runs"
)


def with_way_out(cell: Cell, exc: CellError) -> str:
    """The reason, with the way out where a row resolved to the newest releases fails to import."""
    if (
        cell.row.resolve == "latest"
        and exc.status == Status.ERROR.value
        and _IMPORT_FAILURE.search(exc.reason)
    ):
        return exc.reason + WAY_OUT
    return exc.reason


def first_record(matrix: Matrix, plan: Plan, run_path: Path, log_path: Path) -> CellRecord:
    """What is known of a cell before any step: the matrix's side of it."""
    cell = plan.cell
    row, server = cell.row, cell.server
    return CellRecord(
        cell=cell.name,
        row=row.name,
        row_index=matrix.rows.index(row),
        server=server.name,
        server_index=matrix.servers.index(server),
        kind=server.kind,
        options=dict(server.options),
        proxy_options=dict(server.proxy_options),
        cpus=server.cpus,
        asked=Asked(
            flask=row.flask,
            werkzeug=row.werkzeug,
            python=row.python,
            pins=row.pins,
            resolve=row.resolve,
            server=cell.server_pin,
            follows=tuple(sorted(package for package, _ in row.servers)),
        ),
        server_package=recipe_for(server.kind).package,
        status=Status.OK,
        python=plan.interpreter.version if plan.interpreter else None,
        capacity=recipe_for(server.kind).capacity(server.options, row.versions()),
        log=str(log_path.relative_to(run_path)),
        started=time.time(),
        machine=this_machine(),
        inputs=plan.inputs,
        found_pins=plan.found_pins,
    )


def finished(job: CellJob) -> CellRecord:
    ended = time.time()
    started = job.record.started or ended
    tail = tuple(log_tail(job.log_path)) if job.record.status is Status.ERROR else ()
    return dataclasses.replace(
        job.record,
        ended=ended,
        log_tail=tail,
        timings=Timings.from_dict({**job.timings, "total_s": round(ended - started, 3)}),
    )


def check_plan(job: CellJob) -> None:
    """A problem found while planning (no interpreter, no nginx) ends the cell."""
    if job.plan.problem is not None:
        raise job.plan.problem
    assert job.plan.spec is not None
    if job.plan.spec.exclude_newer:
        job.update(resolved_as_of=job.plan.spec.exclude_newer, resolved_apart=dict(job.plan.spec.apart))


def take_environment(job: CellJob) -> None:
    """The built environment, and the versions it really holds."""
    assert job.plan.spec is not None
    env = job.built[job.plan.spec.key()]
    if isinstance(env, CellError):
        if env.log_path:
            job.log_path = Path(str(env.log_path))
            job.update(log=str(job.log_path.relative_to(job.run_path)))
        raise period_server_not_applicable(job.plan, env) or env
    job.env = env
    job.timings["build_s"] = env.build_s
    own = job.recipe.installed(env.packages)
    job.update(
        env=EnvInfo(str(env.path), env.backend, env.reused),
        capacity=job.recipe.capacity(job.plan.cell.server.options, env.packages),
        packages=dict(env.packages),
        server_package=own[0] if own else job.record.server_package,
        server_version=own[1] if own else None,
        flask=env.version_of("flask"),
        werkzeug=env.version_of("werkzeug"),
    )


def check_server(job: CellJob) -> None:
    """What the installed release of the server cannot do makes the cell n/a."""
    assert job.env is not None
    problem = server_problem(job.plan.cell, job.env)
    if problem is not None:
        raise problem


def server_problem(cell: Cell, env: envs.Env) -> CellError | None:
    """Why the cell's server cannot run from ``env``, if it cannot."""
    recipe = recipe_for(cell.server.kind)
    why_not = recipe.unsupported(cell.server.options, env.packages)
    if why_not:
        return CellNotApplicable(why_not)
    if split_cores(cell.server.cpus) is None:
        return CellNotApplicable(cores_missing(cell.server.cpus), cause="machine")
    if recipe.needs_script and not (env.bin_dir / recipe.needs_script).exists():
        if recipe.script_missing is not None:
            return CellNotApplicable(recipe.script_missing(env.packages))
        return CellError(f"the environment has no `{recipe.needs_script}` command")
    return None


def starts_no_server(plan: Plan, built: Built) -> bool:
    """Whether the cell is known to end before any server starts: a problem
    found while planning, an environment that failed, a server its
    environment cannot run."""
    if plan.problem is not None or plan.spec is None:
        return True
    env = built.get(plan.spec.key())
    return not isinstance(env, envs.Env) or server_problem(plan.cell, env) is not None


def measure(job: CellJob) -> None:
    """Every probe of the row, ``repeats`` times, each group in a fresh server;
    a probe whose yes/no chance can decide, at least ``CHANCE_RUNS`` times
    (the later runs measure only those probes)."""
    cell = job.plan.cell
    probes_here = job.matrix.probes_for(cell)
    for index in range(runs_of(job.matrix, probes_here, cell)):
        results: dict[str, ProbeRun] = {}
        due = [n for n in probes_here if index < shards.probe_runs(job.matrix, n, cell)]
        groups = launch_groups(due)
        if isinstance(job.gate, NoGate):
            for group in groups:
                measure_group(job, group, probes_here, results)
        else:
            measure_together(job, groups, probes_here, results)
        job.runs.append(results)
    job.timings["probe_s"] = round(
        sum(v for k, v in job.timings.items() if k.startswith("probe_") and k != "probe_s"), 3
    )
    chance = {name: shards.chance_on(job.matrix, name, cell) for name in probes_here}
    probes = summarise(job.runs, chance)
    job.update(probes=probes, measured_by={name: probe_named(name).version for name in probes})


def runs_of(matrix: Matrix, probes: Iterable[str], cell: Cell) -> int:
    """How many rounds of fresh servers a cell's probes take: the most runs any of them needs."""
    return max([matrix.repeats, *(shards.probe_runs(matrix, n, cell) for n in probes)])


def measure_group(
    job: CellJob,
    group: Sequence[str],
    settings: Mapping[str, Mapping[str, Any]],
    results: dict[str, ProbeRun],
) -> None:
    """The serial schedule's way: one server for ``group``, its waiting probes,
    then those that need the CPU, then it stops."""
    with launcher(job, group)() as front:
        if not job.runs and not results:  # the cell's first server
            first_contact(job, front)
        run_probes(job, waiting_probes(group) + cpu_probes(group), settings, front, results)
        if not leaves_clean(group):
            kill_now(front)  # what the burst or the stalled clients left


def measure_together(
    job: CellJob,
    groups: Sequence[Sequence[str]],
    settings: Mapping[str, Mapping[str, Any]],
    results: dict[str, ProbeRun],
) -> None:
    """The overlapping schedule's way: every group's server starts in one busy
    section, the waiting probes run in the probing section that follows (each
    group's side by side with the others', on its own server), and every probe
    that needs the CPU in one alone section.  Each group still has a server of
    its own and its probes run in the same order as in :func:`measure_group`; a
    cell costs the schedule one start-up, one probing and one alone section
    instead of one of each per group.

    A server its group leaves busy stops inside the section that left it so;
    the others stop together in a busy section, also when a step fails or the
    run is interrupted.
    """
    cell, gate = job.plan.cell.name, job.gate
    servers = GroupServers(job, groups, settings, results)
    try:
        with gate.server_up(cell):
            try:
                with gate.shared(cell, busy=True, probes_next=True):
                    servers.launch_all()
                with gate.shared(cell):
                    if not job.runs and not results:  # the cell's first server
                        first_contact(job, servers.fronts[0])
                    side_by_side(servers.waiting_on, range(len(groups)))
                    servers.stop_done()  # after every waiting probe: no stop meets one
                if any(cpu_probes(group) for group in groups):
                    with gate.alone(cell):
                        for index in range(len(groups)):
                            servers.cpu_on(index)
            finally:
                if servers.running:
                    with gate.shared(cell, cancellable=False, busy=True):
                        servers.stop_all()
    finally:
        servers.stop_all()  # only where a stop itself failed


@dataclass
class GroupServers:
    """One server per launch group of a cell, up at once; each stops after its
    group's last probe if the group leaves it busy, else with the others."""

    job: CellJob
    groups: Sequence[Sequence[str]]
    settings: Mapping[str, Mapping[str, Any]]
    results: dict[str, ProbeRun]
    fronts: list[RunningServer] = field(default_factory=list)
    running: dict[int, ExitStack] = field(default_factory=dict)  # by the group's index

    def launch_all(self) -> None:
        for index in range(len(self.groups)):
            self.running[index] = ExitStack()
            launch = launcher(self.job, self.groups[index])
            self.fronts.append(self.running[index].enter_context(launch()))

    def waiting_on(self, index: int) -> None:
        group = self.groups[index]
        run_probes(self.job, waiting_probes(group), self.settings, self.fronts[index], self.results)

    def stop_done(self) -> None:
        """The servers left busy by a group that has no probe left (slow clients)."""
        for index, group in enumerate(self.groups):
            if index in self.running and not leaves_clean(group) and not cpu_probes(group):
                self.stop(index)

    def cpu_on(self, index: int) -> None:
        group = self.groups[index]
        if cpu_probes(group):
            run_probes(self.job, cpu_probes(group), self.settings, self.fronts[index], self.results)
            if not leaves_clean(group):
                self.stop(index)

    def stop(self, index: int) -> None:
        if not leaves_clean(self.groups[index]) and index < len(self.fronts):
            kill_now(self.fronts[index])  # what the burst or the stalled clients left
        self.running.pop(index).close()

    def stop_all(self) -> None:
        for index in list(self.running):
            self.stop(index)


def side_by_side(work: Callable[[int], None], indexes: Sequence[int]) -> None:
    """``work`` for each index, in threads, until all are done; the first error raised again."""
    if len(indexes) <= 1:
        for index in indexes:
            work(index)
        return
    with ThreadPoolExecutor(max_workers=len(indexes), thread_name_prefix="group") as pool:
        for future in [pool.submit(work, index) for index in indexes]:
            future.result()


def waiting_probes(group: Sequence[str]) -> list[str]:
    return [n for n in group if not probe_named(n).needs_cpu]


def cpu_probes(group: Sequence[str]) -> list[str]:
    return [n for n in group if probe_named(n).needs_cpu]


def leaves_clean(group: Sequence[str]) -> bool:
    return all(probe_named(n).leaves_clean for n in group)


def run_probes(
    job: CellJob,
    names: Sequence[str],
    settings: Mapping[str, Mapping[str, Any]],
    front: RunningServer,
    results: dict[str, ProbeRun],
) -> None:
    for name in names:
        started = time.perf_counter()
        results[name] = run_probe(name, settings[name], front)
        key = f"probe_{name}_s"
        job.timings[key] = round(job.timings.get(key, 0.0) + time.perf_counter() - started, 3)


def check_headline(job: CellJob) -> None:
    """A cell whose every headline request failed has no verdict: an error."""
    outcome = job.record.probes.get(HEADLINE)
    result = job.record.concurrency
    if result is not None and result.peak is not None:
        return
    if result is None:
        raise CellError(f"the {HEADLINE} probe failed: {outcome.error if outcome else 'no result'}")
    kinds = ", ".join(f"{k} x{v}" for k, v in result.error_kinds.items())
    raise CellError(f"all {result.requests} requests failed ({kinds or 'no answer'})")


STEPS: tuple[Step, ...] = (check_plan, take_environment, check_server, measure, check_headline)


def launcher(job: CellJob, group: Sequence[str]) -> Callable[[], AbstractContextManager[RunningServer]]:
    """How to start the server of a launch group: the column's, with the
    time-outs its probes cannot outwait shortened (see runner.serving.launch)."""
    assert job.env is not None
    settings = job.matrix.probes_for(job.plan.cell)
    wanted = {
        kind: int(settings[name][setting])
        for name in group
        for kind, setting in [probe_named(name).outwaits or ("", "")]
        if kind
    }
    return partial(
        launched, job.recipe, job.plan.cell.server, job.env, job.log_path, job.run_id, wanted=wanted
    )


def first_contact(job: CellJob, front: RunningServer) -> None:
    """Once per cell, on its first server: start-up time, HTTP facts, the warning."""
    job.timings["start_s"] = round(front.startup_s, 3)
    nginx = None
    if job.plan.cell.server.proxy is not None:
        nginx = PROXIES[job.plan.cell.server.proxy].version()
    job.update(
        http=facts.probe_connection(front.port),
        nginx=nginx,
        dev_server_warning=facts.dev_server_warning(log_head(job.log_path)),
    )


def launch_groups(names: Sequence[str]) -> list[list[str]]:
    """Probes that leave the server clean share one server; each other gets its own."""
    clean = [n for n in names if probe_named(n).leaves_clean]
    return ([clean] if clean else []) + [[n] for n in names if not probe_named(n).leaves_clean]


def run_probe(name: str, settings: Mapping[str, Any], front: RunningServer) -> ProbeRun:
    """One probe against a running server; a probe that cannot run says why."""
    try:
        result: Result = probe_named(name).run(front, settings)
        return result
    except PROBE_FAILURES as exc:
        return ProbeFailed(error=f"{type(exc).__name__}: {exc}")


def summarise(runs: Sequence[Mapping[str, ProbeRun]], chance: Mapping[str, bool]) -> dict[str, ProbeOutcome]:
    """Per probe: the run at the median of its key figure, with the spread of
    all runs, and whether chance could decide its yes/no in the cell."""
    if not runs:
        return {}
    return {
        name: ProbeOutcome.of_runs(
            probe_named(name),
            [run[name] for run in runs if name in run],
            chance=chance[name] if probe_named(name).outcome else None,
        )
        for name in runs[0]
    }


def period_server_not_applicable(plan: Plan, failure: CellError) -> CellError | None:
    """A server release that does not install on the row's Python makes the
    cell n/a, not an error: on a period row the release of the day (gevent of
    June 2013 predates its Python 3 support), elsewhere the one the column or
    the row pins (gunicorn 23 needs Python 3.7)."""
    spec, cell = plan.spec, plan.cell
    pin = cell.server_pin
    if spec is None or plan.interpreter is None or not (spec.exclude_newer or pin):
        return None
    recipe = recipe_for(cell.server.kind)
    names = [Requirement(p).name.lower() for p in spec.requirements]
    names = [n for n in names if n in _server_names(recipe, plan.interpreter.minor, cell)]
    culprit = next(
        (n for n in names if f"`{n}==" in failure.reason.lower() or f"{n}==" in failure.reason.lower()), None
    )
    if culprit is None or (not spec.exclude_newer and culprit not in _own_names(recipe)):
        return None
    which = (
        f"{culprit} {pin}"
        if pin and culprit in _own_names(recipe)
        else f"{culprit} as of {str(spec.exclude_newer)[:10]}"
    )
    return CellNotApplicable(
        f"{which} does not install on Python {plan.interpreter.version}: {failure.reason}",
        cause=failure.cause or "upstream",
    )


def _own_names(recipe: Recipe) -> tuple[str, ...]:
    return tuple(name.lower() for name in recipe.own_names)


def _server_names(recipe: Recipe, python: tuple[int, int], cell: Cell) -> set[str]:
    names = {Requirement(p).name.lower() for p in recipe.packages(cell.server.options, python)}
    return names | {name.lower() for name in recipe.built_from_source.values()} | set(_own_names(recipe))
