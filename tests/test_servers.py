"""Server recipes: the argument lists and the capacities their options promise."""
from __future__ import annotations

from pathlib import Path

import pytest

from runner.servers import RECIPES, Launch

BIN = Path("/envs/x/bin")


def command(kind, **options):
    return RECIPES[kind].command(Launch(bin_dir=BIN, port=5123, options=options))


def test_every_server_binds_loopback_only():
    for kind in RECIPES:
        argv = " ".join(command(kind))
        assert "0.0.0.0" not in argv
    assert command("flask-run")[-4:] == ["--host", "127.0.0.1", "--port", "5123"]
    assert "--bind" in command("gunicorn") and "127.0.0.1:5123" in command("gunicorn")
    assert "--host=127.0.0.1" in command("waitress")


def test_gunicorn_threads_mean_gthread():
    argv = command("gunicorn", workers=2, threads=4)
    assert argv[argv.index("--worker-class") + 1] == "gthread"
    assert argv[argv.index("--workers") + 1] == "2"
    assert command("gunicorn", workers=2)[command("gunicorn", workers=2).index("--worker-class") + 1] == "sync"


@pytest.mark.parametrize("kind, options, capacity", [
    ("gunicorn", {"workers": 2}, 2),
    ("gunicorn", {"workers": 2, "threads": 4}, 8),
    ("waitress", {"threads": 4}, 4),
    ("waitress", {}, 4),
    ("werkzeug", {}, 1),
    ("werkzeug", {"threaded": True}, None),
    ("werkzeug", {"processes": 3}, 3),
    ("flask-run", {}, None),
    ("app-run", {}, None),
])
def test_capacity(kind, options, capacity):
    assert RECIPES[kind].capacity(options) == capacity


def test_dev_server_options_reach_the_launcher():
    assert command("werkzeug", threaded=True)[-2:] == ["--threaded", "true"]
    assert command("app-run", processes=2)[-2:] == ["--processes", "2"]


def test_pre_forked_workers_all_load_the_app():
    assert RECIPES["gunicorn"].loaded_by({"workers": 3}) == 3
    assert RECIPES["waitress"].loaded_by({"threads": 8}) == 1
