"""``resolve: compatible``: a row whose newest dependencies do not run on its Python finds pins that do.

The row's Flask (and the pins the row gives, the user's own rules) is
installed as resolved today into a trial environment, and the target app
is started in it with Werkzeug's ``run_simple`` and asked for ``/hello``.
Where that fails, the failure names the package to blame: the one an
``ImportError`` says it could not import from, else the one whose code
raised.  That package's release lines are tried newest first (the newest
patch of each line, below the version that failed), each in a trial
environment of its own; the first line under which the failure no longer
blames the package is kept as ``<package><next line>`` (``jinja2<3.1``),
and the row is tried again.  The search ends when the app answers, or when
a package has no line left that helps: then the row is n/a with one line
saying why.  It is bounded by :data:`MAX_TRIES` environments.

There is no table of pins: the index's releases and the app itself decide.
What was found is kept per row, Python and index for a day, in
``compatible.json`` beside the environments (``--refresh`` searches again).
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import Version

from runner.environments import envs, period
from runner.errors import CellError, CellNotApplicable
from runner.files import locked, write_json
from runner.settings import without_credentials

MAX_TRIES = 40  # trial environments per row
MAX_LINES = 8  # release lines tried per package
CACHE = "compatible.json"
FORMAT = 1

Progress = Callable[[str], None]
# (the trial environment, its log) -> None where the app started and answered, else its log's text
Check = Callable[[envs.Env, Path], "str | None"]


@dataclass(frozen=True)
class Found:
    """What the search found for a row: the pins that make it run, or why none do."""

    pins: tuple[str, ...] = ()
    problem: str | None = None
    tries: int = 0
    failed: bool = False  # the search itself could not finish (the index did not answer): not kept

    def to_dict(self) -> dict[str, object]:
        return {"pins": list(self.pins), "problem": self.problem, "tries": self.tries}


_CANNOT_IMPORT = re.compile(r"cannot import name '([\w.]+)' from '([\w.]+)'")
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_FRAME = re.compile(r'File "[^"]*/site-packages/([A-Za-z_][\w]*)[/.]')
_ERROR = re.compile(r"^(\w+(?:Error|Exception)): (.+)$", re.M)
_WHERE = re.compile(r" \(/[^)]*\)")  # "(/path/to/module.py)" after an import's name


def culprit(log: str, modules: Mapping[str, str]) -> str | None:
    """The distribution a failure blames, from its traceback: the module an
    import could not find a name in (or could not find), else the package
    whose code raised.  ``modules`` maps top-level modules to distributions."""
    for pattern in (_CANNOT_IMPORT, _NO_MODULE):
        hits = pattern.findall(log)
        if hits:
            found = hits[-1]
            module = (found[-1] if isinstance(found, tuple) else found).split(".")[0]
            if module in modules:
                return modules[module]
    frames = _FRAME.findall(log)
    return modules.get(frames[-1]) if frames else None


def error_line(log: str) -> str:
    """The failure in a few words: ``ImportError: cannot import name 'Markup' from 'jinja2'``."""
    found = _ERROR.findall(log)
    if not found:
        lines = [line for line in log.splitlines() if line.strip()]
        return lines[-1][:200] if lines else "no output"
    kind, said = found[-1]
    return f"{kind}: {_WHERE.sub('', said)}"[:200]


def top_levels(site_packages: Path) -> dict[str, str]:
    """Top-level module -> the distribution that installed it, from each ``RECORD``."""
    found: dict[str, str] = {}
    for record in site_packages.glob("*.dist-info/RECORD"):
        name = record.parent.name.removesuffix(".dist-info").rsplit("-", 1)[0]
        for line in record.read_text(errors="replace").splitlines():
            top = line.split(",", 1)[0].split("/", 1)[0]
            if top.endswith(".py"):
                top = top[:-3]
            if top and not top.endswith((".dist-info", ".data")) and top != "__pycache__":
                found.setdefault(top, canonicalize_name(name))
    return found


def lines_below(package: str, version: str) -> list[tuple[Version, Version]]:
    """The newest patch of each release line below ``version``'s, newest first,
    each with the line above it (what a pin stays under: ``<3.1``)."""
    released = sorted(v for v in period.releases(package) if not (v.is_prerelease or v.is_devrelease))
    by_line: dict[tuple[int, int], list[Version]] = {}
    for v in released:
        by_line.setdefault((v.major, v.minor), []).append(v)
    failing = Version(version)
    ordered = sorted(by_line)
    out = []
    for line, above in zip(ordered, ordered[1:]):
        if line < (failing.major, failing.minor):
            out.append((by_line[line][-1], Version(f"{above[0]}.{above[1]}")))
    return out[::-1]


@dataclass(frozen=True)
class Trial:
    """One trial build: what failed (None: the app answered), and what it held."""

    failure: str | None
    installed: bool = True
    modules: Mapping[str, str] = field(default_factory=dict)  # top-level module -> distribution
    packages: Mapping[str, str] = field(default_factory=dict)

    @property
    def blamed(self) -> str | None:
        return culprit(self.failure, self.modules) if self.failure else None


class Search:
    """One row's search, over trial environments built from ``spec``."""

    def __init__(self, spec: envs.EnvSpec, root: Path, log: Path, check: Check, progress: Progress) -> None:
        self.spec, self.root, self.log, self.check, self.progress = spec, root, log, check, progress
        self.tries = 0

    def attempt(self, pins: Sequence[str]) -> Trial:
        """Build the row with ``pins`` and start the app in it; the environment goes after."""
        self.tries += 1
        spec = replace(self.spec, requirements=self.spec.requirements + tuple(pins))
        try:
            env = envs.ensure(spec, self.root, self.log)
        except CellError as exc:
            return Trial(f"does not install: {exc.reason}", installed=False)
        try:
            failure = self.check(env, self.log)
            return Trial(failure, modules=top_levels(_site_packages(env)), packages=dict(env.packages))
        finally:
            shutil.rmtree(env.path, ignore_errors=True)

    def run(self, flask: str, python: str) -> Found:
        pins: list[str] = []
        tried: set[str] = set()
        where = f"Flask {flask} cannot run on Python {python}"
        while self.tries < MAX_TRIES:
            trial = self.attempt(pins)
            if trial.failure is None:
                return Found(tuple(pins), tries=self.tries)
            if not trial.installed:
                return Found(
                    tuple(pins),
                    f"Flask {flask} does not install on Python {python}: {trial.failure}",
                    self.tries,
                )
            blamed, said = trial.blamed, error_line(trial.failure)
            if blamed is None and not _ERROR.search(trial.failure):  # killed, timed out: no answer, not kept
                return Found(
                    tuple(pins), f"a trial of Flask {flask} did not finish: {said}", self.tries, failed=True
                )
            if blamed is None or blamed == "flask" or blamed in tried:
                whom = "any of its dependencies" if blamed in (None, "flask") else f"any {blamed.title()}"
                return Found(tuple(pins), f"{where} with {whom}: `{said}`", self.tries)
            tried.add(blamed)
            installed = envs.version_in(trial.packages, blamed) or "0"
            self.progress(f"  {blamed} {installed} fails ({said}); trying its earlier release lines")
            pin = self.line_that_helps(blamed, installed, pins)
            if pin is None:
                return Found(tuple(pins), f"{where} with any {blamed.title()}: `{said}`", self.tries)
            pins.append(pin)
        return Found(
            tuple(pins),
            f"no pins found for Flask {flask} on Python {python} in {MAX_TRIES} trial builds",
            self.tries,
        )

    def line_that_helps(self, package: str, installed: str, pins: Sequence[str]) -> str | None:
        """``package<line>`` for the newest line under which the failure leaves ``package``."""
        for newest, above in lines_below(package, installed)[:MAX_LINES]:
            if self.tries >= MAX_TRIES:
                return None
            trial = self.attempt([*pins, f"{package}=={newest}"])
            if trial.installed and trial.blamed != package:
                return f"{package}<{above}"
        return None


def _site_packages(env: envs.Env) -> Path:
    found = sorted(env.path.glob("lib/python*/site-packages"))
    return found[0] if found else env.path


def answers(base_url: str) -> bool:
    """Whether the app answers ``/hello`` with 200."""
    try:
        with urllib.request.urlopen(
            f"{base_url}/hello", timeout=10
        ) as response:  # loopback: the app's own port
            return bool(response.status == 200)
    except OSError:
        return False


def cached(root: Path, key: str) -> Found | None:
    try:
        entry = json.loads((root / CACHE).read_text()).get(key)
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(entry, dict) or entry.get("day") != envs.today():
        return None
    pins, problem = entry.get("pins"), entry.get("problem")
    if not isinstance(pins, list) or not all(isinstance(p, str) for p in pins):
        return None
    return Found(tuple(pins), problem if isinstance(problem, str) else None, int(entry.get("tries") or 0))


def remember(root: Path, key: str, found: Found) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with locked(root / ".locks" / CACHE):
        try:
            data = json.loads((root / CACHE).read_text())
        except (OSError, ValueError):
            data = {}
        data = data if isinstance(data, dict) else {}
        data[key] = {**found.to_dict(), "day": envs.today()}
        write_json(root / CACHE, data)


def cache_key(spec: envs.EnvSpec) -> str:
    blob = {"format": FORMAT, "python": spec.interpreter.version, "requirements": list(spec.requirements)}
    return json.dumps({**blob, "index": without_credentials(period.index_url())}, sort_keys=True)


def not_applicable(found: Found) -> CellNotApplicable:
    return CellNotApplicable(str(found.problem))
