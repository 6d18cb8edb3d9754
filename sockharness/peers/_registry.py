"""Cleanup that cannot be skipped: every socket, thread and peer the harness creates is registered here.

Teardown then closes and joins everything, even when the test failed or pytest-timeout fired, and leak
detection can name what is still open and where it was created.

Stopping order matters: a thread blocked in ``accept()`` or ``recv()`` is *not* woken by ``close()`` from
another thread (socket-facts 1.6/1.9), but ``shutdown(SHUT_RDWR)`` wakes it at once. So ``close_all`` first
sets every stop event, then stops peers, then shuts down every tracked socket, then joins threads under one
bounded deadline, then closes the sockets.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from sockharness._leaks import register_harness_thread

__all__ = ["Registry", "SocketRecord", "StoppablePeer", "ThreadRecord", "default_registry"]

_PRUNE_EVERY = 64
_INTERNAL_PATHS = ("/sockharness/peers/", "/sockharness/fixtures/", "/_pytest/", "/pluggy/", "/threading.py")


class StoppablePeer(Protocol):
    name: str

    def stop(self, timeout: float = 2.0) -> None: ...


@dataclass(frozen=True)
class SocketRecord:
    """A still-open tracked socket, described for a leak report."""

    family: str
    type: str
    laddr: Any
    raddr: Any
    origin: str
    created_at: str
    """``file:line in function`` of the code that created it (outside the harness when possible)."""
    fileno: int

    def __str__(self) -> str:
        remote = f" -> {self.raddr}" if self.raddr is not None else ""
        where = f"{self.family}/{self.type} fd={self.fileno} {self.laddr}{remote}"
        return f"{self.origin}: {where} ({self.created_at})"


@dataclass(frozen=True)
class ThreadRecord:
    """A still-running tracked thread."""

    name: str
    origin: str
    created_at: str
    daemon: bool

    def __str__(self) -> str:
        return f"{self.origin}: thread {self.name!r} ({self.created_at})"


@dataclass
class _SocketEntry:
    sock: socket.socket
    origin: str
    created_at: str


@dataclass
class _ThreadEntry:
    thread: threading.Thread
    stop: threading.Event | None
    origin: str
    created_at: str


def _caller_location() -> str:
    """The first stack frame outside the harness' peers/fixtures and pytest internals: where the user asked.

    Walks frames directly (no source lookup) because this runs on every peer start, which must stay cheap.
    """
    frame: FrameType | None = sys._getframe(2)
    fallback = None
    depth = 0
    while frame is not None and depth < 64:  # bounded: deep pytest stacks need not be walked to the root
        name = frame.f_code.co_filename.replace("\\", "/")
        where = f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}"
        if fallback is None:
            fallback = where
        if not any(part in name for part in _INTERNAL_PATHS):
            return where
        frame = frame.f_back
        depth += 1
    return fallback or "<unknown>"


def _is_open(sock: socket.socket) -> bool:
    return sock.fileno() != -1


def _safe_name(sock: socket.socket) -> Any:
    try:
        return sock.getsockname()
    except OSError:
        return None


def _safe_peer(sock: socket.socket) -> Any:
    try:
        return sock.getpeername()
    except OSError:
        return None


def _enum_name(value: Any) -> str:
    return getattr(value, "name", str(value))


class Registry:
    """Tracks sockets, threads and peers so they can all be released at once."""

    def __init__(self, name: str = "registry", *, keep_stopped_peers: bool = True) -> None:
        """``keep_stopped_peers=False`` forgets peers once stopped (for a process-wide registry that no
        teardown ever checks, so it does not grow without bound)."""
        self.name = name
        self.keep_stopped_peers = keep_stopped_peers
        self._lock = threading.Lock()
        self._sockets: list[_SocketEntry] = []
        self._threads: list[_ThreadEntry] = []
        self._peers: list[tuple[StoppablePeer, str]] = []
        self._tracked_since_prune = 0

    # -- registration ---------------------------------------------------------------------------------------
    def track_socket(self, sock: socket.socket, origin: str) -> socket.socket:
        """Register ``sock`` (returned unchanged, so ``s = registry.track_socket(socket.socket(), ...)``)."""
        entry = _SocketEntry(sock, origin, _caller_location())
        with self._lock:
            self._sockets.append(entry)
            self._tracked_since_prune += 1
            if self._tracked_since_prune >= _PRUNE_EVERY:
                self._tracked_since_prune = 0
                self._sockets = [e for e in self._sockets if _is_open(e.sock)]
                self._threads = [e for e in self._threads if e.thread.is_alive() or not e.thread.ident]
        return sock

    def track_thread(self, thread: threading.Thread, stop: threading.Event | None, origin: str) -> None:
        """Register ``thread``; ``stop`` (if given) is set first at teardown to ask it to finish."""
        entry = _ThreadEntry(thread, stop, origin, _caller_location())
        with self._lock:
            self._threads.append(entry)
        register_harness_thread(thread, f"{origin} (created at {entry.created_at})")

    def track_peer(self, peer: StoppablePeer, origin: str) -> None:
        """Register a peer whose own ``stop()`` runs before the generic socket/thread cleanup (an extension
        of the documented contract: peers know how to wake their threads most gently)."""
        with self._lock:
            if not self.keep_stopped_peers:
                self._peers = [(p, o) for p, o in self._peers if not getattr(p, "stopped", False)]
            self._peers.append((peer, origin))

    # -- inspection -----------------------------------------------------------------------------------------
    def peers(self) -> list[StoppablePeer]:
        with self._lock:
            return [peer for peer, _ in self._peers]

    def open_sockets(self) -> list[SocketRecord]:
        """Tracked sockets that are still open."""
        with self._lock:
            entries = list(self._sockets)
        records = []
        for entry in entries:
            sock = entry.sock
            fileno = sock.fileno()
            if fileno == -1:
                continue
            records.append(
                SocketRecord(
                    family=_enum_name(sock.family),
                    type=_enum_name(sock.type),
                    laddr=_safe_name(sock),
                    raddr=_safe_peer(sock),
                    origin=entry.origin,
                    created_at=entry.created_at,
                    fileno=fileno,
                )
            )
        return records

    def live_threads(self) -> list[ThreadRecord]:
        """Tracked threads that are still running."""
        with self._lock:
            entries = list(self._threads)
        return [
            ThreadRecord(e.thread.name, e.origin, e.created_at, e.thread.daemon)
            for e in entries
            if e.thread.is_alive()
        ]

    # -- cleanup --------------------------------------------------------------------------------------------
    def close_all(self, join_timeout: float = 2.0) -> list[str]:
        """Stop peers, wake and join threads, close sockets. Bounded by about ``join_timeout`` seconds.

        Returns descriptions of threads that would not stop (they are daemon threads, so they cannot keep the
        interpreter alive; they are reported instead of waited on forever). Safe to call repeatedly.
        """
        deadline = time.monotonic() + max(0.0, join_timeout)
        with self._lock:
            peers = list(self._peers)
            threads = list(self._threads)
            sockets = list(self._sockets)
            self._peers.clear()
        for entry in threads:
            if entry.stop is not None:
                entry.stop.set()
        for peer, origin in peers:
            try:
                peer.stop(max(0.0, deadline - time.monotonic()))
            except Exception as exc:  # one misbehaving peer must not keep the rest open
                print(f"sockharness: stopping {origin} {peer.name!r} failed: {exc!r}", file=sys.stderr)
        for socket_entry in sockets:
            if socket_entry.sock.fileno() != -1:
                with contextlib.suppress(OSError):  # not connected / already shut down: nothing to wake
                    socket_entry.sock.shutdown(socket.SHUT_RDWR)
        stuck = []
        for entry in threads:
            thread = entry.thread
            if thread is threading.current_thread() or not thread.ident:
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                stuck.append(f"{entry.origin}: thread {thread.name!r} created at {entry.created_at}")
        for socket_entry in sockets:
            with contextlib.suppress(OSError):  # fd closed behind the object's back: nothing to release
                socket_entry.sock.close()
        with self._lock:
            self._sockets = [e for e in self._sockets if _is_open(e.sock)]
            self._threads = [e for e in self._threads if e.thread.is_alive()]
        return stuck

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close_all()

    def __repr__(self) -> str:
        with self._lock:
            counts = (len(self._sockets), len(self._threads), len(self._peers))
        return f"<Registry {self.name!r} sockets={counts[0]} threads={counts[1]} peers={counts[2]}>"


_DEFAULT: Registry | None = None
_DEFAULT_LOCK = threading.Lock()


def default_registry() -> Registry:
    """The process-wide registry used when a peer is created without one."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Registry("default", keep_stopped_peers=False)
        return _DEFAULT
