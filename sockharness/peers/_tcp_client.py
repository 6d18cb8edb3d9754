"""ScriptedTCPClient: connects to a server under test and runs a script on the connection in a thread.

The connect happens in ``start()`` (bounded by ``connect_timeout``) so a refused or stalled connect fails the
test at the line that started the client, and ``address`` is known at once; the script then runs in the
background while the test drives the server.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Sequence
from typing import Any

from sockharness._errnos import describe_exception
from sockharness.peers._addresses import family_for_host, format_address, target_address
from sockharness.peers._base import PeerBase
from sockharness.peers._errors import PeerError
from sockharness.peers._registry import Registry
from sockharness.peers._steps import Step, validate_script
from sockharness.peers._tls import TLSCertificates, TLSOptions, TLSRole, session_certificates, tls_script
from sockharness.peers._transcript import Transcript

__all__ = ["ScriptedTCPClient"]


class ScriptedTCPClient(PeerBase):
    """Connects to ``target`` (a peer or an address tuple) and runs ``script``; closes when the script ends.

    ``rcvbuf``/``sndbuf`` are applied before ``connect()`` so they shape the handshake's window. After the
    connect the socket is blocking; a stop wakes it with ``shutdown()``.
    """

    def __init__(
        self,
        target: Any,
        script: Sequence[Step],
        *,
        connect_timeout: float = 5.0,
        rcvbuf: int | None = None,
        sndbuf: int | None = None,
        name: str = "tcp_client",
        registry: Registry | None = None,
        tolerate_disconnects: bool = False,
        tls: TLSOptions | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        super().__init__(name=name, registry=registry)
        self.target = target_address(target)
        self.script = validate_script(script)
        if tls is not None and not isinstance(tls, TLSOptions):
            raise TypeError(f"tls: expected TLSOptions(...) or None, got {tls!r}")
        if tls is not None:
            tls.check_role("client", name)
            self.script = tls_script(self.script, tls)
        self.tls = tls
        self.certificates = certificates
        if (
            isinstance(connect_timeout, bool)
            or not isinstance(connect_timeout, int | float)
            or connect_timeout <= 0
        ):
            raise ValueError(f"connect_timeout: expected seconds > 0, got {connect_timeout!r}")
        self.connect_timeout = float(connect_timeout)
        self.rcvbuf = rcvbuf
        self.sndbuf = sndbuf
        self.tolerate_disconnects = tolerate_disconnects
        self.peer_address: tuple[Any, ...] = ()
        self._done = threading.Event()
        self._sock: socket.socket | None = None

    def _start(self) -> None:
        transcript = Transcript(f"{self.name} -> {format_address(self.target)}")
        self.transcripts.append(transcript)
        sock = self._track_socket(
            socket.socket(family_for_host(self.target[0]), socket.SOCK_STREAM), "socket"
        )
        self._sock = sock
        if self.rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
        if self.sndbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, self.sndbuf)
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(self.target)
        except OSError as exc:
            transcript.record_event(f"connect failed: {describe_exception(exc)}")
            self._done.set()
            raise PeerError(
                self.name,
                f"connect to {format_address(self.target)} failed: {describe_exception(exc)}",
                cause=exc,
                transcripts=self.transcripts,
            ) from exc
        sock.settimeout(None)
        tls_role = None
        if self.tls is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            certificates = self.certificates if self.certificates is not None else session_certificates()
            self.certificates = certificates
            hostname = self.tls.server_hostname or str(self.target[0])
            tls_role = TLSRole(
                self.tls.client_context(certificates), False, hostname, self.tls.suppress_ragged_eofs
            )
        self.address = sock.getsockname()
        self.peer_address = sock.getpeername()
        transcript.record_event(f"connected from {format_address(self.address)}")
        self._spawn(lambda: self._run(sock, transcript, tls_role), "script")

    def _run(self, sock: socket.socket, transcript: Transcript, tls_role: TLSRole | None) -> None:
        try:
            self._run_script(
                sock,
                self.script,
                transcript,
                tolerate_disconnects=self.tolerate_disconnects,
                role="client",
                tls=tls_role,
            )
        finally:
            self._done.set()

    def _on_failure(self) -> None:
        self._done.set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait_done(self, timeout: float = 5.0) -> None:
        """Block until the script finished, then re-raise any failure; PeerError at ``timeout``."""
        __tracebackhide__ = True
        finished = self._done.wait(timeout)
        self.check()
        if not finished:
            raise PeerError(self.name, f"script not done within {timeout} s", transcripts=self.transcripts)
