"""Where a run ran: the machine and the tools, recorded with every run."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from runner import settings
from runner.environments import envs, interpreters
from runner.records.record import Machine

TOOL_PACKAGES = ("nox", "requests", "PyYAML", "tabulate", "packaging", "altair", "vl-convert-python")


def this_machine() -> Machine:
    return Machine(
        platform=platform.platform(),
        cpu=_cpu_model(),
        cores=os.cpu_count(),
        memory_gib=_memory_gib(),
        load_1m=round(os.getloadavg()[0], 2),
        runner_python=platform.python_version(),
        host=socket.gethostname() or "?",
        ci_runner=settings.current().ci_runner,  # set on GitHub Actions runners
    )


def tools() -> dict[str, str | None]:
    """The versions of what the runner itself uses."""
    versions: dict[str, str | None] = {}
    for name in TOOL_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    uv = interpreters.uv_binary()
    versions["uv"] = tool_version([uv, "--version"]) if uv else None
    versions["runner_python"] = sys.version.split()[0]
    offered = interpreters.offered_minors()  # the watch reads it back: a newer Python since is a release
    versions[interpreters.PYTHONS_OFFERED] = offered[-1] if offered else None
    versions["env_backend"] = envs.default_backend()
    return versions


def tool_version(argv: list[str]) -> str | None:
    """The first line a tool prints for its version, or None."""
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


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None
