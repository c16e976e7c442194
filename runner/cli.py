"""The commands' top: parse arguments, run, print the report, pick an exit code.

``run`` (``nox -s matrix``): 0 every cell ran (ok, skipped or n/a), 1 some
cells are errors, 2 bad input (one line on stderr, nothing built), 130
interrupted.  ``report``: 0, or 2 for a folder that is not a readable run.
``compare``: 0 no verdict changed, 1 one did, 2 bad input.  ``merge``: 0, or
2 for runs that cannot be merged (one line saying why).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from runner import settings
from runner.errors import UserError
from runner.matrix.cells import Cell, Matrix, load
from runner.publish.doc import Finding, terminal_safe
from runner.records.record import RecordError

if TYPE_CHECKING:
    from typing import ParamSpec

    from runner.bisection import driver
    from runner.workflow.run import Outcome

    P = ParamSpec("P")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MATRIX = REPO / "matrix.yaml"
DEFAULT_RESULTS = REPO / "results"
DEFAULT_ENVS = REPO / ".nox" / "envs"


def matrix_path() -> Path:
    """``MATRIX_FILE`` selects another matrix file without editing anything."""
    return settings.current().matrix_file


def load_matrix(path: Path | None = None, *, cached_only: bool = False) -> Matrix:
    """The matrix file, its expanding rows expanded from the index's releases
    (the cache's alone with ``cached_only``: how nox loads it for every session)."""
    from runner.matrix import releases

    return load(path or matrix_path(), releases.cached() if cached_only else releases.from_index())


def results_path() -> Path:
    """``RESULTS_DIR`` stores the runs elsewhere than ``results/``."""
    return settings.current().results_dir


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


FRESH = "measure every cell (none taken over from an earlier run), in a new run even after an interrupted one"
REFRESH = "ask the index now whether each environment is still what it resolves to (else once a day)"
REUSE_FROM = (
    "take each cell whose inputs are unchanged from this run (a run folder or a site's records.json.gz, "
    "of any machine) and measure only the rest"
)


def run(
    matrix: Matrix,
    names: Sequence[str] = (),
    *,
    results: Path | None = None,
    env_root: Path = DEFAULT_ENVS,
    fresh: bool = False,
    serial: bool = False,
    bisect: bool = True,
    refresh: bool = False,
    reuse_from: str | None = None,
) -> int:
    """Run the cells named (every cell where none is), reusing what was measured
    before with the same inputs unless ``fresh`` (from the run ``reuse_from``
    alone, if given), then bisect the changes."""
    from runner.workflow.run import overlap_bound, run_cells  # imported late: parsing needs none of it

    if fresh and reuse_from:
        raise UserError("--fresh measures every cell and --reuse-from takes some over: give one of them")
    source = _run_source(reuse_from) if reuse_from else None
    cells = select(matrix, names)
    overlap = 1 if serial else overlap_bound()
    try:
        outcome = run_cells(
            matrix,
            cells,
            results=results or results_path(),
            env_root=env_root,
            fresh=fresh,
            overlap=overlap,
            reuse_earlier=not fresh,
            reuse_from=source,
            refresh=refresh,
        )
    except KeyboardInterrupt:
        print(
            "interrupted: finished cells are kept and the run is marked incomplete; "
            "run the same command again to go on",
            file=sys.stderr,
        )
        return 130
    if bisect and outcome.complete:
        found = bisect_changes(outcome.run.path, results or results_path(), env_root)
        if found is None:
            return 130
        outcome = dataclasses.replace(outcome, findings=found or outcome.findings)
    print(terminal_safe(ending_of(outcome)))
    return 1 if outcome.failed else 0


def bisect_changes(run_path: Path, results: Path, env_root: Path) -> tuple[Finding, ...] | None:
    """Each change line of the run bisected to a release, through bisect's
    cache (``results/bisect``); the summary then names it.  The findings of
    the report drawn after it (empty where nothing was bisected), None if interrupted."""
    from runner.bisection import driver

    run = driver.StoredRun.read(run_path)
    questions, _ = driver.changes_of(run, driver.DEFAULT_FIELD)
    if not questions:
        return ()
    _stderr_line(f"bisecting {len(questions)} change(s) to their release (`-- --no-bisect` skips this)")
    try:
        asked, found = _bisect_all(
            run, questions, pre=False, retry=False, cache=results / "bisect", env_root=env_root
        )
    except Exception as exc:  # the run is measured and whole: its ending is not lost to bisect
        _stderr_line(
            f"bisect stopped ({type(exc).__name__}: {exc}); the run and its report are whole; "
            "`nox -s bisect` tries again"
        )
        return ()
    return None if asked == 130 else found


def ending_of(outcome: Outcome) -> str:
    """The run's last lines: at most 40, within 100 columns (see runner.publish.terminal)."""
    from runner.analysis import Inputs
    from runner.publish import terminal

    if not outcome.records:
        return outcome.report
    inputs = Inputs.of_run(outcome.run.meta, outcome.records)
    page = outcome.run.path / "report.html"
    return "\n".join(terminal.ending(outcome.records, inputs, outcome.findings, outcome.counts, page))


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
    parser.add_argument("--fresh", action="store_true", help=FRESH)
    parser.add_argument("--refresh", action="store_true", help=REFRESH)
    parser.add_argument("--reuse-from", metavar="RUN", help=REUSE_FROM)
    parser.add_argument("--serial", action="store_true", help="each cell whole, one after another")
    parser.add_argument("--no-bisect", action="store_true", help="leave the changes found unbisected")
    args = parser.parse_args(argv)
    try:
        settings.current()  # a bad variable stops the run before anything is built
        matrix = load_matrix(args.matrix)
        if args.list:
            print(listing(matrix))
            return 0
        return run(
            matrix,
            args.cell,
            results=args.results,
            env_root=args.envs,
            fresh=args.fresh,
            serial=args.serial,
            bisect=not args.no_bisect,
            refresh=args.refresh,
            reuse_from=args.reuse_from,
        )
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors as one line and exit status 2."""

    def error(self, message: str) -> NoReturn:
        raise UserError(f"{self.prog}: {message}")


def _user_errors(command: Callable[P, int]) -> Callable[P, int]:
    """The command, with a UserError as one line on stderr and its exit status."""

    def guarded(*args: P.args, **kwargs: P.kwargs) -> int:
        try:
            settings.current()  # a bad variable stops the command before anything is read or built
            return command(*args, **kwargs)
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return exc.exit_code

    return guarded


def _run_folder(text: str) -> Path:
    from runner.records.store import require_run

    path = Path(text).resolve()
    require_run(path, text)
    return path


def _run_source(text: str) -> Path:
    """A run folder, or a site's ``records.json.gz`` of one (as a site publishes each run)."""
    from runner.records.store import is_published

    path = Path(text).resolve()
    if is_published(path):
        if not path.is_file():
            raise UserError(f"{text}: no such file; a site's records are runs/<run>/records.json.gz")
        return path
    return _run_folder(text)


@_user_errors
def report(argv: Sequence[str]) -> int:
    """Draw every artefact of stored runs again from their records."""
    from runner.publish.artefacts import ARTEFACTS, publish

    parser = _Parser(prog="nox -s report --", description="Render stored runs again, measuring nothing.")
    parser.add_argument("runs", nargs="*", help="run folders (default: results/latest)")
    parser.add_argument("--full", action="store_true", help="print each run's whole report.md too")
    args = parser.parse_args(argv)
    folders = args.runs or [str(results_path() / "latest")]
    for folder in [_run_folder(f) for f in folders]:
        try:
            done = publish(folder)
        except RecordError as exc:
            raise UserError(str(exc)) from None
        if args.full:
            print(terminal_safe(done.report))
        print(f"{folder}: {', '.join(ARTEFACTS)} and {len(done.charts)} charts in {done.seconds:.1f} s")
    return 0


@_user_errors
def site(argv: Sequence[str]) -> int:
    """``nox -s site -- [RUN_DIR ...] [--out DIR]``: one static site across runs."""
    import time

    from runner.publish import site as building

    parser = _Parser(prog="nox -s site --", description="One static site across runs, opened from disk.")
    parser.add_argument(
        "runs", nargs="*", help="run folders, or a site's runs/<run>/records.json.gz, beside results/runs/"
    )
    parser.add_argument("--out", type=Path, default=None, help="where the site goes (default results/site)")
    parser.add_argument(
        "--only", action="store_true", help="only the runs given, not every run under results/runs"
    )
    parser.add_argument("--watched", help="the day the release watch last looked (shown on the index)")
    args = parser.parse_args(argv)
    given = [_run_source(p) for p in args.runs]
    paths = given if args.only else [*building.default_runs(results_path()), *given]
    started = time.perf_counter()
    built = building.build(paths, args.out or results_path() / "site", watched=args.watched)
    print(
        f"{built.out}: {len(built.runs)} run{'' if len(built.runs) == 1 else 's'}, {built.pages} pages, "
        f"{built.size / 1e6:.1f} MB "
        f"in {time.perf_counter() - started:.1f} s; open {(built.out / 'index.html').resolve().as_uri()}"
    )
    return 0


@_user_errors
def watch(argv: Sequence[str]) -> int:
    """``nox -s watch [-- --since RUN_DIR]``: what the index released since a run; exit 0 either way."""
    from runner import watch as watching
    from runner.records import store

    parser = _Parser(prog="nox -s watch --", description="Which releases appeared since a run.")
    parser.add_argument("--since", help="the run to compare with (default: the newest, results/latest)")
    parser.add_argument(
        "--matrix-out", type=Path, help="write the matrix it would run here, if anything is new"
    )
    parser.add_argument("--github-output", type=Path, help="append new=true or new=false to this file")
    args = parser.parse_args(argv)
    since = _run_source(args.since) if args.since else store.latest(results_path())
    if since is None:
        raise UserError(f"no run to watch from in {results_path()}; give one with --since RUN_DIR")
    said, new = watching.watch(load_matrix(), since, matrix_out=args.matrix_out)
    print(terminal_safe(said))
    if args.github_output is not None:
        with open(args.github_output, "a", encoding="utf-8") as out:
            out.write(f"new={'true' if new else 'false'}\n")
    return 0


@_user_errors
def reproduce(argv: Sequence[str]) -> int:
    """``nox -s reproduce -- RUN_DIR CELL``: the cell rebuilt from its record and measured again."""
    from runner import reproduce as again

    parser = _Parser(
        prog="nox -s reproduce --", description=again.__doc__.splitlines()[0] if again.__doc__ else ""
    )
    parser.add_argument("run", help="the run folder that holds the cell, or a site's records.json.gz of it")
    parser.add_argument("cell", help="the cell's name, <row>--<server>")
    args = parser.parse_args(argv)
    return again.reproduce(_run_source(args.run), args.cell, results=results_path(), env_root=DEFAULT_ENVS)


@_user_errors
def compare(argv: Sequence[str]) -> int:
    from runner import compare as comparing

    parser = _Parser(
        prog="nox -s compare --",
        description="Two runs side by side. Exit 0: no verdict changed; 1: one did; 2: bad input.",
    )
    parser.add_argument("run_a", help="the run to compare from (a run folder, or a site's records.json.gz)")
    parser.add_argument("run_b", help="the run to compare to")
    parser.add_argument("--only-changed", action="store_true", help="leave out what did not change")
    parser.add_argument("--format", choices=("text", "md"), default="text", help="md: for a pull request")
    args = parser.parse_args(argv)
    a, b = (comparing.Side.read(_run_source(p)) for p in (args.run_a, args.run_b))
    result = comparing.compare(a, b)
    print(terminal_safe(comparing.render(result, fmt=args.format, only_changed=args.only_changed)), end="")
    return 1 if result.verdict_changed else 0


@_user_errors
def merge(argv: Sequence[str]) -> int:
    from runner.merge import merge as merging
    from runner.publish.artefacts import publish

    parser = _Parser(prog="nox -s merge --", description="Runs of one matrix into one run, with its report.")
    parser.add_argument("runs", nargs="+", help="run folders of the same matrix")
    parser.add_argument("--out", type=Path, default=None, help="the merged run's folder (default: a new run)")
    args = parser.parse_args(argv)
    folders = [_run_folder(f) for f in args.runs]
    target = merging(folders, args.out.resolve() if args.out else None, results_path())
    done = publish(target)
    print(f"merged {len(folders)} runs into {target}: report in {done.seconds:.1f} s")
    return 0


def _at_least(least: float, kind: type[float] | type[int]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = least - 1
        if value < least:
            what = "a whole number" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r}: give {what} of {least:g} or more")
        return value

    return parse


@_user_errors
def clean(argv: Sequence[str]) -> int:
    """What the caches and runs hold on disk; with options, remove what they name."""
    from runner import clean as cleaning
    from runner.workflow import machine_lock

    parser = _Parser(prog="nox -s clean --", description="List the caches and runs; remove what is named.")
    parser.add_argument(
        "--envs-unused-days", type=_at_least(0, float), metavar="N", help="environments unused for N days"
    )
    parser.add_argument("--keep-runs", type=_at_least(1, int), metavar="K", help="every run but the latest K")
    parser.add_argument("--envs", type=Path, default=DEFAULT_ENVS, help="where cell environments are cached")
    args = parser.parse_args(argv)
    results = results_path()
    items = cleaning.inventory(args.envs, results)
    print(cleaning.table(items))
    doomed = cleaning.chosen(items, results, args.envs_unused_days, args.keep_runs)
    if args.envs_unused_days is None and args.keep_runs is None:
        print("nothing removed: --envs-unused-days N and --keep-runs K name what to remove")
        return 0
    with machine_lock.refusing_if_measuring():
        freed = cleaning.remove(doomed, [args.envs, results / "runs"])
    print(
        f"removed {len(doomed)} ({cleaning.human(freed)}): "
        + (", ".join(i.path.name for i in doomed) or "none")
    )
    return 0


@_user_errors
def bisect(argv: Sequence[str]) -> int:
    """The release where a column's field changed, for every change of a run or one named."""
    from runner.bisection import driver

    parser = _Parser(
        prog="nox -s bisect --",
        description="Bisect the changes of a stored run (default: every change line of results/latest).",
    )
    parser.add_argument("column", nargs="?", help="one column to bisect (with --package, --from and --to)")
    parser.add_argument(
        "--package",
        help="the package whose releases are searched: any of the cell's environment "
        "(flask, werkzeug, gunicorn, waitress, pyuwsgi, uwsgi, gevent, ...)",
    )
    parser.add_argument("--from", dest="low", help="the older release, where the field has its first value")
    parser.add_argument("--to", dest="high", help="the newer release, where it has changed")
    parser.add_argument("--on", dest="field", default=driver.DEFAULT_FIELD, help="a field of the cell record")
    parser.add_argument("--row", help="the row whose settings the candidates keep (default: found by --from)")
    parser.add_argument("--pre", action="store_true", help="search pre-releases too")
    parser.add_argument(
        "--retry-errors",
        action="store_true",
        help="probe again the candidates that failed or were skipped before",
    )
    parser.add_argument("--run", default=None, help="the run folder (default: results/latest)")
    args = parser.parse_args(argv)
    run = driver.StoredRun.read(_run_folder(args.run or str(results_path() / "latest")))
    if args.column:
        if not (args.package and args.low and args.high):
            raise UserError("a named column needs --package, --from and --to")
        questions = [driver.named(run, args.column, args.package, args.low, args.high, args.field, args.row)]
        driver.check_field(run, questions[0])
    elif args.field != driver.DEFAULT_FIELD:
        raise UserError(
            "--on needs a named change (COLUMN --package P --from A --to B): each of the run's change "
            "lines is bisected on the field that changed"
        )
    else:
        questions, unanswerable = driver.changes_of(run, args.field)
        for line in unanswerable:
            print(line)
        if not questions:
            print(f"{run.path}: no change line to bisect")
            return 0
    code, _ = _bisect_all(run, questions, pre=args.pre, retry=args.retry_errors)
    return code


def _bisect_all(
    run: driver.StoredRun,
    questions: Sequence[driver.Question],
    *,
    pre: bool,
    retry: bool,
    cache: Path | None = None,
    env_root: Path = DEFAULT_ENVS,
) -> tuple[int, tuple[Finding, ...]]:
    """Every question bisected, then the run's report drawn again: the exit
    code (130 if interrupted) and the findings of the report it drew."""
    import time

    from runner.publish.artefacts import publish
    from runner.records import store
    from runner.workflow import machine_lock

    started, fresh = time.perf_counter(), 0
    try:
        with machine_lock.measuring(_stderr_line):  # every question's probes, one run of them at a time
            fresh = _ask(run, questions, pre=pre, retry=retry, cache=cache, env_root=env_root)
    except KeyboardInterrupt:
        print("interrupted: what was probed is kept; run the same command again to go on", file=sys.stderr)
        return 130, ()
    done = publish(run.path)
    print(
        f"{len(questions)} bisected in {time.perf_counter() - started:.0f} s, {fresh} new probes; "
        f"answers in {run.path / store.BISECT_FILE} and the report",
        file=sys.stderr,
    )
    return 0, done.findings


def _ask(
    run: driver.StoredRun,
    questions: Sequence[driver.Question],
    *,
    pre: bool,
    retry: bool,
    cache: Path | None = None,
    env_root: Path = DEFAULT_ENVS,
) -> int:
    """Each question bisected, its answer saved and printed; the new probes it took."""
    from runner.bisection import driver, search
    from runner.records import store

    fresh = 0
    for number, question in enumerate(questions, 1):
        releases = driver.releases_between(
            question.package, question.start_version, question.end_version, pre=pre
        )
        print(
            f"[{number}/{len(questions)}] {question.describe()}: {len(releases)} releases between, "
            f"at most {search.budget(len(releases))} probes",
            file=sys.stderr,
        )
        prober = driver.Prober(run, question, cache or results_path() / "bisect", env_root, _stderr_line)
        prober.retry_errors = retry
        answer = driver.bisect(question, releases, prober)
        fresh += prober.fresh
        store.save_bisect_answer(run.path, answer)
        print(terminal_safe(answer.line))
    return fresh


def _stderr_line(line: str) -> None:
    print(terminal_safe(settings.redact(line)), file=sys.stderr)


def listing(matrix: Matrix) -> str:
    """The rows that expanded, line by line with the releases in each, then every cell."""
    out = []
    for expansion in matrix.expansions:
        if expansion.missing:
            out.append(f"{expansion.where}: {expansion.rule}: no rows ({expansion.missing})")
            continue
        out.append(f"{expansion.where}: {expansion.rule}: {len(expansion.lines)} release lines")
        for row, line in zip(expansion.rows, expansion.lines):
            out.append(
                f"  {row:<36} {line.label:<6} newest {line.newest}; releases {', '.join(line.releases)}"
            )
    return "\n".join([*out, *(cell.name for cell in matrix.cells())])


@_user_errors
def matrix_session(matrix: Matrix | None, argv: Sequence[str]) -> int:
    """``nox -s matrix -- [--fresh] [--refresh] [--list] [--shard K/N | --list-shards N]``;
    the matrix is loaded here where none is given (its rows expanded from the index)."""
    from runner import shards

    matrix = matrix or load_matrix()
    parser = _Parser(prog="nox -s matrix --", description="Run the matrix, or one part of it.")
    parser.add_argument("--list", action="store_true", help="list the rows that expand, and every cell")
    parser.add_argument("--fresh", action="store_true", help=FRESH)
    parser.add_argument("--refresh", action="store_true", help=REFRESH)
    parser.add_argument("--reuse-from", metavar="RUN", help=REUSE_FROM)
    parser.add_argument("--shard", help="run part K of N (K/N); the parts are a function of the matrix alone")
    parser.add_argument("--list-shards", metavar="N", help="print the plan of N parts as JSON and exit")
    parser.add_argument(
        "--serial",
        action="store_true",
        help="each cell whole, one after another (no overlap of waiting probes)",
    )
    parser.add_argument(
        "--no-bisect", action="store_true", help="leave the changes found unbisected (--shard implies it)"
    )
    args = parser.parse_args(argv)
    if args.list:
        print(listing(matrix))
        return 0
    if args.list_shards is not None:
        print(shards.plan_json(shards.plan(matrix, shards.parse_count(args.list_shards))))
        return 0
    names: list[str] = []
    if args.shard is not None:
        index, count = shards.parse_shard(args.shard)
        part = shards.plan(matrix, count)[index - 1]
        print(
            f"shard {part.label}: {len(part.cells)} cells, about {part.estimated_s / 60:.0f} min",
            file=sys.stderr,
        )
        if not part.cells:
            print(f"shard {part.label} has no cells: the matrix has fewer environments than shards")
            return 0
        names = list(part.cells)
    bisecting = not args.no_bisect and args.shard is None  # a shard's changes are the merged run's
    return run(
        matrix,
        names,
        fresh=args.fresh,
        serial=args.serial,
        bisect=bisecting,
        refresh=args.refresh,
        reuse_from=args.reuse_from,
    )


def pythons(matrix: Matrix) -> int:
    """Install the rows' Pythons that are missing, with uv where uv has them.

    A Python that cannot be had is reported and left out: its rows' cells
    are then recorded ``skipped`` with the reason, and the rest runs.
    """
    import subprocess

    from runner.environments import interpreters

    uv = interpreters.uv_binary()
    for version in sorted({row.python for row in matrix.rows}, key=lambda v: tuple(map(int, v.split(".")))):
        found = interpreters.find(version)
        if found is not None:
            print(f"Python {version}: {found.path}")
            continue
        if uv is None:
            print(f"Python {version}: missing, and no uv to install it; its rows will be skipped")
            continue
        done = subprocess.run([uv, "python", "install", version], capture_output=True, text=True, check=False)
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        if done.returncode == 0:
            print(f"Python {version}: installed by uv")
        else:
            print(f"Python {version}: uv cannot install it ({last}); its rows will be skipped")
    return 0
