"""Find an interpreter for a row's ``python: "X.Y"``.

Looked up on PATH first, then among the interpreters pyenv and uv installed.
A candidate counts only if it runs and reports the asked major.minor: a pyenv
shim for a version that is not selected fails to run, and is passed over.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from packaging.version import InvalidVersion, Version

from runner import settings

_REPORT = "import json, sys; print(json.dumps([sys.executable, '%d.%d.%d' % tuple(sys.version_info[:3])]))"


@dataclass(frozen=True)
class Interpreter:
    path: str
    version: str  # "3.11.7"

    @property
    def minor(self) -> tuple[int, int]:
        major, minor = self.version.split(".")[:2]
        return int(major), int(minor)


def how_to_get(version: str) -> str:
    if version.startswith("2."):
        return (
            f"install it with `pyenv install {version}` (uv provides no Python 2), or run these rows "
            "where it is installed and merge that run in (docs/github-actions.md)"
        )
    return (
        f"install one with `uv python install {version}` or `pyenv install {version}`, "
        f"or put python{version} on PATH"
    )


@functools.cache
def find(version: str) -> Interpreter | None:
    for candidate in _candidates(version):
        found = _inspect(candidate)
        if found and _minor(found.version) == version:
            return found
    return None


def find_exact(version: str) -> Interpreter | None:
    """The interpreter of exactly ``version`` (``3.11.7``), among its minor's candidates."""
    for candidate in _candidates(_minor(version)):
        found = _inspect(candidate)
        if found and found.version == version:
            return found
    return None


def _candidates(version: str) -> Iterator[str]:
    on_path = shutil.which(f"python{version}")
    if on_path:
        yield on_path
    root = _pyenv_root()
    if root:
        versions = root / "versions"
        if versions.is_dir():
            for entry in sorted(versions.iterdir(), key=lambda p: _sort_key(p.name), reverse=True):
                if entry.name == version or entry.name.startswith(version + "."):
                    exe = entry / "bin" / f"python{version}"
                    if exe.exists():
                        yield str(exe)
    uv = uv_binary()
    if uv:
        try:
            out = subprocess.run(
                [uv, "python", "find", "--no-project", version],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return
        if out.returncode == 0 and out.stdout.strip():
            yield out.stdout.strip().splitlines()[-1]


def _pyenv_root() -> Path | None:
    chosen = settings.current().pyenv_root
    if chosen is not None:
        return chosen
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def _inspect(path: str) -> Interpreter | None:
    try:
        out = subprocess.run([path, "-c", _REPORT], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    try:
        executable, version = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
    return Interpreter(path=executable, version=version)


def _minor(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _sort_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) if p.isdigit() else -1 for p in name.split("."))


def uv_binary() -> str | None:
    """uv from the ``uv`` package beside the runner, else from PATH."""
    try:
        import uv

        return str(uv.find_uv_bin())
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


PYTHONS_OFFERED = "newest_python_offered"  # what a run's tools record of the Pythons uv and pyenv offered


@functools.cache  # asked once per process: every run, bisect's probes too, records it
def offered_minors() -> list[str]:
    """The final CPython minor versions uv or pyenv can install here, oldest first."""
    return [str(v) for v in sorted(_uv_offered() | _pyenv_offered())]


def _pyenv_offered() -> set[Version]:
    """The minors of pyenv's build definitions (``share/python-build/3.14.4``), none without pyenv."""
    root = _pyenv_root()
    folder = root / "plugins" / "python-build" / "share" / "python-build" if root else None
    if folder is None or not folder.is_dir():
        return set()
    final = re.compile(r"(\d+)\.(\d+)\.\d+")
    found = (final.fullmatch(path.name) for path in folder.iterdir())
    return {Version(f"{m.group(1)}.{m.group(2)}") for m in found if m}


def _uv_offered() -> set[Version]:
    """The minors of the CPython downloads uv knows, none where uv cannot say."""
    uv = uv_binary()
    if uv is None:
        return set()
    try:
        argv = [uv, "python", "list", "--only-downloads", "--output-format", "json"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        offered = json.loads(done.stdout) if done.returncode == 0 else []
    except (OSError, subprocess.SubprocessError, ValueError):
        return set()
    minors = set()
    for entry in offered if isinstance(offered, list) else []:
        if not isinstance(entry, dict) or entry.get("implementation") != "cpython":
            continue
        try:
            version = Version(str(entry.get("version")))
        except InvalidVersion:
            continue
        if not version.is_prerelease:
            minors.add(Version(f"{version.major}.{version.minor}"))
    return minors
