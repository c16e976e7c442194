"""The target app: ``/health`` for readiness, ``/slow?ms=N`` for the probes.

The hostile-connection probes add three: ``/upload`` reads a POST body,
``/big?kb=N`` answers N KiB, ``/hang?s=N`` holds its worker for N seconds.

``/slow`` reports the server-side start and end of its own work on the wall
clock (``time.time``), which every process on the machine shares, so the
runner can count how many requests the server was inside at the same moment
from the server's own timestamps rather than from client timing.
"""
import os
import threading
import time

from flask import Flask, jsonify, request

# Types are given in comments: this file runs on Python 2.7 too, which has
# no annotations and no typing module (MYPY is true for mypy only).
MYPY = False
if MYPY:
    from typing import Any  # noqa: F401 - used in type comments

app = Flask(__name__)

# The runner hands each server a fresh token and checks that /health echoes
# it, so a stray process already listening on the port is never mistaken for
# the server under test.
TOKEN = os.environ.get("TARGET_APP_TOKEN", "")

MAX_SLOW_MS = 60000


def _mark_loaded():
    # type: () -> None
    """Leave a file named by this pid where the runner looks for it.

    A pre-forking server answers /health as soon as its first worker is up;
    the runner counts these files to know that every worker has loaded the
    app before it starts a probe.
    """
    folder = os.environ.get("TARGET_APP_LOADED_DIR")
    if folder:
        open(os.path.join(folder, str(os.getpid())), "w").close()


# Faults on request, for the runner's fault-injection tests: a server that
# never becomes ready, one that ignores SIGTERM, one that dies in the middle
# of a probe, one whose every answer fails.  Unset, the app is plain.
FAULT = os.environ.get("TARGET_APP_FAULT", "")
if FAULT == "hang-at-start":
    time.sleep(3600)
elif FAULT == "ignore-sigterm":
    import signal

    signal.signal(signal.SIGTERM, signal.SIG_IGN)

_mark_loaded()


@app.route("/health")
def health():
    # type: () -> Any
    return jsonify(status="ok", token=TOKEN, pid=os.getpid())


@app.route("/hello")
def hello():
    # type: () -> str
    """The smallest useful answer, for the throughput probe."""
    return "ok"


MAX_CPU_ITERATIONS = 100000000


@app.route("/cpu")
def cpu():
    # type: () -> Any
    """A fixed amount of pure-Python work: it holds the GIL throughout."""
    start = time.time()
    try:
        n = int(request.args.get("n", "1000000"))
    except ValueError:
        return jsonify(error="n must be a whole number of iterations"), 400
    if not 0 <= n <= MAX_CPU_ITERATIONS:
        return jsonify(error="n must be between 0 and %d" % MAX_CPU_ITERATIONS), 400
    total = 0
    for i in range(n):
        total += i * i
    end = time.time()
    return jsonify(start=start, end=end, pid=os.getpid(),
                   thread=threading.current_thread().ident, total=total % 1000)


@app.route("/slow")
def slow():
    # type: () -> Any
    start = time.time()
    if FAULT == "crash-on-slow":
        os._exit(3)
    if FAULT == "fail-requests":
        return jsonify(error="failing on request (TARGET_APP_FAULT)"), 500
    try:
        ms = int(request.args.get("ms", "500"))
    except ValueError:
        return jsonify(error="ms must be a whole number of milliseconds"), 400
    if not 0 <= ms <= MAX_SLOW_MS:
        return jsonify(error="ms must be between 0 and %d" % MAX_SLOW_MS), 400
    time.sleep(ms / 1000.0)
    end = time.time()
    return jsonify(
        start=start,
        end=end,
        pid=os.getpid(),
        thread=threading.current_thread().ident,
    )


MAX_UPLOAD_BYTES = 64 * 1024 * 1024
MAX_BIG_KB = 8192
MAX_HANG_S = 120


@app.route("/upload", methods=["POST"])
def upload():
    # type: () -> Any
    """Reads the whole body as it arrives: a slow upload holds whoever reads it."""
    start = time.time()
    received = 0
    while received < MAX_UPLOAD_BYTES:
        chunk = request.stream.read(65536)
        if not chunk:
            break
        received += len(chunk)
    return jsonify(start=start, end=time.time(), pid=os.getpid(), received=received)


@app.route("/big")
def big():
    # type: () -> Any
    """``kb`` KiB of one letter, as one body: more than the sockets between hold."""
    try:
        kb = int(request.args.get("kb", "1024"))
    except ValueError:
        return jsonify(error="kb must be a whole number of KiB"), 400
    if not 1 <= kb <= MAX_BIG_KB:
        return jsonify(error="kb must be between 1 and %d" % MAX_BIG_KB), 400
    return app.response_class(b"x" * (kb * 1024), mimetype="application/octet-stream")


@app.route("/hang")
def hang():
    # type: () -> Any
    """Sleeps ``s`` seconds before it answers: a request that (nearly) never returns."""
    start = time.time()
    try:
        seconds = int(request.args.get("s", "60"))
    except ValueError:
        return jsonify(error="s must be a whole number of seconds"), 400
    if not 0 <= seconds <= MAX_HANG_S:
        return jsonify(error="s must be between 0 and %d" % MAX_HANG_S), 400
    time.sleep(seconds)
    return jsonify(start=start, end=time.time(), pid=os.getpid())
