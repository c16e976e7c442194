"""The results store: one folder per run, written whole, never overwritten.

::

    results/runs/<run-id>/run.json          machine, tools, matrix, start and end
    results/runs/<run-id>/cells/<cell>.json one record per cell
    results/runs/<run-id>/logs/<cell>.log   the build and server output
    results/runs/<run-id>/report.md         the tables and the changes
    results/latest                          symlink to the newest run
"""
from __future__ import annotations

import fcntl
import json
import os
import platform
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

SCHEMA = 1


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def write_text(path: Path, text: str) -> None:
    """Write a whole file or nothing: a temporary file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


@dataclass
class Run:
    root: Path  # results/
    path: Path  # results/runs/<run-id>
    meta: dict

    @property
    def id(self) -> str:
        return self.path.name

    def cell_path(self, cell_name: str) -> Path:
        return self.path / "cells" / f"{cell_name}.json"

    def log_path(self, cell_name: str) -> Path:
        path = self.path / "logs" / f"{cell_name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def write_cell(self, record: dict) -> None:
        write_json(self.cell_path(record["cell"]), {"schema": SCHEMA, **record})

    def records(self) -> list[dict]:
        folder = self.path / "cells"
        if not folder.is_dir():
            return []
        return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]

    def try_lock(self) -> bool:
        """Hold this run's lock for the life of the process; False if another holds it."""
        handle = open(self.path / ".lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._lock = handle  # released when the process ends or release() is called
        return True

    def release(self) -> None:
        handle = getattr(self, "_lock", None)
        if handle is not None:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
            self._lock = None

    def finish(self, report: str, *, complete: bool, summary: dict) -> None:
        write_text(self.path / "report.md", report)
        self.meta.update(ended=_now(), complete=complete, summary=summary)
        write_json(self.path / "run.json", self.meta)
        point_latest(self.root, self.path)


def new_run(root: Path, matrix: dict, *, cells: Iterable[str], tools: dict) -> Run:
    """Make a fresh run folder; an existing one is never reused."""
    runs = root / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    for attempt in range(1, 1000):
        path = runs / (stamp if attempt == 1 else f"{stamp}-{attempt}")
        try:
            path.mkdir()
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - a thousand runs in one second
        raise RuntimeError("could not make a new run folder")
    meta = {"schema": SCHEMA, "run": path.name, "started": _now(), "ended": None,
            "complete": False, "machine": machine(), "tools": tools, "matrix": matrix,
            "cells": list(cells)}
    write_json(path / "run.json", meta)
    run = Run(root=root, path=path, meta=meta)
    run.try_lock()
    point_latest(root, path)  # an interrupted run is found here by the next one
    return run


def resumable(root: Path, matrix: dict, cells: list[str]) -> Optional[Run]:
    """The newest run, if it stopped before the end with this same matrix and
    cells and no other process is running it: a re-run continues it."""
    path = latest(root)
    if path is None:
        return None
    try:
        meta = json.loads((path / "run.json").read_text())
    except (OSError, ValueError):
        return None
    same = json.dumps(meta.get("matrix"), sort_keys=True) == json.dumps(matrix, sort_keys=True)
    if meta.get("complete") or not same or meta.get("cells") != cells:
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


def latest(root: Path) -> Optional[Path]:
    link = root / "latest"
    return link.resolve() if link.exists() else None


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "load_1m": round(os.getloadavg()[0], 2),
        "runner_python": platform.python_version(),
    }


def tool_version(argv: list[str]) -> Optional[str]:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    text = (out.stdout or out.stderr).strip()
    return text.splitlines()[0] if out.returncode == 0 and text else None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> Optional[float]:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())



