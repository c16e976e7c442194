"""The record contract's checks on data from elsewhere: a stored run is untrusted.

A run folder may come from a CI artefact or a colleague.  Before a record or
a ``run.json`` becomes a typed object, its data is checked here: plain JSON
values only, finite numbers, bounded strings and nesting, names as the
matrix allows them, a log path inside the run's ``logs/``, and the type of
every field the tool reads.  Whatever fails is a :class:`RecordError` that
names the field.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from runner.errors import CAUSES
from runner.matrix.cells import check_version_spec, valid_name

MAX_TEXT = 64 * 1024  # one string: a reason, a log line, the matrix's YAML values are far shorter
MAX_DEPTH = 32
MAX_INT = 2**53  # what a JSON reader anywhere holds exactly
LOG_PATH = re.compile(r"logs/[A-Za-z0-9][A-Za-z0-9._+-]{0,200}\.log")
# A version as an environment installed it (PEP 440's characters).
VERSION = re.compile(r"[A-Za-z0-9.+!_-]{1,64}")
INPUTS = re.compile(r"[0-9a-f]{16,64}")
RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class RecordError(ValueError):
    """A record or run file this version cannot read."""


def plain(value: Any, where: str, depth: int = 0) -> None:
    """``value`` is plain JSON data: no NaN or infinity, no huge string, no deep nesting.

    Walked with a stack, not recursion, and the place of a value (``a.b[3]``)
    is spelled out only for the one found wrong: a 1,000-cell run has half a
    million values to look at."""
    # each entry: the value, the entry it sits in, its key or index there, its depth
    stack: list[tuple[Any, Any, Any, int]] = [(value, None, where, depth)]
    while stack:
        entry = stack.pop()
        item, _, _, level = entry
        kind = type(item)
        if kind is str:
            if len(item) > MAX_TEXT:
                raise RecordError(f"{_place(entry)}: a string of {len(item)} characters (at most {MAX_TEXT})")
            continue
        if level > MAX_DEPTH:
            raise RecordError(f"{_place(entry)}: nested more than {MAX_DEPTH} levels")
        if kind is dict or isinstance(item, Mapping):
            for key, inner in item.items():
                if not isinstance(key, str) or len(key) > 200:
                    raise RecordError(f"{_place(entry)}: a key that is not a short string")
                stack.append((inner, entry, key, level + 1))
        elif kind is list:
            stack.extend((inner, entry, i, level + 1) for i, inner in enumerate(item))
        elif kind is float:
            if not math.isfinite(item):
                raise RecordError(f"{_place(entry)}: {item} is not a finite number")
        elif kind is int:
            if abs(item) > MAX_INT:
                raise RecordError(f"{_place(entry)}: a number of {len(str(item))} digits")
        elif kind is not bool and item is not None:
            _subclassed(entry)


def _subclassed(entry: tuple[Any, Any, Any, int]) -> None:
    """A value of a subclass of a JSON type (a ``str`` enum), checked as its base is."""
    item = entry[0]
    if isinstance(item, str) and len(item) > MAX_TEXT:
        raise RecordError(f"{_place(entry)}: a string of {len(item)} characters (at most {MAX_TEXT})")
    if isinstance(item, float) and not math.isfinite(item):
        raise RecordError(f"{_place(entry)}: {item} is not a finite number")
    if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INT:
        raise RecordError(f"{_place(entry)}: a number of {len(str(item))} digits")
    if not isinstance(item, (str, int, float, bool)):
        raise RecordError(f"{_place(entry)}: {type(item).__name__} is not a JSON value")


def _place(entry: tuple[Any, Any, Any, int]) -> str:
    """``probes.burst.repeats.values[3]``: where a value of :func:`plain`'s walk sits."""
    parts: list[str] = []
    at: tuple[Any, Any, Any, int] | None = entry
    while at is not None:
        _, parent, key, _ = at
        if parent is None:
            if key:
                parts.append(str(key))
        else:
            parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
        at = parent
    text = "".join(reversed(parts))
    return text[1:] if text.startswith(".") else text


def _typed(
    data: Mapping[str, Any], key: str, kinds: tuple[type, ...], optional: bool = True, where: str = ""
) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        field = f"{where}.{key}" if where else key
        raise RecordError(f"{field}: expected {names}, found {type(value).__name__}")
    return value


def name(data: Mapping[str, Any], key: str) -> str:
    value = _typed(data, key, (str,), optional=False)
    if not valid_name(value):
        raise RecordError(f"{key}: {value[:80]!r} is not a name the matrix allows")
    return str(value)


# The fields of a record that hold mappings.
MAPPINGS: tuple[str, ...] = ("probes", "options", "proxy_options", "packages", "timings", "schedule")
MAPPINGS += ("asked", "http", "machine", "env", "resolved_apart")


def cell_record(data: Mapping[str, Any]) -> None:
    """The fields of a cell record, before it is built (its data already found
    :func:`plain`: :meth:`CellRecord.from_dict` checks that first)."""
    row, server = name(data, "row"), name(data, "server")
    if _typed(data, "cell", (str,), optional=False) != f"{row}--{server}":
        raise RecordError(
            f"cell: {str(data['cell'])[:80]!r} is not <row>--<server> of its own row and server"
        )
    for key in ("reason", "kind", "dev_server_warning", "nginx", "resolved_as_of", "server_package"):
        _typed(data, key, (str,))
    for key in ("flask", "werkzeug", "python", "server_version"):
        version = _typed(data, key, (str,))
        if version is not None and not VERSION.fullmatch(version):
            raise RecordError(f"{key}: {version[:80]!r} is not a version")
    _asked(_typed(data, "asked", (dict,)) or {})
    _cause(data)
    by = _typed(data, "measured_by", (dict,)) or {}
    if not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v < 2**31 for v in by.values()):
        raise RecordError("measured_by: each probe's version must be a whole number above 0")
    for key in ("row_index", "server_index", "capacity", "cpus"):
        number = _typed(data, key, (int,))
        if number is not None and number < 0:
            raise RecordError(f"{key}: {number} is below 0")
    for key in ("started", "ended"):
        _typed(data, key, (int, float))
    log = _typed(data, "log", (str,))
    if log is not None and not LOG_PATH.fullmatch(log):
        raise RecordError(f"log: {log[:80]!r} is not a log inside the run's logs/")
    for key in MAPPINGS:
        _typed(data, key, (dict,))
    for key in ("packages", "resolved_apart"):
        if not all(isinstance(v, str) for v in (data.get(key) or {}).values()):
            raise RecordError(f"{key}: every value must be a string")
    if not all(isinstance(v, dict) for v in (data.get("probes") or {}).values()):
        raise RecordError("probes: every probe's figures must be a mapping")
    for probe, figures in (data.get("probes") or {}).items():
        _spread(figures.get("repeats"), f"probes.{probe}.repeats")
    http = data.get("http") or {}
    for key, kinds in (
        ("protocol", (str,)),
        ("keep_alive", (bool,)),
        ("server_header", (str,)),
        ("silent_close", (bool,)),
    ):
        _typed(http, key, kinds, where="http")
    _provenance(data)
    for key in ("log_tail", "found_pins"):
        lines = _typed(data, key, (list,))
        if lines is not None and not all(isinstance(line, str) for line in lines):
            raise RecordError(f"{key}: every entry must be a string")


def _provenance(data: Mapping[str, Any]) -> None:
    """The hash of a record's inputs, and the run that measured a reused one."""
    inputs = _typed(data, "inputs", (str,))
    if inputs is not None and not INPUTS.fullmatch(inputs):
        raise RecordError(f"inputs: {inputs[:80]!r} is not a hash of a cell's inputs")
    reused = _typed(data, "reused", (dict,))
    if reused is not None:
        if not RUN_ID.fullmatch(str(reused.get("run"))):
            raise RecordError(f"reused.run: {str(reused.get('run'))[:80]!r} is not a run's name")
        if not DATE.fullmatch(str(reused.get("date"))):
            raise RecordError(f"reused.date: {str(reused.get('date'))[:80]!r} is not a date (YYYY-MM-DD)")


def _spread(repeats: Any, where: str) -> None:
    """The summary of a probe's repeats: numbers where numbers go."""
    if repeats is None:
        return
    if not isinstance(repeats, dict):
        raise RecordError(f"{where}: expected a mapping")
    for key in ("n", "shown"):
        _typed(repeats, key, (int,), where=where)
    for key in ("median", "min", "max", "spread"):
        _typed(repeats, key, (int, float), where=where)
    values = _typed(repeats, "values", (list,), where=where) or []
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        raise RecordError(f"{where}.values: expected a list of numbers")
    _typed(repeats, "chance", (bool,), where=where)
    said = _typed(repeats, "outcomes", (list,), where=where) or []
    if not all(v is None or isinstance(v, bool) for v in said):
        raise RecordError(f"{where}.outcomes: expected a list of true, false or null")


def bisect_answer(data: Mapping[str, Any]) -> None:
    """One answer of a run's ``bisect.json``, before it is built."""
    plain(data, "")
    for key in ("line", "kind", "server", "package", "field", "from", "to", "row"):
        _typed(data, key, (str,))
    for key in ("candidates", "probed", "budget", "new_probes"):
        _typed(data, key, (int,))
    for key in ("uploaded", "records"):
        _typed(data, key, (dict,))
    for key in ("untested", "seen"):
        entries = _typed(data, key, (list,))
        if entries is not None and not all(isinstance(e, dict) for e in entries):
            raise RecordError(f"{key}: every entry must be a mapping")


def run_meta(data: Mapping[str, Any]) -> None:
    """The fields of a ``run.json``, before it is built."""
    plain(data, "")
    _typed(data, "matrix", (dict,))
    for key in ("tools", "summary", "machine"):
        _typed(data, key, (dict,))
    cells = _typed(data, "cells", (list,))
    if cells is not None and not all(isinstance(c, str) and valid_name_of_cell(c) for c in cells):
        raise RecordError("cells: every cell must be named <row>--<server> as the matrix allows")
    for key in ("run", "started", "ended"):
        _typed(data, key, (str,))


def _cause(data: Mapping[str, Any]) -> None:
    cause = _typed(data, "cause", (str,))
    if cause is not None and cause not in CAUSES:
        raise RecordError(f"cause: {cause[:80]!r} is not one of " + ", ".join(CAUSES))


def _asked(asked: Mapping[str, Any]) -> None:
    for key in ("flask", "werkzeug", "server"):
        spec = asked.get(key)
        if spec is not None and (not isinstance(spec, str) or not check_version_spec(spec)):
            raise RecordError(f"asked.{key}: {str(spec)[:80]!r} is not a version or specifier")
    follows = asked.get("follows") or []
    if not isinstance(follows, list) or not all(isinstance(p, str) and valid_name(p) for p in follows):
        raise RecordError(f"asked.follows: {str(follows)[:80]!r} is not a list of package names")


def valid_name_of_cell(cell: str) -> bool:
    row, sep, server = cell.partition("--")
    return bool(sep) and valid_name(row) and valid_name(server)
