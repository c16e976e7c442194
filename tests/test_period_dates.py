"""Period cut-offs, fed plain data."""

from __future__ import annotations

import json

import pytest
from packaging.version import Version

from runner.environments.period import build_tools_cutoff, cutoff, file_version
from runner.errors import CellError


@pytest.mark.parametrize(
    ("filename", "version"),
    [
        ("Flask-0.12.4-py2.py3-none-any.whl", "0.12.4"),
        ("Flask-0.10.1.tar.gz", "0.10.1"),
        ("flask-3.1.0.tar.gz", "3.1.0"),
        ("Flask-1.0rc1.zip", "1.0rc1"),
        ("README.txt", None),
    ],
)
def test_file_version(filename, version):
    assert file_version(filename) == (Version(version) if version else None)


def test_build_tools_are_never_older_than_the_ones_that_build_old_sdists():
    assert build_tools_cutoff("2013-06-14T23:59:59Z") == "2019-12-31T23:59:59Z"
    assert build_tools_cutoff("2021-05-21T23:59:59Z") == "2021-05-21T23:59:59Z"


def test_a_cached_cutoff_needs_no_index_and_is_kept_per_index(tmp_path, monkeypatch):
    cache = tmp_path / "dates.json"
    # as the index at 127.0.0.1:9 answered it once (its credentials never in the key)
    cache.write_text(json.dumps({"127.0.0.1/simple|flask==0.12.4": "2018-04-30T23:59:59Z"}))
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://user:pw@127.0.0.1:9/simple")  # nothing listens
    assert cutoff("Flask", "0.12.4", cache) == "2018-04-30T23:59:59Z"
    monkeypatch.setenv("UV_DEFAULT_INDEX", "http://localhost:9/simple")  # another index: asked
    with pytest.raises(CellError, match="cannot read the upload dates"):
        cutoff("Flask", "0.12.4", cache)
