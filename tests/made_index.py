"""A package index on 127.0.0.1 that answers PEP 691 JSON pages a test makes up.

``answers`` maps a project's name to its page (``{"files": [...]}``); a
project not in it has no files.  Each project asked is kept in ``asked``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar


class MadeIndex(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, Any]] = {}
    asked: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        name = self.path.strip("/").split("/")[-1]
        self.asked.append(name)
        body = json.dumps(self.answers.get(name, {"files": []})).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.pypi.simple.v1+json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(answers: dict[str, Any]) -> Iterator[tuple[type[MadeIndex], str]]:
    """An index answering ``answers`` (a handler of its own), and its simple URL."""
    handler = type("Index", (MadeIndex,), {"answers": dict(answers), "asked": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}/simple"
    finally:
        server.shutdown()
        server.server_close()
