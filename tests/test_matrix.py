"""matrix.yaml parsing and expansion, fed plain data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from runner.matrix.cells import Cell, MatrixError, check_version_spec, load, parse, requirement, slug
from runner.measuring.probes import PROBES

REPO = Path(__file__).resolve().parent.parent


def minimal(**overrides):
    data = {
        "python": "3.11",
        "versions": [{"flask": "0.12.5"}, {"flask": "3.1.*"}],
        "servers": {"flask-run": {"kind": "flask-run"}, "sync": {"kind": "gunicorn", "workers": 2}},
    }
    data.update(overrides)
    return data


def test_rows_take_the_default_python_unless_they_name_one():
    matrix = parse(minimal(versions=[{"flask": "1.0.4"}, {"flask": "1.0.2", "python": "3.6"}]))
    assert [r.python for r in matrix.rows] == ["3.11", "3.6"]


def test_row_names_say_what_the_row_is():
    matrix = parse(
        minimal(
            versions=[
                {"flask": "3.1.*"},
                {"flask": "1.0.4", "werkzeug": "0.14.1"},
                {"flask": "0.12.4", "python": "3.6", "resolve": "period"},
                {"flask": ">=2,<3"},
            ]
        )
    )
    assert [r.name for r in matrix.rows] == [
        "flask-3.1.x",
        "flask-1.0.4-werkzeug-0.14.1",
        "flask-0.12.4-py3.6-period",
        "flask-ge2-lt3",
    ]


def test_requirements_pin_flask_werkzeug_and_extra_pins():
    row = parse(minimal(versions=[{"flask": "1.0.4", "werkzeug": "0.14.1", "pins": ["jinja2<3"]}])).rows[0]
    assert row.requirements() == ("flask==1.0.4", "werkzeug==0.14.1", "jinja2<3")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("0.12.5", "flask==0.12.5"),
        ("3.1.*", "flask==3.1.*"),
        (">=2,<3", "flask>=2,<3"),
        ("~=1.0", "flask~=1.0"),
    ],
)
def test_requirement(spec, expected):
    assert requirement("flask", spec) == expected


@pytest.mark.parametrize("spec", ["0.12.5", "3.1.*", ">=2,<3", "==2.0.3", "1.0rc1"])
def test_accepted_version_specs(spec):
    assert check_version_spec(spec)


@pytest.mark.parametrize("spec", ["", "latest", "1.x", "3.1.*.*", ">>2", "=>1"])
def test_rejected_version_specs(spec):
    assert not check_version_spec(spec)


def test_slug_keeps_names_usable_as_files():
    assert slug(">=2, <3") == "ge2-lt3"
    assert slug("3.1.*") == "3.1.x"


def test_expansion_is_every_row_times_every_server_row_by_row():
    cells = parse(minimal()).cells()
    assert [c.name for c in cells] == [
        "flask-0.12.5--flask-run",
        "flask-0.12.5--sync",
        "flask-3.1.x--flask-run",
        "flask-3.1.x--sync",
    ]


def test_a_proxy_goes_in_front_of_any_kind():
    matrix = parse(minimal(servers={"nginx-sync": {"kind": "gunicorn", "workers": 2, "proxy": "nginx"}}))
    assert (matrix.servers[0].kind, matrix.servers[0].proxy) == ("gunicorn", "nginx")


def test_server_options_and_probe_defaults():
    matrix = parse(minimal())
    assert matrix.servers[1].kind == "gunicorn"
    assert matrix.servers[1].options == {"workers": 2}
    assert matrix.probes == {"concurrency": {"requests": 10, "delay_ms": 500}}
    assert matrix.probes["concurrency"].rows is None
    assert matrix.repeats == 1
    assert parse(minimal(probes={"concurrency": {"requests": 20}})).probes["concurrency"] == {
        "requests": 20,
        "delay_ms": 500,
    }


def test_probes_run_where_the_file_names_them_with_defaults_for_the_rest():
    matrix = parse(
        minimal(probes={"repeats": 3, "cpu": None, "burst": {"requests": 100, "rows": ["flask-3.1.x"]}})
    )
    assert matrix.repeats == 3
    assert matrix.probes["cpu"] == {"requests": 4, "iterations": 1_000_000}
    assert matrix.probes["burst"].rows == ("flask-3.1.x",)
    old, new = (Cell(row, matrix.servers[0]) for row in matrix.rows)
    assert list(matrix.probes_for(old)) == ["concurrency", "cpu"]
    assert list(matrix.probes_for(new)) == ["concurrency", "cpu", "burst"]
    assert matrix.probes_for(new)["burst"]["requests"] == 100


def test_a_probe_kept_to_columns_runs_on_those_alone():
    data = minimal(probes={"cpu": {"servers": ["b"]}, "burst": {"rows": ["flask-3.1.x"], "servers": ["a"]}})
    data["servers"] = {"a": {"kind": "flask-run"}, "b": {"kind": "waitress"}}
    matrix = parse(data)
    ran = {cell.name: list(matrix.probes_for(cell)) for cell in matrix.cells()}
    assert ran == {
        "flask-0.12.5--a": ["concurrency"],
        "flask-0.12.5--b": ["concurrency", "cpu"],
        "flask-3.1.x--a": ["concurrency", "burst"],
        "flask-3.1.x--b": ["concurrency", "cpu"],
    }


@pytest.mark.parametrize(
    ("data", "where", "says"),
    [
        (minimal(extra=1), "extra", "unknown key 'extra'; expected one of python, versions"),
        (
            minimal(servers={"x": {"kind": "tornado"}}),
            "servers.x.kind",
            "expected one of app-run, cheroot, flask-run, granian, gunicorn, uwsgi, waitress, werkzeug",
        ),
        (
            minimal(servers={"x": {"kind": "gunicorn", "workers": "2"}}),
            "servers.x.workers",
            "expected a whole number from 1 to 32, found '2'",
        ),
        (
            minimal(servers={"x": {"kind": "gunicorn", "workers": 0}}),
            "servers.x.workers",
            "from 1 to 32, found 0",
        ),
        (minimal(servers={"x": {"kind": "gunicorn", "workers": True}}), "servers.x.workers", "whole number"),
        (
            minimal(servers={"x": {"kind": "waitress", "workers": 2}}),
            "servers.x.workers",
            "unknown key for kind waitress",
        ),
        (minimal(servers={"x": {"workers": 2}}), "servers.x", "has no kind"),
        (
            minimal(servers={"x": {"kind": "flask-run", "proxy": "apache"}}),
            "servers.x.proxy",
            "expected one of nginx",
        ),
        (minimal(servers={}), "servers", "non-empty mapping"),
        (minimal(versions=[]), "versions", "non-empty list"),
        (minimal(versions=[{"flask": "1.x"}]), "versions[0].flask", "not a version or specifier"),
        (minimal(versions=[{"flask": 1.0}]), "versions[0].flask", "must be quoted"),
        (minimal(versions=[{"werkzeug": "1.0"}]), "versions[0]", "has no flask key"),
        (
            minimal(versions=[{"flask": "1.0.4", "pins": "jinja2<3"}]),
            "versions[0].pins",
            "list of requirement",
        ),
        (
            minimal(versions=[{"flask": "1.0.4", "pins": ["jinja2<<3"]}]),
            "versions[0].pins[0]",
            "not a requirement",
        ),
        (
            minimal(versions=[{"flask": "1.0.4", "resolve": "yesterday"}]),
            "versions[0].resolve",
            "latest, period",
        ),
        (
            minimal(versions=[{"flask": "1.0.*", "resolve": "period"}]),
            "versions[0].resolve",
            "exact Flask version",
        ),
        (minimal(versions=[{"flask": "1.0.4"}, {"flask": "1.0.4"}]), "versions[1]", "duplicates versions[0]"),
        (minimal(python=3.10), "python", "3.10 becomes 3.1"),
        (minimal(python="three"), "python", "major.minor"),
        (minimal(probes={"concurrency": {"requests": 0}}), "probes.concurrency.requests", "from 1 to 1000"),
        (minimal(probes={"latency": {}}), "probes.latency", "unknown probe"),
        (minimal(probes={"repeats": 0}), "probes.repeats", "from 1 to 20"),
        (
            minimal(probes={"throughput": {"generator": "ab"}}),
            "probes.throughput.generator",
            "expected one of auto, wrk, builtin",
        ),
        (minimal(probes={"burst": {"rows": ["flask-9"]}}), "probes.burst.rows", "no row named 'flask-9'"),
        (
            minimal(probes={"burst": {"servers": ["nginx"]}}),
            "probes.burst.servers",
            "no column named 'nginx'; columns are flask-run, sync",
        ),
        (minimal(probes={"burst": {"servers": "sync"}}), "probes.burst.servers", "expected a list of column"),
        ([1, 2], "", "expected a mapping with keys"),
    ],
)
def test_bad_input_names_the_place_and_what_is_accepted(data, where, says):
    with pytest.raises(MatrixError) as caught:
        parse(data, "m.yaml")
    message = str(caught.value)
    assert message.startswith(f"m.yaml: {where}: " if where else "m.yaml: ")
    assert says in message
    assert "\n" not in message


def test_load_reads_the_default_matrix():
    matrix = load(REPO / "matrix.yaml")
    today = [r.flask for r in matrix.rows if r.python == "3.11"]
    assert today == ["0.12.5", "1.0.4", "1.1.4", "2.0.3", "2.3.3", "3.0.*", "3.1.*"]
    period = [(r.flask, r.python) for r in matrix.rows if r.resolve == "period"]
    assert period == [("0.10.1", "2.7"), ("0.11.1", "2.7"), ("0.12.4", "3.6"), ("1.0.2", "3.6")]
    werkzeugs = [r.werkzeug for r in matrix.rows if r.flask == "1.0.4" and r.werkzeug]
    assert werkzeugs == ["0.14.1", "0.15.6", "0.16.1"]
    alone = ["flask-run", "gunicorn-sync", "gunicorn-gthread", "gunicorn-gevent", "waitress", "uwsgi"]
    names = [s.name for s in matrix.servers]
    assert set(alone) < set(names)
    # nginx in front of every kind, buffering, and once without it
    assert {f"nginx-{name}" for name in alone} < set(names)
    fronted = {s.name: s.proxy_options for s in matrix.servers if s.proxy == "nginx"}
    assert fronted["nginx-unbuffered-gunicorn-sync"] == {"buffering": False}
    assert {s.name: s.cpus for s in matrix.servers if s.cpus} == {
        "flask-run-1cpu": 1,
        "gunicorn-sync-1cpu": 1,
    }
    assert len(matrix.cells()) == 14 * len(names)
    assert set(matrix.probes) == set(PROBES)
    # the probes that measure speed do not multiply with the nginx columns
    assert "nginx-gunicorn-gthread" not in (matrix.probes["throughput"].servers or names)
    hostile = {"silent", "slow_upload", "slow_reader", "idle_keepalive", "backlog", "crash", "hang"}
    for name in hostile:
        assert matrix.probes[name].rows == ("flask-1.0.2-py3.6-period", "flask-3.1.x"), name


def test_the_full_matrix_has_the_same_cells_and_every_probe_everywhere():
    full, default = load(REPO / "matrix-full.yaml"), load(REPO / "matrix.yaml")
    # the default's cells, one gthread worker beside them, and a block that
    # follows gunicorn from 20.x to the newest
    assert [r.name for r in full.rows if not r.servers] == [r.name for r in default.rows]
    assert [s.name for s in full.servers if s.name != "gunicorn-gthread-1x4"] == [
        s.name for s in default.servers
    ]
    block = [dict(r.servers)["gunicorn"] for r in full.rows if r.servers]
    assert block[0].startswith("20.")
    assert len(block) >= 8
    assert all(r.flask == "3.1.*" for r in full.rows if r.servers)
    assert full.repeats == 3
    assert all(settings.rows is None for settings in full.probes.values())
    assert all(settings.servers is None for settings in full.probes.values())


def load_text(tmp_path, text):
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    with pytest.raises(MatrixError) as caught:
        load(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_load_refuses_text_that_is_not_yaml(tmp_path):
    message = load_text(tmp_path, "versions: [flask: 1\n  servers: {")
    assert re.match(r"^matrix.yaml: line \d+: not valid YAML", message)


def test_load_refuses_tags_that_build_objects(tmp_path):
    message = load_text(tmp_path, "python: !!python/object/apply:os.system ['true']\n")
    assert message == (
        "matrix.yaml: line 1: !!python/object/apply:os.system is not allowed: a matrix "
        "file holds plain values only (strings, numbers, true/false, lists and mappings)"
    )


def test_a_server_named_twice_is_refused_with_both_lines(tmp_path):
    message = load_text(
        tmp_path, 'versions: [{flask: "3.1.*"}]\nservers:\n  a: {kind: flask-run}\n  a: {kind: werkzeug}\n'
    )
    assert message == (
        "matrix.yaml: line 4: 'a' is given twice (lines 3 and 4); each key, "
        "server name included, must be unique"
    )


def test_errors_in_a_file_name_the_line_of_the_key(tmp_path):
    message = load_text(
        tmp_path,
        'python: "3.11"\nversions:\n  - flask: "3.1.*"\nservers:\n  sync: {kind: gunicorn, workers: -2}\n',
    )
    assert message.startswith(
        "matrix.yaml: servers.sync.workers (line 5): expected a whole number from 1 to 32"
    )
    message = load_text(
        tmp_path, 'versions:\n  - flask: "3.1.*"\n  - flask: "1.x"\nservers: {a: {kind: flask-run}}\n'
    )
    assert message.startswith("matrix.yaml: versions[1].flask (line 3): '1.x' is not a version")


def test_an_empty_file_is_refused(tmp_path):
    assert "expected a mapping with keys python, versions, servers, probes, found nothing" in load_text(
        tmp_path, ""
    )


def test_load_names_a_missing_file(tmp_path):
    with pytest.raises(MatrixError, match="does not exist; pass a matrix file"):
        load(tmp_path / "nope.yaml")


def test_a_server_column_can_be_hashed_and_compared() -> None:
    matrix = parse(
        {
            "versions": [{"flask": "3.1.*"}],
            "servers": {"a": {"kind": "gunicorn", "workers": 2}, "b": {"kind": "gunicorn", "workers": 2}},
        }
    )
    a, b = matrix.servers
    assert len({a, b}) == 2  # different names
    assert hash(a.options) == hash(b.options)
    assert a.options == b.options
    assert dict(a.options) == {"workers": 2}


def test_probe_settings_come_from_the_registry() -> None:
    from runner.measuring.probes import PROBES

    matrix = parse(
        {"versions": [{"flask": "3.1.*"}], "servers": {"a": {"kind": "flask-run"}}, "probes": {"burst": {}}}
    )
    assert dict(matrix.probes["burst"]) == PROBES["burst"].defaults()
    high = PROBES["concurrency"].settings["requests"].high
    with pytest.raises(MatrixError, match=f"expected a whole number from 1 to {high}, found {high + 1}"):
        parse(
            {
                "versions": [{"flask": "3.1.*"}],
                "servers": {"a": {"kind": "flask-run"}},
                "probes": {"concurrency": {"requests": high + 1}},
            }
        )


@pytest.mark.parametrize("spec", ["===1.0", "===<script>alert(1)</script>", ">=1,===2"])
def test_arbitrary_equality_is_refused(spec: str) -> None:
    assert not check_version_spec(spec)
    with pytest.raises(MatrixError, match=r"versions\[0\]\.flask: .* is not a version or specifier"):
        parse({"versions": [{"flask": spec}], "servers": {"a": {"kind": "flask-run"}}})
