"""The cell record and the run's metadata: the contract every other part reads.

A run writes one :class:`CellRecord` per cell and one :class:`RunMeta`; the
report, comparisons and merges read them back with :func:`load_cell` and
:func:`load_run_meta`.  Records carry ``schema``; a record written by an
older version of the tool is brought up to date by :func:`migrate` before it
is read, and a record from a newer one is refused with a clear message.

Field names and meanings are the ones in the project's SPEC: ``flask``,
``werkzeug`` and ``python`` are the versions installed and run, ``status`` is
``ok``, ``error``, ``skipped`` or ``n/a`` with ``reason`` when not ``ok``,
and ``probes.<name>`` holds each probe's figures with ``repeats`` beside them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Callable, Union

from runner.measuring import stats
from runner.measuring.facts import HttpFacts
from runner.measuring.probes import HEADLINE, PROBES, probe_named
from runner.measuring.probes.base import CHANCE_RUNS, Probe, Result
from runner.measuring.probes.concurrency import ConcurrencyResult
from runner.measuring.stats import Spread
from runner.records import checks
from runner.records.checks import RecordError as RecordError  # the contract's error, where its readers look

SCHEMA = 2


class Status(str, Enum):
    OK = "ok"
    ERROR = "error"
    SKIPPED = "skipped"
    NA = "n/a"


@dataclass(frozen=True)
class Asked:
    """The row's versions as matrix.yaml asked for them."""

    flask: str
    werkzeug: str | None
    python: str
    pins: tuple[str, ...] = ()
    resolve: str = "latest"
    server: str | None = None  # the version the column or the row pins its server package to
    follows: tuple[str, ...] = ()  # the server packages the row pins (its ``servers:``)

    def to_dict(self) -> dict[str, Any]:
        data = {**dataclasses.asdict(self), "pins": list(self.pins), "follows": list(self.follows)}
        for key in ("server", "follows"):
            if not data[key]:
                del data[key]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Asked:
        return cls(
            flask=str(data.get("flask", "?")),
            werkzeug=data.get("werkzeug"),
            python=str(data.get("python", "?")),
            pins=tuple(data.get("pins") or ()),
            resolve=str(data.get("resolve") or "latest"),
            server=data.get("server"),
            follows=tuple(data.get("follows") or ()),
        )


@dataclass(frozen=True)
class EnvInfo:
    path: str
    backend: str
    reused: bool


@dataclass(frozen=True)
class Reused:
    """Where a record that was not measured again was measured: the run, and its day."""

    run: str
    date: str  # YYYY-MM-DD, the day that run started

    def to_dict(self) -> dict[str, str]:
        return {"run": self.run, "date": self.date}


@dataclass(frozen=True)
class ProbeFailed:
    """A probe run that could not finish, and why."""

    error: str


ProbeRun = Union[Result, ProbeFailed]


@dataclass(frozen=True)
class Tally:
    """A probe's yes/no over a cell's runs: how many said yes, how many no.

    ``value`` is the published answer: yes or no when every run agrees, None
    when they differ ("varies").  ``settled`` is whether there were runs
    enough for chance not to decide it (see :data:`CHANCE_RUNS`)."""

    yes: int
    no: int
    chance: bool

    @property
    def n(self) -> int:
        return self.yes + self.no

    @property
    def value(self) -> bool | None:
        if self.n == 0 or (self.yes and self.no):
            return None
        return self.yes > 0

    @property
    def varies(self) -> bool:
        return bool(self.yes and self.no)

    @property
    def settled(self) -> bool:
        return not self.chance or self.n >= CHANCE_RUNS


@dataclass(frozen=True)
class ProbeOutcome:
    """A probe's figures in one cell: the run shown, the spread of all runs,
    and what each run said of the probe's yes/no (``said``), in run order."""

    result: Result | None
    error: str | None
    repeats: Spread
    said: tuple[bool | None, ...] = ()
    # Whether chance could decide the yes/no on this cell's column (None: as
    # the probe declares, for records written before columns differed in it).
    chance: bool | None = None

    @classmethod
    def of_runs(cls, probe: Probe[Any], runs: Sequence[ProbeRun], chance: bool | None = None) -> ProbeOutcome:
        """The run at the median of the key figure, with the spread of every run."""
        measured = [(i, probe.figure(r)) for i, r in enumerate(runs) if isinstance(r, Result)]
        indexed = [(i, value) for i, value in measured if value is not None]
        spread = stats.spread([value for _, value in indexed], figure=probe.key_figure)
        said = tuple(probe.outcome.of(r) for r in runs if isinstance(r, Result)) if probe.outcome else ()
        # ``shown`` counts in ``values``, which holds only the runs that gave a figure.
        run = runs[indexed[spread.shown][0]] if indexed else runs[0]
        if isinstance(run, ProbeFailed):
            return cls(result=None, error=run.error, repeats=spread, said=said, chance=chance)
        return cls(result=run, error=None, repeats=spread, said=said, chance=chance)

    def tally(self, probe: Probe[Any]) -> Tally | None:
        """The yes/no over the runs; a record from before runs were kept counts its one run."""
        if probe.outcome is None:
            return None
        said = self.said
        if not said and self.result is not None:
            said = (probe.outcome.of(self.result),)
        return Tally(
            yes=sum(1 for v in said if v is True),
            no=sum(1 for v in said if v is False),
            chance=probe.outcome.chance if self.chance is None else self.chance,
        )

    def to_dict(self) -> dict[str, Any]:
        figures = self.result.to_dict() if self.result is not None else {"error": self.error}
        repeats = self.repeats.to_dict()
        if self.said:
            repeats["outcomes"] = list(self.said)
        if self.chance is not None:
            repeats["chance"] = self.chance
        return {**figures, "repeats": repeats}

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> ProbeOutcome:
        probe = probe_named(name)
        repeats = Spread.from_dict(data.get("repeats") or {})
        said = tuple((data.get("repeats") or {}).get("outcomes") or ())
        chance = (data.get("repeats") or {}).get("chance")
        if data.get("error"):
            return cls(result=None, error=str(data["error"]), repeats=repeats, said=said, chance=chance)
        try:
            result = probe.result.from_dict(data)
        except TypeError as exc:
            raise RecordError(f"probes.{name}: {exc}") from None
        return cls(result=result, error=None, repeats=repeats, said=said, chance=chance)


@dataclass(frozen=True)
class Machine:
    """Where a cell was measured.  Throughput figures compare only on one machine."""

    platform: str = "?"
    cpu: str = "?"
    cores: int | None = None
    memory_gib: float | None = None
    load_1m: float | None = None
    runner_python: str | None = None
    host: str = "?"
    ci_runner: str = ""  # the CI runner's name, where a CI service ran the cell

    def describe(self, *, host: bool = True) -> str:
        where = f" on host {self.host}" if host and self.host != "?" else ""
        where += f" (CI runner {self.ci_runner})" if self.ci_runner else ""
        return f"{self.cpu} ({self.cores or '?'} cores, {self.memory_gib or '?'} GiB), {self.platform}{where}"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Machine:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


Window = tuple[float, float]  # a section's start and end, on the wall clock


@dataclass(frozen=True)
class Schedule:
    """How the run scheduled a cell: ``serial``, or ``overlap`` with the cells
    whose start-ups, stops or waiting probes ran beside this one's (``beside``),
    the cells whose servers sat idle while its CPU probes ran (``idle_beside``)
    and the times of its ``shared`` and ``alone`` sections; probes that need
    the CPU always ran with nothing else of the run active.  ``kind`` is empty
    in records written before cells said."""

    kind: str = ""
    overlap: int = 1
    beside: tuple[str, ...] = ()
    idle_beside: tuple[str, ...] = ()
    shared: tuple[Window, ...] = ()
    alone: tuple[Window, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        if self.kind != "overlap":
            return {"kind": self.kind} if self.kind else {}
        return {
            "kind": self.kind,
            "overlap": self.overlap,
            "beside": list(self.beside),
            "idle_beside": list(self.idle_beside),
            "shared": [list(w) for w in self.shared],
            "alone": [list(w) for w in self.alone],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Schedule:
        def windows(key: str) -> tuple[Window, ...]:
            return tuple((float(a), float(b)) for a, b in data.get(key) or ())

        try:
            return cls(
                kind=str(data.get("kind", "")),
                overlap=int(data.get("overlap", 1)),
                beside=tuple(str(n) for n in data.get("beside") or ()),
                idle_beside=tuple(str(n) for n in data.get("idle_beside") or ()),
                shared=windows("shared"),
                alone=windows("alone"),
            )
        except (TypeError, ValueError) as exc:
            raise RecordError(f"schedule: {exc}") from None


@dataclass(frozen=True)
class Timings:
    """Where a cell's time went, in seconds: building (0 where reused), its first
    server's start-up, its probes (each, and in all, repeats summed) and the whole."""

    build_s: float | None = None
    start_s: float | None = None
    probe_s: float | None = None
    total_s: float | None = None
    probes: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, float]:
        """Flat, as records have always kept it: ``probe_<name>_s`` per probe."""
        data = {f"probe_{name}_s": value for name, value in self.probes.items()}
        for key in ("build_s", "start_s", "probe_s", "total_s"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Timings:
        try:
            values = {str(k): float(v) for k, v in data.items()}
        except (TypeError, ValueError) as exc:
            raise RecordError(f"timings: {exc}") from None
        if not all(math.isfinite(v) for v in values.values()):
            raise RecordError("timings: every time must be a finite number")
        fixed = ("build_s", "start_s", "probe_s", "total_s")
        probes = {
            k[len("probe_") : -len("_s")]: v
            for k, v in values.items()
            if k.startswith("probe_") and k.endswith("_s") and k not in fixed
        }
        return cls(**{k: values[k] for k in fixed if k in values}, probes=probes)


@dataclass(frozen=True)
class CellRecord:
    """One cell of one run: what was asked, what was installed, what was measured."""

    cell: str
    row: str
    row_index: int
    server: str
    server_index: int
    kind: str
    options: Mapping[str, Any]
    asked: Asked
    status: Status
    reason: str | None = None
    cause: str | None = None  # why a cell that did not run did not (runner.errors.CAUSES)
    flask: str | None = None
    werkzeug: str | None = None
    python: str | None = None
    capacity: int | None = None
    probes: Mapping[str, ProbeOutcome] = field(default_factory=dict)
    measured_by: Mapping[str, int] = field(default_factory=dict)  # probe -> its code's version
    http: HttpFacts | None = None
    dev_server_warning: str | None = None
    nginx: str | None = None
    proxy_options: Mapping[str, Any] = field(default_factory=dict)  # buffering, keep-alive
    cpus: int | None = None  # the cores the column keeps its server to (None: all)
    resolved_as_of: str | None = None
    # The server's own package and the version installed (None for the
    # development servers, whose version is the row's Flask or Werkzeug).
    server_package: str | None = None
    server_version: str | None = None
    # Packages a period row resolved apart from its day, each with its own
    # cut-off: a server version the column or row pins (package -> cut-off).
    resolved_apart: Mapping[str, str] = field(default_factory=dict)
    env: EnvInfo | None = None
    packages: Mapping[str, str] = field(default_factory=dict)
    timings: Timings = field(default_factory=Timings)
    log: str | None = None
    log_tail: tuple[str, ...] = ()
    started: float | None = None
    ended: float | None = None
    # The machine that measured the cell; records written before cells carried
    # it take their run's (see runner.records.store.read_records).
    machine: Machine | None = None
    schedule: Schedule = field(default_factory=Schedule)  # how the run scheduled the cell
    # What the cell's measurement depends on, hashed (see runner.workflow.reuse),
    # and, for a record taken over from an earlier run, where it was measured.
    inputs: str | None = None
    reused: Reused | None = None
    found_pins: tuple[str, ...] = ()  # the pins a ``resolve: compatible`` row found

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def probe(self, name: str) -> ProbeOutcome | None:
        """A probe's outcome in a cell that ran; None where it did not run."""
        return self.probes.get(name) if self.ok else None

    def result(self, name: str) -> Result | None:
        outcome = self.probe(name)
        return outcome.result if outcome is not None else None

    def measured_in(self, run: str) -> str:
        """The run that measured the record, which the run ``run`` holds."""
        return self.reused.run if self.reused else run

    @property
    def concurrency(self) -> ConcurrencyResult | None:
        result = self.result(HEADLINE)
        return result if isinstance(result, ConcurrencyResult) else None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"schema": SCHEMA}
        for item in dataclasses.fields(self):
            data[item.name] = getattr(self, item.name)
        data.update(
            status=self.status.value,
            options=dict(self.options),
            proxy_options=dict(self.proxy_options),
            asked=self.asked.to_dict(),
            probes={name: outcome.to_dict() for name, outcome in self.probes.items()},
            measured_by=dict(self.measured_by),
            http=self.http.to_dict() if self.http else None,
            env=dataclasses.asdict(self.env) if self.env else None,
            packages=dict(self.packages),
            resolved_apart=dict(self.resolved_apart),
            timings=self.timings.to_dict(),
            log_tail=list(self.log_tail),
            machine=self.machine.to_dict() if self.machine else None,
            schedule=self.schedule.to_dict(),
            reused=self.reused.to_dict() if self.reused else None,
            found_pins=list(self.found_pins),
        )
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CellRecord:
        """The record in ``data``, checked first (see :mod:`runner.records.checks`)."""
        checks.plain(data, "")
        try:
            data = migrate(data)
            checks.cell_record(data)
            return cls._built(data)
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as exc:
            if isinstance(exc, RecordError):
                raise
            raise RecordError(f"{type(exc).__name__}: {exc}") from None

    @classmethod
    def _built(cls, data: Mapping[str, Any]) -> CellRecord:
        status = _status(data)
        probes = {
            name: ProbeOutcome.from_dict(name, value)
            for name, value in (data.get("probes") or {}).items()
            if name in PROBES
        }
        env = data.get("env")
        return cls(
            cell=data["cell"],
            row=data["row"],
            row_index=int(data.get("row_index", 0)),
            server=data["server"],
            server_index=int(data.get("server_index", 0)),
            kind=str(data.get("kind", "")),
            options=dict(data.get("options") or {}),
            asked=Asked.from_dict(data.get("asked") or {}),
            status=status,
            reason=data.get("reason"),
            cause=data.get("cause"),
            flask=data.get("flask"),
            werkzeug=data.get("werkzeug"),
            python=data.get("python"),
            capacity=data.get("capacity"),
            probes=probes,
            measured_by={str(k): int(v) for k, v in (data.get("measured_by") or {}).items()},
            http=HttpFacts.from_dict(data["http"]) if data.get("http") else None,
            dev_server_warning=data.get("dev_server_warning"),
            nginx=data.get("nginx"),
            proxy_options=dict(data.get("proxy_options") or {}),
            cpus=data.get("cpus"),
            resolved_as_of=data.get("resolved_as_of"),
            server_package=data.get("server_package"),
            server_version=data.get("server_version"),
            resolved_apart=dict(data.get("resolved_apart") or {}),
            env=EnvInfo(str(env["path"]), str(env["backend"]), bool(env["reused"])) if env else None,
            packages=dict(data.get("packages") or {}),
            timings=Timings.from_dict(data.get("timings") or {}),
            log=data.get("log"),
            log_tail=tuple(data.get("log_tail") or ()),
            started=data.get("started"),
            ended=data.get("ended"),
            machine=Machine.from_dict(data["machine"]) if data.get("machine") else None,
            schedule=Schedule.from_dict(data.get("schedule") or {}),
            inputs=data.get("inputs"),
            found_pins=tuple(data.get("found_pins") or ()),
            reused=Reused(str(data["reused"]["run"]), str(data["reused"]["date"]))
            if data.get("reused")
            else None,
        )


@dataclass(frozen=True)
class RunMeta:
    """A run: where and with what it ran, the matrix it used, when it started and ended."""

    run: str
    started: str
    matrix: Mapping[str, Any]
    cells: tuple[str, ...]
    machine: Machine = field(default_factory=Machine)
    tools: Mapping[str, str | None] = field(default_factory=dict)
    ended: str | None = None
    complete: bool = False
    summary: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "run": self.run,
            "started": self.started,
            "ended": self.ended,
            "complete": self.complete,
            "machine": self.machine.to_dict(),
            "tools": dict(self.tools),
            "matrix": dict(self.matrix),
            "cells": list(self.cells),
            "summary": dict(self.summary),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunMeta:
        """The run in ``data``, checked first (see :mod:`runner.records.checks`)."""
        checks.plain(data, "")
        data = migrate(data)
        checks.run_meta(data)
        try:
            machine = Machine.from_dict(data.get("machine") or {})
        except TypeError as exc:
            raise RecordError(f"machine: {exc}") from None
        return cls(
            run=str(data.get("run", "?")),
            started=str(data.get("started", "?")),
            matrix=dict(data.get("matrix") or {}),
            cells=tuple(data.get("cells") or ()),
            machine=machine,
            tools=dict(data.get("tools") or {}),
            ended=data.get("ended"),
            complete=bool(data.get("complete", False)),
            summary=dict(data.get("summary") or {}),
        )


@dataclass(frozen=True)
class BisectAnswer:
    """What ``nox -s bisect`` found for one question, as the run's ``bisect.json`` keeps it.

    ``kind`` is the search's (``found``, ``narrowed``, ``contradiction``,
    ``not reproduced``); ``line`` is the answer in words, as the report shows it.
    """

    line: str
    kind: str
    server: str
    package: str
    field: str
    start: str  # the release at the left end ("from" in the file)
    end: str  # the release at the right end ("to")
    row: str
    last_left: str | None = None
    first_right: str | None = None
    uploaded: Mapping[str, str] = dataclasses.field(default_factory=dict)
    untested: tuple[Mapping[str, Any], ...] = ()  # {version, why}
    seen: tuple[Mapping[str, Any], ...] = ()  # {version, value}
    candidates: int = 0
    probed: int = 0
    budget: int = 0
    records: Mapping[str, str] = dataclasses.field(
        default_factory=dict
    )  # version -> record under results/bisect/
    new_probes: int = 0

    def question(self) -> tuple[str, ...]:
        """What makes two answers answers to the same question."""
        return (self.server, self.package, self.field, self.start, self.end, self.row)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["from"], data["to"] = data.pop("start"), data.pop("end")
        data.update(untested=[dict(u) for u in self.untested], seen=[dict(s) for s in self.seen])
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BisectAnswer:
        names = {f.name for f in dataclasses.fields(cls)}
        checks.bisect_answer(data)
        known = {k: v for k, v in data.items() if k in names}
        known.update(
            start=str(data.get("from", "")),
            end=str(data.get("to", "")),
            untested=tuple(data.get("untested") or ()),
            seen=tuple(data.get("seen") or ()),
        )
        try:
            return cls(**known)
        except TypeError as exc:
            raise RecordError(f"a bisect answer: {exc}") from None


def _status(data: Mapping[str, Any]) -> Status:
    try:
        return Status(data["status"])
    except (KeyError, ValueError):
        raise RecordError(
            f"status {data.get('status')!r} is not one of " + ", ".join(s.value for s in Status)
        ) from None


def one_measurement(x: CellRecord, y: CellRecord) -> bool:
    """Whether two records of a cell are one measurement: taken over (reused,
    merged) from one run, a record keeps the hash of its inputs and the
    moments it started and ended.  (Records from before inputs were hashed
    never count as one.)"""
    same = x.cell == y.cell and x.inputs is not None and x.inputs == y.inputs
    return same and x.started is not None and (x.started, x.ended) == (y.started, y.ended)


def machine_names(records: Iterable[CellRecord]) -> dict[str, str]:
    """Each cell's machine as a name; cells of one machine have the same name.

    The name is the machine's description (the load of the moment left out).
    Records written before cells carried their machine's host name have host
    ``?``: where any cell has one, hosts are left out of every name, so that
    such a run and a newer one of the same computer count as one machine.
    """
    records = list(records)
    name = machine_namer(records)
    return {r.cell: name(r) for r in records}


def machine_namer(records: Iterable[CellRecord]) -> Callable[[CellRecord], str]:
    """:func:`machine_names` as a function, for records of several runs (whose cells share names)."""
    hosts = all(r.machine is None or r.machine.host != "?" for r in records)

    def name(record: CellRecord) -> str:
        return record.machine.describe(host=hosts) if record.machine else "an unrecorded machine"

    return name


def migrate(data: Mapping[str, Any]) -> dict[str, Any]:
    """A record or run file of any schema this version knows, as schema 2."""
    if not isinstance(data, Mapping):
        raise RecordError(f"expected a JSON object, found {type(data).__name__}")
    schema = data.get("schema", 1)
    if not isinstance(schema, int) or schema > SCHEMA:
        raise RecordError(
            f"written with schema {schema!r} by a newer version of this tool; "
            f"this version reads schemas 1 to {SCHEMA}: update the tool to read it"
        )
    out = dict(data)
    if schema == 1 and "cell" in out:
        out = _migrate_1_to_2(out)
    return out


def _migrate_1_to_2(data: dict[str, Any]) -> dict[str, Any]:
    """Schema 1 (before the typed record) to 2.

    Schema 1 kept, per probe, the run whose key figure lay nearest the median
    (the earlier one on a tie) without saying which run that was; schema 2
    names it (``repeats.shown``), so that a figure can be traced to its run.
    Probes recorded before repeats existed get a spread of their one run.
    """
    probes = {}
    for name, figures in (data.get("probes") or {}).items():
        if name not in PROBES or not isinstance(figures, dict):
            continue
        probe = PROBES[name]
        repeats = dict(figures.get("repeats") or {})
        value = figures.get(probe.key_figure)
        if not repeats:
            numbers = [float(value)] if isinstance(value, (int, float)) else []
            repeats = stats.spread(numbers, figure=probe.key_figure).to_dict()
        values = list(repeats.get("values") or [])
        repeats["shown"] = values.index(value) if value in values else 0
        probes[name] = {**figures, "repeats": repeats}
    return {**data, "schema": SCHEMA, "probes": probes}


def load_cell(data: Mapping[str, Any]) -> CellRecord:
    return CellRecord.from_dict(data)


def load_run_meta(data: Mapping[str, Any]) -> RunMeta:
    return RunMeta.from_dict(data)
