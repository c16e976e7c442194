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
    """Pids of live processes that a run started (they carry its id)."""
    from runner.run import RUN_MARK

    mark = f"{RUN_MARK}={run_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and mark in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


@pytest.fixture
def no_leftovers():
    """Yields a checker: after a run, none of its processes may be alive."""
    def check(run_id: str) -> None:
        assert processes_of_run(run_id) == [], f"processes left by run {run_id}"

    return check



