"""What every probe is made of: its settings, its result, how it runs and shows.

A probe is declared once, as a :class:`Probe`: ``matrix.yaml`` accepts its
settings (types, defaults and bounds from :class:`Setting`), the runner calls
``run`` against a running server, repeats are summed up by ``key_figure``,
and the report draws one table with ``title``, ``about`` and ``text``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Union

from runner.measuring.result import R, Result
from runner.measuring.stats import Spread
from runner.serving.process import RunningServer

__all__ = ["Probe", "R", "Result", "Setting", "SettingValue", "figure_of", "range_text"]

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


def range_text(spread: Spread, fmt: str = "{:g}") -> str:
    """`` [min-max]`` where repeated runs differ, `` !`` where they differ too much."""
    if spread.n > 1 and spread.min is not None and spread.max is not None and spread.min != spread.max:
        text = f" [{fmt.format(spread.min)}-{fmt.format(spread.max)}]"
        return text + (" !" if spread.unstable else "")
    return ""
