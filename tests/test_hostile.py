"""What the hostile-connection probes read from the machine: ss, /proc, the open-file budget."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from runner.measuring import hostile
from runner.wire import HOST

needs_ss = pytest.mark.skipif(hostile.ss_binary() is None, reason="no ss: apt-get install iproute2")


@needs_ss
def test_ss_shows_a_listening_sockets_queue_and_backlog() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(7)
        port = listener.getsockname()[1]
        clients = [socket.create_connection((HOST, port)) for _ in range(3)]  # none accepted
        try:
            seen = hostile.listening(port)
        finally:
            for client in clients:
                client.close()
    assert seen == hostile.Listening(queued=3, backlog=7)


@needs_ss
def test_ss_shows_the_servers_send_buffer_of_each_connection() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        with socket.create_connection((HOST, port)), listener.accept()[0] as served:
            served.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            buffers = hostile.send_buffers(port)
    assert buffers == [served_buffer for served_buffer in buffers if served_buffer >= 65536]
    assert len(buffers) == 1


def test_the_process_holding_a_connection_is_found_among_its_group() -> None:
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        # a group leader that only waits, and a child that holds a connection
        code = (
            "import os, socket, sys, time\n"
            "if os.fork() == 0:\n"
            f"    s = socket.create_connection(('{HOST}', {port})); time.sleep(30)\n"
            "else:\n"
            "    time.sleep(30)\n"
        )
        leader = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
        accepted = None
        try:
            accepted, _ = listener.accept()
            deadline = time.monotonic() + 5
            while len(hostile.group_members(leader.pid)) < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            members = hostile.group_members(leader.pid)
            serving = hostile.serving_processes(leader.pid)
        finally:
            os.killpg(leader.pid, signal.SIGKILL)
            leader.wait()
            if accepted is not None:
                accepted.close()
    assert members[0] == leader.pid
    assert len(members) == 2
    assert serving == [members[1]]


def test_descriptors_are_shared_and_a_probe_waits_for_its_share() -> None:
    budget = hostile.Descriptors()
    whole = budget.budget()
    order: list[str] = []
    with budget.taken(whole) as first:
        assert first == whole

        def second() -> None:
            with budget.taken(10) as granted:
                order.append(f"second got {granted}")

        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.2)
        order.append("first gives back")
    waiting.join(5)
    assert order == ["first gives back", "second got 10"]
    with budget.taken(whole * 3) as granted:
        assert granted == whole  # never more than the budget: the probe says it was bounded
