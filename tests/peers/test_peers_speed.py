"""Peers are cheap: starting a scripted server and connecting to it must not involve sleeps or polling.

The target is a median well under 1 ms (about 0.2 ms measured on the 2-core CI machine); the assertion is
looser so that a loaded machine does not fail it, while an accidental sleep or poll interval would.
"""

from __future__ import annotations

import socket
import statistics
import time

from sockharness.peers import Close, Registry, ScriptedTCPServer

ROUNDS = 200
MEDIAN_LIMIT = 0.005


def test_start_and_connect_median_is_well_under_a_millisecond_budget():
    registry = Registry()
    durations = []
    try:
        for _ in range(ROUNDS):
            started = time.perf_counter()
            server = ScriptedTCPServer([Close()], registry=registry).start()
            client = socket.create_connection(server.address, timeout=5)
            durations.append(time.perf_counter() - started)
            client.close()
            server.stop()
    finally:
        assert registry.close_all() == []
    median = statistics.median(durations)
    print(f"start + connect: median {median * 1000:.3f} ms over {ROUNDS} rounds")
    assert median < MEDIAN_LIMIT, f"median {median * 1000:.3f} ms"


def test_stop_is_prompt_for_a_server_blocked_in_accept():
    registry = Registry()
    server = ScriptedTCPServer(registry=registry).start()
    started = time.perf_counter()
    server.stop()
    assert time.perf_counter() - started < 0.5
    assert registry.live_threads() == []
