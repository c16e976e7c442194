"""A run: plan every cell, build their environments, then probe cell by cell.

1. Plan: find each row's interpreter and work out each cell's environment
   (what goes into it, the period cut-off).  A missing interpreter makes the
   cell ``skipped`` here.
2. Build: every environment the cells need, cached ones reused, the others
   built in parallel (they are independent, and mostly wait on the network).
3. Probe: one cell at a time, so that cells never compete for the CPU: launch
   the server, probe it, stop it, write the record.

A cell that fails is recorded with its reason and the log tail, and the run
goes on.  The report is written at the end, also when the run is interrupted.
"""
from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from functools import partial
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator, Mapping, Optional, Sequence, Union

from packaging.requirements import Requirement

from runner import envs, interpreters, loadgen, period, probes, proxy, report, stats, store
from runner.errors import CellError, CellNotApplicable, CellSkipped
from runner.matrix import Cell, Matrix
from runner.process import HOST, RunningServer, free_port, log_tail, running_server
from runner.servers import Launch, recipe_for

REPO = Path(__file__).resolve().parent.parent
# Every server process carries the run's id in its environment, so that a
# check for leftovers can find any process a run started.
RUN_MARK = "MATRIX_RUN_ID"

Progress = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Plan:
    cell: Cell
    spec: Optional[envs.EnvSpec] = None
    interpreter: Optional[interpreters.Interpreter] = None
    problem: Optional[CellError] = None  # found before anything was built


@dataclass
class Outcome:
    run: store.Run
    records: list[dict]
    report: str
    complete: bool
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.counts.get("error", 0)


def build_jobs() -> int:
    """How many environments build at once: ``MATRIX_BUILD_JOBS``, else the cores (at most 4)."""
    try:
        return max(1, int(os.environ["MATRIX_BUILD_JOBS"]))
    except (KeyError, ValueError):
        return max(1, min(4, os.cpu_count() or 1))


def run_cells(matrix: Matrix, cells: Sequence[Cell], *, results: Path, env_root: Path,
              progress: Progress = _stderr, fresh: bool = True) -> Outcome:
    """Run ``cells`` into a new run folder, or, unless ``fresh``, go on with
    the newest run if it was interrupted with this same matrix and cells."""
    names = [c.name for c in cells]
    run = None if fresh else store.resumable(results, dict(matrix.raw), names)
    if run is not None:
        done = {r["cell"] for r in run.records()}
        progress(f"run {run.id}: going on where it stopped, {len(done)} of {len(cells)} cells "
                 f"recorded earlier (start afresh with --fresh) -> {run.path}")
        cells = [c for c in cells if c.name not in done]
    else:
        run = store.new_run(results, dict(matrix.raw), cells=names, tools=tools())
        progress(f"run {run.id}: {len(cells)} cells -> {run.path}")
    complete = False
    started = time.perf_counter()
    phases: dict[str, float] = {}
    try:
        with _sigterm_as_interrupt():
            plans = [plan_cell(cell, env_root) for cell in cells]
            build_started = time.perf_counter()
            built = build_envs(plans, env_root, run, progress)
            phases["build_phase_s"] = round(time.perf_counter() - build_started, 1)
            for number, plan in enumerate(plans, 1):
                record = run_cell(matrix, plan, built, run=run)
                run.write_cell(record)
                progress(progress_line(number, len(cells), record))
        complete = True
    finally:
        records = run.records()  # what is on disk is what the report shows
        counts = _count(records)
        summary = {"counts": counts, "wall_s": round(time.perf_counter() - started, 1),
                   **phases, **_time_split(records)}
        text = report.render(records, [s.name for s in matrix.servers],
                             probe_settings=matrix.probes, run=run.meta, repeats=matrix.repeats)
        run.finish(text, complete=complete, summary=summary)
        if not complete:
            progress(f"run {run.id} interrupted: {len(records)} of {len(names)} cells recorded; "
                     "run it again to go on")
        run.release()
    return Outcome(run=run, records=records, report=text, complete=complete, counts=counts)


def plan_cell(cell: Cell, env_root: Path) -> Plan:
    row = cell.row
    plan = Plan(cell=cell)
    try:
        interpreter = interpreters.find(row.python)
        if interpreter is None:
            raise CellSkipped(f"no Python {row.python} on PATH, under pyenv or from uv; "
                              + interpreters.how_to_get(row.python))
        plan.interpreter = interpreter
        recipe = recipe_for(cell.server.kind)
        python = interpreter.minor
        if recipe.min_python and python < recipe.min_python:
            raise CellNotApplicable(
                f"{cell.server.kind} needs Python {'.'.join(map(str, recipe.min_python))} or later; "
                f"this row runs {interpreter.version}")
        if cell.server.proxy == "nginx":
            proxy.require_nginx()
        exclude_newer = build_tools = None
        server_packages = recipe.packages(cell.server.options, python)
        requirements = row.requirements() + server_packages
        if row.resolve == "period":
            dates = env_root / "upload-dates.json"
            exclude_newer = period.cutoff("flask", row.flask, dates)
            build_tools = period.build_tools_cutoff(exclude_newer)
            requirements += period.SEEDED
            for requirement in server_packages:
                name = Requirement(requirement).name
                if not period.released_by(name, exclude_newer, dates):
                    raise CellNotApplicable(f"{name} had no release by {exclude_newer[:10]}, "
                                            "the day this period row is resolved as of")
        plan.spec = envs.EnvSpec(
            interpreter=interpreter,
            requirements=requirements,
            exclude_newer=exclude_newer,
            build_tools_newer=build_tools,
            backend=envs.default_backend(),
            binary_only=recipe.binary_only,
        )
    except CellError as exc:
        plan.problem = exc
    return plan


Built = dict[str, Union[envs.Env, CellError]]


def build_envs(plans: Sequence[Plan], env_root: Path, run: store.Run,
               progress: Progress = _stderr) -> Built:
    """Every environment the plans need, keyed by its spec's key."""
    specs = {p.spec.key(): p.spec for p in plans if p.spec is not None}
    if not specs:
        return {}
    jobs = min(build_jobs(), len(specs))
    progress(f"environments: {len(specs)} needed, up to {jobs} built at once")
    built: Built = {}

    def one(spec: envs.EnvSpec) -> tuple[str, Union[envs.Env, CellError]]:
        log_path = run.log_path(f"env-{spec.dirname()}")
        try:
            return spec.key(), envs.ensure(spec, env_root, log_path)
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
    if reused:
        progress(f"  reused  {reused} cached environments")
    return built


def run_cell(matrix: Matrix, plan: Plan, built: Built, *, run: store.Run) -> dict:
    cell = plan.cell
    row, server = cell.row, cell.server
    recipe = recipe_for(server.kind)
    log_path = run.log_path(cell.name)
    record: dict = {
        "cell": cell.name,
        "row": row.name,
        "row_index": matrix.rows.index(row),
        "server": server.name,
        "server_index": matrix.servers.index(server),
        "kind": server.kind,
        "options": dict(server.options),
        "asked": {"flask": row.flask, "werkzeug": row.werkzeug, "python": row.python,
                  "pins": list(row.pins), "resolve": row.resolve},
        "flask": None, "werkzeug": None,
        "python": plan.interpreter.version if plan.interpreter else None,
        "capacity": recipe.capacity(server.options),
        "status": "ok", "reason": None,
        "log": str(log_path.relative_to(run.path)),
        "timings": {},
        "probes": {},
        "started": time.time(),
    }
    timings = record["timings"]
    try:
        if plan.problem is not None:
            raise plan.problem
        assert plan.spec is not None
        if plan.spec.exclude_newer:
            record["resolved_as_of"] = plan.spec.exclude_newer
        env = built[plan.spec.key()]
        if isinstance(env, CellError):
            if env.log_path:
                record["log"] = str(Path(env.log_path).relative_to(run.path))
                log_path = Path(env.log_path)
            raise _period_server_not_applicable(plan, env) or env
        timings["build_s"] = env.build_s
        record["env"] = {"path": str(env.path), "backend": env.backend, "reused": env.reused}
        record["packages"] = env.packages
        record["flask"] = env.version_of("flask")
        record["werkzeug"] = env.version_of("werkzeug")

        why_not = recipe.unsupported(server.options, env.packages)
        if why_not:
            raise CellNotApplicable(why_not)
        if recipe.needs_script and not (env.bin_dir / recipe.needs_script).exists():
            if recipe.needs_script == "flask":
                raise CellNotApplicable(f"Flask {record['flask']} has no `flask` command "
                                        "(it arrived in Flask 0.11)")
            raise CellError(f"the environment has no `{recipe.needs_script}` command")

        fault = injected_faults().get(cell.name)
        launch = partial(_launched, recipe, server, env, log_path, run.id,
                         {"TARGET_APP_FAULT": fault} if fault else {})
        runs: list[dict[str, dict]] = []
        probes_here = matrix.probes_for(row)
        for attempt in range(matrix.repeats):
            results: dict[str, dict] = {}
            for group in launch_groups(probes_here):
                with launch() as front:
                    if not runs and not results:
                        timings["start_s"] = round(front.startup_s, 3)
                        record["http"] = probes.probe_connection(HOST, front.port).as_dict()
                        if server.proxy == "nginx":
                            record["nginx"] = proxy.nginx_version(proxy.require_nginx())
                    for name in group:
                        with _timed(timings, f"probe_{name}_s", add=True):
                            results[name] = run_probe(name, probes_here[name], front)
            runs.append(results)
            if attempt == 0:
                record["dev_server_warning"] = probes.dev_server_warning(log_tail(log_path, 400))
        timings["probe_s"] = round(sum(v for k, v in timings.items() if k.startswith("probe_")
                                       and k != "probe_s"), 3)
        record["probes"] = aggregate(runs)
        headline = record["probes"]["concurrency"]
        if headline.get("peak") is None:
            kinds = ", ".join(f"{k} x{v}" for k, v in headline.get("error_kinds", {}).items())
            raise CellError(f"all {headline.get('requests')} requests failed ({kinds or headline.get('error')})")
    except CellError as exc:
        record["status"] = exc.status
        record["reason"] = exc.reason
    except Exception as exc:  # an unexpected failure: keep its traceback
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(traceback.format_exc())
        record["status"] = "error"
        record["reason"] = f"internal error: {exc!r} (traceback in the cell's log)"
    if record["status"] == "error":
        record["log_tail"] = log_tail(log_path)
    record["ended"] = time.time()
    timings["total_s"] = round(record["ended"] - record["started"], 3)
    return record


# Probes that leave a server as they found it (every request answered) share
# one server process; the others get a fresh one each, so that what they
# leave behind (a queue of burst requests, stalled sockets) skews nothing.
CLEAN_PROBES = ("concurrency", "cpu", "throughput")


def launch_groups(names) -> list[list[str]]:
    clean = [n for n in names if n in CLEAN_PROBES]
    return ([clean] if clean else []) + [[n] for n in names if n not in CLEAN_PROBES]


# What each probe measures, and the figure its repeats are summed up by.
KEY_FIGURES = {"concurrency": "peak", "cpu": "speedup", "throughput": "rps",
               "burst": "completed", "slow_client": "waited_s"}


def run_probe(name: str, settings: Mapping, front: RunningServer) -> dict:
    """One probe against a running server; a probe that cannot run says why."""
    try:
        if name == "concurrency":
            return probes.probe_concurrency(front.base_url, settings["requests"],
                                            settings["delay_ms"]).as_dict()
        if name == "cpu":
            return probes.probe_cpu(front.base_url, settings["requests"],
                                    settings["iterations"]).as_dict()
        if name == "throughput":
            return loadgen.measure_throughput(
                front.port, connections=settings["connections"], duration_s=settings["duration_s"],
                warmup_s=settings["warmup_s"], generator=settings["generator"]).as_dict()
        if name == "burst":
            return loadgen.burst(front.port, settings["requests"], settings["delay_ms"],
                                 settings["timeout_s"]).as_dict()
        if name == "slow_client":
            return loadgen.slow_client(front.port, settings["connections"],
                                       settings["wait_s"]).as_dict()
    except (OSError, RuntimeError, ValueError, AttributeError) as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    raise KeyError(f"no probe named {name!r}")


def aggregate(runs: Sequence[Mapping[str, dict]]) -> dict[str, dict]:
    """Per probe: the run whose key figure is the median, with the spread of all runs."""
    summary: dict[str, dict] = {}
    for name in runs[0]:
        key = KEY_FIGURES[name]
        results = [run[name] for run in runs if name in run]
        values = [r[key] for r in results if isinstance(r.get(key), (int, float))]
        spread = stats.spread(values)
        if values:
            middle = min(results, key=lambda r: abs(r.get(key, float("inf")) - spread["median"])
                         if isinstance(r.get(key), (int, float)) else float("inf"))
        else:
            middle = results[0]
        summary[name] = {**middle, "repeats": {**spread, "values": values, "figure": key}}
    return summary


@contextmanager
def _launched(recipe, server, env: envs.Env, log_path: Path, run_id: str,
              extra_env: Optional[Mapping[str, str]] = None) -> Iterator[RunningServer]:
    """The cell's server, and nginx in front of it where the column says so."""
    port = free_port()
    argv = recipe.command(Launch(bin_dir=env.bin_dir, port=port, options=server.options))
    child_env = server_env(env.bin_dir, {**recipe.env, **(extra_env or {}), RUN_MARK: run_id})
    with ExitStack() as servers:
        front = servers.enter_context(running_server(
            argv, port=port, env=child_env, cwd=REPO, log_path=log_path,
            loaded_by=recipe.loaded_by(server.options)))
        if server.proxy == "nginx":
            app = front
            front = servers.enter_context(proxy.nginx_in_front(app, env=child_env, log_path=log_path))
            front = dataclasses.replace(front, startup_s=app.startup_s + front.startup_s)
        yield front


def _period_server_not_applicable(plan: Plan, failure: CellError) -> Optional[CellError]:
    """On a period row, a server release of the day that does not install on
    the row's Python makes the cell n/a, not an error: the combination did not
    exist (gevent of June 2013 predates its Python 3 support)."""
    spec, server = plan.spec, plan.cell.server
    if spec is None or not spec.exclude_newer or plan.interpreter is None:
        return None
    names = [Requirement(p).name.lower()
             for p in recipe_for(server.kind).packages(server.options, plan.interpreter.minor)]
    culprit = next((n for n in names if f"`{n}==" in failure.reason.lower()), None)
    if culprit is None:
        return None
    return CellNotApplicable(f"{culprit} as of {spec.exclude_newer[:10]} does not install on "
                             f"Python {plan.interpreter.version}: {failure.reason}")


def injected_faults() -> dict[str, str]:
    """``MATRIX_INJECT_FAULT="<cell>:<fault>,..."``: the fault-injection tests'
    way to make one cell's target app misbehave (see target_app/app.py)."""
    faults = {}
    for item in os.environ.get("MATRIX_INJECT_FAULT", "").split(","):
        if ":" in item:
            cell, fault = item.rsplit(":", 1)
            faults[cell.strip()] = fault.strip()
    return faults


def server_env(bin_dir: Path, extra: dict) -> dict[str, str]:
    """The caller's environment, less what would change a server's defaults."""
    dropped_prefixes = ("FLASK_", "WERKZEUG_", "PYTHON", "GUNICORN_", "VIRTUAL_ENV",
                        "TARGET_APP_", "MATRIX_INJECT_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped_prefixes)}
    env.update(extra)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def progress_line(number: int, total: int, record: dict) -> str:
    width = len(str(total))
    probe = record.get("probes", {}).get("concurrency")
    if record["status"] == "ok" and probe:
        what = f"peak {probe['peak']:>3} {probe['verdict']}"
        if probe.get("errors"):
            what += f", {probe['errors']} failed"
    else:
        what = f"{record['status']}: {record.get('reason')}"
    t = record["timings"]
    clock = " ".join(f"{k[:-2]} {t[k]:.1f}s" for k in ("start_s", "probe_s") if k in t)
    return f"[{number:>{width}}/{total}] {record['cell']:<44} {what}" + (f"  ({clock})" if clock else "")


def tools() -> dict:
    versions = {}
    for name in ("nox", "requests", "PyYAML", "tabulate"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    uv = interpreters.uv_binary()
    versions["uv"] = store.tool_version([uv, "--version"]) if uv else None
    versions["runner_python"] = sys.version.split()[0]
    versions["env_backend"] = envs.default_backend()
    return versions


def _count(records: Sequence[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts


def _time_split(records: Sequence[dict]) -> dict[str, float]:
    split: dict[str, float] = {}
    for key in ("start_s", "probe_s"):
        split[key] = round(sum(r.get("timings", {}).get(key, 0.0) for r in records), 1)
    built = {r["env"]["path"]: r["timings"].get("build_s", 0.0) for r in records
             if r.get("env") and r["env"].get("reused") is False}
    split["envs_built"] = len(built)
    split["env_build_s"] = round(sum(built.values()), 1)
    return split


@contextmanager
def _timed(timings: dict, key: str, add: bool = False) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        timings[key] = round((timings.get(key, 0.0) if add else 0.0) + elapsed, 3)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the run the way Ctrl-C does: servers down, records kept.

    SIGINT gets Python's own handler back too: a process started in the
    background of a non-interactive shell inherits SIGINT ignored, and the
    run must still stop on it.
    """
    def interrupt(signum: int, frame: Optional[object]) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, interrupt),
                    signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler)}
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
