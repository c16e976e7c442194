"""The nginx configuration, fed plain values."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.serving.nginx import render_conf


def test_nginx_listens_on_loopback_and_keeps_its_files_in_its_folder():
    conf = render_conf(Path("/tmp/matrix-nginx-abc"), 8081, 5001)
    assert "listen 127.0.0.1:8081;" in conf
    assert "proxy_pass http://127.0.0.1:5001;" in conf
    assert "pid /tmp/matrix-nginx-abc/nginx.pid;" in conf
    paths = [
        word.rstrip(";")
        for line in conf.splitlines()
        for word in line.split()
        if word.startswith("/") and len(word) > 1
    ]
    assert paths
    assert all(p.startswith("/tmp/matrix-nginx-abc/") for p in paths)
    assert "daemon off;" in conf


@pytest.mark.parametrize(
    ("folder", "port", "upstream"),
    [
        (Path("/tmp/x; include /etc/passwd"), 8081, 5001),
        (Path("relative"), 8081, 5001),
        (Path("/tmp/x"), 0, 5001),
        (Path("/tmp/x"), 8081, "5001; evil"),
        (Path("/tmp/x"), 70000, 5001),
    ],
)
def test_only_validated_values_reach_the_configuration(folder, port, upstream):
    with pytest.raises(ValueError):
        render_conf(folder, port, upstream)
