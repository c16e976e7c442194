"""A tiny server on 127.0.0.1 for the clients' tests: each connection, once
its request is in, handed to a function that answers it as a real server
would (or does not), then closed."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def tiny_server(answer: Callable[[socket.socket], None], *, threaded: bool = False) -> Iterator[int]:
    """Yields the port; connections are taken one after another, or each in a
    thread of its own (``threaded``), until the block ends."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stop = threading.Event()

    def one(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                conn.recv(4096)
                answer(conn)
            except OSError:
                pass

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            if threaded:
                threading.Thread(target=one, args=(conn,), daemon=True).start()
            else:
                one(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
