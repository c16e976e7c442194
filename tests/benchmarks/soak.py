"""Soak: the matrix several times in a row, counting processes and listening
ports before and after each pass.

    python tests/benchmarks/soak.py [--matrix matrix.yaml] [--passes 3]

Each pass is a fresh run (`python -m runner --fresh`) into a temporary results
folder.  A pass that leaves more processes or listening TCP ports than there
were before it started is a leak; the script says so and exits 1.  Not part
of the test suite: the default matrix takes about ten minutes a pass.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def processes() -> set[int]:
    return {int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()}


def listening_ports() -> set[tuple[str, str]]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                found.add((table, fields[1]))
    return found


def settle(seconds: float = 2.0) -> None:
    time.sleep(seconds)  # let exiting processes be reaped before counting


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", type=Path, default=REPO / "matrix.yaml")
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    leaked = False
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        print(
            f"{'pass':>4} {'exit':>4} {'wall s':>7} {'servers before':>15} {'after':>6} "
            f"{'ports before':>13} {'after':>6} {'all procs before':>17} {'after':>6}",
            flush=True,
        )
        for number in range(1, args.passes + 1):
            settle()
            procs, ports = processes(), listening_ports()
            started = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-m", "runner", "--matrix", str(args.matrix), "--results", tmp, "--fresh"],
                cwd=REPO,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=dict(os.environ),
            )
            wall = time.perf_counter() - started
            settle()
            procs_after, ports_after = processes(), listening_ports()
            new_procs = procs_after - procs
            new_ports = ports_after - ports
            servers = sum(1 for pid in procs if _is_server(pid))
            servers_after = sum(1 for pid in procs_after if _is_server(pid))
            # All processes are shown for information: on a shared machine
            # others come and go; server processes and ports are what a run owns.
            print(
                f"{number:>4} {done.returncode:>4} {wall:>7.1f} {servers:>15} {servers_after:>6} "
                f"{len(ports):>13} {len(ports_after):>6} {len(procs):>17} {len(procs_after):>6}",
                flush=True,
            )
            if new_ports or any(_is_server(pid) for pid in new_procs):
                leaked = True
                print(
                    f"     left behind: ports {sorted(new_ports)}, processes "
                    f"{sorted(p for p in new_procs if _is_server(p))}",
                    flush=True,
                )
    print("no leak" if not leaked else "LEAK", flush=True)
    return 1 if leaked else 0


def _is_server(pid: int) -> bool:
    """A process still alive that a run may have started (not an unrelated newcomer)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return any(
        word in cmdline
        for word in (
            "gunicorn",
            "waitress",
            "uwsgi",
            "flask run",
            "nginx",
            "granian",
            "cheroot",
            "target_app",
        )
    )


if __name__ == "__main__":
    sys.exit(main())
