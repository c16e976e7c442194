"""Period resolution: dependencies as they stood on the day a Flask was uploaded.

The cut-off is the end (UTC) of the day the release's first file reached the
package index, read from the index's JSON simple API (PEP 691, with the
upload times of PEP 700), and handed to uv as ``--exclude-newer``.

Build tools get a later cut-off of their own: uv builds an old source
distribution with ``setuptools>=40.8.0`` (February 2019), which a 2018 cut-off
would exclude, while MarkupSafe 1.0's ``setup.py`` needs the ``Feature`` class
that setuptools 46 (2020) removed.  Setuptools 44 and wheel 0.33, both of
2019, build everything from Flask 0.10's day on, and still run on Python 2.7.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from urllib.parse import urlsplit

import requests
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from runner import settings
from runner.errors import CellError
from runner.files import write_json

# nox logs at debug level; a line per request to the index would bury the progress.
logging.getLogger("urllib3").setLevel(logging.WARNING)

# Every virtualenv of those days came with setuptools, and servers of the
# time import its pkg_resources at start (gunicorn 19 does); uv seeds none.
SEEDED = ("setuptools",)

BUILD_TOOLS = ("setuptools", "wheel")
BUILD_TOOLS_NOT_BEFORE = "2019-12-31T23:59:59Z"
_SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
_UPLOAD_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def index_url() -> str:
    """The index the environments are built from (see :mod:`runner.settings`)."""
    return settings.current().index_url


def _key(what: str) -> str:
    """A cache key of the index asked (its host and path, never its credentials)."""
    parts = urlsplit(index_url())
    return f"{parts.hostname or ''}{parts.path}|{what}"


def cutoff(package: str, version: str, cache_file: Path | None = None) -> str:
    """``2018-04-30T23:59:59Z`` for Flask 0.12.4 (uploaded 2018-04-30 01:24 UTC)."""
    key = _key(f"{canonicalize_name(package)}=={version}")
    cache = _read_cache(cache_file)
    if key in cache:
        return str(cache[key])
    uploaded = first_upload(package, version)
    value = uploaded[:10] + "T23:59:59Z"
    if cache_file is not None:
        cache[key] = value
        write_json(cache_file, cache)
    return value


def released_by(package: str, when: str, cache_file: Path | None = None) -> bool:
    """Whether ``package`` had any release on the index by ``when``."""
    key = _key(f"first:{canonicalize_name(package)}")
    cache = _read_cache(cache_file)
    if key not in cache:
        first = min(_upload_times(package).values(), default=None)
        if first is None:  # no upload time at all: not a fact to keep, ask again next time
            return False
        cache[key] = first
        if cache_file is not None:
            write_json(cache_file, cache)
    return str(cache[key]) <= when


def build_tools_cutoff(period: str) -> str:
    """The later of the row's cut-off and the oldest build tools that work."""
    return max(period, BUILD_TOOLS_NOT_BEFORE)


def _upload_times(package: str) -> dict[str, str]:
    """File name -> upload time, for every file of ``package`` on the index; an
    answer that is not the index's JSON (PEP 691, with PEP 700's upload times)
    is one line for the cell, and the run goes on."""
    # the URL as asked, credentials too: every writer and the terminal redact them (runner.settings.redact)
    url = shown = f"{index_url()}/{canonicalize_name(package)}/"
    try:
        response = requests.get(url, headers={"Accept": _SIMPLE_JSON}, timeout=30)
        response.raise_for_status()
        files = response.json()["files"]
    except (requests.RequestException, KeyError, TypeError, ValueError) as exc:
        why = str(exc)[:300]
        raise CellError(f"cannot read the upload dates of {package} from {shown}: {why}") from None
    if not isinstance(files, list):
        raise CellError(f"the index at {shown} answered files as {type(files).__name__}, not a list")
    times = {}
    for entry in files:
        if not isinstance(entry, dict) or not isinstance(entry.get("filename"), str):
            raise CellError(f"the index at {shown} answered a file that is not {{filename: ...}}")
        uploaded = entry.get("upload-time")
        if isinstance(uploaded, str) and _UPLOAD_TIME.fullmatch(uploaded):
            times[entry["filename"]] = uploaded
    return times


_first: dict[str, dict[Version, str]] = {}


def first_uploads(package: str) -> dict[Version, str]:
    """Each version of ``package`` on the index and the time of its first file
    (asked once per run)."""
    key = _key(canonicalize_name(package))
    if key not in _first:
        first: dict[Version, str] = {}
        for filename, uploaded in _upload_times(package).items():
            version = file_version(filename)
            if version is not None and (version not in first or uploaded < first[version]):
                first[version] = uploaded
        _first[key] = first
    return _first[key]


def as_of(package: str, when: str) -> str | None:
    """A pip constraint that admits the final releases of ``package`` first
    uploaded by ``when`` and no other: ``jinja2<=2.7,!=2.6.1`` where 2.6.1
    came later; None where it had none by then.  This is uv's
    ``--exclude-newer`` by release, for installers that have no such option."""
    first = first_uploads(package)
    allowed = [v for v, t in first.items() if t <= when and not (v.is_prerelease or v.is_devrelease)]
    if not allowed:
        return None
    top = max(allowed)
    later = sorted(v for v, t in first.items() if v < top and t > when)
    return f"{canonicalize_name(package)}<={top}" + "".join(f",!={v}" for v in later)


_releases: dict[str, set[Version]] = {}


def releases(package: str) -> set[Version]:
    """Every version of ``package`` with a file on the index (asked once per run)."""
    key = _key(canonicalize_name(package))
    if key not in _releases:
        found = {file_version(name) for name in _upload_times(package)}
        _releases[key] = {v for v in found if v is not None}
    return _releases[key]


def newest(package: str, spec: str) -> Version | None:
    """The newest release of ``package`` that ``spec`` (``23.0.0``, ``>=23,<24``) allows."""
    allowed = SpecifierSet(f"=={spec}" if spec[:1].isdigit() else spec)
    matching = [v for v in releases(package) if allowed.contains(v, prereleases=False)]
    return max(matching, default=None)


def first_upload(package: str, version: str) -> str:
    url = f"{index_url()}/{canonicalize_name(package)}/"
    times = [
        uploaded
        for filename, uploaded in _upload_times(package).items()
        if file_version(filename) == _parse(version)
    ]
    if not times:
        raise CellError(
            f"{package} {version} has no files with an upload time on {url}; "
            "period resolution needs an index that reports upload times"
        )
    return min(times)


def file_version(filename: str) -> Version | None:
    """The version in a wheel's or a source distribution's file name."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return _parse(parts[1]) if len(parts) >= 5 else None
    stem = re.sub(r"\.(tar\.gz|tar\.bz2|tgz|zip|tar)$", "", filename)
    if stem == filename or "-" not in stem:
        return None
    return _parse(stem.rsplit("-", 1)[1])


def _parse(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _read_cache(cache_file: Path | None) -> dict[str, str]:
    if cache_file is None:
        return {}
    try:
        data = json.loads(cache_file.read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
