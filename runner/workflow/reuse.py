"""Reuse: a cell measured before, on this machine, with the same inputs, is not measured again.

A cell's inputs are everything its figures depend on: the versions its
environment holds (not the specifiers asked), its Python, the server with
its options and version, the probes that run on it with their settings and
their code's declared versions, the target app's source and the server
recipe's, and the nginx and wrk it uses.  They are hashed into the record's
``inputs``.  The machine is not in the hash: it is matched apart, so that
the same hash answers "did this change touch the cell?" on any machine.

Before a run probes, it looks for each cell's hash among the ``ok`` records
of the earlier complete runs of its results folder made on this machine
(platform, CPU model, cores, memory and host, not its load), newest first,
each read through the loader for untrusted runs, and a record measured on
this machine (not one such a run took from another); a record found is taken
over, its log copied beside it, and marked with the run and the day that
measured it (``reused``).  A record taken over from a reused one names the
run that measured it, so a measurement is never counted twice (see
:mod:`runner.compare`).  ``--fresh`` measures everything.

``--reuse-from RUN`` names the one run to take records from instead, a run
folder or a site's ``records.json.gz``, of any machine: what a pull request
runs, so that only the cells its change touches are measured (see
docs/github-actions.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import json
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from packaging.utils import canonicalize_name

from runner.environments import envs
from runner.errors import CellError
from runner.matrix.cells import Cell, Matrix
from runner.measuring.probes import probe_named
from runner.measuring.wrk import wrk_binary
from runner.records import store
from runner.records.checks import RecordError
from runner.records.machine import this_machine
from runner.records.record import CellRecord, EnvInfo, Machine, Reused, Status
from runner.serving import launch
from runner.serving.proxies import PROXIES
from runner.serving.servers import recipe_for

FORMAT = 2  # raised when what goes into the hash changes (2: the machine left out)
# What may be taken over: a measurement, or a fact of the versions (n/a); an
# error or a skip may be the machine's moment, and is tried again.
REUSABLE = (Status.OK, Status.NA)
MAX_RUNS = 50  # the earlier runs looked through, newest first

Progress = Callable[[str], None]


def identity(machine: Machine) -> dict[str, Any]:
    """What makes two runs' machines the same one (not the load of the moment)."""
    return {
        "platform": machine.platform,
        "cpu_model": machine.cpu,
        "cores": machine.cores,
        "memory_gib": machine.memory_gib,
        "host": machine.host,
    }


@functools.cache
def tool_versions() -> dict[str, str | None]:
    """The proxies (nginx) and wrk on this machine, as they say their versions."""
    found: dict[str, str | None] = {"wrk": _wrk_version()}
    for name, proxy in PROXIES.items():
        found[name] = None
        with contextlib.suppress(CellError, OSError, subprocess.SubprocessError):
            found[name] = proxy.version()
    return found


def _wrk_version() -> str | None:
    binary = wrk_binary()
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    first = (done.stdout or done.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0] if first else None


@functools.cache
def source_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def code_of(cell: Cell) -> dict[str, str]:
    """Hashes of the code that serves the cell: the target app's, the recipe's, the proxy's."""
    app = tuple(sorted((launch.REPO / "target_app").glob("*.py")))
    recipe = Path(str(sys.modules[recipe_for(cell.server.kind).command.__module__].__file__))
    code = {"app": source_hash(*app), "recipe": source_hash(recipe)}
    if cell.server.proxy is not None:
        front = PROXIES[cell.server.proxy].front
        code["proxy"] = source_hash(Path(str(sys.modules[front.__module__].__file__)))
    return code


def inputs_of(matrix: Matrix, cell: Cell, env: envs.Env, python: str) -> str:
    """The hash of everything the cell's figures depend on."""
    probes = matrix.probes_for(cell)
    server = cell.server
    blob = {
        "format": FORMAT,
        "cell": cell.name,
        "python": python,
        "packages": packages_key(env.packages),
        "server": {
            "kind": server.kind,
            "options": dict(server.options),
            "proxy": server.proxy,
            "proxy_options": dict(server.proxy_options),
            "cpus": server.cpus,
            "version": cell.server_pin,
        },
        "probes": {name: dict(settings) for name, settings in probes.items()},
        "repeats": matrix.repeats,
        "measured_by": {name: probe_named(name).version for name in probes},
        "code": code_of(cell),
        "tools": tool_versions(),
    }
    text = json.dumps(blob, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Earlier:
    """An ``ok`` record of an earlier run that a cell of this one may take over."""

    run_path: Path | None  # None: records with no logs beside them (a site's)
    record: CellRecord
    reused: Reused  # where it was measured


def earlier_records(
    results: Path, wanted: Mapping[str, str], *, skip: str = "", progress: Progress | None = None
) -> dict[str, Earlier]:
    """For each cell of ``wanted`` (cell -> the hash of its inputs), the newest
    earlier measurement with that hash.

    The hash covers the cell's name, so only a record of the same cell can
    match: each earlier complete run of this machine, newest first (at most
    :data:`MAX_RUNS`), is asked for the records of the cells still wanted,
    each read as untrusted.  A run or record that does not load is passed
    over with a line saying why.
    """
    found: dict[str, Earlier] = {}
    me = identity(this_machine())
    runs = results / "runs"
    names = sorted((p.name for p in runs.iterdir() if p.is_dir() and not p.is_symlink()), reverse=True)
    looked = 0
    for name in (n for n in names if n != skip):
        left = {cell for cell in wanted if cell not in found}
        if not left or looked >= MAX_RUNS:
            break
        path = runs / name
        try:
            meta = store.read_meta(path)
        except (RecordError, OSError):
            continue
        if not meta.complete or identity(meta.machine) != me:
            continue
        looked += 1
        for cell in sorted(left & store.record_names(path)):
            try:
                record = store.read_record(path, cell)
            except (RecordError, OSError) as exc:
                if progress is not None:
                    progress(f"  {path.name}/{cell} not read for reuse: {exc}")
                continue
            here = record.machine is None or identity(record.machine) == me  # not one taken from elsewhere
            if record.inputs == wanted[cell] and record.status in REUSABLE and here:
                found[cell] = Earlier(path, record, record.reused or Reused(meta.run, meta.started[:10]))
    return found


def records_from(source: Path, wanted: Mapping[str, str]) -> dict[str, Earlier]:
    """For each cell of ``wanted`` whose hash the named run's ``ok`` (or n/a)
    record of it carries, that record: the run is a folder or a site's
    compressed records, of any machine, read as untrusted."""
    meta, records = store.read_any(source)
    folder = None if store.is_published(source) else source  # a site's records carry no logs
    found = {}
    for record in records:
        if wanted.get(record.cell) == record.inputs and record.status in REUSABLE:
            reused = record.reused or Reused(meta.run, meta.started[:10])
            found[record.cell] = Earlier(folder, record, reused)
    return found


def take_over(earlier: Earlier, fresh: CellRecord, run: store.Run) -> CellRecord:
    """The earlier record as this run's: its place in this matrix, this run's
    environment, its log copied into this run."""
    record = earlier.record
    log = None
    if record.log and earlier.run_path is not None:
        target = run.log_path(fresh.cell)
        try:
            raw = store.read_inside(earlier.run_path, record.log, store.MAX_LOG_BYTES)
        except (RecordError, OSError):
            raw = b""
        if raw:
            target.write_bytes(raw)
            log = str(target.relative_to(run.path))
    env = fresh.env or record.env
    return dataclasses.replace(
        record,
        row_index=fresh.row_index,
        server_index=fresh.server_index,
        env=EnvInfo(env.path, env.backend, True) if env else None,
        log=log,
        reused=earlier.reused,
    )


def packages_key(packages: Mapping[str, str]) -> list[tuple[str, str]]:
    """The versions installed, named as the index names them, in order."""
    return sorted((canonicalize_name(k), v) for k, v in packages.items())
