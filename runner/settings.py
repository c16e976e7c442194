"""Every environment variable the tool reads, read here and validated here.

:data:`VARIABLES` declares each one (what it accepts, what it does); the
rest of the runner asks :func:`current` for a typed :class:`Settings` and
never looks at the environment itself.  A bad value stops the command with
one line naming the variable and what it accepts, before anything is built.
The environment handed on to child processes (servers, installers, wrk) is
read here too (:func:`child_environ`); what a child must not inherit is
dropped by the caller.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from runner.errors import UserError

REPO = Path(__file__).resolve().parent.parent
DEFAULT_INDEX = "https://pypi.org/simple"
MAX_OVERLAP = 64
MAX_BUILD_JOBS = 32
INDEX_VARIABLES = ("UV_DEFAULT_INDEX", "UV_INDEX_URL", "PIP_INDEX_URL")


class SettingError(UserError):
    """A variable whose value the tool cannot take."""

    def __init__(self, name: str, value: str, accepts: str) -> None:
        super().__init__(f"{name}={value!r}: expected {accepts}")


@dataclass(frozen=True)
class Variable:
    """One variable: what it accepts (for the error and the docs' table) and what it does."""

    accepts: str
    does: str


VARIABLES: dict[str, Variable] = {
    "MATRIX_FILE": Variable("a path to a matrix file", "the matrix to run instead of `matrix.yaml`"),
    "RESULTS_DIR": Variable("a path to a folder", "where runs are stored instead of `results/`"),
    "MATRIX_OVERLAP": Variable(
        f"a whole number from 1 to {MAX_OVERLAP} (1: one cell at a time)",
        "cells in flight at once (default: 32 per core, at most 64, within memory and open files)",
    ),
    "MATRIX_BUILD_JOBS": Variable(
        f"a whole number from 1 to {MAX_BUILD_JOBS}",
        "how many environments build at once (default: the cores, at most 4)",
    ),
    "MATRIX_READY_TIMEOUT": Variable(
        "a number of seconds from 1 to 3600", "how long a server has to answer at start (default 60)"
    ),
    "MATRIX_ENV_BACKEND": Variable(
        "uv or virtualenv", "what builds the cells' environments (default: uv where found)"
    ),
    "MATRIX_RETRY_FAILED_BUILDS": Variable(
        "1 or 0", "1: build again an environment whose sources failed to build before"
    ),
    "MATRIX_CACHE": Variable(
        "a path to a folder", "where the page's bundled chart library is kept (default `.nox/cache/`)"
    ),
    "NGINX_BINARY": Variable(
        "a path to an nginx executable (one that is not executable counts as none)",
        "the nginx put in front of proxied columns (default: nginx on PATH or in /usr/sbin)",
    ),
    "PYENV_ROOT": Variable(
        "a path to a folder", "where pyenv's interpreters are looked for (default ~/.pyenv)"
    ),
    "UV_DEFAULT_INDEX": Variable(
        "an http, https or file URL", "the package index for period rows' upload dates (uv reads it too)"
    ),
    "UV_INDEX_URL": Variable("an http, https or file URL", "as UV_DEFAULT_INDEX, where that is not set"),
    "PIP_INDEX_URL": Variable("an http, https or file URL", "as UV_INDEX_URL, where neither uv one is set"),
    "RUNNER_NAME": Variable("any text", "the CI runner's name, set by GitHub Actions, kept in each record"),
}


@dataclass(frozen=True)
class Settings:
    """What the environment asks of this run, typed; ``None`` where it asks nothing."""

    matrix_file: Path
    results_dir: Path
    overlap: int | None
    build_jobs: int | None
    ready_timeout_s: float
    env_backend: str | None
    retry_failed_builds: bool
    cache_dir: Path
    nginx_binary: str | None  # None: look in the usual places
    pyenv_root: Path | None
    index_url: str
    ci_runner: str

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The settings in ``environ``; a bad value is a :class:`SettingError`."""
        values = {name: environ[name] for name in VARIABLES if name in environ}

        def read(name: str, parse: Callable[[str], Any], default: Any = None) -> Any:
            text = values.get(name, "")
            return parse(text.strip()) if text.strip() else default

        index = next((name for name in INDEX_VARIABLES if values.get(name, "").strip()), None)
        return cls(
            matrix_file=read("MATRIX_FILE", _path, REPO / "matrix.yaml"),
            results_dir=read("RESULTS_DIR", _path, REPO / "results"),
            overlap=read("MATRIX_OVERLAP", _whole("MATRIX_OVERLAP", 1, MAX_OVERLAP)),
            build_jobs=read("MATRIX_BUILD_JOBS", _whole("MATRIX_BUILD_JOBS", 1, MAX_BUILD_JOBS)),
            ready_timeout_s=read("MATRIX_READY_TIMEOUT", _seconds("MATRIX_READY_TIMEOUT"), 60.0),
            env_backend=read("MATRIX_ENV_BACKEND", _one_of("MATRIX_ENV_BACKEND", ("uv", "virtualenv"))),
            retry_failed_builds=read(
                "MATRIX_RETRY_FAILED_BUILDS", _flag("MATRIX_RETRY_FAILED_BUILDS"), False
            ),
            cache_dir=read("MATRIX_CACHE", _path, REPO / ".nox" / "cache"),
            nginx_binary=values.get("NGINX_BINARY"),
            pyenv_root=read("PYENV_ROOT", Path),
            index_url=_index(index, values[index]) if index else DEFAULT_INDEX,
            ci_runner=values.get("RUNNER_NAME", ""),
        )


def current() -> Settings:
    """The settings of this process's environment, as it is now."""
    return Settings.from_environ(os.environ)


def child_environ() -> dict[str, str]:
    """A copy of this process's environment, for a child to start from."""
    return dict(os.environ)


def _path(text: str) -> Path:
    return Path(text).expanduser().resolve()


def _whole(name: str, low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not text.isdigit() or not low <= int(text) <= high:
            raise SettingError(name, text, VARIABLES[name].accepts)
        return int(text)

    return parse


def _seconds(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise SettingError(name, text, VARIABLES[name].accepts) from None
        if not 1 <= value <= 3600:
            raise SettingError(name, text, VARIABLES[name].accepts)
        return value

    return parse


def _one_of(name: str, choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in choices:
            raise SettingError(name, text, VARIABLES[name].accepts)
        return text

    return parse


def _flag(name: str) -> Callable[[str], bool]:
    def parse(text: str) -> bool:
        if text not in ("0", "1"):
            raise SettingError(name, text, VARIABLES[name].accepts)
        return text == "1"

    return parse


def _index(name: str, url: str) -> str:
    """An index URL as the index client asks it (no trailing slash)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https", "file") or not (parts.netloc or parts.path):
        raise SettingError(name, without_credentials(url), VARIABLES[name].accepts)
    return url.strip().rstrip("/")


# scheme://userinfo@ : the userinfo runs to the last @ before the host (a password may hold one)
_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s'\"<>]*@")
# Names of variables whose values are secrets wherever they show up.
SECRET_NAMES = re.compile(r"TOKEN|PASSWORD|PASSWD|SECRET|KEY|AUTH|CREDENTIAL")
MIN_SECRET = 6  # a shorter value ("1", "yes") would blank out ordinary text
# Nor is a switch's value a secret: PIP_USE_KEYRING=true would blank out every "true" of a CSV.
_NOT_SECRET = re.compile(
    r"(?i)(true|false|yes|no|on|off|none|null|disabled|enabled|auto|subprocess|import|\d+)"
)


def without_credentials(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it left out."""
    return _USERINFO.sub(r"\1", text) if "@" in text else text  # no userinfo without an @


def secret_values() -> list[str]:
    """The values of this process's variables whose names say they are secrets, longest first."""
    found = {
        v
        for k, v in os.environ.items()
        if SECRET_NAMES.search(k.upper()) and len(v) >= MIN_SECRET and not _NOT_SECRET.fullmatch(v)
    }
    return sorted(found, key=len, reverse=True)


def redact(text: str, forms: Sequence[str] | None = None) -> str:
    """``text`` without credentials: no URL's userinfo, no secret variable's value.

    A value is also looked for in the forms that writing a file gives it: a
    JSON string's escapes, HTML's entities, a percent-encoded URL's, so that a
    secret holding ``"``, ``&`` or a non-ASCII letter is left out of a record
    or a page as surely as from a log.  ``forms`` is :func:`secret_forms`,
    for a caller that redacts many strings at once."""
    text = without_credentials(text)
    for form in secret_forms() if forms is None else forms:
        text = text.replace(form, "***")
    return text


def secret_forms() -> list[str]:
    """Every written form of every secret value, in the order :func:`redact` replaces them."""
    return [form for value in secret_values() for form in _written_forms(value)]


def _written_forms(value: str) -> list[str]:
    forms = {
        value,
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        html.escape(value),
        html.escape(value, quote=False),
        quote(value, safe=""),
    }
    return sorted((f for f in forms if len(f) >= MIN_SECRET), key=len, reverse=True)
