"""What every peer shares: lifecycle (start/stop/context manager), threads, failure capture, check().

A peer thread never lets an exception vanish: failures are stored as PeerError and re-raised in the test by
``check()``, by ``wait_done()`` and by the fixtures at teardown.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, Self

from sockharness._errnos import describe_exception
from sockharness.peers._errors import PeerError
from sockharness.peers._registry import Registry, default_registry
from sockharness.peers._script import ScriptFailure, ScriptRunner
from sockharness.peers._steps import Step
from sockharness.peers._tls import TLSRole
from sockharness.peers._transcript import Transcript

if TYPE_CHECKING:
    from sockharness._aio import AsyncPeer

__all__ = ["Peer", "PeerBase"]


class Peer(Protocol):
    """What every peer offers (docs/architecture.md): code against this, not against PeerBase.

    Static only (not runtime-checkable): ``host``/``port`` of a peer that has not started raise, so an
    isinstance() probe would too.
    """

    name: str
    address: tuple[Any, ...]
    transcripts: list[Transcript]

    @property
    def host(self) -> str: ...

    @property
    def port(self) -> int: ...

    def start(self) -> Self: ...

    def stop(self, timeout: float = 2.0) -> None: ...

    def check(self) -> None: ...


class PeerBase:
    """Base class of the built-in peers (see the ``Peer`` protocol in docs/architecture.md)."""

    #: (host, port) or (host, port, flowinfo, scope_id): getsockname() of the listening/bound socket.
    address: tuple[Any, ...]
    #: A scripted peer's disconnect (reset, early EOF) ends its script quietly; read when the disconnect
    #: happens, so setting it reaches connections already running (an injected fault sets it).
    tolerate_disconnects: bool = False

    def __init__(self, *, name: str, registry: Registry | None) -> None:
        self.name = name
        self.registry = registry if registry is not None else default_registry()
        self.transcripts: list[Transcript] = []
        self._stop_event = threading.Event()
        self._lock = threading.Lock()
        self._failures: list[PeerError] = []
        self._reported = 0
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._started = False
        self._stopped = False
        self.address = ()

    # -- public API -----------------------------------------------------------------------------------------
    @property
    def host(self) -> str:
        self._require_address()
        host: str = self.address[0]
        return host

    @property
    def port(self) -> int:
        self._require_address()
        port: int = self.address[1]
        return port

    @property
    def started(self) -> bool:
        return self._started

    @property
    def stopped(self) -> bool:
        return self._stopped

    def start(self) -> Self:
        """Bind/connect and start the peer's threads; returns self. A peer starts once."""
        if self._started:
            raise RuntimeError(f"peer {self.name!r} was already started")
        self._started = True
        self.registry.track_peer(self, type(self).__name__)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Ask every thread to finish, wake blocked calls, join (bounded), close sockets. Idempotent."""
        deadline = time.monotonic() + max(0.0, timeout)
        self._stop_event.set()
        with self._lock:
            self._stopped = True
            sockets = list(self._sockets)
            threads = list(self._threads)
        self._wake(sockets)
        current = threading.current_thread()
        for thread in threads:
            if thread is not current and thread.ident is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
        for sock in sockets:
            with contextlib.suppress(OSError):  # fd already gone: nothing to release
                sock.close()

    @property
    def aio(self) -> AsyncPeer:
        """This peer's waits as coroutines, for async tests (``await peer.aio.wait_done()``)."""
        from sockharness._aio import AsyncPeer

        return AsyncPeer(self)

    def check(self) -> None:
        """Raise the first failure of any of this peer's threads (as PeerError with transcripts)."""
        __tracebackhide__ = True  # pytest: show the caller, not this re-raise
        with self._lock:
            failures = list(self._failures)
            self._reported = len(failures)
        if not failures:
            return
        first = failures[0]
        if len(failures) > 1:
            others = "; ".join(f.problem for f in failures[1:])
            raise PeerError(
                self.name,
                f"{first.problem} (and {len(failures) - 1} more failure(s): {others})",
                step=first.step,
                step_index=first.step_index,
                cause=first.cause,
                transcripts=self.transcripts,
                connection=first.connection,
            )
        raise first

    def check_unreported(self) -> None:
        """Like check(), but quiet when every failure was already raised by an earlier check(): teardown
        uses it so a failure the test already saw is not reported a second time."""
        __tracebackhide__ = True
        with self._lock:
            new_failures = len(self._failures) > self._reported
        if new_failures:
            self.check()

    @property
    def failures(self) -> list[PeerError]:
        with self._lock:
            return list(self._failures)

    def __enter__(self) -> Self:
        if not self._started:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        self.stop()
        if exc_type is None:
            self.check()

    def __repr__(self) -> str:
        state = "stopped" if self._stopped else "running" if self._started else "new"
        where = self.address if self.address else "unbound"
        return f"<{type(self).__name__} {self.name!r} {where} {state}>"

    # -- for subclasses -------------------------------------------------------------------------------------
    def _start(self) -> None:
        raise NotImplementedError

    def _require_address(self) -> None:
        if not self.address:
            raise RuntimeError(f"peer {self.name!r} has no address yet: call start() first")

    def _stopping(self) -> bool:
        return self._stop_event.is_set()

    def _track_socket(self, sock: socket.socket, origin: str) -> socket.socket:
        with self._lock:
            self._sockets = [s for s in self._sockets if s.fileno() != -1]
            self._sockets.append(sock)
        return self.registry.track_socket(sock, f"{origin} of {self.name}")

    def _spawn(self, target: Callable[[], None], role: str) -> threading.Thread:
        thread = threading.Thread(target=target, name=f"sockharness:{self.name}:{role}", daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive() or t.ident is None]
            self._threads.append(thread)
        self.registry.track_thread(thread, self._stop_event, f"{type(self).__name__} {self.name!r}")
        thread.start()
        return thread

    def _wake(self, sockets: list[socket.socket]) -> None:
        """Wake threads blocked on ``sockets``: shutdown() does, close() from another thread does not."""
        for sock in sockets:
            if sock.fileno() == -1:
                continue
            # Not connected (UDP, bound-only) raises: subclasses wake those their own way.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _record_failure(
        self,
        problem: str,
        *,
        step: Step | None = None,
        step_index: int | None = None,
        cause: BaseException | None = None,
        transcripts: list[Transcript] | None = None,
        connection: str | None = None,
    ) -> None:
        error = PeerError(
            self.name,
            problem,
            step=step,
            step_index=step_index,
            cause=cause,
            transcripts=transcripts if transcripts is not None else self.transcripts,
            connection=connection,
        )
        with self._lock:
            self._failures.append(error)
        self._on_failure()

    def _on_failure(self) -> None:
        """Hook: wake waiters (wait_done) so a failure is reported at once instead of at their timeout."""

    def _run_script(
        self,
        sock: socket.socket,
        script: tuple[Step, ...],
        transcript: Transcript,
        *,
        tolerate_disconnects: bool,
        role: str,
        tls: TLSRole | None = None,
    ) -> None:
        """Run a connection's script in this thread: every failure is recorded (never lost in the thread)
        and the socket is closed at the end, whatever happened."""
        runner = ScriptRunner(
            sock,
            script,
            transcript,
            self._stop_event,
            tolerate_disconnects=lambda: tolerate_disconnects or self.tolerate_disconnects,
            tls=tls,
            track=lambda wrapped: self._track_socket(wrapped, f"TLS {role}"),
        )
        try:
            runner.run()
        except ScriptFailure as failure:
            self._record_failure(
                failure.problem,
                step=failure.step,
                step_index=failure.index,
                cause=failure.cause,
                connection=transcript.label,
            )
        except Exception as exc:  # a bug or an unexpected error: report it, never lose it in the thread
            transcript.record_event(f"FAILED: {describe_exception(exc)}")
            self._record_failure(
                f"{role} thread raised {describe_exception(exc)}", cause=exc, connection=transcript.label
            )
        finally:
            sock = runner.sock  # the SSLSocket once a TlsHandshake wrapped the connection
            if sock.fileno() != -1:
                sock.close()
                if not runner.closed:
                    transcript.record_event("closed (end of script)")

    def _guard(self, body: Callable[[], None], what: str, transcript: Transcript | None = None) -> None:
        """Run a thread body; any unexpected exception becomes a recorded failure (unless stopping)."""
        try:
            body()
        except BaseException as exc:
            if self._stopping() and isinstance(exc, OSError):
                return
            if transcript is not None:
                transcript.record_event(f"FAILED {what}: {describe_exception(exc)}")
            self._record_failure(
                f"{what} raised {describe_exception(exc)}",
                cause=exc,
                connection=transcript.label if transcript is not None else None,
            )
