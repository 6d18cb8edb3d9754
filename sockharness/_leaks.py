"""Leak detection: which sockets and threads a test left open, and where each was created.

Two sources are combined, because each alone is blind somewhere:

* **The kernel's view** (``/proc/self/fd``): every descriptor that is a socket (``socket:[inode]``). This
  sees what no Python object holds any more: an fd kept through ``detach()`` or ``os.dup()``, or a socket
  made by a C extension. A leak is a (fd, inode) pair that exists after the test and did not before it.
* **Python's view**: while tracking is on, ``socket.socket.__init__`` (which ``accept()`` also goes
  through) and ``threading.Thread.start`` are wrapped to remember *where* each socket or thread was made --
  the one thing a person chasing a leak needs. The socket's inode is noted too, so a detached or duplicated
  fd is still traced back to the line that created its socket. Nothing is kept alive by the tracker.

Threads are compared by identity (the ``Thread`` objects alive before and after), so every thread the test
started and left running is reported, the user's own as much as the harness'. Threads that outlive a test
on purpose (a process-wide service) are excused only by registration (``register_harness_thread(...,
outlives_tests=True)``), never by their name. Harness threads registered without that flag (peer threads,
through the peers ``Registry``) are still leaks when they survive teardown, but are reported with their owner.

Sockets and threads created while a fixture wider than function scope is being set up belong to that
fixture's scope, not to the test, so they are excused (``excused()``).

Where ``/proc/self/fd`` does not exist (not Linux), only live Python socket objects are checked.
"""

from __future__ import annotations

import _socket
import contextlib
import gc
import os
import socket
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import Any

__all__ = [
    "LeakReport",
    "LeakTracker",
    "LeakedSocket",
    "LeakedThread",
    "register_harness_thread",
    "socket_fds",
]

_PROC_FD = "/proc/self/fd"
_SKIP_FILES = ("/socket.py", "/selectors.py", "/ssl.py", "/threading.py", "/sockharness/_leaks.py")
_MAX_FRAMES = 64
_UNKNOWN_SITE = "an unknown place (not through Python's socket module while the check was on)"


@dataclass(frozen=True)
class _HarnessThread:
    owner: str
    outlives_tests: bool


_HARNESS_THREADS: weakref.WeakKeyDictionary[threading.Thread, _HarnessThread] = weakref.WeakKeyDictionary()
_HARNESS_LOCK = threading.Lock()


def register_harness_thread(thread: threading.Thread, owner: str, *, outlives_tests: bool = False) -> None:
    """Tell the leak check that ``thread`` belongs to the harness (``owner`` says which part and where).

    ``outlives_tests=True`` excuses it for good: a process-wide service thread that is meant to keep running
    after the test that happened to start it. Otherwise the thread is still a leak if it survives teardown,
    and the report names its owner. Registration, not the thread's name, decides: a user thread called
    ``sockharness-x`` is checked like any other.
    """
    with _HARNESS_LOCK:
        _HARNESS_THREADS[thread] = _HarnessThread(owner, outlives_tests)


def _harness_info(thread: threading.Thread) -> _HarnessThread | None:
    with _HARNESS_LOCK:
        return _HARNESS_THREADS.get(thread)


@dataclass(frozen=True)
class LeakedSocket:
    family: str
    type: str
    laddr: Any
    raddr: Any
    created_at: str
    thread: str
    fd: int = -1
    note: str = ""
    """Why no Python object holds it, when none does (e.g. kept through ``detach()``/``os.dup()``)."""

    def __str__(self) -> str:
        remote = f" -> {self.raddr}" if self.raddr is not None else ""
        where = f"created at {self.created_at} (thread {self.thread})"
        fd = f" fd={self.fd}" if self.fd >= 0 else ""
        note = f"; {self.note}" if self.note else ""
        return f"socket {self.family}/{self.type} {self.laddr}{remote}, {where}{fd}{note}"


@dataclass(frozen=True)
class LeakedThread:
    name: str
    started_at: str = ""
    owner: str = ""
    """The harness part that registered it; empty for a thread the test itself started."""

    def __str__(self) -> str:
        if self.owner:  # where the harness started it is internal; where the user asked is in the owner
            return f"harness thread {self.name!r} of {self.owner} still running"
        where = f", started at {self.started_at}" if self.started_at else ""
        return f"thread {self.name!r} still running{where}"


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


def socket_fds() -> dict[int, str] | None:
    """``fd -> "socket:[inode]"`` for every socket descriptor of this process; ``None`` without ``/proc``."""
    try:
        names = os.listdir(_PROC_FD)
    except OSError:
        return None
    found = {}
    for name in names:
        try:
            target = os.readlink(f"{_PROC_FD}/{name}")
        except OSError:  # closed between the listing and the readlink (or the listing's own fd)
            continue
        if target.startswith("socket:["):
            found[int(name)] = target
    return found


def _fd_target(fd: int) -> str | None:
    try:
        return os.readlink(f"{_PROC_FD}/{fd}")
    except OSError:
        return None


def _creation_site(skip: int = 2) -> str:
    frame: FrameType | None = sys._getframe(skip)
    depth = 0
    while frame is not None and depth < _MAX_FRAMES:
        filename = frame.f_code.co_filename.replace("\\", "/")
        if not filename.endswith(_SKIP_FILES):
            return f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        frame = frame.f_back
        depth += 1
    return "<unknown>"


def _enum_name(value: Any, enum: Any) -> str:
    if hasattr(value, "name"):
        return str(value.name)
    try:
        return str(enum(value).name)
    except ValueError:
        return str(value)


def _safe(call: Any) -> Any:
    try:
        return call()
    except OSError:
        return None


def _describe_object(sock: Any) -> tuple[str, str, Any, Any]:
    family = _enum_name(sock.family, socket.AddressFamily)
    kind = _enum_name(sock.type, socket.SocketKind)
    return family, kind, _safe(sock.getsockname), _safe(sock.getpeername)


def _describe_fd(fd: int) -> tuple[str, str, Any, Any]:
    """Family, type and addresses of a bare fd, through the C-level socket type: it is not the wrapped
    ``socket.socket``, so looking does not record a new socket, and ``detach()`` leaves the fd open."""
    try:
        probe = _socket.socket(fileno=fd)
    except OSError:
        return "?", "?", None, None
    try:
        return _describe_object(probe)
    finally:
        probe.detach()


@dataclass
class _SocketEntry:
    ref: weakref.ref[socket.socket]
    site: str
    thread: str
    target: str | None


class LeakTracker:
    """Records sockets and threads created between ``start()`` and ``stop()``; ``check()`` reports the
    ones still open.

    One tracker is active per process at a time (the patch is process-wide); pytest runs tests one at a time
    per process, xdist workers are separate processes.
    """

    _active: LeakTracker | None = None
    _original_init: Any = None
    _original_start: Any = None

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: list[_SocketEntry] = []
        self._thread_sites: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()
        self._fds_before: set[tuple[int, str]] = set()
        self._threads_before: set[threading.Thread] = set()
        self._excused_objects: set[int] = set()
        self._excusing = 0
        self._proc = True

    @classmethod
    def active(cls) -> LeakTracker | None:
        """The tracker recording right now in this process, if any."""
        return cls._active

    # -- the patch ------------------------------------------------------------------------------------------
    def start(self) -> None:
        if LeakTracker._active is not None:
            raise RuntimeError("another LeakTracker is already active in this process")
        self._threads_before = set(threading.enumerate())
        fds = socket_fds()
        self._proc = fds is not None
        self._fds_before = set((fds or {}).items())
        original_init = socket.socket.__init__
        original_start = threading.Thread.start
        LeakTracker._original_init = original_init
        LeakTracker._original_start = original_start
        LeakTracker._active = self

        def tracking_init(sock: socket.socket, *args: Any, **kwargs: Any) -> None:
            original_init(sock, *args, **kwargs)
            tracker = LeakTracker._active
            if tracker is not None:
                tracker._record_socket(sock)

        def tracking_start(thread: threading.Thread) -> None:
            tracker = LeakTracker._active
            if tracker is not None:
                site = _creation_site()
                with tracker._lock:
                    tracker._thread_sites[thread] = site
            original_start(thread)

        socket.socket.__init__ = tracking_init  # type: ignore[method-assign,assignment]
        threading.Thread.start = tracking_start  # type: ignore[method-assign,assignment]

    def stop(self) -> None:
        if LeakTracker._active is self:
            socket.socket.__init__ = LeakTracker._original_init  # type: ignore[method-assign]
            threading.Thread.start = LeakTracker._original_start  # type: ignore[method-assign]
            LeakTracker._active = None
            LeakTracker._original_init = None
            LeakTracker._original_start = None

    def _record_socket(self, sock: socket.socket) -> None:
        site = _creation_site(3)
        target = _fd_target(sock.fileno()) if self._proc else None
        entry = _SocketEntry(weakref.ref(sock), site, threading.current_thread().name, target)
        with self._lock:
            self._sockets.append(entry)
            if self._excusing:
                self._excused_objects.add(id(sock))

    @contextlib.contextmanager
    def excused(self) -> Iterator[None]:
        """Sockets and threads created inside this block are not the test's to close: a wider-scoped fixture
        owns them. Only what appeared during the block is excused, not what the test opened before it."""
        threads_at_entry = set(threading.enumerate())
        fds_at_entry = set((socket_fds() or {}).items())
        with self._lock:
            self._excusing += 1
        try:
            yield
        finally:
            new_threads = set(threading.enumerate()) - threads_at_entry
            new_fds = set((socket_fds() or {}).items()) - fds_at_entry
            with self._lock:
                self._excusing -= 1
                self._threads_before |= new_threads
                self._fds_before |= new_fds

    # -- the check ------------------------------------------------------------------------------------------
    def _leaked_sockets(self) -> list[LeakedSocket]:
        with self._lock:
            entries = list(self._sockets)
            excused = set(self._excused_objects)
        live: dict[int, tuple[socket.socket, _SocketEntry]] = {}
        for entry in entries:
            sock = entry.ref()
            if sock is not None and sock.fileno() != -1 and id(sock) not in excused:
                live[sock.fileno()] = (sock, entry)
        if not self._proc:
            return [
                LeakedSocket(*_describe_object(sock), entry.site, entry.thread, fd)
                for fd, (sock, entry) in sorted(live.items())
            ]
        by_target = {entry.target: entry for entry in entries if entry.target is not None}
        leaked = []
        for fd, target in sorted(set((socket_fds() or {}).items()) - self._fds_before):
            if fd in live and live[fd][1].target == target:
                sock, entry = live[fd]
                leaked.append(LeakedSocket(*_describe_object(sock), entry.site, entry.thread, fd))
                continue
            origin = by_target.get(target)
            if origin is not None and id(origin.ref()) in excused:
                continue  # a duplicate of a wider fixture's socket: that fixture's business
            description = _describe_fd(fd)
            if origin is not None:
                note = "no socket object holds this fd any more (kept through detach() or os.dup())"
                leaked.append(LeakedSocket(*description, origin.site, origin.thread, fd, note))
            else:
                note = "no Python socket object was created for it"
                leaked.append(LeakedSocket(*description, _UNKNOWN_SITE, "?", fd, note))
        return leaked

    def _leaked_threads(self) -> list[LeakedThread]:
        current = threading.current_thread()
        leaked = []
        for thread in threading.enumerate():
            if thread in self._threads_before or thread is current or not thread.is_alive():
                continue
            info = _harness_info(thread)
            if info is not None and info.outlives_tests:
                continue
            with self._lock:
                site = self._thread_sites.get(thread, "")
            leaked.append(LeakedThread(thread.name, site, info.owner if info is not None else ""))
        return leaked

    def check(self, grace: float = 1.0) -> LeakReport:
        """Report what is still open. When a leftover might still be released by another thread (a peer
        sees the client's FIN a moment after the test closed its end; a thread finishing its last line), it
        gets ``grace`` seconds, polled on a bounded deadline; a leak made by the main thread is not
        waited for."""
        if not self._leaked_sockets() and not self._leaked_threads():
            return LeakReport((), ())  # the common case: skip the full collection, it costs ~tens of ms
        gc.collect()  # an unreferenced socket is closed by collection: only what survives it is a leak
        deadline = time.monotonic() + grace
        main = threading.main_thread().name
        while True:
            sockets = self._leaked_sockets()
            threads = self._leaked_threads()
            background = [s for s in sockets if s.thread != main]
            if (not background and not threads) or time.monotonic() >= deadline:
                break
            time.sleep(0.01)  # bounded by the grace deadline: waiting for other threads to release their fds
        return LeakReport(tuple(sockets), tuple(threads))
