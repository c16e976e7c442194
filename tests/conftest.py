from __future__ import annotations

import sys
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
    so an nginx of ours is known by its configuration folder instead, and its
    workers by their parent.
    """
    from runner.run import RUN_MARK

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
        if mark in environ.split(b"\0") or b"matrix-nginx-" in cmdline:
            found.append(int(entry.name))
    found += [pid for pid, parent in parents.items() if parent in found and pid not in found]
    return sorted(found)


@pytest.fixture
def no_leftovers():
    """Yields a checker: after a run, none of its processes may be alive."""
    def check(run_id: str) -> None:
        assert processes_of_run(run_id) == [], f"processes left by run {run_id}"

    return check



