"""What every probe is made of: its settings, its result, how it runs and shows.

A probe is declared once, as a :class:`Probe`: ``matrix.yaml`` accepts its
settings (types, defaults and bounds from :class:`Setting`), the runner calls
``run`` against a running server, repeats are summed up by ``key_figure``,
and the report draws one table with ``title``, ``about`` and ``text``.  The
same declaration says what the probe costs (``cost``: the shard planner, the
time left and the schedule all read it), which charts it has (``charts``,
shapes that :mod:`runner.publish.charts` draws), the sentence it adds to the
answers (``answer``), which figure compares two columns as a ratio
(``ratio``), whether its figures depend on the machine
(``machine_bound``), and its yes/no (``outcome``): what the summary and
compare say of it, and whether chance can decide it, so that it is measured
:data:`CHANCE_RUNS` times.  Nothing else in the runner keeps a list of probes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Union

from runner.measuring.result import R, Result
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer

__all__ = [
    "CHANCE_RUNS",
    "Answer",
    "Bars",
    "Chart",
    "Map",
    "Outcome",
    "Outcomes",
    "Probe",
    "R",
    "RateAndSpan",
    "Ratio",
    "Result",
    "Setting",
    "SettingValue",
    "Steps",
    "figure_of",
    "range_text",
    "served_chart",
    "served_outcome",
    "waited_text",
]

SettingValue = Union[int, str]


@dataclass(frozen=True)
class Setting:
    """One setting of a probe: its default, and what ``matrix.yaml`` accepts."""

    default: SettingValue
    low: int = 0
    high: int = 0
    choices: tuple[str, ...] = ()

    def accepts(self) -> str:
        if self.choices:
            return "one of " + ", ".join(self.choices)
        return f"a whole number from {self.low} to {self.high}"

    def valid(self, value: object) -> bool:
        if self.choices:
            return value in self.choices
        return isinstance(value, int) and not isinstance(value, bool) and self.low <= value <= self.high


Tip = tuple[str, str]  # a figure of the probe and its title in a tooltip


@dataclass(frozen=True)
class Map:
    """The headline's map: rows x servers, coloured by verdict, labelled with the peak."""


@dataclass(frozen=True)
class Steps:
    """The headline's peak along the rows, a panel per server, each change marked."""


@dataclass(frozen=True)
class Bars:
    """A bar per server and row of ``figure``; coloured by row, or by the
    true/false ``by`` figure with its two labels and colours."""

    figure: str
    axis: str
    tips: tuple[Tip, ...] = ()
    by: str = ""
    by_title: str = ""
    labels: tuple[tuple[str, str], tuple[str, str]] = (("yes", "#1b9e77"), ("no", "#d95f02"))


@dataclass(frozen=True)
class Outcomes:
    """Stacked bars per server and row: how many of something ended each way
    (a label, the figure that counts it, its colour)."""

    parts: tuple[tuple[str, str, str], ...]
    axis: str


@dataclass(frozen=True)
class RateAndSpan:
    """A rate as bars beside a span (a low and a high figure) on a log scale."""

    rate: str
    rate_axis: str
    low: str
    high: str
    span_axis: str
    tips: tuple[Tip, ...] = ()


@dataclass(frozen=True)
class Chart:
    """One chart of the probe: its file name, title, the figure a cell needs to
    be drawn, and its shape."""

    name: str
    title: str
    needs: str
    shape: Map | Steps | Bars | Outcomes | RateAndSpan


@dataclass(frozen=True)
class Answer(Generic[R]):
    """The probe's sentence in "What does a WSGI server buy": its ``opening``
    from the first cell's figures, then what ``each`` cell did (after the
    cell's server and Flask), then a ``closing`` over all of them."""

    opening: Callable[[R], str]
    each: Callable[[R], str]
    closing: Callable[[Sequence[R]], str] = lambda results: ""


@dataclass(frozen=True)
class Ratio:
    """A figure that compares two columns as a ratio (nginx in front, a WSGI
    server over the development server, two runs), and its unit in words."""

    figure: str
    unit: str


# How many times a yes/no that chance can decide is measured, each run in a
# fresh server, whatever ``probes.repeats`` says: n runs of an outcome that is
# 50/50 all agree by chance with probability 2 * 0.5**n, 3.1% for n = 6
# (6.3% for 5), under the 5% the summary promises.
CHANCE_RUNS = 6


@dataclass(frozen=True)
class Outcome(Generic[R]):
    """The probe's yes/no: ``of`` reads it from one run (None where that run
    gives none), ``yes`` and ``no`` name its two values in a table, and
    ``chance`` says whether chance can decide it (which worker accepts a
    connection, how a race of timings falls), so that it is measured
    :data:`CHANCE_RUNS` times and published as a plain yes or no only when
    every run agrees.

    The summary says it as ``{lead}: {columns} {yes_phrase}; {columns}
    {no_phrase}; {column} varies ({no} in k of n)``, ``lead`` from the
    probe's settings; each phrase is given for one column and for several."""

    name: str
    of: Callable[[R], bool | None]
    yes: str
    no: str
    chance: bool
    lead: Callable[[Mapping[str, Any]], str]
    yes_phrase: tuple[str, str]
    no_phrase: tuple[str, str]
    # Where chance comes from which worker accepted which connection, it can
    # decide only on a column whose server shares connections among workers
    # unevenly (its recipe's ``shares_connections``); elsewhere (a race of
    # timings) on every column.
    by_workers: bool = False
    # Whether the settings and the column's capacity settle the yes/no by
    # arithmetic, before any run (a server that takes two requests at once
    # cannot answer 500 slow ones within the time-out): chance cannot decide it.
    settled: Callable[[Mapping[str, Any], int | None], bool] = lambda settings, capacity: False


@dataclass(frozen=True)
class Column:
    """What a column tells of chance before any run: whether its server shares
    connections among workers unevenly (its recipe's ``shares_connections``),
    and how many requests it takes at once (None: no bound known)."""

    shares_connections: bool
    capacity: int | None


def _two_seconds(settings: Mapping[str, Any], capacity: int | None) -> float:
    return 2.0


@dataclass(frozen=True)
class Probe(Generic[R]):
    """Everything the runner, the matrix file and the report know of one probe."""

    name: str
    title: str  # the report's heading for its table
    result: type[R]
    run: Callable[[RunningServer, Mapping[str, Any]], R]
    key_figure: str  # the figure repeats are compared by
    settings: Mapping[str, Setting]
    about: str  # the report's text above the table; {setting} placeholders
    text: Callable[[R, Spread], str]  # one cell of the table
    # Whether the server is left as it was found (every request answered), so
    # that the next probe may share the server process.
    leaves_clean: bool = True
    always: bool = False  # runs whether or not matrix.yaml names it
    # The figures published for each cell (results.csv, charts, compare): a
    # field of the result, or ``field.key`` inside a dict field, and its unit.
    figures: Mapping[str, str] = field(default_factory=dict)
    # Whether the probe needs the machine to itself (it measures speed), or
    # only waits (server-side timestamps, a stalled connection): the run's
    # schedule measures the first kind alone and overlaps the second.
    needs_cpu: bool = True
    # Seconds one run is estimated to take, from its settings and the capacity
    # the column's server promises (None: no bound known).
    cost: Callable[[Mapping[str, Any], int | None], float] = _two_seconds
    machine_bound: bool = False  # figures that depend on the machine: never mixed across machines
    charts: tuple[Chart, ...] = ()
    answer: Answer[R] | None = None
    ratio: Ratio | None = None
    outcome: Outcome[R] | None = None
    # The server time-out the probe has to outwait (KEEP_ALIVE, IDLE or
    # REQUEST of runner.serving.servers.base) and its setting that gives the
    # seconds to set it to where the column's is longer than LONGEST_WAIT_S.
    outwaits: tuple[str, str] | None = None
    # The version of its measuring code, kept in each record it measures:
    # raise it with any change to the module that could change a figure, so
    # that a record of the old code is never taken for one of the new.
    # tests/test_probe_versions.py fails when the module changes and it does not.
    version: int = 1

    @property
    def runs_at_least(self) -> int:
        """How many runs a cell needs of this probe whatever ``repeats`` says,
        where chance can decide it."""
        return CHANCE_RUNS if self.outcome is not None and self.outcome.chance else 1

    def chance_on(self, column: Column, settings: Mapping[str, Any]) -> bool:
        """Whether chance can decide the yes/no on such a column with these settings."""
        outcome = self.outcome
        if outcome is None or not outcome.chance or outcome.settled(settings, column.capacity):
            return False
        return column.shares_connections or not outcome.by_workers

    def runs_on(self, column: Column, settings: Mapping[str, Any]) -> int:
        """How many runs a cell of such a column needs whatever ``repeats`` says."""
        return CHANCE_RUNS if self.chance_on(column, settings) else 1

    def defaults(self) -> dict[str, Any]:
        return {key: setting.default for key, setting in self.settings.items()}

    def figure(self, result: Result | None) -> float | None:
        value = getattr(result, self.key_figure, None) if result is not None else None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return value


def figure_of(result: Result, path: str) -> Any:
    """A published figure of a result: ``rps``, or ``latency_ms.p99`` inside a dict."""
    name, _, key = path.partition(".")
    value = getattr(result, name, None)
    if key:
        return value.get(key) if isinstance(value, Mapping) else None
    return value


# --- what the probes that ask whether an ordinary request is served share ---


def waited_text(served: bool, waited_s: float, limit_s: float, spread: Spread, how: str = "timeout") -> str:
    """A table cell of a probe that asks whether an ordinary request was served."""
    if served:
        return f"served in {waited_s:.2f} s{range_text(spread, '{:.2f}')}"
    if how != "timeout":
        return f"failed: {how}"
    return f"blocked > {limit_s:g} s"


def served_chart(name: str, title: str, tips: tuple[tuple[str, str], ...]) -> Chart:
    """The chart of such a probe: how long the ordinary request waited, coloured by whether it was served."""
    return Chart(
        name,
        title,
        "waited_s",
        Bars(
            "waited_s",
            "seconds the ordinary request waited",
            by="served",
            by_title="ordinary request",
            labels=(("served", "#1b9e77"), ("blocked", "#d95f02")),
            tips=tips,
        ),
    )


def served_outcome(lead: Callable[[Mapping[str, Any]], str], held: str = "blocked") -> Outcome[Any]:
    """The yes/no of such a probe: served or not, left to chance where
    workers share the connections unevenly (which gthread worker took which
    one); where each worker or thread holds one connection at a time, or one
    process takes them all, the same connections give the same answer."""
    return Outcome(
        name="served",
        of=lambda r: bool(r.served),
        yes="served",
        no="blocked",
        chance=True,
        lead=lead,
        yes_phrase=("keeps serving", "keep serving"),
        no_phrase=(f"is {held}", f"are {held}"),
        by_workers=True,
    )


def range_text(spread: Spread, fmt: str = "{:g}") -> str:
    """`` [min-max]`` where repeated runs differ, `` !`` where they differ too much."""
    if spread.n > 1 and spread.min is not None and spread.max is not None and spread.min != spread.max:
        text = f" [{fmt.format(spread.min)}-{fmt.format(spread.max)}]"
        return text + (" !" if spread.unstable else "")
    return ""
