"""A run: every selected cell, one at a time, each recorded as it finishes.

For each cell: find the interpreter, build (or reuse) the environment,
launch the server, probe it, write the record.  A cell that fails is
recorded with its reason and the log tail, and the run goes on.  The report
is written at the end, also when the run is interrupted.
"""
from __future__ import annotations

import os
import signal
import sys
import time
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence

import requests

from runner import envs, interpreters, probes, report, store
from runner.errors import CellError, CellNotApplicable, CellSkipped
from runner.matrix import Cell, Matrix
from runner.process import free_port, log_tail, running_server
from runner.servers import Launch, recipe_for

REPO = Path(__file__).resolve().parent.parent
# Every server process carries the run's id in its environment, so that a
# check for leftovers can find any process a run started.
RUN_MARK = "MATRIX_RUN_ID"


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


def run_cells(matrix: Matrix, cells: Sequence[Cell], *, results: Path, env_root: Path,
              progress: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
              ) -> Outcome:
    run = store.new_run(results, dict(matrix.raw), cells=[c.name for c in cells], tools=tools())
    progress(f"run {run.id}: {len(cells)} cells -> {run.path}")
    records: list[dict] = []
    complete = False
    started = time.perf_counter()
    try:
        with _sigterm_as_interrupt():
            for number, cell in enumerate(cells, 1):
                record = run_cell(matrix, cell, run=run, env_root=env_root)
                run.write_cell(record)
                records.append(record)
                progress(progress_line(number, len(cells), record))
        complete = True
    finally:
        records = run.records()  # what is on disk is what the report shows
        counts = _count(records)
        summary = {"counts": counts, "wall_s": round(time.perf_counter() - started, 1),
                   **_time_split(records)}
        text = report.render(records, [s.name for s in matrix.servers],
                             probe_settings=matrix.probes, run=run.meta)
        run.finish(text, complete=complete, summary=summary)
        if not complete:
            progress(f"run {run.id} interrupted: {len(records)} of {len(cells)} cells recorded")
    return Outcome(run=run, records=records, report=text, complete=complete, counts=counts)


def run_cell(matrix: Matrix, cell: Cell, *, run: store.Run, env_root: Path) -> dict:
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
        "flask": None, "werkzeug": None, "python": None,
        "capacity": recipe.capacity(server.options),
        "status": "ok", "reason": None,
        "log": str(log_path.relative_to(run.path)),
        "timings": {},
        "probes": {},
        "started": time.time(),
    }
    timings = record["timings"]
    try:
        interpreter = interpreters.find(row.python)
        if interpreter is None:
            raise CellSkipped(f"no Python {row.python} on PATH, under pyenv or from uv; "
                              + interpreters.how_to_get(row.python))
        record["python"] = interpreter.version

        spec = envs.EnvSpec(
            interpreter=interpreter,
            requirements=row.requirements() + recipe.packages,
            exclude_newer=period_cutoff(row.flask) if row.resolve == "period" else None,
        )
        with _timed(timings, "build_s"):
            env = envs.ensure(spec, env_root, log_path)
        record["env"] = {"path": str(env.path), "backend": env.backend, "reused": env.reused}
        record["packages"] = env.packages
        record["flask"] = env.version_of("flask")
        record["werkzeug"] = env.version_of("werkzeug")

        if recipe.needs_script and not (env.bin_dir / recipe.needs_script).exists():
            if recipe.needs_script == "flask":
                raise CellNotApplicable(f"Flask {record['flask']} has no `flask` command "
                                        "(it arrived in Flask 0.11)")
            raise CellError(f"the environment has no `{recipe.needs_script}` command")

        port = free_port()
        argv = recipe.command(Launch(bin_dir=env.bin_dir, port=port, options=server.options))
        settings = matrix.probes["concurrency"]
        child_env = server_env(env.bin_dir, {**recipe.env, RUN_MARK: run.id})
        with running_server(argv, port=port, env=child_env, cwd=REPO, log_path=log_path,
                            loaded_by=recipe.loaded_by(server.options)) as running:
            timings["start_s"] = round(running.startup_s, 3)
            with _timed(timings, "probe_s"):
                result = probes.probe_concurrency(running.base_url, settings["requests"],
                                                  settings["delay_ms"])
        record["probes"]["concurrency"] = result.as_dict()
        if result.peak is None:
            kinds = ", ".join(f"{k} x{v}" for k, v in result.error_kinds.items())
            raise CellError(f"all {result.requests} requests failed ({kinds})")
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


def server_env(bin_dir: Path, extra: dict) -> dict[str, str]:
    """The caller's environment, less what would change a server's defaults."""
    dropped_prefixes = ("FLASK_", "WERKZEUG_", "PYTHON", "GUNICORN_", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped_prefixes)}
    env.update(extra)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(REPO)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def period_cutoff(flask_version: str) -> str:
    """The end of the day this Flask release was uploaded, for uv's --exclude-newer."""
    url = f"https://pypi.org/pypi/flask/{flask_version}/json"
    try:
        response = requests.get(url, timeout=30)
        response.raise_for_status()
        uploads = [f["upload_time_iso_8601"] for f in response.json()["urls"]]
    except (requests.RequestException, KeyError, ValueError) as exc:
        raise CellError(f"cannot read the upload date of Flask {flask_version} from the "
                        f"package index: {exc}") from None
    if not uploads:
        raise CellError(f"Flask {flask_version} has no files on the package index")
    return min(uploads)[:10] + "T23:59:59Z"


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
    clock = " ".join(f"{k[:-2]} {t[k]:.1f}s" for k in ("build_s", "start_s", "probe_s") if k in t)
    return f"[{number:>{width}}/{total}] {record['cell']:<44} {what}  ({clock})"


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
    return versions


def _count(records: Sequence[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts


def _time_split(records: Sequence[dict]) -> dict[str, float]:
    split = {}
    for key in ("build_s", "start_s", "probe_s"):
        split[key] = round(sum(r.get("timings", {}).get(key, 0.0) for r in records), 1)
    split["envs_built"] = sum(1 for r in records if r.get("env", {}).get("reused") is False)
    return split


@contextmanager
def _timed(timings: dict, key: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[key] = round(time.perf_counter() - start, 3)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the run the way Ctrl-C does: servers down, records kept."""
    def interrupt(signum: int, frame: Optional[object]) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
