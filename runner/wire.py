"""The one HTTP/1.1 wire every client of the runner speaks.

A request is framed by :func:`request`; an answer is read by :func:`parse`,
whole or not at all: its status line and headers, a body delimited by
``Content-Length``, by chunks (RFC 9112, 7.1, trailers included) or by the
server closing the connection, and whether the connection may carry another
request.  Every answer is capped at :data:`MAX_RESPONSE_BYTES`, and the
blocking reader (:func:`read_response`, :func:`get`) at a total deadline, so
a server that streams or trickles cannot hold a client forever.

The clients that go through it: the volley (concurrency and CPU probes), the
built-in load generator, the burst's and the slow clients' sockets, the
HTTP facts check and the readiness check.  Only 127.0.0.1 is spoken to.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from typing import Any, NamedTuple

HOST = "127.0.0.1"
# The target app's answers are a few hundred bytes; a megabyte is room for
# any server's error page, and no more.
MAX_RESPONSE_BYTES = 1 << 20
MAX_HEAD_BYTES = 64 * 1024
_NO_BODY = frozenset({204, 304})
_HEX = re.compile(rb"[0-9A-Fa-f]{1,16}")


class WireError(ValueError):
    """What came back is not an HTTP answer this client takes; ``kind`` names it."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind


class Response(NamedTuple):
    """One whole answer (a named tuple: the load generator makes thousands a second)."""

    version: str  # "HTTP/1.1" or "HTTP/1.0", as the server answered
    status: int
    head: bytes  # the header lines, as sent
    body: bytes
    keep_alive: bool  # the connection may carry another request
    size: int  # bytes of the buffer the answer took, head and body

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        """Every header, its name in lower case, in the order sent.  Read only
        when asked: the load generator needs none, and every microsecond it
        spends on an answer is one it does not spend asking."""
        pairs = (line.partition(":") for line in self.head.decode("latin-1").split("\r\n")[1:])
        return tuple((name.strip().lower(), value.strip()) for name, colon, value in pairs if colon)

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def json_object(self) -> dict[str, Any] | None:
        """The body as a JSON object, or None where it is not one."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


def request(path: str, port: int, *, close: bool = False, headers: tuple[str, ...] = ()) -> bytes:
    """A GET of ``path`` on 127.0.0.1:``port``, framed; ``close`` asks for the
    connection to end after the answer."""
    lines = [f"GET {path} HTTP/1.1", f"Host: {HOST}:{port}", *headers]
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def parse(buffer: bytes, *, at_eof: bool = False, limit: int = MAX_RESPONSE_BYTES) -> Response | None:
    """The whole final answer at the start of ``buffer``, or None while it is not
    all there (``at_eof``: the server has closed, so a body without a length
    ends here).  Interim answers before it (``100 Continue``, ``103 Early
    Hints``) are passed over.  Raises :class:`WireError` for what is not HTTP
    or is over ``limit``."""
    skipped = 0
    for _ in range(MAX_INTERIM + 1):
        found = _parse_one(buffer[skipped:], at_eof=at_eof, limit=limit - skipped)
        if found is None:
            return None
        if not (100 <= found.status < 200) or found.status == 101:  # 101: the protocol changes here
            return found._replace(size=found.size + skipped) if skipped else found
        skipped += found.size
    raise WireError("bad answer", f"more than {MAX_INTERIM} interim answers before a final one")


MAX_INTERIM = 8


def _parse_one(buffer: bytes, *, at_eof: bool, limit: int) -> Response | None:
    end = buffer.find(b"\r\n\r\n", 0, MAX_HEAD_BYTES + 4)
    if end < 0:
        if len(buffer) > MAX_HEAD_BYTES:
            raise WireError("too large", f"no end of the head in {MAX_HEAD_BYTES} bytes")
        return None
    head = buffer[:end]
    version, status = _status(head)
    lower = head.lower()
    start = end + 4
    connection = _field(lower, b"connection") if b"\r\nconnection:" in lower else None
    if version == "HTTP/1.1":
        keep = connection is None or b"close" not in connection
    else:
        keep = connection is not None and b"keep-alive" in connection
    length = _field(lower, b"content-length")
    if b"\r\ntransfer-encoding:" in lower and b"chunked" in (_field(lower, b"transfer-encoding") or b""):
        found = _chunked(buffer, start, limit)
        if found is None:
            return None
        body, size = found
    elif status in _NO_BODY or 100 <= status < 200:  # no body, whatever the head says
        body, size = b"", start
    elif length is not None:
        size = start + _length(length)
        if size > limit:
            raise WireError("too large", f"Content-Length {size - start} over {limit} bytes")
        if len(buffer) < size:
            return None
        body = buffer[start:size]
    else:  # the body ends where the server closes the connection
        if len(buffer) > limit:
            raise WireError("too large", f"over {limit} bytes")
        if not at_eof:
            return None
        body, size, keep = buffer[start:], len(buffer), False
    return Response(version, status, bytes(head), bytes(body), keep, size)


def _status(head: bytes) -> tuple[str, int]:
    """``HTTP/1.x NNN reason``: the version and the status."""
    version, code, after = head[:8], head[9:12], head[12:13]
    known = version in (b"HTTP/1.1", b"HTTP/1.0") and head[8:9] == b" "
    if not (known and code.isdigit() and after in (b" ", b"\r", b"")):
        line = head.split(b"\r\n", 1)[0]
        raise WireError("bad answer", f"status line {line[:80]!r}")
    return version.decode("ascii"), int(code)


def _field(lower_head: bytes, name: bytes) -> bytes | None:
    """The first value of header ``name`` in a lower-cased head, or None."""
    at = lower_head.find(b"\r\n" + name + b":")
    if at < 0:
        return None
    start = at + len(name) + 3
    end = lower_head.find(b"\r\n", start)
    return lower_head[start : end if end >= 0 else len(lower_head)].strip()


def _length(text: bytes) -> int:
    if not text.strip().isdigit():
        raise WireError("bad answer", f"Content-Length {text[:40]!r}")
    return int(text)


def _chunked(buffer: bytes, at: int, limit: int) -> tuple[bytes, int] | None:
    """A chunked body from ``at``, walked chunk by chunk, and where it ends
    (after the trailer section); None while it is not all there."""
    data = bytearray()
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            _check_limit(buffer, limit)
            return None
        size_text = buffer[at:line_end].split(b";")[0].strip()
        if not _HEX.fullmatch(size_text):  # int() would take "-6", "0x2" or "1_0", and -6 never ends
            raise WireError("bad answer", f"chunk size {size_text[:20]!r}")
        size = int(size_text, 16)
        if size == 0:
            return _trailers(buffer, line_end + 2, data, limit)
        if line_end + 2 + size > limit:
            raise WireError("too large", f"chunks over {limit} bytes")
        if len(buffer) < line_end + 2 + size + 2:
            return None
        data += buffer[line_end + 2 : line_end + 2 + size]
        at = line_end + 2 + size
        if buffer[at : at + 2] != b"\r\n":
            raise WireError("bad answer", "a chunk not ended by CRLF")
        at += 2


def _trailers(buffer: bytes, at: int, data: bytearray, limit: int) -> tuple[bytes, int] | None:
    """The trailer fields after the last chunk, up to the empty line that ends them."""
    while True:
        line_end = buffer.find(b"\r\n", at)
        if line_end < 0:
            _check_limit(buffer, limit)
            return None
        if line_end == at:
            return bytes(data), line_end + 2
        at = line_end + 2


def _check_limit(buffer: bytes, limit: int) -> None:
    if len(buffer) > limit:
        raise WireError("too large", f"over {limit} bytes")


def read_response(
    sock: socket.socket, deadline: float, *, limit: int = MAX_RESPONSE_BYTES, head: bytes = b""
) -> Response:
    """Read one whole answer from a blocking socket by ``deadline`` (a
    ``time.monotonic()`` time).  Raises ``TimeoutError`` when the deadline
    passes, :class:`WireError` (``closed``) when the server closes first,
    ``OSError`` for a reset."""
    buffer = bytearray(head)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no whole answer before the deadline")
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:  # TimeoutError on 3.10+, its own class before
            raise TimeoutError("no whole answer before the deadline") from None
        found = _fed(buffer, data, limit)
        if found is not None:
            return found


def _fed(buffer: bytearray, data: bytes, limit: int) -> Response | None:
    """``data`` added to what was read: the whole answer once it is there; an
    end of the connection (no data) before it is a :class:`WireError`."""
    buffer += data
    found = parse(bytes(buffer), at_eof=not data, limit=limit)
    if found is None and not data:
        raise WireError("closed", "the connection closed before a whole answer")
    return found


def get(port: int, path: str, timeout_s: float, *, limit: int = MAX_RESPONSE_BYTES) -> Response:
    """One GET on a fresh connection, answered within ``timeout_s`` in all."""
    deadline = time.monotonic() + timeout_s
    with socket.create_connection((HOST, port), timeout=timeout_s) as sock:
        sock.sendall(request(path, port, close=True))
        return read_response(sock, deadline, limit=limit)


async def read_response_async(reader: asyncio.StreamReader, *, limit: int = MAX_RESPONSE_BYTES) -> Response:
    """One whole answer from an asyncio stream; the caller bounds the time."""
    buffer = bytearray()
    while True:
        found = _fed(buffer, await reader.read(65536), limit)
        if found is not None:
            return found


def failure_name(exc: BaseException) -> str:
    """What went wrong with a request, as the records name it."""
    if isinstance(exc, WireError):
        return "closed early" if exc.kind == "closed" else exc.kind
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError, socket.timeout)):
        return "timeout"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, (ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(exc, asyncio.IncompleteReadError):
        return "closed early"
    return type(exc).__name__
