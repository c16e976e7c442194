"""The one HTTP wire: when an answer is whole, from raw bytes, and the bounds on reading one."""

from __future__ import annotations

import socket
import time
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st
from tiny_server import tiny_server

from runner import wire


def complete_response(buffer: bytes, at_eof: bool = False) -> tuple[int, bool] | None:
    """(status, keep-alive) once ``buffer`` holds a whole answer, else None."""
    answer = wire.parse(buffer, at_eof=at_eof)
    return None if answer is None else (answer.status, answer.keep_alive)


HEAD_200 = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"


def response(body: bytes, *, status_line: bytes = b"HTTP/1.1 200 OK", headers: bytes = b"") -> bytes:
    """A response with a Content-Length that matches ``body``."""
    return (
        status_line + b"\r\n" + headers + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


def chunked(*chunks: bytes) -> bytes:
    """A whole chunked body: each chunk, then the last (empty) chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks) + b"0\r\n\r\n"


@pytest.mark.parametrize(
    "partial",
    [
        b"",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r",
    ],
)
@pytest.mark.parametrize("at_eof", [False, True])
def test_an_unfinished_head_is_not_a_response(partial: bytes, at_eof: bool) -> None:
    assert complete_response(partial, at_eof=at_eof) is None


def test_content_length_waits_for_the_whole_body() -> None:
    whole = response(b"Hello, World!")
    assert complete_response(whole[:-1]) is None
    assert complete_response(whole[:-5]) is None
    assert complete_response(whole) == (200, True)


def test_a_body_cut_short_by_the_server_closing_is_not_a_response() -> None:
    assert complete_response(response(b"Hello, World!")[:-3], at_eof=True) is None


def test_an_empty_body_with_content_length_zero_is_complete() -> None:
    assert complete_response(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n") == (204, True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (response(b"hi"), (200, True)),
        (response(b"hi", headers=b"Connection: close\r\n"), (200, False)),
        (response(b"hi", headers=b"connection: CLOSE\r\n"), (200, False)),
        (response(b"hi", headers=b"Connection: keep-alive\r\n"), (200, True)),
        (response(b"hi", status_line=b"HTTP/1.0 200 OK"), (200, False)),
    ],
    ids=["1.1 default", "close", "close any case", "1.1 keep-alive", "1.0"],
)
def test_keep_alive_only_for_http_1_1_without_connection_close(
    raw: bytes, expected: tuple[int, bool]
) -> None:
    assert complete_response(raw) == expected


@pytest.mark.parametrize(
    ("status_line", "status"),
    [
        (b"HTTP/1.1 404 NOT FOUND", 404),
        (b"HTTP/1.1 500 Internal Server Error", 500),
        (b"HTTP/1.1 503 Service Unavailable", 503),
        (b"HTTP/1.1 301 Moved Permanently", 301),
        (b"HTTP/1.1 200", 200),  # no reason phrase
    ],
)
def test_the_status_is_returned_as_is(status_line: bytes, status: int) -> None:
    assert complete_response(response(b"x", status_line=status_line)) == (status, True)


@pytest.mark.parametrize("name", [b"Content-Length", b"content-length", b"CONTENT-LENGTH", b"content-Length"])
def test_content_length_in_any_case(name: bytes) -> None:
    raw = b"HTTP/1.1 200 OK\r\n" + name + b": 5\r\n\r\nhello"
    assert complete_response(raw[:-1]) is None
    assert complete_response(raw) == (200, True)


def test_content_length_decides_even_when_more_bytes_follow() -> None:
    # Pipelined or trailing bytes after the body do not make it incomplete.
    assert complete_response(response(b"hello") + b"HTTP/1.1 200 OK\r\n") == (200, True)


@pytest.mark.parametrize(
    "header", [b"Transfer-Encoding: chunked", b"transfer-encoding: chunked", b"TRANSFER-ENCODING: Chunked"]
)
def test_chunked_is_complete_at_the_last_chunk(header: bytes) -> None:
    raw = HEAD_200 + header + b"\r\n\r\n" + chunked(b"Hello, ", b"World!")
    assert complete_response(raw) == (200, True)


@pytest.mark.parametrize("cut", [1, 2, 3, 5, 10, 20])
def test_chunked_without_its_last_chunk_is_incomplete(cut: int) -> None:
    raw = HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"Hello, ", b"World!")
    assert complete_response(raw[:-cut]) is None


def test_chunked_with_connection_close_is_not_kept() -> None:
    raw = HEAD_200 + b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(b"hi")
    assert complete_response(raw) == (200, False)


def test_chunk_data_that_looks_like_the_last_chunk_does_not_end_the_body() -> None:
    raw = HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"0\r\n\r\n", b"more")
    prefix = raw[: raw.index(b"0\r\n\r\n") + 5]  # cut after the chunk data, before "more"
    assert complete_response(prefix) is None


@pytest.mark.parametrize(
    ("status_line", "status"),
    [(b"HTTP/1.1 200 OK", 200), (b"HTTP/1.0 200 OK", 200), (b"HTTP/1.1 502 Bad Gateway", 502)],
)
def test_no_length_and_no_chunking_ends_only_at_eof(status_line: bytes, status: int) -> None:
    raw = status_line + b"\r\nContent-Type: text/plain\r\n\r\nHello, World!"
    assert complete_response(raw) is None
    # The server closing the connection is what ends such a body: never kept.
    assert complete_response(raw, at_eof=True) == (status, False)


def test_no_length_and_an_empty_body_at_eof() -> None:
    assert complete_response(b"HTTP/1.1 200 OK\r\n\r\n", at_eof=True) == (200, False)


def test_a_body_containing_a_blank_line_is_measured_from_the_first_one() -> None:
    body = b"a\r\n\r\nb"
    whole = response(body)
    assert complete_response(whole[:-1]) is None
    assert complete_response(whole) == (200, True)


def test_no_prefix_of_a_response_is_complete() -> None:
    """Property: cut a Content-Length response anywhere; only the whole of it is complete."""

    @hypothesis.settings(max_examples=100, deadline=None, database=None)
    @hypothesis.given(body=st.binary(max_size=200), data=st.data())
    def check(body: bytes, data: Any) -> None:
        whole = response(body)
        split = data.draw(st.integers(min_value=0, max_value=len(whole)), label="split")
        for at_eof in (False, True):
            parsed = complete_response(whole[:split], at_eof=at_eof)
            if split == len(whole):
                assert parsed == (200, True)
            else:
                assert parsed is None
            assert complete_response(whole[:-1], at_eof=at_eof) is None  # one byte short

    check()


def test_a_chunked_body_is_its_chunks_without_extensions_or_trailers() -> None:
    raw = HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n"
    raw += b"3;name=x\r\nabc\r\n2\r\nde\r\n0\r\nExpires: never\r\nX-Check: 1\r\n\r\n"
    answer = wire.parse(raw)
    assert answer is not None
    assert answer.body == b"abcde"
    assert answer.size == len(raw)
    assert wire.parse(raw[:-2]) is None  # the trailer section not yet ended


def test_chunk_data_ending_like_the_last_chunk_is_data() -> None:
    raw = HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n" + chunked(b"x0\r\n\r\n")
    answer = wire.parse(raw)
    assert answer is not None
    assert answer.body == b"x0\r\n\r\n"


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: lots\r\n\r\n",
        HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    ],
    ids=["not http", "status", "length", "chunk size"],
)
def test_what_is_not_http_is_a_bad_answer(raw: bytes) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.parse(raw)
    assert caught.value.kind == "bad answer"


def test_an_answer_over_the_cap_is_refused_before_it_is_all_read() -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2000000\r\n\r\n"
    with pytest.raises(wire.WireError, match="too large"):
        wire.parse(head + b"x" * 10)
    endless = b"HTTP/1.1 200 OK\r\n\r\n" + b"x" * 1100
    with pytest.raises(wire.WireError, match="too large"):
        wire.parse(endless, limit=1000)
    with pytest.raises(wire.WireError, match="too large"):
        wire.parse(b"HTTP/1.1 200 OK\r\nX: " + b"y" * (wire.MAX_HEAD_BYTES + 10))


def test_http_1_0_keeps_the_connection_only_when_it_says_keep_alive() -> None:
    assert complete_response(response(b"hi", status_line=b"HTTP/1.0 200 OK")) == (200, False)
    assert complete_response(
        response(b"hi", status_line=b"HTTP/1.0 200 OK", headers=b"Connection: Keep-Alive\r\n")
    ) == (200, True)


def trickle(conn: socket.socket) -> None:
    """A head that never ends, a byte at a time, for up to 3 s."""
    conn.sendall(b"HTTP/1.1 200 OK\r\n")
    for _ in range(30):
        conn.sendall(b"X")
        time.sleep(0.1)


def stream(conn: socket.socket) -> None:
    """A body without a length that goes on for 4 MB."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
    for _ in range(64):
        conn.sendall(b"x" * 65536)


def test_a_trickling_server_meets_the_readers_total_deadline() -> None:
    with tiny_server(trickle, threaded=True) as port:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            wire.get(port, "/health", 0.5)
        assert time.monotonic() - started < 1.5  # the deadline is for the whole answer, not each byte


def test_a_streaming_server_meets_the_size_cap() -> None:
    with tiny_server(stream, threaded=True) as port, pytest.raises(wire.WireError, match="too large"):
        wire.get(port, "/health", 10)


def test_a_whole_answer_is_read_from_a_real_socket() -> None:
    def hello(conn: socket.socket) -> None:
        conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Length: 12\r\nServer: tiny\r\n\r\n{"ok": true}')

    with tiny_server(hello) as port:
        answer = wire.get(port, "/health", 5)
    assert answer.json_object() == {"ok": True}
    assert answer.header("SERVER") == "tiny"


@pytest.mark.parametrize(
    "chunks",
    [
        b"-6\r\nhello\r\n0\r\n\r\n",
        b"0x2\r\nhi\r\n0\r\n\r\n",
        b"1_0\r\n0123456789abcdef\r\n0\r\n\r\n",
        b"2\r\nhiXX0\r\n\r\n",
    ],
    ids=["negative", "0x", "underscore", "no CRLF after the data"],
)
def test_a_chunk_framed_wrong_is_a_bad_answer_not_a_hang(chunks: bytes) -> None:
    with pytest.raises(wire.WireError) as caught:
        wire.parse(HEAD_200 + b"Transfer-Encoding: chunked\r\n\r\n" + chunks)
    assert caught.value.kind == "bad answer"


def test_a_204_has_no_body_whatever_its_length_says() -> None:
    answer = wire.parse(b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n")
    assert answer is not None
    assert answer.body == b""


def test_interim_answers_are_passed_over_for_the_final_one() -> None:
    interim = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n"
    final = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    assert wire.parse(interim) is None  # no final answer yet
    found = wire.parse(interim + final + b"HTTP/1.1 200 OK")
    assert found is not None
    assert (found.status, found.body, found.size) == (200, b"ok", len(interim + final))


def test_endless_interim_answers_are_a_bad_answer() -> None:
    with pytest.raises(wire.WireError, match="interim"):
        wire.parse(b"HTTP/1.1 100 Continue\r\n\r\n" * 20)
