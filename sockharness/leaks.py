"""Leak detection: which sockets and harness threads a test left open, and where each was created.

Why not compare ``/proc/self/fd`` before and after? It cannot say *where* a socket was made, which is the
one thing a person chasing a leak needs. So while tracking is on, ``socket.socket.__init__`` is wrapped to
remember, for every new socket object (including the ones ``accept()`` returns), a weak reference and the
first stack frame outside the standard library's socket module. Nothing is kept alive by the tracker.

Sockets created while a fixture wider than function scope is being set up belong to that fixture's scope,
not to the test, so they can be excused (``excused()``).
"""

from __future__ import annotations

import contextlib
import gc
import socket
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = ["LeakReport", "LeakTracker", "LeakedSocket", "LeakedThread"]

HARNESS_THREAD_PREFIX = "sockharness"
_SKIP_FILES = ("/socket.py", "/selectors.py", "/ssl.py", "/sockharness/leaks.py")
_MAX_FRAMES = 64


@dataclass(frozen=True)
class LeakedSocket:
    family: str
    type: str
    laddr: Any
    raddr: Any
    created_at: str
    thread: str

    def __str__(self) -> str:
        remote = f" -> {self.raddr}" if self.raddr is not None else ""
        where = f"created at {self.created_at} (thread {self.thread})"
        return f"socket {self.family}/{self.type} {self.laddr}{remote}, {where}"


@dataclass(frozen=True)
class LeakedThread:
    name: str

    def __str__(self) -> str:
        return f"harness thread {self.name!r} still running"


@dataclass(frozen=True)
class LeakReport:
    sockets: tuple[LeakedSocket, ...]
    threads: tuple[LeakedThread, ...]

    def __bool__(self) -> bool:
        return bool(self.sockets or self.threads)

    def __str__(self) -> str:
        counts = f"{len(self.sockets)} socket(s), {len(self.threads)} thread(s)"
        lines = [f"sockharness leak check: {counts} left open"]
        lines += [f"  - {item}" for item in (*self.sockets, *self.threads)]
        return "\n".join(lines)


def _creation_site() -> str:
    frame: FrameType | None = sys._getframe(2)
    depth = 0
    while frame is not None and depth < _MAX_FRAMES:
        filename = frame.f_code.co_filename.replace("\\", "/")
        if not filename.endswith(_SKIP_FILES):
            return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
        depth += 1
    return "<unknown>"


def _enum_name(value: Any) -> str:
    return getattr(value, "name", str(value))


def _describe(sock: socket.socket, site: str, thread: str) -> LeakedSocket:
    def safe(call: Any) -> Any:
        try:
            return call()
        except OSError:
            return None

    family, kind = _enum_name(sock.family), _enum_name(sock.type)
    return LeakedSocket(family, kind, safe(sock.getsockname), safe(sock.getpeername), site, thread)


class LeakTracker:
    """Records sockets created between ``start()`` and ``stop()``; ``check()`` reports the open ones.

    One tracker is active per process at a time (the patch is process-wide); pytest runs tests one at a time
    per process, xdist workers are separate processes.
    """

    _active: LeakTracker | None = None
    _original_init: Any = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[tuple[weakref.ref[socket.socket], str, str]] = []
        self._excused: set[int] = set()
        self._excusing = 0
        self._threads_before: set[int] = set()

    @classmethod
    def active(cls) -> LeakTracker | None:
        """The tracker recording right now in this process, if any."""
        return cls._active

    # -- the patch ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if LeakTracker._active is not None:
            raise RuntimeError("another LeakTracker is already active in this process")
        self._threads_before = {t.ident for t in threading.enumerate() if t.ident is not None}
        original = socket.socket.__init__
        LeakTracker._original_init = original
        LeakTracker._active = self

        def tracking_init(sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            original(sock, *args, **kwargs)
            tracker = LeakTracker._active
            if tracker is not None:
                tracker._record(sock)

        socket.socket.__init__ = tracking_init  # type: ignore[method-assign,assignment]

    def stop(self) -> None:
        if LeakTracker._active is self:
            socket.socket.__init__ = LeakTracker._original_init  # type: ignore[method-assign]
            LeakTracker._active = None
            LeakTracker._original_init = None

    def _record(self, sock: socket.socket) -> None:
        site = _creation_site()
        with self._lock:
            self._sockets.append((weakref.ref(sock), site, threading.current_thread().name))
            if self._excusing:
                self._excused.add(id(sock))

    @contextlib.contextmanager
    def excused(self) -> Iterator[None]:
        """Sockets created inside this block are not the test's to close: a wider-scoped fixture owns them."""
        with self._lock:
            self._excusing += 1
        try:
            yield
        finally:
            started = {t.ident for t in threading.enumerate() if t.ident is not None}
            with self._lock:
                self._excusing -= 1
                self._threads_before |= started  # threads the wider fixture started are its own, too

    # -- the check ------------------------------------------------------------------------------------------
    def _open_sockets(self) -> list[tuple[socket.socket, str, str]]:
        with self._lock:
            entries = list(self._sockets)
            excused = set(self._excused)
        found = []
        for ref, site, thread in entries:
            sock = ref()
            if sock is not None and sock.fileno() != -1 and id(sock) not in excused:
                found.append((sock, site, thread))
        return found

    def _new_harness_threads(self) -> list[threading.Thread]:
        new = [t for t in threading.enumerate() if t.ident not in self._threads_before]
        return [t for t in new if t.name.startswith(HARNESS_THREAD_PREFIX) and t.is_alive()]

    def check(self, grace: float = 1.0) -> LeakReport:
        """Report what is still open. Sockets and threads that belong to peer threads get ``grace`` seconds
        to finish closing (a peer sees the client's FIN a moment after the test closed its end), polled on a
        bounded deadline; nothing else is waited for."""
        if not self._open_sockets() and not self._new_harness_threads():
            return LeakReport((), ())  # the common case: skip the full collection, it costs ~tens of ms
        gc.collect()  # an unreferenced socket is closed by collection: only what survives it is a leak
        deadline = time.monotonic() + grace
        while True:
            sockets = self._open_sockets()
            threads = self._new_harness_threads()
            background = [s for s in sockets if s[2] != threading.main_thread().name]
            if (not background and not threads) or time.monotonic() >= deadline:
                break
            time.sleep(0.01)  # bounded by the grace deadline: waiting for other threads to release their fds
        return LeakReport(
            tuple(_describe(sock, site, thread) for sock, site, thread in sockets),
            tuple(LeakedThread(t.name) for t in threads),
        )
