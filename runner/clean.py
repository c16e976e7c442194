"""What the caches and stored runs hold on disk, and removing what the user names.

``nox -s clean`` lists, with sizes and ages: each cell environment (its age
is since it was last built or reused: reusing one touches its marker), the
environments' helpers (the virtualenv for Python 2.7, uWSGI's build
workarounds, remembered build failures, upload dates), each stored run and
bisect's store.  It removes only what is asked: environments unused for N
days (``--envs-unused-days N``) and runs but the latest K
(``--keep-runs K``; the run ``results/latest`` names is always kept).
Nothing is removed while another run measures on the machine, nor through a
link, nor outside the two folders.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tabulate import tabulate

from runner.environments.envs import MARKER
from runner.errors import UserError

__all__ = ["MARKER", "Item", "chosen", "inventory", "remove", "size_of", "table"]
DAY_S = 86400.0


@dataclass(frozen=True)
class Item:
    kind: str  # environment, run, or a cache's name
    path: Path
    size: int  # bytes on disk, a hard-linked file counted once within the item
    used: float  # when it was last built, reused or written (epoch seconds)


def size_of(path: Path) -> int:
    """Bytes a folder takes, following no link, each hard-linked file once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _, files in os.walk(path, followlinks=False):
        for name in files:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (info.st_dev, info.st_ino) not in seen:
                seen.add((info.st_dev, info.st_ino))
                total += info.st_blocks * 512
    return total


def inventory(envs: Path, results: Path) -> list[Item]:
    """Every environment, cache and stored run, oldest use first within each kind."""
    found: list[Item] = []
    if envs.is_dir():
        for child in sorted(envs.iterdir()):
            if child.is_symlink() or not child.is_dir():
                continue
            marker = child / MARKER
            kind = "environment" if not child.name.startswith(".") else f"cache {child.name}"
            when = (marker if marker.exists() else child).stat().st_mtime
            found.append(Item(kind, child, size_of(child), when))
    runs = results / "runs"
    if runs.is_dir():
        for child in sorted(runs.iterdir()):
            if child.is_dir() and not child.is_symlink() and (child / "run.json").exists():
                found.append(Item("run", child, size_of(child), (child / "run.json").stat().st_mtime))
    bisect = results / "bisect"
    if bisect.is_dir() and not bisect.is_symlink():
        found.append(Item("cache bisect", bisect, size_of(bisect), bisect.stat().st_mtime))
    return sorted(found, key=lambda item: (item.kind, item.used))


def chosen(
    items: Sequence[Item], results: Path, unused_days: float | None, keep_runs: int | None
) -> list[Item]:
    """What the options name for removal: environments unused for longer than
    ``unused_days``, runs beyond the newest ``keep_runs`` (never the latest's)."""
    now, out = time.time(), []
    if unused_days is not None:
        out += [i for i in items if i.kind == "environment" and now - i.used > unused_days * DAY_S]
    if keep_runs is not None:
        latest = (results / "latest").resolve() if (results / "latest").exists() else None
        runs = sorted((i for i in items if i.kind == "run"), key=lambda i: i.path.name, reverse=True)
        out += [i for i in runs[keep_runs:] if i.path.resolve() != latest]
    return out


def table(items: Sequence[Item]) -> str:
    now = time.time()
    rows = [(i.kind, str(i.path), human(i.size), f"{(now - i.used) / DAY_S:.1f}") for i in items]
    total = sum(i.size for i in items)
    return tabulate([*rows, ("total", "", human(total), "")], headers=("what", "path", "size", "days unused"))


def human(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def remove(items: Sequence[Item], roots: Sequence[Path]) -> int:
    """Remove each item (inside one of ``roots``, never a link); the bytes freed."""
    freed = 0
    for item in items:
        inside = any(item.path.resolve().is_relative_to(root.resolve()) for root in roots)
        if item.path.is_symlink() or not inside:
            raise UserError(f"{item.path}: not a folder inside {', '.join(map(str, roots))}; nothing removed")
        shutil.rmtree(item.path)
        freed += item.size
    return freed
