from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "slow: builds real virtualenvs and launches real servers (seconds to minutes)"
    )


def processes_of_run(run_id: str) -> list[int]:
    """Pids of live processes that a run started.

    App servers carry the run's id in their environment.  nginx rewrites the
    memory that /proc shows as its environment (to set its process titles),
    so an nginx of ours is known by its configuration folder and by its
    output, which goes into a log in the run's folder (another run's nginx,
    of another test session on the same machine, is not ours); its workers
    are known by their parent.
    """
    from runner.serving.launch import RUN_MARK

    mark = f"{RUN_MARK}={run_id}".encode()
    found, parents = [], {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            cmdline = (entry / "cmdline").read_bytes()
            stat = (entry / "stat").read_text().split(")")[-1].split()
        except OSError:
            continue
        if stat[0] == "Z":
            continue
        parents[int(entry.name)] = int(stat[1])
        if mark in environ.split(b"\0") or (b"matrix-nginx-" in cmdline and _logs_into(entry, run_id)):
            found.append(int(entry.name))
    found += [pid for pid, parent in parents.items() if parent in found and pid not in found]
    return sorted(found)


def _logs_into(process: Path, run_id: str) -> bool:
    """Whether the process writes its output into a log of the run ``run_id``."""
    for fd in ("1", "2"):
        try:
            target = os.readlink(process / "fd" / fd)
        except OSError:
            continue
        if f"/runs/{run_id}/" in target:
            return True
    return False


def _command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "?"
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


@pytest.fixture(scope="session")
def no_leftovers() -> Callable[[str], None]:
    """A checker: after a run, none of its processes may be alive.

    Every test that runs real servers checks with it; session-scoped, so that
    module-scoped fixtures that run a matrix can check too.
    """

    def check(run_id: str) -> None:
        left = processes_of_run(run_id)
        assert left == [], f"processes left by run {run_id}: " + "; ".join(
            f"{pid} {_command_line(pid)}" for pid in left
        )

    return check
