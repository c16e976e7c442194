"""``nox -s watch [-- --since RUN_DIR]``: which releases appeared since a run, and the matrix it would run.

The packages watched are Flask, Werkzeug and the own package of every
server kind the matrix's columns run.  For each, the index is asked for its
releases and the time each was first uploaded (as period rows ask it); a
final release first uploaded after the run started is new.  Pythons are
watched too: a CPython minor version that uv or pyenv can install and
could not when the run was made.  With something new, the matrix it would
run is the matrix file with a row for each new Flask release appended, and
one for each new Python (the newest Flask on it) (the newest servers come with every
row that does not pin them; a new Werkzeug or server release changes the
environments of the rows that resolve to it, and reuse keeps the rest).
An answer the index garbles is one line, exit 2, and nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.version import Version

from runner.environments import interpreters, period
from runner.errors import CellError, UserError
from runner.matrix.cells import Matrix
from runner.records import store
from runner.records.checks import RecordError
from runner.records.record import RunMeta
from runner.serving.servers import recipe_for


@dataclass(frozen=True)
class New:
    package: str
    version: str
    uploaded: str


def watched(matrix: Matrix) -> list[str]:
    """Flask, Werkzeug, and each server package the matrix's columns run, in that order."""
    servers = []
    for server in matrix.servers:
        package = recipe_for(server.kind).package
        if package and package not in servers:
            servers.append(package)
    return ["flask", "werkzeug", *servers]


def since_meta(run_path: Path) -> RunMeta:
    """The run watched from, read as untrusted: a run folder, or a site's
    ``records.json.gz`` of one (as the workflow fetches the published runs)."""
    if store.is_published(run_path):
        return store.read_published(run_path)[0]
    store.require_run(run_path)
    try:
        return store.read_meta(run_path)
    except RecordError as exc:
        raise UserError(str(exc)) from None


def new_releases(packages: Sequence[str], since: str) -> list[New]:
    """Every final release of ``packages`` first uploaded after ``since``, oldest first."""
    found = []
    for package in packages:
        try:
            uploads = period.first_uploads(package)
        except CellError as exc:
            raise UserError(f"watch: {exc.reason}; nothing is run or published") from None
        for version, uploaded in uploads.items():
            if uploaded > since and not (version.is_prerelease or version.is_devrelease):
                found.append(New(package, str(version), uploaded))
    return sorted(found, key=lambda n: (n.package != "flask", n.uploaded, n.package))


def newer_minors(now: Sequence[str], then: str | None) -> list[str]:
    """The minors offered now above the newest offered to the run's machine (none: the run did not say)."""
    if not then:
        return []
    return [m for m in now if Version(m) > Version(then)]


def would_run(raw: dict[str, Any], new: Sequence[New], pythons: Sequence[str] = ()) -> dict[str, Any]:
    """The matrix file with a row for each new Flask release, and a row for
    each new Python minor: the newest Flask (the newest new release, else the
    last row's Flask) on it."""
    rows = list(raw.get("versions") or [])
    flasks = [n.version for n in new if n.package == "flask"]
    rows += [{"flask": version} for version in flasks]
    last = rows[-1] if rows else None
    newest = flasks[-1] if flasks else (last.get("flask") if isinstance(last, dict) else last)
    if isinstance(newest, str):
        rows += [{"flask": newest, "python": minor} for minor in pythons]
    return {**raw, "versions": rows}


def report(
    since_run: str, since: str, packages: Sequence[str], new: Sequence[New], pythons: Sequence[str]
) -> str:
    lines = [f"since run {since_run} (started {since}), asked of the index: {', '.join(packages)}"]
    if not new and not pythons:
        return "\n".join([*lines, "nothing new: no release of any of them, and no newer Python"])
    lines += [f"  {n.package} {n.version} (first uploaded {n.uploaded})" for n in new]
    lines += [f"  Python {p} (uv or pyenv can install it)" for p in pythons]
    return "\n".join(lines)


def watch(matrix: Matrix, since_run: Path, *, matrix_out: Path | None = None) -> tuple[str, bool]:
    """What is new since the run, said in lines, and whether anything is; with
    ``matrix_out``, the matrix it would run is written there when something is."""
    meta = since_meta(since_run)
    since = meta.started
    packages = watched(matrix)
    new = new_releases(packages, since)
    then = meta.tools.get(interpreters.PYTHONS_OFFERED)
    pythons = newer_minors(interpreters.offered_minors(), then)
    said = report(meta.run, since, packages, new, pythons)
    if not new and not pythons:
        return said, False
    text = yaml.safe_dump(would_run(dict(matrix.raw), new, pythons), sort_keys=False)
    if matrix_out is not None:
        matrix_out.write_text(text)
        said += f"\nthe matrix it would run: {matrix_out}"
    else:
        said += "\nthe matrix it would run:\n" + text
    return said, True
