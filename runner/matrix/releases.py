"""The index's releases, for rows that expand to one row per release line.

A row ``flask: {each: minor, since: "0.10"}`` needs the list of Flask's
releases.  Asking the index is for the run (`nox -s matrix`); nox loads the
matrix for every session, lint and tests included, and then reads only the
cache: a generator whose answer is not cached expands to no rows there, and
no other session is the worse for it.  The cache keeps each package's final
releases as the index answered them, per index, for a day, in
``releases.json`` under the tool's cache folder; a file that is not what
this module wrote is no answer.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from runner import settings
from runner.errors import CellError, UserError
from runner.files import write_json

# package -> its final releases, as version strings; None: no answer to be had
Releases = Callable[[str], "list[str] | None"]
CACHE = "releases.json"
MAX_AGE_S = 24 * 3600


def cache_path() -> Path:
    return settings.current().cache_dir / CACHE


def _key(package: str) -> str:
    index = settings.without_credentials(settings.current().index_url)
    return f"{index}|{canonicalize_name(package)}"


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError, RecursionError):
        return {}
    return data if isinstance(data, dict) else {}


def _versions(entry: Any, fresh_only: bool) -> list[str] | None:
    """A cached entry's versions, if it is one this module wrote (and fresh enough)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("versions"), list):
        return None
    asked = entry.get("asked")
    if not isinstance(asked, (int, float)) or (fresh_only and time.time() - asked > MAX_AGE_S):
        return None
    versions = entry["versions"]
    if not all(isinstance(v, str) and _final(v) for v in versions):
        return None
    return list(versions)


def _final(text: str) -> bool:
    try:
        version = Version(text)
    except InvalidVersion:
        return False
    return not (version.is_prerelease or version.is_devrelease)


def cached(path: Path | None = None) -> Releases:
    """The releases the cache holds, however old: what nox's loading uses."""
    data = _read(path or cache_path())
    return lambda package: _versions(data.get(_key(package)), fresh_only=False)


def from_index(path: Path | None = None) -> Releases:
    """The releases asked of the index where the cache's are a day old or
    missing, kept in the cache; an answer the index garbles is one line."""
    path = path or cache_path()

    def releases(package: str) -> list[str] | None:
        data = _read(path)
        known = _versions(data.get(_key(package)), fresh_only=True)
        if known is not None:
            return known
        from runner.environments import period  # the index's client

        try:
            found = sorted(v for v in period.releases(package) if not (v.is_prerelease or v.is_devrelease))
        except CellError as exc:
            raise UserError(f"cannot list the releases of {package}: {exc.reason}") from None
        versions = [str(v) for v in found]
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {**data, _key(package): {"versions": versions, "asked": time.time()}})
        return versions

    return releases
