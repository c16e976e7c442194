"""A real nginx in front of the app server, for one cell.

The configuration is generated into a temporary folder from validated values
only (two port numbers and that folder): its own pid file, error log and
temporary paths, no root-owned path, listening on 127.0.0.1 alone.  nginx
runs in the foreground in its own process group, like any server here, and
is stopped with the cell.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from runner import settings
from runner.errors import CellSkipped
from runner.serving import watchdog
from runner.serving.process import RunningServer, free_port, running_server
from runner.wire import HOST

# nginx's documented defaults: an idle client connection is closed after
# keepalive_timeout; a client that sends no complete head after client_header_timeout.
KEEPALIVE_TIMEOUT_S = 75
CLIENT_HEADER_TIMEOUT_S = 60
DOCS = "https://nginx.org/en/docs/http/ngx_http_core_module.html"

INSTALL_HINT = "install it with `apt-get install nginx` (Debian, Ubuntu) or your system's package"

_CONF = """\
worker_processes 1;
worker_rlimit_nofile 8192;
daemon off;
master_process on;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;

events {{
    # Each proxied request holds two connections; a burst of 500 would
    # exhaust the usual 768 or 1024 and make nginx, not the app, the limit.
    worker_connections 4096;
}}

http {{
    access_log off;
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;

    # A slow upload of more than nginx's default 1 MB would be a 413, not
    # an upload: the app takes up to 64 MB.
    client_max_body_size 64m;
    keepalive_timeout {keepalive_timeout}s;
{upstream_block}
    server {{
        listen {host}:{port};
        location / {{
            proxy_pass http://{upstream_name};
            proxy_set_header Host $host;
            proxy_read_timeout 300s;
{location_extra}        }}
    }}
}}
"""

# What the proxy options add (see runner.serving.proxies): buffering off in
# both directions, and keep-alive connections to the upstream.
_UNBUFFERED = "            proxy_buffering off;\n            proxy_request_buffering off;\n"
_KEEPALIVE_LOCATION = '            proxy_http_version 1.1;\n            proxy_set_header Connection "";\n'
_UPSTREAM = """
    upstream app {{
        server {host}:{upstream};
        keepalive {keepalive};
    }}
"""


def nginx_binary() -> str | None:
    """``NGINX_BINARY`` if set (an nginx elsewhere, or none at all), else the usual places."""
    chosen = settings.current().nginx_binary
    if chosen is not None:
        return chosen if os.access(chosen, os.X_OK) else None
    found = shutil.which("nginx")
    if found:
        return found
    for candidate in ("/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"):
        if Path(candidate).exists():
            return candidate
    return None


def nginx_version(binary: str) -> str | None:
    done = subprocess.run([binary, "-v"], capture_output=True, text=True, timeout=30, check=False)
    text = (done.stderr or done.stdout).strip()
    return text.split("/", 1)[1] if "/" in text else (text or None)


def render_conf(
    folder: Path,
    port: int,
    upstream: int,
    *,
    buffering: bool = True,
    keepalive: int = 0,
    keepalive_timeout: int = KEEPALIVE_TIMEOUT_S,
) -> str:
    """The configuration for one cell; ``keepalive`` idle connections to the
    upstream are kept (0: a new connection for each request, nginx's default)."""
    for value in (port, upstream):
        if not isinstance(value, int) or not 0 < value < 65536:
            raise ValueError(f"not a port number: {value!r}")
    if not isinstance(keepalive, int) or not 0 <= keepalive <= 1024:
        raise ValueError(f"not a number of keep-alive connections: {keepalive!r}")
    if not isinstance(keepalive_timeout, int) or not 0 <= keepalive_timeout <= 3600:
        raise ValueError(f"not a keep-alive time-out in seconds: {keepalive_timeout!r}")
    if not folder.is_absolute() or any(c in str(folder) for c in ";{}\"'\n\\$ "):
        raise ValueError(f"not a safe folder for an nginx configuration: {folder}")
    block = _UPSTREAM.format(host=HOST, upstream=upstream, keepalive=keepalive) if keepalive else ""
    extra = ("" if buffering else _UNBUFFERED) + (_KEEPALIVE_LOCATION if keepalive else "")
    return _CONF.format(
        folder=folder,
        host=HOST,
        port=port,
        keepalive_timeout=keepalive_timeout,
        upstream_block=block,
        upstream_name="app" if keepalive else f"{HOST}:{upstream}",
        location_extra=extra,
    )


def require_nginx() -> str:
    binary = nginx_binary()
    if binary is None:
        raise CellSkipped(f"nginx is not installed; {INSTALL_HINT}", cause="machine")
    return binary


@contextmanager
def nginx_in_front(
    upstream: RunningServer, *, env: Mapping[str, str], log_path: Path, options: Mapping[str, Any]
) -> Iterator[RunningServer]:
    """nginx on a free port, proxying to ``upstream``, ready once /health goes through."""
    binary = require_nginx()
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="matrix-nginx-"))
    try:
        conf = folder / "nginx.conf"
        conf.write_text(
            render_conf(
                folder,
                port,
                upstream.port,
                buffering=bool(options.get("buffering", True)),
                keepalive=int(options.get("keepalive", 0)),
                keepalive_timeout=int(options.get("keepalive_timeout", KEEPALIVE_TIMEOUT_S)),
            )
        )
        # nginx overwrites the environment /proc shows of it, so the next run's
        # reaper learns its owner from its folder (see runner.serving.watchdog)
        (folder / watchdog.OWNER_FILE).write_text(watchdog.owner())
        argv = [binary, "-p", str(folder), "-c", str(conf), "-e", str(folder / "error.log")]
        with running_server(
            argv,
            port=port,
            env=env,
            cwd=folder,
            log_path=log_path,
            token=upstream.token,
            loaded_by=0,
            cores=upstream.cores,  # a column's cores hold its proxy too
        ) as front:
            yield front
    finally:
        error_log = folder / "error.log"
        if error_log.exists():
            with open(log_path, "a", encoding="utf-8") as log:
                log.write("--- nginx error.log ---\n" + error_log.read_text(errors="replace"))
        shutil.rmtree(folder, ignore_errors=True)
