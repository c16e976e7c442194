"""Server recipes: the argument lists and the capacities their options promise."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.serving.servers import RECIPES, Launch

BIN = Path("/envs/x/bin")


def command(kind, **options):
    return RECIPES[kind].command(Launch(bin_dir=BIN, port=5123, options=options))


def test_every_server_binds_loopback_only():
    for kind in RECIPES:
        argv = " ".join(command(kind))
        assert "0.0.0.0" not in argv
    assert command("flask-run")[-4:] == ["--host", "127.0.0.1", "--port", "5123"]
    assert "--bind" in command("gunicorn")
    assert "127.0.0.1:5123" in command("gunicorn")
    assert "--host=127.0.0.1" in command("waitress")


def test_gunicorn_threads_mean_gthread():
    argv = command("gunicorn", workers=2, threads=4)
    assert argv[argv.index("--worker-class") + 1] == "gthread"
    assert argv[argv.index("--workers") + 1] == "2"
    assert (
        command("gunicorn", workers=2)[command("gunicorn", workers=2).index("--worker-class") + 1] == "sync"
    )


@pytest.mark.parametrize(
    ("kind", "options", "capacity"),
    [
        ("gunicorn", {"workers": 2}, 2),
        ("gunicorn", {"workers": 2, "threads": 4}, 8),
        ("waitress", {"threads": 4}, 4),
        ("waitress", {}, 4),
        ("werkzeug", {}, 1),
        ("werkzeug", {"threaded": True}, None),
        ("werkzeug", {"processes": 3}, 3),
        ("flask-run", {}, None),
        ("app-run", {}, None),
        ("app-run", {"threaded": False}, 1),
        ("gunicorn", {"workers": 2, "worker_class": "gevent"}, 2000),
        ("uwsgi", {"processes": 2, "threads": 2}, 4),
        ("cheroot", {"threads": 4}, 4),
        ("granian", {"workers": 2, "threads": 3}, 6),
    ],
)
def test_capacity(kind, options, capacity):
    assert RECIPES[kind].capacity(options, {"Flask": "3.1.3"}) == capacity


@pytest.mark.parametrize(
    ("versions", "capacity"),
    [
        ({"Flask": "0.12.5"}, 1),  # installed, named as its metadata names it
        ({"flask": "0.12.*"}, 1),  # asked for, while planning
        ({"flask": "1.0.4"}, None),  # threaded by default since Flask 1.0
        ({"flask": ">=2,<3"}, None),
        ({}, None),
    ],
)
def test_flasks_development_server_was_serial_before_1_0(versions, capacity):
    assert RECIPES["flask-run"].capacity({}, versions) == capacity
    assert RECIPES["app-run"].capacity({}, versions) == capacity
    assert RECIPES["app-run"].capacity({"processes": 3}, versions) == 3


def test_dev_server_options_reach_the_launcher():
    assert command("werkzeug", threaded=True)[-2:] == ["--threaded", "true"]
    assert command("app-run", processes=2)[-2:] == ["--processes", "2"]


def test_pre_forked_workers_all_load_the_app():
    assert RECIPES["gunicorn"].loaded_by({"workers": 3}) == 3
    assert RECIPES["waitress"].loaded_by({"threads": 8}) == 1


def test_each_kind_says_which_packages_it_installs_for_which_python():
    gunicorn = RECIPES["gunicorn"].packages
    assert gunicorn({"workers": 2}, (3, 11)) == ("gunicorn",)
    assert gunicorn({"workers": 2}, (3, 6)) == ("gunicorn<22",)
    assert gunicorn({"worker_class": "gevent"}, (3, 11)) == ("gunicorn", "gevent", "packaging")
    assert RECIPES["waitress"].packages({}, (3, 6)) == ("waitress<2.1",)
    assert RECIPES["waitress"].packages({}, (3, 12)) == ("waitress",)
    assert RECIPES["uwsgi"].packages({}, (3, 8)) == ("pyuwsgi",)
    assert RECIPES["uwsgi"].binary_only == ("pyuwsgi",)
    assert RECIPES["granian"].min_python == (3, 9)
    assert RECIPES["flask-run"].packages({}, (3, 11)) == ()


def test_uwsgi_loads_the_app_in_every_process_and_stops_on_sigterm():
    argv = command("uwsgi", processes=2, threads=2)
    assert argv[argv.index("--http-socket") + 1] == "127.0.0.1:5123"
    assert {"--lazy-apps", "--die-on-term", "--master"} <= set(argv)
    assert RECIPES["uwsgi"].loaded_by({"processes": 2}) == 2


def test_an_old_gunicorn_without_the_asked_worker_says_so():
    unsupported = RECIPES["gunicorn"].unsupported
    assert unsupported({"threads": 4}, {"gunicorn": "17.5"}) == (
        "gunicorn 17.5 has no gthread worker (it arrived in 19.0)"
    )
    assert unsupported({"threads": 4}, {"gunicorn": "19.8.1"}) is None
    assert unsupported({"workers": 2}, {"gunicorn": "17.5"}) is None
