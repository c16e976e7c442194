"""Every kind of bad matrix.yaml, through the command a user runs: one line,
exit code 2, nothing built."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
GOOD_SERVERS = "servers: {a: {kind: flask-run}}\n"
GOOD_ROWS = 'versions: [{flask: "3.1.*"}]\n'

CASES = {
    # each new probe, and each new key, refused before anything is built
    "silent connections out of range": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {silent: {connections: 0}}\n",
        "probes.silent.connections (line 3): expected a whole number from 1 to 500, found 0",
    ),
    "slow upload over the app's limit": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {slow_upload: {kb: 100000}}\n",
        "probes.slow_upload.kb (line 3): expected a whole number from 1 to 65536, found 100000",
    ),
    "slow reader answer that fits the buffers": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {slow_reader: {kb: 16}}\n",
        "probes.slow_reader.kb (line 3): expected a whole number from 1024 to 8192, found 16",
    ),
    "idle keep-alive time-out too long to wait": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {idle_keepalive: {timeout_s: 75}}\n",
        "probes.idle_keepalive.timeout_s (line 3): expected a whole number from 1 to 10, found 75",
    ),
    "backlog beyond the file descriptors": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {backlog: {connections: 100000}}\n",
        "probes.backlog.connections (line 3): expected a whole number from 1 to 5000, found 100000",
    ),
    "crash wait as text": (
        GOOD_ROWS + GOOD_SERVERS + 'probes: {crash: {wait_s: "5"}}\n',
        "probes.crash.wait_s (line 3): expected a whole number from 1 to 60, found '5'",
    ),
    "hang without its limit": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {hang: {forever: true}}\n",
        "probes.hang.forever (line 3): unknown setting 'forever'; expected one of connections, wait_s, timeout_s, rows, servers",
    ),
    "probe kept to a column that is not there": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {silent: {servers: [b]}}\n",
        "probes.silent.servers (line 3): no column named 'b'; columns are a",
    ),
    "no cores": (
        GOOD_ROWS + "servers: {a: {kind: flask-run, cpus: 0}}\n",
        "servers.a.cpus (line 2): expected a whole number from 1 to 256 (cores for the server), found 0",
    ),
    "buffering as text": (
        GOOD_ROWS + 'servers: {a: {kind: flask-run, proxy: {kind: nginx, buffering: "off"}}}\n',
        "servers.a.proxy.buffering (line 2): expected true or false, found 'off'",
    ),
    "gunicorn time-out of zero": (
        GOOD_ROWS + "servers: {a: {kind: gunicorn, timeout: 0}}\n",
        "servers.a.timeout (line 2): expected a whole number from 1 to 3600, found 0",
    ),
    "unknown top-level key": (
        GOOD_ROWS + GOOD_SERVERS + "colour: blue\n",
        "colour (line 3): unknown key 'colour'; expected one of python, versions, servers, probes",
    ),
    "unknown server key": (
        GOOD_ROWS + "servers: {a: {kind: waitress, workers: 2}}\n",
        "servers.a.workers (line 2): unknown key for kind waitress 'workers'; expected one of kind, proxy, cpus, version, threads, channel_timeout",
    ),
    "unknown server kind": (
        GOOD_ROWS + "servers: {a: {kind: tornado}}\n",
        "servers.a.kind (line 2): 'tornado' is not a known server kind; expected one of app-run, cheroot",
    ),
    "malformed version": (
        'versions: [{flask: "1.x"}]\n' + GOOD_SERVERS,
        "versions[0].flask (line 1): '1.x' is not a version or specifier",
    ),
    "malformed specifier": (
        'versions: [{flask: "3.1.*", pins: ["jinja2<<3"]}]\n' + GOOD_SERVERS,
        "versions[0].pins[0] (line 1): 'jinja2<<3' is not a requirement",
    ),
    "string where a number goes": (
        GOOD_ROWS + 'servers: {a: {kind: gunicorn, workers: "2"}}\n',
        "servers.a.workers (line 2): expected a whole number from 1 to 32, found '2'",
    ),
    "negative count": (
        GOOD_ROWS + "servers: {a: {kind: gunicorn, workers: -1}}\n",
        "servers.a.workers (line 2): expected a whole number from 1 to 32, found -1",
    ),
    "zero count": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {concurrency: {requests: 0}}\n",
        "probes.concurrency.requests (line 3): expected a whole number from 1 to 1000, found 0",
    ),
    "unquoted version read as a number": (
        "python: 3.10\n" + GOOD_ROWS + GOOD_SERVERS,
        "python (line 1): 3.1 must be quoted",
    ),
    "duplicate server names": (
        GOOD_ROWS + "servers:\n  a: {kind: flask-run}\n  a: {kind: werkzeug}\n",
        "line 4: 'a' is given twice (lines 3 and 4)",
    ),
    "duplicate rows": (
        'versions: [{flask: "3.1.*"}, {flask: "3.1.*"}]\n' + GOOD_SERVERS,
        "versions[1] (line 1): duplicates versions[0] (flask-3.1.x)",
    ),
    "empty matrix": ("versions: []\n" + GOOD_SERVERS, "versions (line 1): expected a non-empty list of rows"),
    "no servers": (GOOD_ROWS + "servers: {}\n", "servers (line 2): expected a non-empty mapping"),
    "empty file": ("", "expected a mapping with keys python, versions, servers, probes, found nothing"),
    "not YAML at all": ("versions: [flask: 1\n  servers: {\n", "not valid YAML"),
    "a list, not a mapping": ("- flask\n- gunicorn\n", "expected a mapping with keys python, versions"),
    "a tag that builds an object": (
        "python: !!python/object/apply:os.system ['touch /tmp/x']\n" + GOOD_ROWS + GOOD_SERVERS,
        "line 1: !!python/object/apply:os.system is not allowed",
    ),
    "unknown probe": (
        GOOD_ROWS + GOOD_SERVERS + "probes: {latency: {}}\n",
        "probes.latency (line 3): unknown probe 'latency'",
    ),
    "unknown proxy": (
        GOOD_ROWS + "servers: {a: {kind: flask-run, proxy: apache}}\n",
        "servers.a.proxy (line 2): 'apache' is not a known proxy; expected one of nginx",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, case):
    text, expected = CASES[case]
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(text)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "runner",
            "--matrix",
            str(matrix),
            "--results",
            str(tmp_path / "results"),
            "--envs",
            str(tmp_path / "envs"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: matrix.yaml: ")
    assert expected in lines[0]
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "results").exists()
    assert not (tmp_path / "envs").exists()
