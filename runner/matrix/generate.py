"""Rows that expand: ``flask: {each: minor, since: "0.10"}`` is one row per release line.

A row whose ``flask`` (or ``werkzeug``) is a mapping is a generator: it
stands for one row per release line of that package (``each: minor``, or
``major``) from ``since`` on (and up to ``until``, where given), each taking
the newest final release of its line.  Every other key of the entry is the
generated rows' own; ``pins`` may also map a version range to pins, the
user's rules (``{"<1.0": ["werkzeug<1"]}``), each row taking the pins of
every range its version is in.  The releases come from a
:data:`~runner.matrix.releases.Releases`; where it has no answer the entry
expands to no rows, and says so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

GENERATED = ("flask", "werkzeug")
KEYS = ("each", "since", "until")
EACH = {"minor": 2, "major": 1}  # how many parts of the version name a line
Fail = Callable[[str, str], Exception]
Releases = Callable[[str], "list[str] | None"]


@dataclass(frozen=True)
class Line:
    """One release line: ``0.10``, its newest release, and every release in it."""

    label: str
    newest: str
    releases: tuple[str, ...]


@dataclass(frozen=True)
class Expansion:
    """What a generator entry stood for, for ``--list``."""

    where: str
    package: str
    rule: str
    lines: tuple[Line, ...] = ()
    rows: tuple[str, ...] = ()
    missing: str | None = None  # why it expanded to nothing


def generated_package(entry: Any) -> str | None:
    """The package a row entry generates rows over, if it is a generator."""
    if not isinstance(entry, dict):
        return None
    return next((p for p in GENERATED if isinstance(entry.get(p), dict)), None)


def _rule(spec: Mapping[str, Any], where: str, fail: Fail) -> tuple[int, Version, Version | None]:
    unknown = sorted(set(spec) - set(KEYS))
    if unknown:
        raise fail(f"{where}.{unknown[0]}", "is not a generator key; expected each, since and until")
    each = spec.get("each")
    if each not in EACH:
        raise fail(f"{where}.each", f"{each!r} is not a release line; expected one of " + ", ".join(EACH))
    since = _bound(spec.get("since"), f"{where}.since", fail)
    until = _bound(spec["until"], f"{where}.until", fail) if spec.get("until") is not None else None
    return EACH[each], since, until


def _bound(value: Any, where: str, fail: Fail) -> Version:
    try:
        if not isinstance(value, str):
            raise InvalidVersion(str(value))
        return Version(value)
    except InvalidVersion:
        raise fail(where, f'{value!r} is not a quoted version such as "0.10"') from None


def lines_of(versions: Sequence[str], parts: int, since: Version, until: Version | None) -> list[Line]:
    """The release lines of ``versions`` (final releases) within the bounds, oldest first."""
    by: dict[tuple[int, ...], list[Version]] = {}
    for text in versions:
        version = Version(text)
        line = version.release[:parts]
        floor = since.release[:parts]
        if line < floor or (until is not None and line > until.release[:parts]):
            continue
        by.setdefault(line, []).append(version)
    return [
        Line(".".join(map(str, line)), str(max(found)), tuple(str(v) for v in sorted(found)))
        for line, found in sorted(by.items())
    ]


def pins_for(pins: Any, version: str, where: str, fail: Fail) -> Any:
    """The pins of a generated row: the list as given, or those of every range its version is in."""
    if not isinstance(pins, dict):
        return pins
    chosen: list[Any] = []
    for spec, listed in pins.items():
        try:
            ranges = SpecifierSet(str(spec))
        except InvalidSpecifier:
            raise fail(
                f"{where}.pins", f'{spec!r} is not a version range such as "<1.0" or ">=2,<2.3"'
            ) from None
        if not isinstance(listed, list):
            raise fail(f"{where}.pins.{spec}", 'expected a list of pins such as ["werkzeug<1"]')
        if ranges.contains(version):
            chosen += listed
    return chosen


def expand(
    entry: Mapping[str, Any], package: str, where: str, fail: Fail, releases: Releases | None
) -> tuple[list[dict[str, Any]], Expansion]:
    """The row entries a generator stands for, and what it was expanded to."""
    if "name" in entry:
        raise fail(f"{where}.name", "a row that expands to one row per release line names each row itself")
    parts, since, until = _rule(entry[package], f"{where}.{package}", fail)
    rule = f"each {'minor' if parts == 2 else 'major'} line of {package} since {since}" + (
        f" until {until}" if until else ""
    )
    versions = releases(package) if releases is not None else None
    if versions is None:
        missing = f"no list of {package}'s releases cached; `nox -s matrix` asks the index"
        return [], Expansion(where, package, rule, missing=missing)
    lines = lines_of(versions, parts, since, until)
    entries = [
        {**entry, package: line.newest, "pins": pins_for(entry.get("pins", []), line.newest, where, fail)}
        for line in lines
    ]
    return entries, Expansion(where, package, rule, tuple(lines))
