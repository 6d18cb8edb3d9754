"""A wake-up that lands while the reactor drains its wake pipe is never lost.

Found as a rare flake (the leak check saw a reactor thread alive after its engine's close()): the flag
that suppresses redundant wake-ups was cleared before the drain, so a wake-up written in between was
swallowed and the next one (the stop request) was skipped, leaving the loop asleep in epoll.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from sockharness.faults._engine.engine import FaultEngine


def test_a_wake_during_the_drain_does_not_swallow_the_stop_request(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = FaultEngine(seed=1)
    reactor = engine.reactor
    real_read = os.read
    injected = threading.Event()

    def read_with_a_concurrent_wake(fd: int, size: int) -> bytes:
        # Another thread's _wake() arriving mid-drain, once, made deterministic.
        if fd == reactor._wake_r and threading.get_ident() == reactor._thread_id and not injected.is_set():
            injected.set()
            reactor._wake()
        return real_read(fd, size)

    monkeypatch.setattr(os, "read", read_with_a_concurrent_wake)
    reactor.call(lambda: None)  # wakes the reactor, which drains the pipe (and meets the injected wake-up)
    assert injected.is_set()
    monkeypatch.setattr(os, "read", real_read)
    started = time.monotonic()
    engine.close()
    thread = reactor.thread
    assert thread is not None
    assert not thread.is_alive(), "the stop request was lost: the reactor still sleeps in epoll"
    assert time.monotonic() - started < 2.0
