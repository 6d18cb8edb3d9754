"""One epoll thread that carries every connection of a fault engine, plus a timer heap for delayed chunks.

Why a reactor and not a thread per direction: 10,000 proxied connections would need 20,000 threads. One
thread holds them all; bulk directions without toxics are moved by ``os.splice`` (the kernel copies, the
GIL is released), and delayed chunks wait in a heap whose earliest deadline arms a timerfd, so timers are
precise to tens of microseconds instead of epoll's whole milliseconds.

Everything that touches a proxy's connections runs on the reactor thread; other threads use ``call()``.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import math
import os
import select
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol, TypeVar

from sockharness.faults._engine.epoll import require_epoll
from sockharness.faults._engine.timerfd import TimerFd

_log = logging.getLogger(__name__)
T = TypeVar("T")

# Linux's values, so importing this module never fails elsewhere: a Reactor refuses to start there instead.
EPOLLIN = getattr(select, "EPOLLIN", 0x001)
EPOLLOUT = getattr(select, "EPOLLOUT", 0x004)
EPOLLERR = getattr(select, "EPOLLERR", 0x008)
EPOLLHUP = getattr(select, "EPOLLHUP", 0x010)

#: Shared read buffer: one reactor thread, so one buffer serves every connection.
READ_BUFFER_SIZE = 256 * 1024
#: The timerfd fires this much early and the last stretch is polled awake (epoll with timeout 0, so other
#: connections are still served): waking a sleeping thread on this VM took ~90 us at the median, which
#: would otherwise all land on top of every delay.
TIMER_EARLY = 0.0005
#: After handling events the loop keeps polling without sleeping for this long: in a request/response
#: exchange the answer usually arrives within tens of microseconds, and catching it awake saves the
#: thread's wake-up on every hop. An idle reactor sleeps once this has passed without an event.
BUSY_POLL = 0.00005


def _yield_to_woken_peers() -> None:
    """Give the CPU to a thread this batch of events has just woken, if one is waiting for it.

    Why, measured with ``python -m bench``'s connect + echo + close on this 2-core VM (HZ=250): the slow
    connections took 3-4 ms, one scheduler tick, with the reactor's own handlers short in CPU time. The
    reactor has just woken the peer that must answer (the upstream server accepting, the client reading)
    and keeps the CPU while it busy-polls for the answer; the woken thread waits behind it until the next
    tick. ``sched_yield`` hands the CPU over at once (and returns at once when nothing else is runnable).
    In alternating same-run comparisons it brought that p99 from 1.23-1.30 ms (1.3x Toxiproxy's) to
    0.52 ms (0.54x), with the 1-byte round trip and bulk throughput unchanged. An earlier remedy, reading
    the thread's CPU clock (which brings the scheduler's accounting up to date), got part of the way.
    Called once per batch of events, never while spinning idle.
    """
    _sched_yield()


#: ``os.sched_yield`` where the platform has it (Linux, where the engine's epoll is): otherwise nothing.
_sched_yield: Callable[[], None] = getattr(os, "sched_yield", lambda: None)


#: Descriptors the proxies never take, whatever they are asked to carry: the API, log files and the rest
#: of the process keep working when a proxy loop or a connection flood reaches the limit. A fixed count,
#: not a share of the limit: the API needs a few descriptors per request, and a share (1/8 of a 20,000
#: limit is 2,500) would cost the proxies thousands of connections they can otherwise carry.
MIN_FD_RESERVE = 128


def _fd_threshold() -> int:
    """The lowest descriptor number a proxy may not keep: the soft limit less a reserve.

    The kernel hands out the lowest free number, so a new descriptor numbered at or above this means
    every number below it is taken: the process is that close to its limit, whoever holds the others.
    Checking the number is exact, process-wide (every engine, the API, the tests) and costs nothing.
    """
    import resource

    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft > 1 << 20:
        soft = 1 << 20
    return max(16, soft - MIN_FD_RESERVE)


class TimerTarget(Protocol):
    def on_timer(self, now: float) -> None: ...


class _Call:
    __slots__ = ("done", "error", "fn", "result")

    def __init__(self, fn: Callable[[], object]) -> None:
        self.fn = fn
        self.done = threading.Event()
        self.result: object = None
        self.error: BaseException | None = None


class Reactor:
    """The event loop; ``start()`` spawns its thread, ``close()`` stops and joins it."""

    def __init__(self, name: str = "sockharness-fault-reactor") -> None:
        require_epoll()
        self.name = name
        self.epoll = select.epoll()
        self.handlers: dict[int, Callable[[int], None]] = {}
        self.read_buffer = bytearray(READ_BUFFER_SIZE)
        self.read_view = memoryview(self.read_buffer)
        self._timers: list[tuple[float, int, TimerTarget]] = []
        self._sequence = itertools.count()
        self._timerfd = TimerFd.create()
        self._armed: float | None = None
        self._calls: deque[_Call] = deque()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._wake_pending = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._thread_id: int | None = None
        self.errors: list[str] = []  # unexpected exceptions raised by handlers (each also logged)
        self.fd_threshold = _fd_threshold()
        self.epoll.register(self._wake_r, EPOLLIN)
        if self._timerfd is not None:
            self.epoll.register(self._timerfd.fd, EPOLLIN)

    # --- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> Reactor:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    @property
    def thread(self) -> threading.Thread | None:
        return self._thread

    def in_reactor(self) -> bool:
        return threading.get_ident() == self._thread_id

    def close(self, timeout: float = 5.0) -> None:
        """Stop the loop (after ``call``s already queued), join the thread, release the epoll/timer fds."""
        if self._thread is not None and self._thread.is_alive() and not self.in_reactor():
            self._stopping = True
            self._wake()
            self._thread.join(timeout)
        self._stopping = True
        for call in self._calls:
            call.error = RuntimeError("fault reactor closed")
            call.done.set()
        self._calls.clear()
        if self._thread is None or not self._thread.is_alive():
            for fd in (self._wake_r, self._wake_w):
                with contextlib.suppress(OSError):
                    os.close(fd)
            self._wake_r = self._wake_w = -1
            if self._timerfd is not None:
                self._timerfd.close()
            self.epoll.close()

    # --- cross-thread calls ----------------------------------------------------------------------------
    def call(self, fn: Callable[[], T], timeout: float = 30.0) -> T:
        """Run ``fn`` on the reactor thread and return its result (re-raising its exception)."""
        if self.in_reactor() or self._thread is None:
            return fn()
        if self._stopping or not self._thread.is_alive():
            raise RuntimeError("fault reactor is closed")
        call = _Call(fn)
        self._calls.append(call)
        self._wake()
        if not call.done.wait(timeout):
            raise TimeoutError(f"fault reactor did not run {fn!r} within {timeout} s")
        if call.error is not None:
            raise call.error
        return call.result  # type: ignore[return-value]

    def _wake(self) -> None:
        if self._wake_pending:
            return
        self._wake_pending = True
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # --- registration (reactor thread only) ------------------------------------------------------------
    def register(self, fd: int, events: int, handler: Callable[[int], None]) -> None:
        self.handlers[fd] = handler
        self.epoll.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        self.epoll.modify(fd, events)

    def unregister(self, fd: int) -> None:
        if self.handlers.pop(fd, None) is not None:
            with contextlib.suppress(OSError, ValueError):
                self.epoll.unregister(fd)

    def within_budget(self, fd: int) -> bool:
        """Whether a connection or pipe may keep the new descriptor ``fd`` (see ``_fd_threshold``)."""
        return fd < self.fd_threshold

    def timer_due(self) -> bool:
        """True when a timer has expired: bulk loops yield to it so delayed chunks are not held up."""
        timers = self._timers
        return bool(timers) and timers[0][0] <= time.monotonic()

    def call_at(self, when: float, target: TimerTarget) -> None:
        """Call ``target.on_timer(now)`` once ``when`` has passed; targets drop stale wake-ups themselves."""
        heapq.heappush(self._timers, (when, next(self._sequence), target))

    # --- the loop --------------------------------------------------------------------------------------
    def _poll_timeout(self) -> float:
        if not self._timers:
            if self._timerfd is not None and self._armed is not None:
                self._timerfd.arm(None)
                self._armed = None
            return -1
        first = self._timers[0][0]
        if self._timerfd is not None:
            if first - time.monotonic() <= TIMER_EARLY:
                return 0  # the last stretch is polled awake, serving other events meanwhile
            if self._armed != first:
                self._timerfd.arm(first - TIMER_EARLY)
                self._armed = first
            return -1
        # No timerfd: epoll rounds up to whole milliseconds, so wake a little early and spin the rest.
        remaining = first - time.monotonic()
        return 0 if remaining <= 0.001 else math.floor(remaining * 1000) / 1000

    def _run(self) -> None:
        self._thread_id = threading.get_ident()
        handlers = self.handlers
        timerfd = self._timerfd.fd if self._timerfd is not None else -1
        monotonic = time.monotonic
        busy_until = 0.0
        while not self._stopping:
            timeout = self._poll_timeout()
            if timeout and busy_until and monotonic() < busy_until:
                timeout = 0
            try:
                events = self.epoll.poll(timeout)
            except InterruptedError:
                continue
            except (OSError, ValueError):
                if self._stopping:  # closed from a callback on this very thread
                    break
                raise
            if events:
                busy_until = monotonic() + BUSY_POLL
            elif timeout == 0 and not self._timers:
                continue  # busy-polling: nothing to run yet
            for fd, mask in events:
                if fd == timerfd:
                    self._timerfd.clear()  # type: ignore[union-attr]
                    self._armed = None
                    continue
                if fd == self._wake_r:
                    self._drain_wake()
                    continue
                handler = handlers.get(fd)
                if handler is not None:
                    try:
                        handler(mask)
                    except Exception as error:  # a bug must not take every connection down with it
                        self._record(error, f"handler for fd {fd}")
            if self._calls:
                self._run_calls()
            if self._timers:
                self._run_timers()
            if events:
                _yield_to_woken_peers()
        self._run_calls()

    def _drain_wake(self) -> None:
        # Drain first, then clear the flag. Cleared first, a _wake() from another thread between the two
        # would set the flag and write a byte that this drain swallows: the flag would stay set with an
        # empty pipe and the NEXT wake-up (close()'s stop request, say) would be skipped, leaving the loop
        # asleep in epoll. Drained first, a _wake() that still sees the flag set is served by this very
        # iteration, which runs the queued calls and checks _stopping after the events.
        try:
            while os.read(self._wake_r, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        self._wake_pending = False

    def _run_calls(self) -> None:
        while self._calls:
            call = self._calls.popleft()
            try:
                call.result = call.fn()
            except BaseException as error:
                call.error = error
            call.done.set()

    def _run_timers(self) -> None:
        timers = self._timers
        now = time.monotonic()
        while timers and timers[0][0] <= now:
            target = heapq.heappop(timers)[2]
            try:
                target.on_timer(now)
            except Exception as error:
                self._record(error, f"timer of {target!r}")

    def _record(self, error: Exception, where: str) -> None:
        _log.exception("sockharness fault reactor: %s raised", where)
        self.errors.append(f"{where}: {type(error).__name__}: {error}")


__all__ = ["EPOLLERR", "EPOLLHUP", "EPOLLIN", "EPOLLOUT", "READ_BUFFER_SIZE", "Reactor", "TimerTarget"]
