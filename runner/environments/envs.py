"""Cell environments: isolated virtualenvs, built once per set of inputs.

An environment is named by a hash of what goes into it (the interpreter, the
requirements, the resolution cut-off and the recipe's format), so cells that
need the same packages share one, and a warm run rebuilds nothing.  It is
built with uv, or with virtualenv + pip where uv is missing, under a lock so
that two runs never build the same one at once, and it is marked complete
only once every package is in, so a build cut short is built again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from packaging.utils import canonicalize_name

from runner import settings
from runner.environments import legacy, workarounds
from runner.environments.interpreters import Interpreter, uv_binary
from runner.errors import CAUSES, CellError
from runner.files import locked, write_json
from runner.serving import watchdog
from runner.serving.process import scrubbed_environ, stop

FORMAT = 1
MARKER = "matrix-env.json"
BUILD_TIMEOUT_S = 900
BUILD_STOP_TIMEOUT_S = 2.0  # an installer told to stop has this long before SIGKILL

# Where a Python from 2.7 on keeps its packages.  The listing itself reads
# the metadata files, as neither importlib.metadata (3.8+) nor pkg_resources
# (setuptools, which uv does not seed) can be counted on in every env.
_SITE_PACKAGES = "import sysconfig; print(sysconfig.get_paths()['purelib'])"

BACKENDS = ("uv", "virtualenv")
_ADDED = ("apart", "build_env")
_live: set[subprocess.Popen[bytes]] = set()  # builds under way, for stop_builds()


def default_backend() -> str:
    """uv where it is found, else virtualenv + pip; ``MATRIX_ENV_BACKEND`` chooses."""
    chosen = settings.current().env_backend
    if chosen is not None:
        return chosen
    return "uv" if uv_binary() else "virtualenv"


def backend_for(interpreter: Interpreter) -> str:
    """How an environment for ``interpreter`` is built: Python 2 as in its day
    (:mod:`runner.environments.legacy`), the others by :func:`default_backend`."""
    return "legacy" if legacy.is_legacy(interpreter.minor) else default_backend()


@dataclass(frozen=True)
class EnvSpec:
    interpreter: Interpreter
    requirements: tuple[str, ...]
    exclude_newer: str | None = None
    # A later cut-off for setuptools and wheel, which build old sdists.
    build_tools_newer: str | None = None
    backend: str = "uv"
    binary_only: tuple[str, ...] = ()  # never built from source
    # Packages resolved apart from ``exclude_newer``, each up to a cut-off of
    # its own (a server version a column pins on a period row).
    apart: tuple[tuple[str, str], ...] = ()
    # Variables the install runs with, for the builds of old sources (see
    # :mod:`runner.environments.workarounds`).
    build_env: tuple[tuple[str, str], ...] = ()

    def key(self) -> str:
        # a field added since environments were first keyed counts only where
        # it is set, so that the environments built before it keep their keys
        fields = {k: v for k, v in asdict(self).items() if k not in _ADDED or v}
        blob = json.dumps({"format": FORMAT, **fields}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def dirname(self) -> str:
        first = re.sub(r"[^A-Za-z0-9.]+", "-", self.requirements[0]).strip("-")
        return f"py{self.interpreter.version}-{first}-{self.key()}"


@dataclass(frozen=True)
class Env:
    path: Path
    packages: dict[str, str]
    backend: str
    reused: bool
    build_s: float = 0.0
    rechecked: bool = False  # asked of the index again today, and found the same

    @property
    def bin_dir(self) -> Path:
        return self.path / "bin"

    def version_of(self, package: str) -> str | None:
        return version_in(self.packages, package)


def version_in(packages: Mapping[str, str], package: str) -> str | None:
    """The version of ``package`` in a name -> version listing, names compared
    as the index compares them (``MarkupSafe`` = ``markupsafe``)."""
    wanted = canonicalize_name(package)
    for name, version in packages.items():
        if canonicalize_name(name) == wanted:
            return version
    return None


def ensure(spec: EnvSpec, root: Path, log_path: Path, *, refresh: bool = False) -> Env:
    """Return the environment for ``spec``, building it if it is missing, or
    if the index now resolves it to other versions (see :func:`still_current`).

    Safe to call from several threads and several runs at once: a lock per
    environment makes the second caller wait and then reuse the first's.
    """
    root.mkdir(parents=True, exist_ok=True)
    path = root / spec.dirname()
    with locked(root / ".locks" / spec.key()):
        existing = _read_marker(path, spec)
        if existing is not None:
            current = still_current(spec, existing, log_path, refresh=refresh)
            if current is not None:
                return current
        known_failure = _read_failure(root, spec)
        if known_failure is not None:
            raise known_failure
        if path.exists():
            shutil.rmtree(path)
        started = time.perf_counter()
        try:
            with open(log_path, "a", encoding="utf-8") as log:
                backend = _build(spec, path, log)
                packages = _installed(path, log)
        except CellError as exc:
            shutil.rmtree(path, ignore_errors=True)  # half an environment is none
            if "Failed to build" in exc.reason:  # the same sources fail the same way next time
                cause, reason = workarounds.build_cause(exc.reason)
                record = {"key": spec.key(), "reason": reason, "cause": cause}
                write_json(_failure_path(root, spec), record)
                raise CellError(reason, cause=cause) from None
            raise
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        _write_marker(path, spec, backend, packages)
        return Env(
            path=path,
            packages=packages,
            backend=backend,
            reused=False,
            build_s=round(time.perf_counter() - started, 3),
        )


def _write_marker(path: Path, spec: EnvSpec, backend: str, packages: Mapping[str, str]) -> None:
    """The mark of a whole environment: what it was built from, what it holds, and when."""
    marker = {"key": spec.key(), "spec": asdict(spec), "backend": backend, "packages": dict(packages)}
    write_json(path / MARKER, {**marker, "built_at": time.time(), "resolved_on": today()})


def floats(spec: EnvSpec) -> bool:
    """Whether the index may answer ``spec`` differently from the day it was
    built: every environment not held to a day (a period row's) resolves its
    dependencies, pinned or not, to their newest releases."""
    return spec.exclude_newer is None


def today() -> str:
    return time.strftime("%Y-%m-%d", time.gmtime())


_CHANGE = re.compile(r"^\s*[-+] \S+==\S+")


def still_current(spec: EnvSpec, env: Env, log_path: Path, *, refresh: bool = False) -> Env | None:
    """``env`` if it still holds what ``spec`` resolves to, None if it must be built again.

    An environment that floats is asked again once a day (every time with
    ``refresh``, the index asked afresh): uv's dry run of the same install
    with ``--upgrade`` says whether any package would change.  Where the
    index cannot be asked, the environment is kept as it is; one built by
    pip, which has no dry run, is built again.
    """
    marker = env.path / MARKER
    if not floats(spec):
        return env
    with contextlib.suppress(OSError, ValueError):
        if not refresh and json.loads(marker.read_text()).get("resolved_on") == today():
            return env
    uv = uv_binary() if env.backend == "uv" else None
    if uv is None:
        return None
    extra = ("--dry-run", "--upgrade") + (("--refresh",) if refresh else ())
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"# is {env.path.name} still what the index resolves? (asked once a day)\n")
        try:
            said = _step(
                uv_install(uv, spec, str(env.bin_dir / "python"), *extra), log, "check", dict(spec.build_env)
            )
        except CellError as exc:
            log.write(f"# kept as it is: the index could not be asked ({exc.reason})\n")
            return dataclasses.replace(env, rechecked=True)
    if any(_CHANGE.match(line) for line in said.splitlines()):
        return None
    with contextlib.suppress(OSError, ValueError):
        write_json(marker, {**json.loads(marker.read_text()), "resolved_on": today()})
    return dataclasses.replace(env, rechecked=True)


def _failure_path(root: Path, spec: EnvSpec) -> Path:
    return root / ".failed" / f"{spec.dirname()}.json"


def _read_failure(root: Path, spec: EnvSpec) -> CellError | None:
    """Why this environment's sources failed to build before: a source build
    that failed (a compiler error) fails again, so it is not tried again;
    ``MATRIX_RETRY_FAILED_BUILDS=1`` tries anyway."""
    if settings.current().retry_failed_builds:
        return None
    try:
        data = json.loads(_failure_path(root, spec).read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != spec.key():
        return None
    reason = f"{data.get('reason')} (as when it was last tried; MATRIX_RETRY_FAILED_BUILDS=1 tries again)"
    cause = data.get("cause")
    return CellError(reason, cause=cause if cause in CAUSES else workarounds.build_cause(reason)[0])


def _read_marker(path: Path, spec: EnvSpec) -> Env | None:
    try:
        data = json.loads((path / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if data.get("key") != spec.key() or not (path / "bin" / "python").exists():
        return None
    with contextlib.suppress(OSError):  # when it was last used, for `nox -s clean`
        os.utime(path / MARKER)
    return Env(path=path, packages=data["packages"], backend=data["backend"], reused=True)


def _build(spec: EnvSpec, path: Path, log: TextIO) -> str:
    python = str(path / "bin" / "python")
    # which index resolved the environment (the log is sealed, without credentials, when the run closes)
    log.write(f"# index: {settings.current().index_url}\n")
    if spec.backend == "legacy":
        return legacy.build(spec, path, log, _step, _installed)
    uv = uv_binary() if spec.backend == "uv" else None
    if spec.backend == "uv" and not uv:
        raise CellError(
            "uv is not installed; install it with `pip install uv`, or set MATRIX_ENV_BACKEND=virtualenv",
            cause="resolver",
        )
    if uv:
        _step([uv, "venv", "--quiet", "--python", spec.interpreter.path, str(path)], log, "virtualenv")
        _step(uv_install(uv, spec, python), log, "install", dict(spec.build_env))
        return "uv"
    _step(
        [sys.executable, "-m", "virtualenv", "--quiet", "--python", spec.interpreter.path, str(path)],
        log,
        "virtualenv",
    )
    if spec.exclude_newer:
        raise CellError(
            "period resolution needs uv (pip has no upload-date cut-off); install uv with `pip install uv`",
            cause="resolver",
        )
    binary = [f"--only-binary={p}" for p in spec.binary_only]
    _step(
        [python, "-m", "pip", "install", "--disable-pip-version-check", *binary, *spec.requirements],
        log,
        "install",
        dict(spec.build_env),
    )
    return "virtualenv"


def uv_install(uv: str, spec: EnvSpec, python: str, *extra: str) -> list[str]:
    """The ``uv pip install`` of ``spec`` into the environment of ``python``."""
    cmd = [uv, "pip", "install", "--python", python, *extra]
    if spec.exclude_newer:
        cmd += ["--exclude-newer", spec.exclude_newer]
    if spec.build_tools_newer:
        for tool in ("setuptools", "wheel"):
            cmd += ["--exclude-newer-package", f"{tool}={spec.build_tools_newer}"]
    for package in spec.binary_only:
        cmd += ["--only-binary", package]
    for package, day in spec.apart:
        cmd += ["--exclude-newer-package", f"{package}={day}"]
    return cmd + list(spec.requirements)


def _step(argv: list[str], log: TextIO, what: str, extra: Mapping[str, str] | None = None) -> str:
    """Run one step of a build into ``log``; what it printed, or a :class:`CellError`."""
    shown = " ".join(f"{k}={v}" for k, v in (extra or {}).items())
    log.write("$ " + (shown + " " if shown else "") + " ".join(argv) + "\n")
    log.flush()
    start = log.tell()
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=scrubbed_environ(**(extra or {})),
        start_new_session=True,
    )
    _live.add(proc)
    watchdog.watch(proc.pid)
    try:
        returncode = proc.wait(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise CellError(f"environment {what} took longer than {BUILD_TIMEOUT_S} s") from None
    finally:
        if proc.poll() is None:
            stop(proc, BUILD_STOP_TIMEOUT_S)
        else:
            watchdog.forget(proc.pid)
        _live.discard(proc)
    log.flush()
    with open(log.name, encoding="utf-8", errors="replace") as again:
        again.seek(start)
        output = again.read()
    if returncode != 0:
        raise CellError(f"environment {what} failed: {summarise_failure(output)}")
    return output


def stop_builds() -> None:
    """Stop every build still under way (the run is being interrupted):
    SIGTERM to its process group, then SIGKILL to whatever is left."""
    for proc in list(_live):
        stop(proc, BUILD_STOP_TIMEOUT_S)


def summarise_failure(output: str) -> str:
    """The one line of an installer's output that says what went wrong.

    uv says ``error: <what>`` and then ``cause: <why>`` lines (``×`` and
    ``╰─▶`` on a terminal), the last cause being the root; pip says
    ``ERROR: <what>``, its last such line the most specific.
    """
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    built = pip_build_failure(lines)
    if built:
        return built[:400]
    for head, cause in (("error:", "cause:"), ("×", "╰─▶")):
        heads = [i for i, line in enumerate(lines) if line.startswith(head)]
        if heads:
            first = heads[0]
            what = lines[first][len(head) :].strip().rstrip(":")
            causes = [line[len(cause) :].strip() for line in lines[first + 1 :] if line.startswith(cause)]
            found = f"{what}: {causes[-1]}" if causes else what
            detail = build_error(lines[first:])
            return (f"{found}: {detail}" if detail else found)[:400]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        return errors[-1][:400]
    return lines[-1][:400] if lines else "no output"


_PIP_WHEEL = re.compile(r"^Building wheel for ([^\s:]+):? .*\berror'?$")
_PIP_INSTALL = re.compile(r"^Running setup\.py install for ([^\s:]+):? .*\b(error|done)'?$")
_PIP_SDIST = re.compile(
    r"^(?:Downloading|Using cached) (?:\S*/)?([A-Za-z0-9_.-]+?)-(\d[^-/\s]*?)\.(?:tar\.gz|tar\.bz2|zip)\b"
)


def pip_build_failure(lines: list[str]) -> str | None:
    """pip's failed source build in uv's words (``Failed to build `gevent==0.13.8```),
    so that both installers' failures are named, remembered and told apart alike."""
    installed = {m.group(1): m.group(2) for line in lines if (m := _PIP_INSTALL.match(line))}
    wheels = [m.group(1) for line in lines if (m := _PIP_WHEEL.match(line))]
    # a wheel that failed is built again by ``setup.py install``: only one that fails there too counts
    failed = next((name for name, how in installed.items() if how == "error"), None)
    failed = failed or next((name for name in wheels if name not in installed), None)
    if failed is None:
        return None
    versions = {canonicalize_name(m.group(1)): m.group(2) for line in lines if (m := _PIP_SDIST.match(line))}
    version = versions.get(canonicalize_name(failed), "?")
    detail = build_error(lines)
    return f"Failed to build `{failed}=={version}`" + (f": {detail}" if detail else "")


_COMPILER_ERROR = re.compile(r"^\S+\.(c|h|cc|cpp):\d+(:\d+)?: (fatal )?error: ")
_PYTHON_ERROR = re.compile(r"^[A-Za-z_.]*(Error|Exception): ")


def build_error(lines: list[str]) -> str | None:
    """Why a source build failed, in the builder's own words: the compiler's
    first error, else the exception that ended the build script."""
    compiler = next((line for line in lines if _COMPILER_ERROR.match(line)), None)
    if compiler:
        return compiler
    raised = [line for line in lines if _PYTHON_ERROR.match(line)]
    return raised[0] if raised else None


def _installed(path: Path, log: TextIO) -> dict[str, str]:
    done = subprocess.run(
        [str(path / "bin" / "python"), "-c", _SITE_PACKAGES],
        capture_output=True,
        text=True,
        env=scrubbed_environ(),
        timeout=120,
    )
    if done.returncode != 0:
        log.write(done.stdout + done.stderr)
        raise CellError(
            "environment built, but its Python does not run: " + summarise_failure(done.stderr),
            cause="interpreter",
        )
    return installed_packages(Path(done.stdout.strip().splitlines()[-1]))


def installed_packages(site_packages: Path) -> dict[str, str]:
    """Name -> version for every distribution in a site-packages folder."""
    found = {}
    for meta in sorted(site_packages.glob("*.dist-info/METADATA")) + sorted(
        site_packages.glob("*.egg-info/PKG-INFO")
    ):
        name = version = None
        with open(meta, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("Name:") and name is None:
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("Version:") and version is None:
                    version = line.split(":", 1)[1].strip()
                if not line.strip() or (name and version):
                    break
        if name and version:
            found[name] = version
    return found
