"""What each server does under each hostile condition, stated ahead and checked against real servers.

One small matrix, today's Flask on Python 3.11, through the tool's own
schedule with short limits: every server kind alone, nginx in front of
``flask run`` and of gunicorn's sync worker, and nginx without buffering.
Each expectation names where it comes from (a server's documentation or
code, or what this project measured where those were silent or wrong:
docs/probes.md lists each expectation a measurement overturned).

A yes/no that chance can decide (gthread's workers sharing connections) is
expected as a set: "served" or "varies", never a coin's single throw.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from runner.cli import DEFAULT_ENVS
from runner.matrix.cells import parse
from runner.measuring.probes import PROBES
from runner.records.record import CellRecord, Status
from runner.workflow.run import Outcome, run_cells
from runner.workflow.schedule import overlap_bound

pytestmark = pytest.mark.slow

Y, N, V = "yes", "no", "varies"
SERVERS = {
    "flask-run": {"kind": "flask-run"},
    "gunicorn-sync": {"kind": "gunicorn", "workers": 2},
    "gunicorn-gthread": {"kind": "gunicorn", "workers": 2, "threads": 4},
    "gunicorn-gevent": {"kind": "gunicorn", "workers": 1, "worker_class": "gevent"},
    "waitress": {"kind": "waitress", "threads": 4},
    "uwsgi": {"kind": "uwsgi", "processes": 2, "threads": 2},
    "nginx-flask-run": {"kind": "flask-run", "proxy": "nginx"},
    "nginx-gunicorn-sync": {"kind": "gunicorn", "workers": 2, "proxy": "nginx"},
    "nginx-unbuffered-gunicorn-sync": {
        "kind": "gunicorn",
        "workers": 2,
        "proxy": {"kind": "nginx", "buffering": False},
    },
}
SETTINGS = {
    "silent": {"connections": 4, "wait_s": 2},
    "slow_upload": {"connections": 4, "kb": 256, "seconds": 2},
    "slow_reader": {"connections": 4, "kb": 4608, "rate_kbps": 64, "wait_s": 2},
    "idle_keepalive": {"idle_s": 1, "timeout_s": 2},
    "backlog": {"connections": 2100, "connect_ms": 100},
    "crash": {"wait_s": 4},
    "hang": {"connections": 2, "wait_s": 5, "timeout_s": 2},
}

# condition -> server -> the answers expected (a set where chance may decide)
EXPECTED: dict[str, dict[str, set[str]]] = {
    # A sync worker reads its connection until the arbiter's time-out (30 s);
    # two workers, four silent connections: held (gunicorn's design docs ask
    # for a buffering proxy).  A thread per connection (flask run), an event
    # loop (waitress, gevent), gthread's poller, uWSGI's TCP_DEFER_ACCEPT and
    # nginx (which reads a whole head before it calls the upstream) are not.
    "silent": {
        "flask-run": {Y},
        "gunicorn-sync": {N},
        "gunicorn-gthread": {Y, V},
        "gunicorn-gevent": {Y},
        "waitress": {Y},
        "uwsgi": {Y},
        "nginx-flask-run": {Y},
        "nginx-gunicorn-sync": {Y},
        "nginx-unbuffered-gunicorn-sync": {Y},
    },
    # waitress reads a whole body in its event loop before a thread sees it;
    # nginx buffers it unless proxy_request_buffering is off.
    "slow_upload": {
        "flask-run": {Y},
        "gunicorn-sync": {N},
        "gunicorn-gthread": {Y, V},
        "gunicorn-gevent": {Y},
        "waitress": {Y},
        "uwsgi": {N},
        "nginx-flask-run": {Y},
        "nginx-gunicorn-sync": {Y},
        "nginx-unbuffered-gunicorn-sync": {N, V},
    },
    # waitress's threads never write to a socket; nginx buffers answers (to a
    # temporary file past its memory buffers) unless proxy_buffering is off.
    "slow_reader": {
        "flask-run": {Y},
        "gunicorn-sync": {N},
        "gunicorn-gthread": {Y, V},
        "gunicorn-gevent": {Y},
        "waitress": {Y},
        "uwsgi": {N},
        "nginx-flask-run": {Y},
        "nginx-gunicorn-sync": {Y},
        "nginx-unbuffered-gunicorn-sync": {N, V},
    },
    # Past the keep-alive time-out the connection is closed first (a FIN):
    # the request on it goes unanswered.  Werkzeug's server and gunicorn's
    # sync worker keep no connection alive (no answer to count).  waitress
    # closes an idle channel only at its next cleanup (every 30 s), so with
    # channel_timeout 2 its connection still answers after 3 s.
    "idle_keepalive": {
        "gunicorn-gthread": {N},
        "gunicorn-gevent": {N},
        "waitress": {Y},
        "uwsgi": {N},
        "nginx-flask-run": {N},
        "nginx-gunicorn-sync": {N},
        "nginx-unbuffered-gunicorn-sync": {N},
    },
    # gunicorn's arbiter and uWSGI's master start another worker; a server
    # that is one process is gone (nginx answers 502 for it).
    "crash": {
        "flask-run": {N},
        "gunicorn-sync": {Y},
        "gunicorn-gthread": {Y},
        "gunicorn-gevent": {Y},
        "waitress": {N},
        "uwsgi": {Y},
        "nginx-flask-run": {N},
        "nginx-gunicorn-sync": {Y},
        "nginx-unbuffered-gunicorn-sync": {Y},
    },
    # Only a sync worker stuck in app code stops reporting to gunicorn's
    # arbiter, which kills it after --timeout (set to 2 s for the probe):
    # a gthread or gevent worker keeps reporting while one request hangs.
    # waitress and Werkzeug have no request time-out; uWSGI's harakiri is off.
    "hang": {
        "flask-run": {N},
        "gunicorn-sync": {Y},
        "gunicorn-gthread": {N},
        "gunicorn-gevent": {N},
        "waitress": {N},
        "uwsgi": {N},
        "nginx-flask-run": {N},
        "nginx-gunicorn-sync": {Y},
        "nginx-unbuffered-gunicorn-sync": {Y},
    },
}

# The effective backlog with nothing accepting: the listen queue (backlog + 1)
# of Werkzeug (128), gunicorn (2048) and waitress (1024); nginx accepts every
# connection itself, so none waits in its queue.
BACKLOG = {"flask-run": 129, "gunicorn-sync": 2049, "gunicorn-gthread": 2049, "waitress": 1025}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, no_leftovers: Callable[[str], None]) -> Outcome:
    probes: dict[str, Any] = {"repeats": 1, "concurrency": {"requests": 4, "delay_ms": 200}, **SETTINGS}
    matrix = parse({"versions": [{"flask": "3.1.*"}], "servers": SERVERS, "probes": probes})
    outcome = run_cells(
        matrix,
        matrix.cells(),
        results=tmp_path_factory.mktemp("results"),
        env_root=DEFAULT_ENVS,
        progress=lambda line: None,
        overlap=overlap_bound(),  # as `nox -s matrix` runs it
    )
    no_leftovers(outcome.run.id)  # the servers the probes killed, stopped or hung included
    for record in outcome.records:
        assert record.status is Status.OK, (record.cell, record.reason, record.log_tail)
    return outcome


@pytest.fixture(scope="module")
def measured(run: Outcome) -> dict[str, CellRecord]:
    return {r.server: r for r in run.records}


def said(record: CellRecord, name: str) -> str | None:
    got = record.probe(name)
    assert got is not None, (record.cell, name)
    assert got.result is not None, (record.cell, name, got.error)
    tally = got.tally(PROBES[name])
    if tally is None or tally.n == 0:
        return None
    return V if tally.varies else Y if tally.value else N


def result(measured: dict[str, CellRecord], server: str, name: str) -> Any:
    found = measured[server].result(name)
    assert found is not None, (server, name)
    return found


@pytest.mark.parametrize("condition", list(EXPECTED))
def test_each_server_meets_each_condition_as_expected(
    measured: dict[str, CellRecord], condition: str
) -> None:
    got = {server: said(measured[server], condition) for server in EXPECTED[condition]}
    wrong = {s: (got[s], sorted(EXPECTED[condition][s])) for s in got if got[s] not in EXPECTED[condition][s]}
    assert not wrong, f"{condition}: measured vs expected {wrong}"


def test_servers_without_keep_alive_say_so(measured: dict[str, CellRecord]) -> None:
    for server in ("flask-run", "gunicorn-sync"):
        assert not result(measured, server, "idle_keepalive").kept_alive, server


def test_the_backlog_is_the_listen_queue_and_ss_agrees(measured: dict[str, CellRecord]) -> None:
    for server, queue in BACKLOG.items():
        found = result(measured, server, "backlog")
        assert found.queued == queue, (server, found)
        assert found.ss_queued == queue, (server, found)
        assert found.ss_backlog == queue - 1, (server, found)
        assert found.refused == 0  # Linux drops the SYNs past the queue: none is refused
        assert found.reset == 0
    fronted = result(measured, "nginx-gunicorn-sync", "backlog")
    assert fronted.limit_reached  # nginx accepts them all itself
    assert fronted.ss_queued == 0


def test_a_crashed_flask_run_stays_down_and_a_gunicorn_worker_is_replaced(
    measured: dict[str, CellRecord],
) -> None:
    down = result(measured, "flask-run", "crash")
    assert down.killed == "its only process"
    assert down.idle_recovery_s is None
    back = result(measured, "gunicorn-sync", "crash")
    assert back.killed == "a worker"
    assert back.serving_recovery_s is not None
    assert back.serving_recovery_s < SETTINGS["crash"]["wait_s"]


def test_a_time_out_too_long_to_outwait_is_set_and_said(measured: dict[str, CellRecord]) -> None:
    hung = result(measured, "gunicorn-sync", "hang")
    assert hung.timeout_set == "timeout: 2 (was 30 s)"
    assert hung.ended_as  # the server ended them, and how is said
    idle = result(measured, "nginx-gunicorn-sync", "idle_keepalive")
    assert idle.timeout_set == "keepalive_timeout: 2 (was 75 s)"


def test_the_slow_reader_outgrows_both_buffers(measured: dict[str, CellRecord]) -> None:
    for server in ("gunicorn-sync", "uwsgi"):
        found = result(measured, server, "slow_reader")
        assert found.exceeds_buffers, (server, found)
        assert found.client_buffer <= 32 * 1024


def test_the_page_draws_a_chart_for_each_condition_and_says_what_nginx_buys(run: Outcome) -> None:
    from tests.browser import offline_page

    with offline_page() as (shown, errors):
        shown.goto((run.run.path / "report.html").as_uri())
        shown.wait_for_function(
            "[...document.querySelectorAll('.chart')].every(c => c.dataset.drawn === 'yes')",
            timeout=30_000,
        )
        drawn = dict(
            shown.eval_on_selector_all(
                ".chart",
                "cs => cs.map(c => [c.dataset.chart, c.querySelectorAll('svg .role-mark').length])",
            )
        )
        text = shown.inner_text("body")
    for name in (*EXPECTED, "backlog"):
        assert drawn.get(name, 0) > 0, (name, drawn)
    assert errors == []
    assert "What nginx buys, condition by condition" in text
    assert "nginx in front keeps serving where the server alone did not" in text
