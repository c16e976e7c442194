"""A yes/no that chance can decide is never published from one run.

The slow-client probe's "served or blocked" is declared chance-dependent: it
runs CHANCE_RUNS times, each in a fresh server, and is a plain answer only
when every run agrees.  The server here varies by construction, so the test
cannot pass by luck: it counts its launches in a file and serves on every
other one with a thread per connection (a stalled client holds one thread),
on the others one connection at a time (a stalled client blocks it).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from runner.cli import DEFAULT_ENVS
from runner.matrix.cells import parse
from runner.measuring.probes import PROBES
from runner.measuring.probes.base import CHANCE_RUNS, Column
from runner.publish import report
from runner.records.record import ProbeOutcome, Status, Tally
from runner.serving import servers
from runner.serving.servers import recipe_for
from runner.serving.servers.base import HOST, Launch, Recipe, Role
from runner.workflow import run

SERVE = """
import sys, wsgiref.simple_server as w, socketserver
from pathlib import Path
from target_app.app import app
counter = Path(sys.argv[1])
launches = int(counter.read_text() or 0) + 1 if counter.exists() else 1
counter.write_text(str(launches))
base = w.WSGIServer if launches % 2 else type("T", (socketserver.ThreadingMixIn, w.WSGIServer), {})
server = w.make_server(sys.argv[2], int(sys.argv[3]), app, server_class=base)
server.daemon_threads = True
server.serve_forever()
"""


def alternating(counter: Path) -> Recipe:
    def command(launch: Launch) -> list[str]:
        return [launch.python, "-c", SERVE, str(counter), HOST, str(launch.port)]

    return Recipe(
        kind="alternating",
        summary="blocks on every odd launch, serves stalled clients on every even one",
        role=Role.WSGI,
        command=command,
        capacity=lambda options, versions: None,
        # which launch it is decides, as which worker took a connection would
        shares_connections=lambda options: True,
    )


def test_a_tally_is_plain_only_when_every_run_agrees() -> None:
    assert Tally(yes=6, no=0, chance=True).value is True
    assert Tally(yes=0, no=6, chance=True).value is False
    assert Tally(yes=3, no=3, chance=True).value is None
    assert Tally(yes=3, no=3, chance=True).varies
    assert not Tally(yes=0, no=1, chance=True).settled  # one run of a chance outcome settles nothing
    assert Tally(yes=0, no=1, chance=False).settled


def test_the_repeat_rule_makes_a_coin_agree_by_chance_under_5_percent() -> None:
    assert 2 * 0.5**CHANCE_RUNS < 0.05
    assert PROBES["slow_client"].runs_at_least == CHANCE_RUNS
    assert PROBES["burst"].runs_at_least == CHANCE_RUNS
    assert PROBES["concurrency"].runs_at_least == 1  # not left to chance (see its declaration)


def test_chance_of_which_worker_took_a_connection_counts_only_where_workers_share_them() -> None:
    shares = {
        name: recipe_for(spec["kind"]).shares_connections({k: v for k, v in spec.items() if k != "kind"})
        for name, spec in {
            "flask-run": {"kind": "flask-run"},
            "sync": {"kind": "gunicorn", "workers": 2},
            "gthread": {"kind": "gunicorn", "workers": 2, "threads": 4},
            "one-gthread": {"kind": "gunicorn", "workers": 1, "threads": 4},
            "gevent": {"kind": "gunicorn", "workers": 2, "worker_class": "gevent"},
            "waitress": {"kind": "waitress"},
            "uwsgi": {"kind": "uwsgi", "processes": 2, "threads": 2},
        }.items()
    }
    assert {n for n, s in shares.items() if s} == {"gthread", "gevent"}
    for name in ("slow_client", "silent", "slow_upload", "slow_reader"):
        defaults = PROBES[name].defaults()
        assert PROBES[name].runs_on(Column(shares_connections=True, capacity=8), defaults) == CHANCE_RUNS, (
            name
        )
        assert PROBES[name].runs_on(Column(shares_connections=False, capacity=8), defaults) == 1, name
    # a race of timings can decide a burst on any column that could answer it all in time
    assert PROBES["burst"].runs_on(Column(False, None), PROBES["burst"].defaults()) == CHANCE_RUNS
    # one run where chance cannot decide it is a plain answer
    probe = PROBES["silent"]
    once = ProbeOutcome.of_runs(probe, [probe.result(4, False, 2.0, 2.0, "timeout")], chance=False)
    again = ProbeOutcome.from_dict("silent", once.to_dict())
    assert again.tally(probe) == Tally(yes=0, no=1, chance=False)
    assert again.tally(probe).settled


def test_a_burst_beyond_what_the_server_can_answer_in_time_is_not_left_to_chance() -> None:
    burst = PROBES["burst"]
    settings = {"requests": 500, "delay_ms": 100, "timeout_s": 3}
    # 8 at once, 30 each in 3 s: at most 240 of the 500
    assert not burst.chance_on(Column(shares_connections=True, capacity=8), settings)
    # 20 at once: 600 could be answered, so the race decides
    assert burst.runs_on(Column(shares_connections=False, capacity=20), settings) == CHANCE_RUNS
    # just enough: 17 x 30 = 510
    assert burst.chance_on(Column(False, 17), settings)
    assert not burst.chance_on(Column(False, 16), settings)
    # no bound known, or a page that takes no time: chance decides
    assert burst.chance_on(Column(False, None), settings)
    assert burst.chance_on(Column(False, 1), {**settings, "delay_ms": 0})
    # a sub-multiple time-out is floored: 2 at once, 2.5 s of 1 s pages is 4 of 5
    assert not burst.chance_on(Column(False, 2), {"requests": 5, "delay_ms": 1000, "timeout_s": 2.5})


def test_a_record_keeps_every_runs_answer() -> None:
    probe = PROBES["slow_client"]
    runs = [probe.result(stalled=8, served=i % 2 == 0, waited_s=0.1, wait_limit_s=3) for i in range(6)]
    outcome = ProbeOutcome.of_runs(probe, runs)
    again = ProbeOutcome.from_dict("slow_client", outcome.to_dict())
    assert again.said == (True, False, True, False, True, False)
    assert again.tally(probe) == Tally(yes=3, no=3, chance=True)


@pytest.mark.slow
def test_a_server_that_blocks_on_every_other_launch_is_published_as_varies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_leftovers: Callable[[str], None]
) -> None:
    monkeypatch.setitem(servers.RECIPES, "alternating", alternating(tmp_path / "launches"))
    matrix = parse(
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": {"alternating": {"kind": "alternating"}},
            "probes": {
                "concurrency": {"requests": 2, "delay_ms": 100},
                "slow_client": {"connections": 1, "wait_s": 1},
            },
        }
    )
    outcome = run.run_cells(
        matrix, matrix.cells(), results=tmp_path / "results", env_root=DEFAULT_ENVS, progress=lambda _: None
    )
    (record,) = outcome.records
    assert record.status is Status.OK, f"{record.reason}\n" + "\n".join(record.log_tail)
    slow = record.probe("slow_client")
    assert slow is not None
    assert len(slow.said) == CHANCE_RUNS  # whatever probes.repeats says (1 here)
    assert slow.tally(PROBES["slow_client"]) == Tally(yes=3, no=3, chance=True)
    assert report.probe_text(record, "slow_client") == "varies (blocked in 3 of 6)"
    text = (outcome.run.path / "report.md").read_text()
    assert "varies (blocked in 3 of 6)" in text
    assert int((tmp_path / "launches").read_text()) == 1 + CHANCE_RUNS  # a fresh server for every run
    no_leftovers(outcome.run.id)
