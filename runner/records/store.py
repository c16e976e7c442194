"""The results store: one folder per run, written whole, never overwritten.

::

    results/runs/<run-id>/run.json          machine, tools, matrix, start and end
    results/runs/<run-id>/cells/<cell>.json one record per cell
    results/runs/<run-id>/logs/<cell>.log   the build and server output
    results/runs/<run-id>/bisect.json       the answers of ``nox -s bisect`` for the run
    results/runs/<run-id>/report.md ...     the published artefacts (runner.publish)
    results/latest                          symlink to the newest run

Records go in and come out as :mod:`runner.records.record` types; files are written
through :mod:`runner.files`, whole or not at all.  Only this module knows the
layout: merge, bisect and publish ask it for every path inside a run folder.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import gzip
import io
import json
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import IO, Any

from runner.errors import UserError
from runner.files import gzipped_json, redact_file, write_bytes, write_json
from runner.records.machine import this_machine
from runner.records.record import (
    SCHEMA,
    BisectAnswer,
    CellRecord,
    RecordError,
    RunMeta,
    load_cell,
    load_run_meta,
)


class Run:
    """One run folder: its metadata, its records, its lock."""

    def __init__(self, root: Path, path: Path, meta: RunMeta) -> None:
        self.root = root  # results/
        self.path = path  # results/runs/<run-id>
        self.meta = meta
        self._lock: IO[str] | None = None

    @property
    def id(self) -> str:
        return self.path.name

    def cell_path(self, cell_name: str) -> Path:
        return cell_path(self.path, cell_name)

    def log_path(self, cell_name: str) -> Path:
        path = self.path / "logs" / f"{cell_name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_cell(self, record: CellRecord) -> None:
        write_json(self.cell_path(record.cell), record.to_dict())

    def records(self) -> list[CellRecord]:
        return read_records(self.path)

    def try_lock(self) -> bool:
        """Hold this run's lock for the life of the process; False if another holds it."""
        handle = open(self.path / ".lock", "w")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock = handle
        return True

    def release(self) -> None:
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def seal_logs(self) -> None:
        """The logs servers and installers wrote, rewritten without credentials."""
        logs = self.path / "logs"
        if logs.is_dir() and not logs.is_symlink():
            for log in logs.iterdir():
                if log.is_file() and not log.is_symlink():
                    redact_file(log)

    def finish(self, *, complete: bool, summary: Mapping[str, Any]) -> None:
        """Mark the run ended (complete or not); its report is drawn from what is on disk."""
        self.meta = dataclasses.replace(self.meta, ended=now(), complete=complete, summary=dict(summary))
        write_json(self.path / "run.json", self.meta.to_dict())
        point_latest(self.root, self.path)


# What one file of a run folder may weigh: a record of 1000 requests' intervals
# is about 100 KB, a run.json of a 1000-cell matrix about 200 KB.
MAX_RECORD_BYTES = 4 * 1024 * 1024
MAX_RUN_JSON_BYTES = 8 * 1024 * 1024
MAX_LOG_BYTES = 64 * 1024 * 1024


def read_untrusted(path: Path, limit: int) -> bytes:
    """A regular file of a run folder, never through a link, at most ``limit`` bytes."""
    base = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return _read_at(base, path.name, limit, path)
    finally:
        os.close(base)


def read_inside(run_path: Path, relative: str, limit: int) -> bytes:
    """The file ``relative`` (``logs/x.log``) of a run folder, every folder on the way
    opened without following a link, so nothing is read from outside the run."""
    *folders, name = relative.split("/")
    base = _open_folders(run_path, folders)
    try:
        return _read_at(base, name, limit, run_path / relative)
    finally:
        os.close(base)


def _open_folders(run_path: Path, folders: Iterable[str]) -> int:
    """A descriptor of ``run_path/folders...``: the run folder may be a link, as
    ``results/latest`` is; nothing inside it is followed."""
    fd = os.open(run_path, os.O_RDONLY | os.O_DIRECTORY)
    shown = run_path
    try:
        for folder in folders:
            shown = shown / folder
            try:
                inner = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                raise RecordError(f"{shown}: {_why(exc)}") from None
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _why(exc: OSError) -> str:
    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
        return "a link or a file where a folder belongs, which a run folder may not hold"
    return exc.strerror or str(exc)


def _read_at(folder: int, name: str, limit: int, shown: Path) -> bytes:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=folder)
    except OSError as exc:
        why = "a link, which a run folder may not hold" if exc.errno == errno.ELOOP else exc.strerror
        raise RecordError(f"{shown}: {why}") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise RecordError(f"{shown}: not a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= limit and (chunk := os.read(fd, min(1 << 20, limit + 1 - size))):
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > limit:
        raise RecordError(f"{shown}: over {limit} bytes, more than a run's file holds")
    return b"".join(chunks)


def read_untrusted_json(path: Path, limit: int, raw: bytes | None = None) -> dict[str, Any]:
    """A JSON object from a run folder: plain values only (no NaN or Infinity)."""
    raw = read_untrusted(path, limit) if raw is None else raw
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise RecordError(f"{path}: not UTF-8 text") from None
    except ValueError as exc:
        raise RecordError(f"{path}: not JSON ({exc})") from None
    except RecursionError:
        raise RecordError(f"{path}: nested too deeply to be a run's file") from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def read_records(run_path: Path) -> list[CellRecord]:
    """Every cell record of a run folder, of any schema this version reads, each
    checked as untrusted (see :mod:`runner.records.checks`).

    A record written before cells carried their machine takes its run's.
    """
    folder = run_path / "cells"
    try:
        cells = _open_folders(run_path, ["cells"])
    except FileNotFoundError:
        return []
    except RecordError:
        if not folder.is_symlink() and not folder.exists():
            return []
        raise
    records = []
    try:
        for name in sorted(n for n in os.listdir(cells) if n.endswith(".json")):
            path = folder / name
            try:
                raw = _read_at(cells, name, MAX_RECORD_BYTES, path)
                records.append(load_cell(read_untrusted_json(path, MAX_RECORD_BYTES, raw)))
            except (ValueError, KeyError) as exc:
                said = str(exc)
                raise RecordError(said if said.startswith(str(path)) else f"{path}: {said}") from None
    finally:
        os.close(cells)
    if any(r.machine is None for r in records) and (run_path / "run.json").exists():
        machine = read_meta(run_path).machine
        records = [r if r.machine else dataclasses.replace(r, machine=machine) for r in records]
    return records


def record_names(run_path: Path) -> set[str]:
    """The cells a run folder holds a record of, by name (none: an empty set)."""
    try:
        cells = _open_folders(run_path, ["cells"])
    except (FileNotFoundError, RecordError):
        return set()
    try:
        return {n[: -len(".json")] for n in os.listdir(cells) if n.endswith(".json")}
    finally:
        os.close(cells)


def read_record(run_path: Path, cell: str) -> CellRecord:
    """One cell's record of a run folder, checked as :func:`read_records` checks each."""
    path = cell_path(run_path, cell)
    try:
        raw = read_inside(run_path, f"cells/{path.name}", MAX_RECORD_BYTES)
        return load_cell(read_untrusted_json(path, MAX_RECORD_BYTES, raw))
    except (ValueError, KeyError) as exc:
        said = str(exc)
        raise RecordError(said if said.startswith(str(path)) else f"{path}: {said}") from None


def require_run(path: Path, shown: str | None = None) -> None:
    """One line for a folder that is not a run's."""
    if not (path / "run.json").is_file():
        raise UserError(
            f"{shown or path}: not a run folder (no run.json); run folders are results/runs/<run-id>"
        )


def read_run(path: Path) -> tuple[RunMeta, list[CellRecord]]:
    """A stored run's metadata and records, for the commands that read runs
    (report, compare, merge, bisect): what cannot be read is one line."""
    require_run(path)
    try:
        return read_meta(path), read_records(path)
    except RecordError as exc:
        raise UserError(str(exc)) from None


PUBLISHED = ".json.gz"  # a site's records of one run, compressed (runner.publish.site writes them)
MAX_PUBLISHED_BYTES = 64 * 1024 * 1024


def is_published(path: Path) -> bool:
    return path.name.endswith(PUBLISHED)


def published_bytes(meta: RunMeta, records: Iterable[CellRecord]) -> bytes:
    """A run's metadata and records as a site publishes them: gzip of one JSON
    document, the same bytes for the same run (no time in the gzip header)."""
    ordered = sorted(records, key=lambda r: (r.row_index, r.server_index))
    data = {"schema": SCHEMA, "run": meta.to_dict(), "cells": [r.to_dict() for r in ordered]}
    return gzipped_json(data)


def read_published(path: Path) -> tuple[RunMeta, list[CellRecord]]:
    """A site's ``records.json.gz`` of one run, read as untrusted (it came over
    the network): bounded, every record checked as a run folder's are."""
    try:
        raw = read_untrusted(path, MAX_PUBLISHED_BYTES)
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as unpacked:
            text = unpacked.read(MAX_PUBLISHED_BYTES + 1)
        if len(text) > MAX_PUBLISHED_BYTES:
            raise ValueError(f"over {MAX_PUBLISHED_BYTES} bytes unpacked")
        data = json.loads(text, parse_constant=_no_constant)
    except (OSError, EOFError, ValueError, RecordError) as exc:
        raise UserError(f"{path}: not a site's compressed records of a run ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise UserError(f"{path}: not a site's compressed records of a run (no list of cells)")
    try:
        return load_run_meta(data.get("run") or {}), [load_cell(cell) for cell in data["cells"]]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise UserError(f"{path}: {exc}") from None


def read_any(path: Path) -> tuple[RunMeta, list[CellRecord]]:
    """A run folder or a site's compressed records of one, as :func:`read_run`."""
    return read_published(path) if is_published(path) else read_run(path)


def read_meta(run_path: Path) -> RunMeta:
    path = run_path / "run.json"
    try:
        return load_run_meta(read_untrusted_json(path, MAX_RUN_JSON_BYTES))
    except (OSError, ValueError) as exc:
        message = str(exc)
        raise RecordError(message if message.startswith(str(path)) else f"{path}: {message}") from None


def new_run(
    root: Path, matrix: Mapping[str, Any], *, cells: Iterable[str], tools: Mapping[str, str | None]
) -> Run:
    """Make a fresh run folder; an existing one is never reused."""
    path = new_run_path(root)
    meta = RunMeta(
        run=path.name,
        started=now(),
        matrix=dict(matrix),
        cells=tuple(cells),
        machine=this_machine(),
        tools=dict(tools),
    )
    write_json(path / "run.json", meta.to_dict())
    run = Run(root=root, path=path, meta=meta)
    run.try_lock()
    point_latest(root, path)  # an interrupted run is found here by the next one
    return run


def new_run_path(root: Path, suffix: str = "") -> Path:
    """A new, empty folder ``results/runs/<UTC time>[-suffix]``, made now."""
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + (f"-{suffix}" if suffix else "")
    for attempt in range(1, 1000):
        path = runs / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise RuntimeError("could not make a new run folder")  # pragma: no cover - a thousand in one second


def resumable(root: Path, matrix: Mapping[str, Any], cells: list[str]) -> Run | None:
    """The newest run, if it stopped before the end with this same matrix and
    cells and no other process is running it: a re-run continues it."""
    path = latest(root)
    if path is None:
        return None
    try:
        meta = read_meta(path)
    except RecordError:
        return None
    same = json.dumps(dict(meta.matrix), sort_keys=True) == json.dumps(dict(matrix), sort_keys=True)
    if meta.complete or not same or list(meta.cells) != cells:
        return None
    run = Run(root=root, path=path, meta=meta)
    return run if run.try_lock() else None


def point_latest(root: Path, run_path: Path) -> None:
    link = root / "latest"
    tmp = root / f".latest.{os.getpid()}"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    os.symlink(os.path.relpath(run_path, root), tmp)
    os.replace(tmp, link)


def latest(root: Path) -> Path | None:
    link = root / "latest"
    return link.resolve() if link.exists() else None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


BISECT_FILE = "bisect.json"
CHARTS = "charts"


def artefact_path(run_path: Path, name: str) -> Path:
    """Where a published file of the run goes: ``name`` directly in its folder."""
    if not name or "/" in name or name in (".", "..") or name.startswith("."):
        raise ValueError(f"not an artefact's name: {name!r}")
    return run_path / name


def charts_path(run_path: Path) -> Path:
    """The folder of the run's chart images."""
    return run_path / CHARTS


def own_folder(path: Path) -> Path:
    """``path`` as a folder of the run itself: a link there (or a file) is
    replaced by a folder, never written through."""
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        path.unlink()
    path.mkdir(parents=True, exist_ok=True)
    return path


def cell_path(run_path: Path, cell_name: str) -> Path:
    return run_path / "cells" / f"{cell_name}.json"


def bisect_answers(run_path: Path) -> list[BisectAnswer]:
    """The answers in a run's ``bisect.json`` (none where it has none)."""
    path = run_path / BISECT_FILE
    if not path.exists():
        return []
    data = read_untrusted_json(path, MAX_RUN_JSON_BYTES)
    answers = data.get("answers")
    if not isinstance(answers, list) or not all(isinstance(a, dict) for a in answers):
        raise RecordError(f"{path}: expected {{answers: [...]}}")
    try:
        return [BisectAnswer.from_dict(a) for a in answers]
    except RecordError as exc:
        raise RecordError(f"{path}: {exc}") from None


def save_bisect_answer(run_path: Path, answer: BisectAnswer) -> None:
    """Add ``answer`` to the run's ``bisect.json``, in place of an earlier answer to the same question."""
    kept = [a for a in bisect_answers(run_path) if a.question() != answer.question()]
    write_json(run_path / BISECT_FILE, {"schema": 1, "answers": [a.to_dict() for a in [*kept, answer]]})


def write_merged(target: Path, meta: RunMeta, sources: Iterable[tuple[Path, CellRecord]]) -> None:
    """A merged run folder: each record from its source run, with its log, and the run's metadata.

    Everything is written into a folder beside ``target`` first, under names
    the checked records give (a cell's name, its log under ``logs/``), and
    that folder takes ``target``'s place only when it is whole: a merge that
    fails part-way leaves no half-merged target.  A log that is not a regular
    file inside its run's own ``logs/`` is not copied.
    """
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    staging.chmod(0o755)  # readable as any run folder is, not mkdtemp's 0700
    try:
        for source, record in sources:
            if record.log:
                # the copy is named after the cell, which merge has checked is unique:
                # two records naming one log cannot overwrite each other's
                log = f"logs/{record.cell}.log"
                with suppress(RecordError):  # a missing or hostile log is left out; the record says where
                    write_bytes(staging / log, read_inside(source, record.log, MAX_LOG_BYTES))
                record = dataclasses.replace(record, log=log)
            write_json(cell_path(staging, record.cell), record.to_dict())
        write_json(staging / "run.json", meta.to_dict())
        if target.is_symlink():
            target.unlink()
        elif target.exists():
            target.rmdir()  # the empty folder made for it, or given to --out
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
