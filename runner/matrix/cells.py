"""``matrix.yaml``: read, validate, and expand into cells.

Reading the file (:func:`load`) is kept apart from parsing the data
(:func:`parse`), so parsing is tested with plain dicts.  Every problem is a
:class:`MatrixError` whose one line names the file, the place in it and what
would be accepted, raised before anything is built.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from runner.errors import UserError
from runner.matrix import generate, yamlfile
from runner.measuring.probes import PROBES
from runner.serving.proxies import PROXIES
from runner.serving.servers import RECIPES, Option, Recipe
from runner.serving.servers.base import requirement

TOP_KEYS = ("python", "versions", "servers", "probes")
ROW_KEYS = ("flask", "werkzeug", "python", "pins", "resolve", "servers", "name")
RESOLVE_MODES = ("latest", "period", "compatible")
MAX_REPEATS = 20
Fail = Callable[[str, str], "MatrixError"]
PYTHON_RE = re.compile(r"^[23]\.\d{1,2}$")


class Options(Mapping[str, Any]):
    """A column's options: a read-only mapping that can be hashed, so a
    :class:`Server` can be a dictionary key or a set member."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        self._items = dict(items or {})

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._items.items())))

    def __repr__(self) -> str:
        return f"Options({self._items!r})"


class ProbeSettings(Options):
    """One probe's settings, as matrix.yaml gives them with the probe's
    defaults filled in (what the probe reads), and the rows and columns it
    runs on (``rows``, ``servers``; None: every one)."""

    __slots__ = ("rows", "servers")

    def __init__(
        self,
        values: Mapping[str, Any],
        rows: tuple[str, ...] | None = None,
        servers: tuple[str, ...] | None = None,
    ) -> None:
        super().__init__(values)
        self.rows = rows
        self.servers = servers

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ProbeSettings) and (other.rows, other.servers) != (self.rows, self.servers):
            return False
        return isinstance(other, Mapping) and dict(self) == dict(other)

    def __hash__(self) -> int:
        return hash((super().__hash__(), self.rows, self.servers))

    def runs_on(self, row: str, server: str | None = None) -> bool:
        """Whether the probe runs on the row (and the column, where one is named)."""
        in_row = self.rows is None or row in self.rows
        return in_row and (server is None or self.servers is None or server in self.servers)

    def __repr__(self) -> str:
        return f"ProbeSettings({dict(self)!r}, rows={self.rows!r}, servers={self.servers!r})"


class MatrixError(UserError):
    def __init__(self, source: str, where: str, message: str, line: int | None = None) -> None:
        # a key of the file is part of the place; one made of control
        # characters is shown escaped, so that the refusal stays one line
        where = where.encode("unicode_escape").decode("ascii") if not where.isprintable() else where
        place = where + (f" (line {line})" if line and where else f"line {line}" if line else "")
        super().__init__(f"{source}: {place}: {message}" if place else f"{source}: {message}")


@dataclass(frozen=True)
class Row:
    """One row of the matrix: the versions asked for, not yet installed."""

    name: str
    flask: str
    werkzeug: str | None
    python: str
    pins: tuple[str, ...] = ()
    resolve: str = "latest"
    # Server packages the row pins (package -> version or specifier): a block
    # of such rows follows one server through its releases.
    servers: tuple[tuple[str, str], ...] = ()

    def server_pin(self, package: str | None) -> str | None:
        """What the row asks of a server package, if it pins it."""
        return next((spec for name, spec in self.servers if name == package), None)

    def requirements(self) -> tuple[str, ...]:
        reqs = [requirement("flask", self.flask)]
        if self.werkzeug:
            reqs.append(requirement("werkzeug", self.werkzeug))
        return tuple(reqs) + self.pins

    def versions(self) -> dict[str, str]:
        """Package name -> the version or specifier the row asks for."""
        asked = dict(flask=self.flask)  # noqa: C408 - package names, as a server recipe reads them
        if self.werkzeug:
            asked.update(werkzeug=self.werkzeug)
        return asked

    def describe(self) -> str:
        text = f"Flask {self.flask}"
        if self.werkzeug:
            text += f", Werkzeug {self.werkzeug}"
        text += "".join(f", {name} {spec}" for name, spec in self.servers)
        return text + f" on Python {self.python}" + (f" ({self.resolve})" if self.resolve != "latest" else "")


@dataclass(frozen=True)
class Server:
    """One column: a name, a recipe kind and that kind's options."""

    name: str
    kind: str
    options: Options = field(default_factory=Options)
    proxy: str | None = None  # the proxy registry's name of what stands in front
    proxy_options: Options = field(default_factory=Options)
    cpus: int | None = None  # the cores its processes (a proxy's too) are kept to; None: all
    version: str | None = None  # the server package's version or specifier; None: what resolves


@dataclass(frozen=True)
class Cell:
    row: Row
    server: Server

    @property
    def name(self) -> str:
        return f"{self.row.name}--{self.server.name}"

    @property
    def server_pin(self) -> str | None:
        """The version asked of the cell's server package: the column's own,
        else the row's (a row's ``servers:``), else none."""
        if self.server.version is not None:
            return self.server.version
        return self.row.server_pin(RECIPES[self.server.kind].package)


@dataclass(frozen=True)
class Matrix:
    source: str
    python: str
    rows: tuple[Row, ...]
    servers: tuple[Server, ...]
    probes: Mapping[str, ProbeSettings]
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)
    repeats: int = 1  # each cell's probes, each time in a fresh server process
    expansions: tuple[generate.Expansion, ...] = field(default=(), compare=False)  # the rows that expanded

    def probes_for(self, cell: Cell) -> dict[str, Mapping[str, Any]]:
        """The probes that run on this cell, concurrency first."""
        return {
            name: settings
            for name, settings in self.probes.items()
            if settings.runs_on(cell.row.name, cell.server.name)
        }

    def cells(self) -> list[Cell]:
        return list(expand(self))


MAX_NAME = 64
NAME_RULE = f"1 to {MAX_NAME} letters, digits, '.', '_', '+' or single '-', starting with a letter or digit"


def valid_name(name: str) -> bool:
    """A row or column name that can stand in a file name and a session name anywhere."""
    return (
        re.fullmatch(rf"[A-Za-z0-9][A-Za-z0-9._+-]{{0,{MAX_NAME - 1}}}", name) is not None
        and "--" not in name
    )


def _same_ignoring_case(names: list[str]) -> tuple[int, int] | None:
    """The first two places whose names differ only in case (one file on macOS or Windows)."""
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if name.lower() in seen:
            return seen[name.lower()], i
        seen[name.lower()] = i
    return None


def check_version_spec(spec: str) -> bool:
    """An exact version, ``X.Y.*``, or a specifier set such as ``>=1,<2``; not
    arbitrary equality (``===``), which takes any string at all for a version."""
    spec = spec.strip()
    if not spec or "===" in spec:
        return False
    if spec[:1].isdigit():
        if spec.endswith(".*"):
            spec = spec[:-2]
        try:
            Version(spec)
        except InvalidVersion:
            return False
        return True
    try:
        SpecifierSet(spec)
    except InvalidSpecifier:
        return False
    return True


def slug(spec: str) -> str:
    """A version or specifier as it can stand in a session and file name."""
    out = spec.strip().replace(" ", "")
    for old, new in (
        ("==", ""),
        (">=", "ge"),
        ("<=", "le"),
        ("!=", "ne"),
        ("~=", "compat"),
        (">", "gt"),
        ("<", "lt"),
        (",", "-"),
        ("*", "x"),
    ):
        out = out.replace(old, new)
    return out


def row_name(
    flask: str,
    werkzeug: str | None,
    python: str | None,
    resolve: str,
    servers: tuple[tuple[str, str], ...] = (),
) -> str:
    name = f"flask-{slug(flask)}"
    if werkzeug:
        name += f"-werkzeug-{slug(werkzeug)}"
    name += "".join(f"-{package}-{slug(spec)}" for package, spec in servers)
    if python:
        name += f"-py{python}"
    if resolve != "latest":
        name += f"-{resolve}"
    return name


def load(path: Path, releases: generate.Releases | None = None) -> Matrix:
    """The matrix in a file: read within bounds (see :mod:`runner.matrix.yamlfile`), then parsed."""
    try:
        data, lines = yamlfile.read(path)
    except yamlfile.YamlProblem as exc:
        message = exc.message
        if exc.line is None and message.startswith(
            ("is a directory", "is not a file", "does not exist", "cannot be read")
        ):
            raise MatrixError(str(path), "", message) from None
        if message.startswith("not valid YAML"):
            message += "; expected a mapping with keys " + ", ".join(TOP_KEYS)
        raise MatrixError(path.name, "", message, line=exc.line) from None
    return parse(data, path.name, lines, releases)


def parse(
    data: Any,
    source: str = "matrix.yaml",
    lines: Mapping[str, int] | None = None,
    releases: generate.Releases | None = None,
) -> Matrix:
    """The matrix in ``data``; ``lines`` (key path -> line) places errors in the file;
    ``releases`` lists a package's releases for the rows that expand (see
    :mod:`runner.matrix.generate`; none: they expand to no rows)."""
    fail = _locator(source, lines or {})
    if not isinstance(data, dict):
        raise fail("", "expected a mapping with keys " + ", ".join(TOP_KEYS) + f", found {_type_name(data)}")
    _no_unknown_keys(data, TOP_KEYS, "", fail)
    default_python = _python(data.get("python", "3.11"), "python", fail)
    rows, expansions = _rows(data.get("versions"), default_python, fail, releases)
    servers_data = data.get("servers")
    if not isinstance(servers_data, dict) or not servers_data:
        raise fail(
            "servers",
            "expected a non-empty mapping of column name to {kind: ...}, found " + _type_name(servers_data),
        )
    servers = [_server(name, spec, fail) for name, spec in servers_data.items()]
    clash = _same_ignoring_case([server.name for server in servers])
    if clash:
        first, again = servers[clash[0]].name, servers[clash[1]].name
        raise fail(
            f"servers.{again}",
            f"differs from {first!r} only in case; on a file system that "
            "ignores case both would write the same files: rename one",
        )
    probes, repeats = _probes(data.get("probes", {}), [r.name for r in rows], [s.name for s in servers], fail)
    return Matrix(
        source=source,
        python=default_python,
        rows=tuple(rows),
        servers=tuple(servers),
        probes=probes,
        raw=data,
        repeats=repeats,
        expansions=tuple(expansions),
    )


def _locator(source: str, lines: Mapping[str, int]) -> Fail:
    """An error maker that places each error at the line of its key, or of the nearest parent."""

    def fail(where: str, message: str) -> MatrixError:
        probe = where
        while probe and probe not in lines:
            parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", probe)
            probe = parent if parent != probe else ""
        return MatrixError(source, where, message, line=lines.get(probe))

    return fail


def _rows(
    versions: Any, default_python: str, fail: Fail, releases: generate.Releases | None = None
) -> tuple[list[Row], list[generate.Expansion]]:
    if not isinstance(versions, list) or not versions:
        raise fail(
            "versions",
            'expected a non-empty list of rows such as [{flask: "3.1.*"}], found ' + _type_name(versions),
        )
    rows: list[Row] = []
    expansions = []
    for i, entry in enumerate(versions):
        where = f"versions[{i}]"
        package = generate.generated_package(entry)
        if package is None:
            rows.append(_row(entry, where, default_python, fail))
            continue
        entries, expansion = generate.expand(entry, package, where, fail, releases)
        made = [_row(one, where, default_python, fail) for one in entries]
        expansions.append(dataclasses.replace(expansion, rows=tuple(r.name for r in made)))
        rows += made
    _distinct(rows, fail)
    return rows, expansions


def _distinct(rows: list[Row], fail: Fail) -> None:
    seen: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.name in seen:
            raise fail(
                f"versions[{i}]",
                f"duplicates versions[{seen[row.name]}] ({row.name}); "
                "change it or give one of them a distinct 'name'",
            )
        seen[row.name] = i
    clash = _same_ignoring_case([row.name for row in rows])
    if clash:
        raise fail(
            f"versions[{clash[1]}].name",
            f"differs from the name of versions[{clash[0]}] only in "
            "case; on a file system that ignores case both would write the same files",
        )


def expand(matrix: Matrix) -> Iterator[Cell]:
    """Every row x server, row by row, in the file's order."""
    for row in matrix.rows:
        for server in matrix.servers:
            yield Cell(row, server)


def _row(entry: Any, where: str, default_python: str, fail: Fail) -> Row:
    if isinstance(entry, (str, int, float)) and not isinstance(entry, bool):
        raise fail(where, f'expected a mapping such as {{flask: "{entry}"}}, found {_type_name(entry)}')
    if not isinstance(entry, dict):
        raise fail(where, f'expected a mapping such as {{flask: "3.1.*"}}, found {_type_name(entry)}')
    _no_unknown_keys(entry, ROW_KEYS, where, fail)
    if "flask" not in entry:
        raise fail(where, 'has no flask key; every row names a Flask version, e.g. flask: "3.1.*"')
    flask = _version(entry["flask"], f"{where}.flask", fail)
    werkzeug = _version(entry["werkzeug"], f"{where}.werkzeug", fail) if "werkzeug" in entry else None
    python = _python(entry["python"], f"{where}.python", fail) if "python" in entry else None
    pins = _pins(entry.get("pins", []), f"{where}.pins", fail)
    servers = _row_servers(entry.get("servers", {}), f"{where}.servers", fail)
    resolve = entry.get("resolve", "latest")
    if resolve not in RESOLVE_MODES:
        raise fail(
            f"{where}.resolve", f"{resolve!r} is not known; expected one of " + ", ".join(RESOLVE_MODES)
        )
    if resolve == "period" and (not flask[:1].isdigit() or "*" in flask):
        raise fail(
            f"{where}.resolve",
            f'period resolution needs an exact Flask version such as "0.12.4", found {flask!r}',
        )
    name = entry.get("name")
    default_name = row_name(flask, werkzeug, python, resolve, servers)
    if name is None and not valid_name(default_name):
        raise fail(
            where,
            f"its name would be {default_name!r}, over {MAX_NAME} characters; give the row a shorter 'name'",
        )
    if name is None:
        name = default_name
    elif not isinstance(name, str) or not valid_name(name):
        raise fail(f"{where}.name", f"expected {NAME_RULE} (it names files and sessions), found {name!r}")
    return Row(
        name=name,
        flask=flask,
        werkzeug=werkzeug,
        python=python or default_python,
        pins=pins,
        resolve=resolve,
        servers=servers,
    )


def server_packages() -> dict[str, str]:
    """Each server package a row or a column may pin, and the kinds it serves."""
    found: dict[str, list[str]] = {}
    for kind, recipe in RECIPES.items():
        if recipe.package is not None:
            found.setdefault(recipe.package, []).append(kind)
    return {package: ", ".join(kinds) for package, kinds in found.items()}


def _row_servers(value: Any, where: str, fail: Fail) -> tuple[tuple[str, str], ...]:
    """``servers: {gunicorn: "23.0.0"}``: the server packages a row pins."""
    known = server_packages()
    if not isinstance(value, dict):
        raise fail(
            where,
            'expected a mapping of server package to version such as {gunicorn: "23.0.0"}, found '
            + _type_name(value),
        )
    pinned = []
    for package, spec in value.items():
        if package not in known:
            raise fail(
                f"{where}.{package}",
                f"{package!r} is not a server package; expected one of " + ", ".join(sorted(known)),
            )
        pinned.append((str(package), _version(spec, f"{where}.{package}", fail)))
    return tuple(pinned)


def _pins(pins: Any, where: str, fail: Fail) -> tuple[str, ...]:
    if not isinstance(pins, list) or not all(isinstance(p, str) for p in pins):
        raise fail(
            where,
            f'expected a list of requirement strings such as ["jinja2<3"], found {_type_name(pins)}',
        )
    for i, pin in enumerate(pins):
        if not _is_requirement(pin):
            raise fail(
                f"{where}[{i}]",
                f"{pin!r} is not a requirement; expected a package "
                'name with an optional specifier, such as "jinja2<3"',
            )
    return tuple(pins)


def _server(name: Any, spec: Any, fail: Fail) -> Server:
    where = f"servers.{name}"
    if not isinstance(name, str) or not valid_name(name):
        raise fail(where, f"a column name is {NAME_RULE}, found {name!r}")
    if not isinstance(spec, dict):
        raise fail(
            where, f"expected a mapping such as {{kind: gunicorn, workers: 2}}, found {_type_name(spec)}"
        )
    kind = spec.get("kind")
    if kind not in RECIPES:
        known = ", ".join(sorted(RECIPES))
        if kind is None:
            raise fail(where, f"has no kind; expected one of {known}")
        raise fail(f"{where}.kind", f"{kind!r} is not a known server kind; expected one of {known}")
    recipe = RECIPES[kind]
    allowed = ("kind", "proxy", "cpus", *(("version",) if recipe.package else ()), *recipe.options)
    if "version" in spec and recipe.package is None:
        raise fail(
            f"{where}.version",
            f"{kind} has no package of its own to pin: its version is the row's Flask "
            "or Werkzeug; pin those in the row",
        )
    _no_unknown_keys(spec, allowed, where, fail, what=f"key for kind {kind}")
    options = _options(spec, recipe.options, where, fail)
    version = _server_version(spec, recipe, options, where, fail)
    proxy, proxy_options = _proxy(spec.get("proxy"), f"{where}.proxy", fail)
    cpus = spec.get("cpus")
    if cpus is not None and not CPUS.accepts(cpus):
        raise fail(f"{where}.cpus", f"expected {CPUS.describe()} (cores for the server), found {cpus!r}")
    return Server(
        name=name,
        kind=kind,
        options=options,
        proxy=proxy,
        proxy_options=proxy_options,
        cpus=cpus,
        version=version,
    )


def _server_version(
    spec: Mapping[str, Any], recipe: Recipe, options: Options, where: str, fail: Fail
) -> str | None:
    """A column's ``version``, checked as a version and against what the
    recipe says that release cannot do with the options (an exact one)."""
    if "version" not in spec:
        return None
    version = _version(spec["version"], f"{where}.version", fail)
    if recipe.package and version[:1].isdigit() and "*" not in version:
        why_not = recipe.unsupported(options, {recipe.package: version})
        if why_not:
            raise fail(f"{where}.version", f"{why_not}; choose a later version or other options")
    return version


# A column's cores: as a container would limit them, so that the load
# generator keeps the others.
CPUS = Option(int, minimum=1, maximum=256)


def _options(spec: Mapping[str, Any], accepted: Mapping[str, Option], where: str, fail: Fail) -> Options:
    """The options ``spec`` gives, each checked against what its recipe accepts."""
    options: dict[str, Any] = {}
    for key, option in accepted.items():
        if key in spec:
            if not option.accepts(spec[key]):
                raise fail(f"{where}.{key}", f"expected {option.describe()}, found {spec[key]!r}")
            options[key] = spec[key]
    return Options(options)


def _proxy(value: Any, where: str, fail: Fail) -> tuple[str | None, Options]:
    """``proxy: nginx`` or ``proxy: {kind: nginx, <its options>}``."""
    if value is None:
        return None, Options()
    spec = value if isinstance(value, dict) else {"kind": value}
    kind = spec.get("kind")
    if not isinstance(kind, str) or kind not in PROXIES:
        raise fail(
            where,
            f"{kind!r} is not a known proxy; expected one of " + ", ".join(PROXIES) + " (or {kind: ...})",
        )
    _no_unknown_keys(spec, ("kind", *PROXIES[kind].options), where, fail, what=f"option for proxy {kind}")
    return kind, _options(spec, PROXIES[kind].options, where, fail)


def _probes(
    data: Any, row_names: list[str], server_names: list[str], fail: Fail
) -> tuple[dict[str, ProbeSettings], int]:
    if not isinstance(data, dict):
        raise fail("probes", f"expected a mapping of probe name to settings, found {_type_name(data)}")
    _no_unknown_keys(data, (*PROBES, "repeats"), "probes", fail, what="probe")
    repeats = data.get("repeats", 1)
    if not isinstance(repeats, int) or isinstance(repeats, bool) or not 1 <= repeats <= MAX_REPEATS:
        raise fail("probes.repeats", f"expected a whole number from 1 to {MAX_REPEATS}, found {repeats!r}")
    # A probe that always runs (the headline) needs no mention; the others run
    # where the file names them.
    probes = {name: ProbeSettings(p.defaults()) for name, p in PROBES.items() if p.always}
    for name, settings in data.items():
        if name != "repeats":
            probes[name] = _probe_settings(name, settings, (row_names, server_names), fail)
    return probes, repeats


def _probe_settings(
    name: str, settings: Any, names: tuple[list[str], list[str]], fail: Fail
) -> ProbeSettings:
    """A probe's settings over its defaults, and the rows and columns it keeps to."""
    where = f"probes.{name}"
    probe = PROBES[name]
    if settings is None:
        settings = {}
    if not isinstance(settings, dict):
        raise fail(where, f"expected a mapping of settings, found {_type_name(settings)}")
    _no_unknown_keys(settings, (*probe.settings, *KEPT_TO), where, fail, what="setting")
    merged: dict[str, Any] = probe.defaults()
    kept: dict[str, tuple[str, ...]] = {}
    for key, value in settings.items():
        if key in KEPT_TO:
            kept[key] = _probe_rows(
                value, f"{where}.{key}", names[list(KEPT_TO).index(key)], fail, KEPT_TO[key]
            )
            continue
        setting = probe.settings[key]
        if not setting.valid(value):
            raise fail(f"{where}.{key}", f"expected {setting.accepts()}, found {value!r}")
        merged[key] = value
    return ProbeSettings(merged, kept.get("rows"), kept.get("servers"))


# What a probe's settings may keep it to: the rows or the columns named, in
# this order (each named as the matrix names it).
KEPT_TO = {"rows": "row", "servers": "column"}


def _probe_rows(value: Any, where: str, known: list[str], fail: Fail, what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise fail(where, f"expected a list of {what} names, found {_type_name(value)}")
    unknown = [v for v in value if v not in known]
    if unknown:
        raise fail(where, f"no {what} named {unknown[0]!r}; {what}s are " + ", ".join(known))
    return tuple(value)


def _version(value: Any, where: str, fail: Fail) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise fail(
            where,
            f"{value!r} must be quoted: YAML reads it as a number; "
            f'write "{value}" (an exact version such as "1.0.4", or a specifier '
            'such as "3.1.*" or ">=2,<3")',
        )
    if not isinstance(value, str) or not check_version_spec(value):
        raise fail(
            where,
            f"{value!r} is not a version or specifier; expected an exact version "
            'such as "1.0.4", or a specifier such as "3.1.*" or ">=2,<3"',
        )
    return value.strip()


def _python(value: Any, where: str, fail: Fail) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise fail(
            where,
            f'{value!r} must be quoted: YAML reads it as a number (3.10 becomes 3.1); write it as "3.11"',
        )
    if not isinstance(value, str) or not PYTHON_RE.match(value.strip()):
        raise fail(where, f'{value!r} is not a Python version; expected major.minor such as "3.11"')
    return value.strip()


def _is_requirement(text: str) -> bool:
    match = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)(\[[A-Za-z0-9,._-]*\])?\s*(.*)", text)
    if not match:
        return False
    rest = match.group(3).strip()
    if not rest:
        return True
    try:
        SpecifierSet(rest)
    except InvalidSpecifier:
        return False
    return True


def _no_unknown_keys(
    data: Mapping[Any, Any], allowed: tuple[str, ...], where: str, fail: Fail, what: str = "key"
) -> None:
    for key in data:
        if key not in allowed:
            place = f"{where}.{key}" if where else str(key)
            raise fail(place, f"unknown {what} {key!r}; expected one of " + ", ".join(allowed))


def _type_name(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
