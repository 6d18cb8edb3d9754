"""ScriptedTCPServer: a real listening socket whose every accepted connection runs a script in its own thread.

Start-up is a bind, a listen and one thread start: no polling, no sleeps, so a test pays well under a
millisecond for a server. The accept loop blocks in ``accept()`` and is woken at stop by
``shutdown(SHUT_RDWR)`` on the listener (``close()`` from another thread would not wake it), with a
self-connect as a fallback for stacks where shutting down a listener fails.
"""

from __future__ import annotations

import functools
import os
import socket
import threading
from collections.abc import Sequence

from sockharness.peers._addresses import family_for_host, format_address
from sockharness.peers._base import PeerBase
from sockharness.peers._errors import PeerError
from sockharness.peers._registry import Registry
from sockharness.peers._steps import Stall, Step, validate_script
from sockharness.peers._tls import TLSCertificates, TLSOptions, TLSRole, session_certificates, tls_script
from sockharness.peers._transcript import Transcript

__all__ = ["ScriptedTCPServer"]


def _check_buffer(argument: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{argument}: expected a positive number of bytes or None, got {value!r}")


class ScriptedTCPServer(PeerBase):
    """Listens on ``host:port`` (127.0.0.1, port 0 by default) and runs ``script`` on every connection.

    ``rcvbuf``/``sndbuf`` are set on the listener before ``listen()`` so accepted sockets inherit them (and
    the window scale is negotiated for them). ``max_connections`` stops accepting after that many; later
    clients then sit in the backlog. A script that ends with the connection still open closes it.
    With ``tolerate_disconnects`` a client's reset, broken pipe or EOF before a step had all its bytes ends
    the script quietly instead of failing it (for a server behind a proxy whose faults cut connections on
    purpose; wrong bytes still fail)
    (the built-in echo/discard/reply servers use this: a client hanging up early is not their failure).
    """

    def __init__(
        self,
        script: Sequence[Step] = (),
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 5,
        rcvbuf: int | None = None,
        sndbuf: int | None = None,
        max_connections: int | None = None,
        name: str = "tcp_server",
        registry: Registry | None = None,
        tolerate_disconnects: bool = False,
        tls: TLSOptions | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        super().__init__(name=name, registry=registry)
        self.script = validate_script(script)
        if tls is not None and not isinstance(tls, TLSOptions):
            raise TypeError(f"tls: expected TLSOptions(...) or None, got {tls!r}")
        if tls is not None:
            tls.check_role("server", name)
            self.script = tls_script(self.script, tls)
        self.tls = tls
        self.certificates = certificates
        self._tls_role: TLSRole | None = None
        if not isinstance(host, str):
            raise TypeError(f"host: expected an address literal such as '127.0.0.1' or '::1', got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ValueError(f"port: expected 0..65535, got {port!r}")
        if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
            raise ValueError(f"backlog: expected an int >= 0, got {backlog!r}")
        _check_buffer("rcvbuf", rcvbuf)
        _check_buffer("sndbuf", sndbuf)
        if max_connections is not None and (
            isinstance(max_connections, bool) or not isinstance(max_connections, int) or max_connections < 1
        ):
            raise ValueError(f"max_connections: expected an int >= 1 or None, got {max_connections!r}")
        self.requested_host = host
        self.requested_port = port
        self.backlog = backlog
        self.rcvbuf = rcvbuf
        self.sndbuf = sndbuf
        self.max_connections = max_connections
        self.tolerate_disconnects = tolerate_disconnects
        self._hold_only = self.script == (Stall(None),)
        self._listener: socket.socket | None = None
        self._progress = threading.Condition(self._lock)
        self._accepted = 0
        self._finished = 0

    # -- lifecycle ------------------------------------------------------------------------------------------
    def _start(self) -> None:
        family = family_for_host(self.requested_host)
        listener = self._track_socket(socket.socket(family, socket.SOCK_STREAM), "listener")
        self._listener = listener
        if self.requested_port and os.name == "posix":
            # A fixed port may sit in TIME_WAIT from an earlier run (socket-facts 1.2); on Windows the option
            # would allow stealing an active port instead, so it is POSIX only.
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if self.rcvbuf is not None:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        if self.sndbuf is not None:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        if self.tls is not None:
            certificates = self.certificates if self.certificates is not None else session_certificates()
            self.certificates = certificates
            self._tls_role = TLSRole(
                self.tls.server_context(certificates), True, None, self.tls.suppress_ragged_eofs
            )
        listener.bind((self.requested_host, self.requested_port))
        listener.listen(self.backlog)
        self.address = listener.getsockname()
        self._spawn(self._accept_loop, "accept")

    def _wake(self, sockets: list[socket.socket]) -> None:
        listener = self._listener
        if listener is not None and listener.fileno() != -1:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                self._self_connect()
        super()._wake([s for s in sockets if s is not listener])

    def _self_connect(self) -> None:
        """Fallback wake-up for an accept() that shutdown() could not interrupt: connect to ourselves."""
        if not self.address:
            return
        try:
            with socket.create_connection(self.address[:2], timeout=0.5):
                pass
        except OSError:
            pass  # listener already gone: nothing is blocked on it

    def _on_failure(self) -> None:
        with self._progress:
            self._progress.notify_all()

    # -- threads --------------------------------------------------------------------------------------------
    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        count = 0
        while not self._stopping():  # bounded: ends at stop (shutdown wakes accept) or max_connections
            if self.max_connections is not None and count >= self.max_connections:
                return
            try:
                conn, peer_address = listener.accept()
            except OSError as exc:
                if not self._stopping():
                    self._record_failure("accept() failed", cause=exc)
                return
            if self._stopping():
                conn.close()
                return
            count += 1
            self._track_socket(conn, f"connection #{count}")
            if self.tls is not None:
                # Without it a small write after the handshake waits ~40 ms for a delayed ACK, and an
                # abortive close inside that window drops it (tls-facts 4.1, 4.4).
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            label = f"{self.name}#{count} {format_address(peer_address)} -> {format_address(self.address)}"
            transcript = Transcript(label)
            transcript.record_event(f"accepted from {format_address(peer_address)}")
            with self._progress:
                self.transcripts.append(transcript)
                self._accepted += 1
                self._progress.notify_all()
            if self._hold_only:
                transcript.record_event("holding the connection open: never reading or writing")
                continue
            self._spawn(functools.partial(self._serve, conn, transcript), f"conn{count}")

    def _serve(self, conn: socket.socket, transcript: Transcript) -> None:
        try:
            self._run_script(
                conn,
                self.script,
                transcript,
                tolerate_disconnects=self.tolerate_disconnects,
                role="connection",
                tls=self._tls_role,
            )
        finally:
            with self._progress:
                self._finished += 1
                self._progress.notify_all()

    # -- waiting --------------------------------------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        """Connections accepted so far."""
        with self._lock:
            return self._accepted

    def wait_connections(self, n: int, timeout: float = 5.0) -> None:
        """Block until ``n`` connections were accepted; raise PeerError (with transcripts) at ``timeout``."""
        __tracebackhide__ = True
        with self._progress:
            self._progress.wait_for(lambda: self._accepted >= n or bool(self._failures), timeout)
            accepted = self._accepted
        self.check()
        if accepted < n:
            raise PeerError(
                self.name,
                f"expected {n} connection(s) within {timeout} s, {accepted} accepted",
                transcripts=self.transcripts,
            )

    def wait_done(self, timeout: float = 5.0, *, connections: int | None = None) -> None:
        """Block until every accepted connection finished its script, then re-raise any peer failure.

        It first waits for ``connections`` accepted connections (default: ``max_connections``, else 1), so a
        call right after a client connected does not race the accept. PeerError at ``timeout``.
        """
        __tracebackhide__ = True
        wanted = connections if connections is not None else (self.max_connections or 1)
        with self._progress:
            self._progress.wait_for(
                lambda: (
                    bool(self._failures) or (self._accepted >= wanted and self._finished >= self._accepted)
                ),
                timeout,
            )
            accepted, finished = self._accepted, self._finished
        self.check()
        if accepted < wanted or finished < accepted:
            raise PeerError(
                self.name,
                f"scripts not done within {timeout} s: {accepted} connection(s) accepted "
                f"(waiting for {wanted}), {finished} finished",
                transcripts=self.transcripts,
            )

    @property
    def listener(self) -> socket.socket | None:
        """The listening socket (for tests that need to inspect it)."""
        return self._listener
