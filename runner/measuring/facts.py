"""What a server says about HTTP and about itself, whatever the app does.

Per cell, once: the protocol version it answers with, whether it keeps a
connection open for a second request, and the development-server warning it
printed, if any.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from runner import wire
from runner.wire import HOST


@dataclass(frozen=True)
class HttpFacts:
    protocol: str | None  # "HTTP/1.0" or "HTTP/1.1", as the server answered
    # A second request on the same connection was answered; False without asking
    # where the first answer said the connection ends.
    keep_alive: bool | None
    server_header: str | None
    # The first answer let the connection persist, yet the second request on it
    # went unanswered: the server closes after every answer without saying so.
    silent_close: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HttpFacts:
        return cls(
            protocol=data.get("protocol"),
            keep_alive=data.get("keep_alive"),
            server_header=data.get("server_header"),
            silent_close=data.get("silent_close"),
        )


NO_ANSWER = HttpFacts(protocol=None, keep_alive=None, server_header=None)


def probe_connection(port: int, timeout_s: float = 5.0) -> HttpFacts:
    """Two HTTP/1.1 requests on one connection to ``/health``, each answered
    within ``timeout_s``.

    The first answer gives the protocol version the server speaks; whether the
    second is answered on the same socket shows if it keeps connections open.
    An answer that says the connection ends (HTTP/1.0 without ``keep-alive``,
    or ``Connection: close``: RFC 9112, 9.3) is taken at its word: a client
    does not send the second request, and a server that neither answers it nor
    closes would only hold the probe until ``timeout_s``.
    """
    request = wire.request("/health", port, headers=("User-Agent: flask-matrix",))
    try:
        with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
            sock.sendall(request)
            try:
                first = wire.read_response(sock, time.monotonic() + timeout_s)
            except (OSError, wire.WireError):
                return NO_ANSWER
            server_header = first.header("server")
            if not first.keep_alive:
                return HttpFacts(
                    first.version, keep_alive=False, server_header=server_header, silent_close=False
                )
            # A second request closed or reset unanswered: the server closes
            # after every answer without saying so.  One unanswered within
            # ``timeout_s`` says only that the server is slow to answer it.
            try:
                sock.sendall(request)
                wire.read_response(sock, time.monotonic() + timeout_s)
                keep_alive, silent_close = True, False
            except TimeoutError:
                keep_alive, silent_close = False, False
            except (OSError, wire.WireError):
                keep_alive, silent_close = False, True
    except OSError:
        return NO_ANSWER
    return HttpFacts(first.version, keep_alive, server_header, silent_close=silent_close)


DEV_SERVER_WARNING = re.compile(r"development server", re.IGNORECASE)


def dev_server_warning(log_lines: Iterable[str]) -> str | None:
    """The line in which a server warns that it is a development server."""
    for line in log_lines:
        if DEV_SERVER_WARNING.search(line):
            return re.sub(r"\x1b\[[0-9;]*m", "", line).strip()
    return None
