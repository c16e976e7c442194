"""Build workarounds for old source distributions, leaving their code alone.

uWSGI of 2013 and 2016 does not build with today's gcc as it comes:

- 1.9.12's ``uwsgiconfig.py`` reads ``gcc -dumpversion`` as ``X.Y.Z`` and
  fails on gcc 7 and later, which print ``12``: a compiler wrapper answers
  ``-dumpversion`` with ``-dumpfullversion`` and runs the compiler otherwise;
- both add ``-Werror``, and gcc 12 stops on ``-Werror=stringop-overflow`` in
  ``core/utils.c``: ``CFLAGS=-Wno-error`` comes after it and wins;
- both build SSL support where ``openssl/ssl.h`` exists, and their
  ``core/ssl.c`` cannot build against OpenSSL 3; nor their XML support
  against today's libxml2: a build profile leaves both out.

The files are written under the environments' folder, named by a hash of
their content, and their paths go into the environment's build variables,
so that an environment built or failed without them has another key.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from pathlib import Path

from runner import settings

# The build profile: uWSGI's default plugins, without SSL and XML.
PROFILE = """[uwsgi]
main_plugin = python,gevent
inherit = base
ssl = false
xml = false
"""

WRAPPER = """#!/bin/sh
# Answer -dumpversion as compilers did before gcc 7 (X.Y.Z), else run the compiler.
if [ "$#" -eq 1 ] && [ "$1" = "-dumpversion" ]; then
    exec {cc} -dumpfullversion
fi
exec {cc} "$@"
"""


def compiler() -> str:
    """The C compiler a build would use: ``$CC``, else ``gcc`` or ``cc`` on PATH."""
    chosen = settings.child_environ().get("CC", "").strip()
    return chosen or shutil.which("gcc") or shutil.which("cc") or "gcc"


def _written(root: Path, name: str, text: str, mode: int) -> Path:
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    path = root / ".build-tools" / digest / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(text, encoding="utf-8")
        partial.chmod(mode)
        partial.replace(path)
    return path


def uwsgi_source_build(root: Path) -> tuple[tuple[str, str], ...]:
    """The build variables that make uWSGI 1.9 and 2.0 sdists build today."""
    wrapper = _written(root, "cc", WRAPPER.format(cc=compiler()), 0o755)
    profile = _written(root, "uwsgi-nossl.ini", PROFILE, 0o644)
    return (("CC", str(wrapper)), ("CFLAGS", "-Wno-error"), ("UWSGI_PROFILE", str(profile)))


# Source builds whose failure here is known, with why and the upstream
# record: (what the failure says, its cause, the note added to it).
KNOWN_FAILURES = (
    (
        re.compile(r"`gevent==0\.13\.\d+`.*(event\.h: No such file|ev_flags|_EVENT_VERSION)"),
        "machine",
        "gevent 0.13 builds against the headers of libevent 1.4 or 2.0, and Debian 12 has only "
        "libevent 2.1, whose API it does not build with (gevent issue 974, closed as unsupported)",
    ),
)
_COMPILER = re.compile(r"\.(c|h|cc|cpp):\d+(:\d+)?: (fatal )?error: |command '\S*(gcc|cc)' failed")


def build_cause(reason: str) -> tuple[str, str]:
    """Why a source build failed, as a cause (:data:`runner.errors.CAUSES`) and
    the reason with what is known of it: a known failure's own cause and note;
    else a compiler's error is this machine's (its compiler, its libraries),
    and a build script that raised is the release's own (upstream)."""
    for pattern, cause, note in KNOWN_FAILURES:
        if pattern.search(reason):
            return cause, f"{reason} ({note})"
    return ("machine" if _COMPILER.search(reason) else "upstream"), reason
