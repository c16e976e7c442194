"""Environment keys and failure summaries, fed plain data."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.environments.envs import EnvSpec, installed_packages, summarise_failure
from runner.environments.interpreters import Interpreter

PY = Interpreter(path="/usr/bin/python3.11", version="3.11.7")


def test_same_inputs_same_environment_and_any_change_a_new_one():
    a = EnvSpec(PY, ("flask==1.0.4", "werkzeug<1"))
    assert a.key() == EnvSpec(PY, ("flask==1.0.4", "werkzeug<1")).key()
    assert a.key() != EnvSpec(PY, ("flask==1.0.4", "werkzeug<1", "gunicorn")).key()
    assert a.key() != EnvSpec(Interpreter("/usr/bin/python3.11", "3.11.8"), a.requirements).key()
    assert a.key() != EnvSpec(PY, a.requirements, exclude_newer="2018-05-02T23:59:59Z").key()
    assert a.dirname().startswith("py3.11.7-flask-1.0.4-")


def test_summary_of_a_uv_resolution_failure():
    output = """Using Python 3.11.7 environment at: /x
error: No solution found when resolving dependencies
  cause: Because there is no version of flask==0.0.1 and you require flask==0.0.1, we can conclude that your requirements are unsatisfiable.
"""
    assert summarise_failure(output).startswith(
        "No solution found when resolving dependencies: Because there is no version of flask==0.0.1"
    )


def test_summary_of_a_uv_build_failure_names_the_package_and_the_root_cause():
    output = """Resolved 6 packages in 10ms
error: Failed to build `markupsafe==1.0`
  cause: The build backend returned an error
  cause: Call to `setuptools.build_meta:__legacy__.build_wheel` failed (exit status: 1)
"""
    assert summarise_failure(output) == (
        "Failed to build `markupsafe==1.0`: Call to `setuptools.build_meta:__legacy__.build_wheel` "
        "failed (exit status: 1)"
    )


def test_summary_on_a_terminal():
    output = "  × No solution found when resolving dependencies:\n  ╰─▶ Because flask==0.0.1 is missing.\n"
    assert summarise_failure(output) == (
        "No solution found when resolving dependencies: Because flask==0.0.1 is missing."
    )


def test_summary_of_a_pip_failure():
    output = "Collecting flask==0.0.1\nERROR: Could not find a version that satisfies the requirement flask==0.0.1\nERROR: No matching distribution found for flask==0.0.1\n"
    assert summarise_failure(output) == "ERROR: No matching distribution found for flask==0.0.1"


def test_summary_of_nothing():
    assert summarise_failure("") == "no output"


def test_installed_packages_read_from_metadata_files(tmp_path):
    (tmp_path / "Flask-0.12.4.dist-info").mkdir()
    (tmp_path / "Flask-0.12.4.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.0\nName: Flask\nVersion: 0.12.4\n\nLong text\nVersion: 9\n"
    )
    (tmp_path / "itsdangerous-0.24-py3.6.egg-info").mkdir()
    (tmp_path / "itsdangerous-0.24-py3.6.egg-info" / "PKG-INFO").write_text(
        "Metadata-Version: 1.1\nName: itsdangerous\nVersion: 0.24\n"
    )
    assert installed_packages(tmp_path) == {"Flask": "0.12.4", "itsdangerous": "0.24"}


UWSGI_2_0_13_ON_GCC_12 = """error: Failed to build `uwsgi==2.0.13.1`
  cause: The build backend returned an error
  cause: Call to `setuptools.build_meta:__legacy__.build_wheel` failed (exit status: 1)

         [stderr]
         core/utils.c: In function 'uwsgi_setup_locking':
         core/utils.c:1732:9: error: 'strncat' specified bound depends on the length of the source argument [-Werror=stringop-overflow=]
         cc1: all warnings being treated as errors
"""
UWSGI_1_9_ON_GCC_12 = """error: Failed to build `uwsgi==1.9.12`
  cause: Call to `setuptools.build_meta:__legacy__.build_wheel` failed (exit status: 1)
         Traceback (most recent call last):
           File "uwsgiconfig.py", line 539, in __init__
             gcc_minor = int(gcc_version.split('.')[1])
         IndexError: list index out of range
"""


def test_a_failed_source_build_says_why_in_the_compilers_words() -> None:
    assert summarise_failure(UWSGI_2_0_13_ON_GCC_12).endswith(
        "(exit status: 1): core/utils.c:1732:9: error: 'strncat' specified bound depends on the length "
        "of the source argument [-Werror=stringop-overflow=]"
    )
    assert summarise_failure(UWSGI_1_9_ON_GCC_12).endswith(
        "(exit status: 1): IndexError: list index out of range"
    )


@pytest.mark.slow
def test_a_source_build_that_failed_is_not_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from runner.environments import envs, interpreters
    from runner.errors import CellError

    interpreter = interpreters.find("3.11")
    if interpreter is None or interpreters.uv_binary() is None:
        pytest.skip("needs Python 3.11 and uv")
    package = tmp_path / "broken"
    package.mkdir()
    (package / "setup.py").write_text("raise SystemExit('this package never builds')\n")
    spec = envs.EnvSpec(interpreter=interpreter, requirements=(f"broken @ {package.as_uri()}",))
    root, log = tmp_path / "envs", tmp_path / "build.log"
    with pytest.raises(CellError, match="Failed to build") as first:
        envs.ensure(spec, root, log)
    size = log.stat().st_size
    with pytest.raises(CellError, match="as when it was last tried") as again:
        envs.ensure(spec, root, log)
    assert again.value.reason.startswith(first.value.reason)
    assert log.stat().st_size == size  # nothing was built the second time
    monkeypatch.setenv("MATRIX_RETRY_FAILED_BUILDS", "1")
    with pytest.raises(CellError, match="Failed to build"):
        envs.ensure(spec, root, log)
    assert log.stat().st_size > size
