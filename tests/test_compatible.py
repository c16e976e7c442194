"""``resolve: compatible``: rows that find the pins under which their Flask runs.

The blame and the release lines are plain data.  The live test runs real
rows on Python 3.11 with no pins: Flask 1.1.2 and 2.1.3 (2.1.3 is in no
row of the default matrix, so no table could have had its pins) run once
their pins are found; Flask 1.0.2, whose own code imports what Python 3.10
removed, is n/a with one line; and the same 2.1.3 resolved plainly fails,
its reason naming ``resolve: compatible`` as the way out.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from runner import cli
from runner.environments import compatible, period
from runner.matrix.cells import parse
from runner.records.record import Status
from runner.records.store import read_run

MODULES = {"jinja2": "jinja2", "markupsafe": "markupsafe", "werkzeug": "werkzeug", "flask": "flask"}
JINJA = """Traceback (most recent call last):
  File "/e/lib/python3.11/site-packages/flask/__init__.py", line 14, in <module>
    from jinja2 import escape
ImportError: cannot import name 'escape' from 'jinja2' (/e/lib/python3.11/site-packages/jinja2/__init__.py)
"""
FLASK_ITSELF = """  File "/e/lib/python3.11/site-packages/flask/sessions.py", line 14, in <module>
    from collections import MutableMapping
ImportError: cannot import name 'MutableMapping' from 'collections' (/usr/lib/python3.11/collections/__init__.py)
"""
RAISED_IN = """  File "/e/lib/python3.11/site-packages/flask/app.py", line 3, in <module>
  File "/e/lib/python3.11/site-packages/werkzeug/routing.py", line 9, in <module>
AttributeError: module 'inspect' has no attribute 'getargspec'
"""


def test_a_failure_blames_the_package_it_could_not_import_from_else_the_one_that_raised() -> None:
    assert compatible.culprit(JINJA, MODULES) == "jinja2"
    assert compatible.culprit(FLASK_ITSELF, MODULES) == "flask"
    assert compatible.culprit(RAISED_IN, MODULES) == "werkzeug"
    assert compatible.culprit("Segmentation fault", MODULES) is None


def test_the_error_line_is_short_and_names_no_path() -> None:
    assert compatible.error_line(JINJA) == "ImportError: cannot import name 'escape' from 'jinja2'"
    assert (
        compatible.error_line(RAISED_IN) == "AttributeError: module 'inspect' has no attribute 'getargspec'"
    )


def test_release_lines_below_the_failing_one_newest_first(monkeypatch: pytest.MonkeyPatch) -> None:
    released = {
        Version(v) for v in ("2.10", "2.10.3", "2.11.3", "3.0.0", "3.0.3", "3.1.0rc1", "3.1.2", "3.1.6")
    }
    monkeypatch.setattr(period, "releases", lambda package: released)
    lines = compatible.lines_below("jinja2", "3.1.6")
    assert lines == [
        (Version("3.0.3"), Version("3.1")),
        (Version("2.11.3"), Version("3.0")),
        (Version("2.10.3"), Version("2.11")),
    ]


def test_the_resolve_mode_is_known_and_names_its_rows() -> None:
    matrix = parse(
        {"versions": [{"flask": "1.1.2", "resolve": "compatible"}], "servers": {"r": {"kind": "flask-run"}}}
    )
    assert matrix.rows[0].name == "flask-1.1.2-compatible"


MATRIX = """
python: "3.11"
versions:
  - {flask: "1.1.2", resolve: compatible}
  - {flask: "2.1.3", resolve: compatible}
  - {flask: "1.0.2", resolve: compatible}
  - {flask: "2.1.3"}
servers:
  flask-run: {kind: flask-run}
  waitress: {kind: waitress, threads: 4}
probes:
  concurrency: {requests: 4, delay_ms: 200}
"""


@pytest.mark.slow
def test_rows_find_their_pins_or_say_in_one_line_why_none_do(tmp_path: Path, no_leftovers: object) -> None:
    (tmp_path / "matrix.yaml").write_text(MATRIX)
    argv = ["--matrix", str(tmp_path / "matrix.yaml"), "--results", str(tmp_path / "results")]
    cli.main([*argv, "--envs", str(tmp_path / "envs"), "--no-bisect"])
    path = (tmp_path / "results" / "latest").resolve()
    _, records = read_run(path)
    by = {r.cell: r for r in records}
    for row in ("flask-1.1.2-compatible", "flask-2.1.3-compatible"):
        for server in ("flask-run", "waitress"):
            record = by[f"{row}--{server}"]
            assert record.status is Status.OK, record.reason
            assert record.found_pins, "the newest releases run it: the test no longer shows a search"
    assert by["flask-2.1.3-compatible--flask-run"].flask == "2.1.3"
    assert any(p.startswith("werkzeug<") for p in by["flask-2.1.3-compatible--flask-run"].found_pins)
    unsaved = by["flask-1.0.2-compatible--flask-run"]
    assert unsaved.status is Status.NA
    assert unsaved.reason is not None
    assert "\n" not in unsaved.reason
    assert unsaved.reason.startswith("Flask 1.0.2 cannot run on Python 3.11")
    plain = by["flask-2.1.3--flask-run"]
    assert plain.status is Status.ERROR
    assert "`resolve: compatible`" in str(plain.reason)
    report = (path / "report.md").read_text()
    assert "## Pins found by resolve: compatible" in report
    pins = by["flask-1.1.2-compatible--waitress"].found_pins
    assert "`pins: [" + ", ".join(f'"{p}"' for p in pins) + "]`" in report
    no_leftovers(path.name)  # type: ignore[operator]
