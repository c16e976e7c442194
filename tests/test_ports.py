"""Ports for servers: free when given, never given twice, and out of the way of
the kernel's ephemeral range, where every client connection takes its local port."""

from __future__ import annotations

import socket

from runner.serving.process import HOST, PortBook


def test_ports_come_from_below_the_ephemeral_range_and_are_never_given_twice() -> None:
    book = PortBook(ephemeral=(32768, 60999), seed=7)
    ports = [book.take() for _ in range(500)]
    assert len(set(ports)) == 500
    assert all(PortBook.LOWEST <= port < 32768 for port in ports)


def test_a_port_in_use_is_not_given() -> None:
    first = PortBook(ephemeral=(32768, 60999), seed=3).take()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind((HOST, first))
        holder.listen()
        port = PortBook(ephemeral=(32768, 60999), seed=3).take()  # the same first choice
    assert port != first


def test_with_no_room_outside_the_range_the_kernel_chooses_and_still_never_twice() -> None:
    book = PortBook(ephemeral=(1024, 65000))
    assert book.span is None
    ports = [book.take() for _ in range(200)]
    assert len(set(ports)) == 200


def test_a_range_that_starts_low_leaves_the_ports_above_it() -> None:
    book = PortBook(ephemeral=(1024, 40000), seed=1)
    assert book.span == (40001, 65535)
    assert 40001 <= book.take() <= 65535
