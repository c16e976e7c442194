"""Bisect a change of a stored run to the release that made it, for real.

A question is a column, a package of the cell's environment (Flask,
Werkzeug, the server's own package or any other), the two versions at its
ends and a field of the cell record.  The candidates are the package's
releases strictly between the ends, read from the package index the
environments are built from.  Each candidate becomes a row like the left
end's (its Python, pins, the other packages and the resolution mode kept; a
period row resolves as of the candidate's own upload day) with the package
pinned where the row pins it: Flask and Werkzeug as the row's own fields, a
server package in the row's ``servers:``, anything else among its pins.  Its
cell runs through the matrix's own code path (:func:`runner.workflow.run.run_cells`),
so a probed candidate is a cell record like any other.  Records are kept
under ``results/bisect/`` and found again by what they measured, so asking
the same question twice probes nothing new.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from runner import shards
from runner.analysis import Change, answer_of, changed, outcome_changes, rows_of
from runner.bisection.search import Answer, Probed, budget, search
from runner.environments import period
from runner.environments.envs import version_in
from runner.errors import CellError, UserError
from runner.files import read_json, write_json
from runner.matrix.cells import KEPT_TO, Matrix, Row, Server, parse, row_name, valid_name
from runner.measuring.probes import HEADLINE, PROBES
from runner.records.record import BisectAnswer, CellRecord, Status, load_cell
from runner.records.store import read_run
from runner.serving.servers import RECIPES

DEFAULT_FIELD = f"probes.{HEADLINE}.verdict"
ROW_FIELDS = ("flask", "werkzeug")  # the packages a row names as fields of its own
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Question:
    server: str
    package: str
    start: Row  # the left end's row, as the run's matrix has it
    end: Row
    start_version: str
    end_version: str
    field: str = DEFAULT_FIELD

    def describe(self) -> str:
        name = display(self.package)
        return f"{self.server}: {self.field} from {name} {self.start_version} to {self.end_version}"


def display(package: str) -> str:
    """``Flask``, ``Werkzeug``, as the rows name them; any other package as the index does."""
    return package.capitalize() if package in ROW_FIELDS else package


def pinned_as(package: str) -> str | None:
    """The server package a row's ``servers:`` pins for ``package`` (``uwsgi``
    is pinned as ``pyuwsgi``, whose recipe builds it where no wheel exists); None
    for a package that is no server's."""
    wanted = canonicalize_name(package)
    for recipe in RECIPES.values():
        if wanted in {canonicalize_name(name) for name in recipe.own_names}:
            return recipe.package
    return None


def _pin_names(pin: str, package: str) -> bool:
    try:
        return canonicalize_name(Requirement(pin).name) == canonicalize_name(package)
    except InvalidRequirement:
        return False


def row_version(row: Row, package: str) -> str | None:
    """What ``row`` asks of ``package``: a field, a server pin or a ``name==X`` pin."""
    if package in ROW_FIELDS:
        return str(getattr(row, package) or "") or None
    server = pinned_as(package)
    if server is not None:
        return row.server_pin(server)
    for pin in row.pins:
        if _pin_names(pin, package):
            return pin.split("==", 1)[1] if "==" in pin else pin
    return None


def installed_version(record: CellRecord, package: str) -> str | None:
    """The version of ``package`` in a cell's environment: the record's own
    server version for its server package (uwsgi built for pyuwsgi included)."""
    if package in ROW_FIELDS:
        return str(getattr(record, package) or "") or None
    own = record.server_package
    if own is not None and pinned_as(package) is not None and pinned_as(own) == pinned_as(package):
        return record.server_version
    return version_in(record.packages, package)


@dataclass(frozen=True)
class Release:
    version: str
    uploaded: str  # the first upload's UTC time


def releases_between(package: str, low: str, high: str, *, pre: bool = False) -> list[Release]:
    """The releases of ``package`` strictly between ``low`` and ``high``, in version order."""
    try:
        first = period.first_uploads(package)  # version -> its first upload, from the index
    except CellError as exc:
        raise UserError(str(exc)) from None
    lo, hi = Version(low), Version(high)
    return [
        Release(str(v), first[v])
        for v in sorted(first)
        if lo < v < hi and (pre or not (v.is_prerelease or v.is_devrelease))
    ]


def candidate_row(base: Row, package: str, version: str) -> Row:
    """``base`` with ``package`` at ``version``, everything else kept: a field
    of the row, a server pin of its ``servers:``, or a pin among its ``pins``."""
    server = pinned_as(package) if package not in ROW_FIELDS else None
    if package in ROW_FIELDS:
        changed: dict[str, Any] = {package: version}
        row = replace(base, **changed)
    elif server is not None:
        pins = dict(base.servers)
        pins[server] = version
        kept = tuple(p for p in base.pins if not _pin_names(p, package) and not _pin_names(p, server))
        row = replace(base, servers=tuple(pins.items()), pins=kept)
    else:
        kept = tuple(p for p in base.pins if not _pin_names(p, package))
        row = replace(base, pins=(*kept, f"{package}=={version}"))
    # a package among the pins is named in the row's name as a server pin is
    named = ((canonicalize_name(package), version),) if package not in ROW_FIELDS and server is None else ()
    name = row_name(row.flask, row.werkzeug, row.python, row.resolve, (*row.servers, *named))
    if not valid_name(name):  # too long: the same start, told apart by a hash of the whole
        name = name[:47] + "-" + hashlib.sha256(name.encode()).hexdigest()[:16]
    return replace(row, name=name)


# --- questions from a run ----------------------------------------------------


@dataclass(frozen=True)
class StoredRun:
    path: Path
    matrix: Matrix
    records: list[CellRecord]

    @classmethod
    def read(cls, path: Path) -> StoredRun:
        meta, records = read_run(path)
        return cls(path=path, matrix=parse(dict(meta.matrix), f"{path}/run.json"), records=records)

    def row(self, name: str) -> Row:
        for row in self.matrix.rows:
            if row.name == name:
                return row
        raise UserError(
            f"{self.path}: no row named {name!r}; rows are " + ", ".join(r.name for r in self.matrix.rows)
        )


def changes_of(run: StoredRun, field: str = DEFAULT_FIELD) -> tuple[list[Question], list[str]]:
    """A question for every change line of the run (``field`` for the verdict's,
    each probe's own yes/no for the others'), and why some lines have none."""
    views = rows_of(run.records)
    servers = [s.name for s in run.matrix.servers]
    questions, unanswerable = [], []
    for change in changed(views, servers) + outcome_changes(views, servers):
        differs = differing(change)
        if isinstance(differs, str):
            unanswerable.append(f"{change.line()}: {differs}")
            continue
        package, low, high = differs
        questions.append(
            Question(
                server=change.server,
                package=package,
                start=run.row(change.before.name),
                end=run.row(change.after.name),
                start_version=low,
                end_version=high,
                field=field if change.probe == HEADLINE else change.field,
            )
        )
    return questions, unanswerable


def differing(change: Change) -> tuple[str, str, str] | str:
    """The one package whose version the change's two cells differ in, with
    both versions: Flask, else Werkzeug, else the server's own package, else
    the only other; or why there is none to bisect."""
    before, after = change.before, change.after
    for package in ROW_FIELDS:
        if getattr(before, package) != getattr(after, package):
            return package, getattr(before, package), getattr(after, package)
    old, new = before.cells[change.server], after.cells[change.server]
    if old.server_package and old.server_version and new.server_version not in (None, old.server_version):
        return old.server_package, old.server_version, str(new.server_version)
    others = sorted(
        name for name, version in old.packages.items() if installed_version(new, name) not in (None, version)
    )
    if len(others) == 1:
        return others[0], old.packages[others[0]], str(installed_version(new, others[0]))
    if others:
        return "the rows differ in " + ", ".join(others) + ": bisect one with --package"
    return "the rows differ in no package version, nothing to bisect"


def _column_of(run: StoredRun, server: str) -> Server:
    for column in run.matrix.servers:
        if column.name == server:
            return column
    raise UserError(
        f"no column named {server!r} in {run.path}; columns are "
        + ", ".join(s.name for s in run.matrix.servers)
    )


def _package_name(package: str) -> str:
    try:
        name = Requirement(package).name
    except InvalidRequirement:
        name = ""
    if not name or name != package.strip():
        raise UserError(
            f"--package {package!r}: give a package's name as the index spells it "
            "(flask, werkzeug, gunicorn, waitress, pyuwsgi, gevent, ...)"
        )
    canonical = canonicalize_name(name)
    return canonical if canonical in ROW_FIELDS else name


def _versions_checked(low: str, high: str) -> None:
    for text in (low, high):
        try:
            Version(text)
        except InvalidVersion:
            raise UserError(
                f"{text!r} is not a version; give releases such as --from 0.12.4 --to 1.0.2"
            ) from None
    if Version(low) >= Version(high):
        raise UserError(f"--from {low} is not below --to {high}; give the older release first")


def named(
    run: StoredRun, server: str, package: str, low: str, high: str, field: str, row: str | None
) -> Question:
    """One question from the command line; the left end's row is ``row``, or the
    first row of the run whose cell of ``server`` installed ``package`` at ``low``."""
    column, package = _column_of(run, server), _package_name(package)
    _versions_checked(low, high)
    own, server_package = RECIPES[column.kind].package, pinned_as(package)
    if server_package is not None and server_package != own:
        raise UserError(
            f"column {server!r} runs {own or 'no server package'}, not {package}: "
            f"bisect {package} on a column of its kind"
        )
    if column.version is not None and own is not None and server_package == own:
        raise UserError(
            f"column {server!r} pins {own} {column.version} itself, so no row can change it; "
            "bisect a column without `version`"
        )
    if row is None:
        cells = [r for r in run.records if r.server == server]
        found = next((r for r in cells if installed_version(r, package) == low), None)
        if found is None:
            ran = sorted({v for r in cells if (v := installed_version(r, package)) is not None})
            raise UserError(
                f"no cell of {server!r} in {run.path} ran {display(package)} {low}"
                + (
                    f" (its cells ran {', '.join(ran)})"
                    if ran
                    else f" ({display(package)} is in none of them)"
                )
                + "; name the row with --row"
            )
        row = found.row
    start = run.row(row)
    return Question(server, package, start, candidate_row(start, package, high), low, high, field)


# --- probing -----------------------------------------------------------------


def check_field(run: StoredRun, question: Question) -> None:
    """Refuse, before anything is probed, a field the column's records do not have."""
    cells = [r for r in run.records if r.server == question.server and r.ok]
    if cells and all(
        (value_of(r, question.field).skipped or "").startswith("the record has no") for r in cells
    ):
        raise UserError(
            f"--on {question.field!r}: no record of {question.server!r} has that field; "
            "fields are paths into a cell record, e.g. probes.concurrency.verdict, "
            "probes.concurrency.peak, http.protocol, http.keep_alive, dev_server_warning"
        )


def probe_matrix(run: StoredRun, row: Row, server: Server, field: str) -> Matrix:
    """A one-cell matrix: ``row`` x ``server``, the run's probe settings for what ``field`` needs."""
    raw_probes = dict(run.matrix.raw.get("probes") or {})
    wanted = {HEADLINE} | ({field.split(".")[1]} if field.startswith("probes.") else set())
    probes: dict[str, Any] = {
        name: {k: v for k, v in (raw_probes.get(name) or {}).items() if k not in KEPT_TO}
        for name in sorted(wanted)
    }
    probes["repeats"] = run.matrix.repeats
    version: dict[str, Any] = {
        "flask": row.flask,
        "python": row.python,
        "resolve": row.resolve,
        "pins": list(row.pins),
    }
    if row.werkzeug:
        version["werkzeug"] = row.werkzeug
    if row.servers:
        version["servers"] = dict(row.servers)
    if row.name != row_name(row.flask, row.werkzeug, row.python, row.resolve, row.servers):
        version["name"] = row.name  # a package pinned among the pins, named
    raw = {
        "python": row.python,
        "versions": [version],
        "servers": {server.name: dict(run.matrix.raw["servers"][server.name])},
        "probes": probes,
    }
    return parse(raw, "bisect")


def value_of(record: CellRecord, field: str) -> Probed:
    """The field's value in a record, or why the cell gave none."""
    if not record.ok:
        return Probed(skipped=f"{record.status.value}: {record.reason or 'no reason recorded'}")
    if field == "dev_server_warning":
        return Probed(value="warns" if record.dev_server_warning else "no warning")
    outcome = _outcome_named(field)
    if outcome is not None:
        return _answer(record, outcome)
    value: Any = record.to_dict()
    for part in field.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return Probed(skipped=f"the record has no {field}")
        value = value[part]
    if field == DEFAULT_FIELD and value is None:
        return Probed(value="no answer")
    return Probed(value=value)


def _outcome_named(field: str) -> str | None:
    """The probe whose declared yes/no ``field`` is (``probes.silent.served``), but the verdict's."""
    parts = field.split(".")
    if len(parts) != 3 or parts[0] != "probes" or parts[1] == HEADLINE or parts[1] not in PROBES:
        return None
    outcome = PROBES[parts[1]].outcome
    return parts[1] if outcome is not None and outcome.name == parts[2] else None


def _answer(record: CellRecord, name: str) -> Probed:
    """A yes/no as the report gives it: its word, ``varies`` where the runs
    differ; none where the probe did not run or too few runs leave it to chance."""
    ran = record.probe(name)
    if ran is None or ran.result is None:
        why = ran.error if ran is not None and ran.error else "the probe did not run on this cell"
        return Probed(skipped=f"the record has no probes.{name} ({why})")
    said = answer_of(name, record)
    if said is None:
        return Probed(skipped=f"{len(ran.said) or 1} run(s) leave probes.{name} to chance")
    return Probed(value=said)


def classify(probed: Probed, ends: tuple[object, object] | None) -> Probed:
    """A number between two numeric ends counts as the nearer end's value
    (a peak of 8 between 1 and 10 is 10); a tie stays as it is, and stops the search."""
    if ends is None or probed.skipped is not None:
        return probed
    value, (low, high) = probed.value, ends
    if (
        not isinstance(value, (int, float))
        or not isinstance(low, (int, float))
        or not isinstance(high, (int, float))
    ):
        return probed
    if any(isinstance(v, bool) for v in (value, low, high)) or value in ends:
        return probed
    nearer = abs(value - low) - abs(value - high)
    return probed if nearer == 0 else Probed(value=low if nearer < 0 else high)


class Prober:
    """Probes rows of one column, each at most once: a record measured before is read back."""

    def __init__(self, run: StoredRun, question: Question, store: Path, env_root: Path, progress: Progress):
        self.run, self.question, self.store, self.env_root, self.progress = (
            run,
            question,
            store,
            env_root,
            progress,
        )
        self.server = next(s for s in run.matrix.servers if s.name == question.server)
        self.fresh = 0  # probes actually run (not read back)
        self.ends: tuple[object, object] | None = None  # the ends' values, once both are known
        self.retry_errors = False  # probe again the candidates that ended in an error or were skipped
        self.records: dict[str, str] = {}  # version -> record path, for the answer

    def chance(self, row: Row) -> bool:
        """Whether chance can decide the question's yes/no in ``row``'s cell
        of the column (as the schedule counts its runs)."""
        name = _outcome_named(self.question.field)
        if name is None:
            return False
        matrix = probe_matrix(self.run, row, self.server, self.question.field)
        return shards.chance_on(matrix, name, matrix.cells()[0])

    def __call__(self, row: Row) -> Probed:
        from runner.workflow.run import run_cells  # late: the search's tests need none of the runner

        matrix = probe_matrix(self.run, row, self.server, self.question.field)
        key = hashlib.sha256(json.dumps(dict(matrix.raw), sort_keys=True).encode()).hexdigest()[:20]
        index_path = self.store / "index.json"
        index = read_json(index_path) if index_path.exists() else {}
        version = row_version(row, self.question.package) or "?"
        again = key in index and (self.store / index[key]).exists()
        if again and self.retry_errors:  # an error may not recur: a busy port, a Python installed since
            again = load_cell(read_json(self.store / index[key])).status not in (Status.ERROR, Status.SKIPPED)
        if again:
            where = index[key]
            record = load_cell(read_json(self.store / where))
        else:
            self.fresh += 1
            outcome = run_cells(
                matrix,
                matrix.cells(),
                results=self.store,
                env_root=self.env_root,
                fresh=True,
                report=False,
                progress=lambda line: None,
            )
            record = outcome.records[0]
            where = str(outcome.run.cell_path(record.cell).relative_to(self.store))
            index[key] = where
            write_json(index_path, index)
        probed = classify(value_of(record, self.question.field), self.ends)
        self.records[version] = where  # under results/bisect/
        shown = f"could not be measured: {probed.skipped}" if probed.skipped else probed.value
        self.progress(
            f"  {self.question.package} {version}: {shown}" + (" (measured before)" if again else "")
        )
        return probed


# --- the answer --------------------------------------------------------------


def bisect(question: Question, releases: Sequence[Release], probe: Prober) -> BisectAnswer:
    """Search, and the answer as a line and as data (``bisect.json``)."""
    package, name = question.package, display(question.package)
    # Both ends as the left row with only the package changed, at the exact
    # releases the run installed: a change that comes with the rows' other
    # differences (pins, the other package) then shows as not reproduced.
    start = candidate_row(question.start, package, question.start_version)
    end = candidate_row(question.start, package, question.end_version)
    by_version = {r.version: r for r in releases}
    rows = {candidate_row(start, package, r.version).name: r.version for r in releases}
    rows[start.name], rows[end.name] = question.start_version, question.end_version
    candidates = [candidate_row(start, package, r.version) for r in releases]
    left, right = probe(start), probe(end)
    probe.ends = (left.value, right.value)
    if left.skipped or right.skipped or left.value == right.value:
        if left.skipped or right.skipped:
            which = question.start_version if left.skipped else question.end_version
            why = f"{name} {which} could not be measured: {left.skipped or right.skipped}"
        elif probe.chance(start):
            why = (
                f"measured again, both {name} {question.start_version} and {question.end_version} gave "
                f"{left.value!r}: chance can decide {question.field} (which worker takes which "
                "connection), so the change between the rows may be chance's"
            )
        else:
            why = (
                f"with the left row's other settings both {name} {question.start_version} and "
                f"{question.end_version} gave {left.value!r}: the change between the rows comes with "
                "their other differences (pins, the other packages)"
            )
        answer: Answer[Row] = Answer(kind="not reproduced", candidates=len(candidates))
        return _data(
            question, answer, rows, by_version, probe, line=f"{question.describe()}: not bisected; {why}"
        )
    answer = search(start, candidates, end, left.value, right.value, probe)
    return _data(
        question, answer, rows, by_version, probe, line=_line(question, answer, rows, by_version, left, right)
    )


def _line(
    question: Question,
    answer: Answer[Row],
    rows: Mapping[str, str],
    releases: Mapping[str, Release],
    left: Probed,
    right: Probed,
) -> str:
    name = display(question.package)
    probed = f"{answer.tried} of {answer.candidates} releases between them probed"
    if answer.kind == "contradiction":
        seen = "; ".join(f"{name} {rows[row.name]} gave {value!r}" for row, value in answer.seen)
        return (
            f"{question.server}: {question.field} is not monotonic from {name} {question.start_version} "
            f"({left.value}) to {question.end_version} ({right.value}): {seen}; "
            f"no release is named ({probed})"
        )
    last = rows[answer.last_left.name] if answer.last_left else "?"
    first = rows[answer.first_right.name] if answer.first_right else "?"
    uploaded = releases[first].uploaded[:10] if first in releases else "?"
    if answer.kind == "found":
        return (
            f"{question.server}: {left.value} in {name} {last}, changed in {name} {first} "
            f"(uploaded {uploaded}) to {right.value}; {probed}"
        )
    untested = untested_text([(f"{name} {rows[row.name]}", why) for row, why in answer.between])
    return (
        f"{question.server}: {left.value} in {name} {last}, {right.value} in {name} {first}; the change "
        f"is in {name} {first} or in a release between them that could not be measured ({untested}); {probed}"
    )


# What a failure to run says about the settings under which a release might run.
HINTS = (
    (
        "from 'collections'",
        "might run on Python 3.9 or earlier (3.10 removed the ABCs from `collections`)",
    ),
    ("does not install on Python", "might install on an older Python"),
    ("No solution found", "might resolve with other pins"),
)


def untested_text(failed: Sequence[tuple[str, str]]) -> str:
    """``Flask 1.0, 1.0.1: <why> (might run on ...)``: releases that could not run, grouped by why."""
    groups: dict[str, list[str]] = {}
    for release, why in failed:
        short = why.split(" (/")[0].split(" before it was ready: ")[-1]
        groups.setdefault(short, []).append(release)
    parts = []
    for why, releases in groups.items():
        hint = next((advice for pattern, advice in HINTS if pattern in why), "")
        parts.append(", ".join(releases) + f": {why}" + (f"; {hint}" if hint else ""))
    return "; ".join(parts)


def _data(
    question: Question,
    answer: Answer[Row],
    rows: Mapping[str, str],
    releases: Mapping[str, Release],
    probe: Prober,
    *,
    line: str,
) -> BisectAnswer:
    return BisectAnswer(
        line=line,
        kind=answer.kind,
        server=question.server,
        package=question.package,
        field=question.field,
        start=question.start_version,
        end=question.end_version,
        row=question.start.name,
        last_left=rows[answer.last_left.name] if answer.last_left else None,
        first_right=rows[answer.first_right.name] if answer.first_right else None,
        uploaded={v: r.uploaded for v, r in releases.items()},
        untested=tuple({"version": rows[row.name], "why": why} for row, why in answer.between),
        seen=tuple({"version": rows[row.name], "value": value} for row, value in answer.seen),
        candidates=answer.candidates,
        probed=answer.tried,
        budget=budget(answer.candidates),
        records=dict(probe.records),
        new_probes=probe.fresh,
    )
