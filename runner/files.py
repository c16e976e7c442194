"""Writing files whole: the one place that writes what the runner keeps.

Every JSON record, run file, cache and report is written, without
credentials, to a temporary file
in the same folder, flushed to disk and renamed over the old one, so a crash
or an interrupt never leaves half a file.  A lock file serialises work that
several runs may attempt at once.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner import settings


def write_json(path: Path, data: Any) -> None:
    """JSON, whole; every string is redacted before it is escaped, so a secret
    that holds a quote or a backslash is found as the variable holds it."""
    write_text(path, json.dumps(_redacted(data, settings.secret_forms()), indent=2, sort_keys=True) + "\n")


def _redacted(data: Any, forms: list[str]) -> Any:
    if isinstance(data, str):
        return settings.redact(data, forms)
    if isinstance(data, dict):
        return {
            settings.redact(k, forms) if isinstance(k, str) else k: _redacted(v, forms)
            for k, v in data.items()
        }
    if isinstance(data, (list, tuple)):
        return [_redacted(v, forms) for v in data]
    return data


def gzipped_json(data: Any) -> bytes:
    """``data`` as compact JSON, keys sorted, gzipped with no time in its
    header: the same data give the same bytes (a site's records, a page's data)."""
    raw = json.dumps(data, sort_keys=True, separators=(",", ":")).encode()
    return gzip.compress(raw, compresslevel=9, mtime=0)


def write_text(path: Path, text: str) -> None:
    """A text file, whole, with every credential left out (see :func:`runner.settings.redact`):
    records, run files, reports and caches never hold one."""
    write_bytes(path, settings.redact(text).encode("utf-8"))


def redact_file(path: Path) -> None:
    """A file a child process wrote (a log), rewritten without credentials where it has any."""
    if not settings.secret_values() and not _holds_at(path):
        return  # nothing a credential could be written as
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    redacted = settings.redact(text)
    if redacted != text:
        write_bytes(path, redacted.encode("utf-8"))


def _holds_at(path: Path) -> bool:
    """Whether a file holds an ``@`` at all (a URL's userinfo needs one), read a megabyte at a time."""
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                if b"@" in chunk:
                    return True
    except OSError:
        pass
    return False


def write_bytes(path: Path, data: bytes) -> None:
    """Write a whole file or nothing: a temporary file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # readable by whoever serves or publishes the folder
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


@contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``lock_path`` for the block, waiting for it."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
