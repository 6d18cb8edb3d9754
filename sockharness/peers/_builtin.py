"""The built-in peer kinds: the servers the socket HOWTO's examples need, and the awkward addresses.

Each is a started-on-``start()`` peer. The servers are ScriptedTCPServer with a fixed script, so they record
transcripts and report failures like any scripted peer; they tolerate clients that hang up early, since
testing a client that does so is the point of having them.
"""

from __future__ import annotations

import errno
import select
import socket
from collections.abc import Sequence

from sockharness._errnos import describe_errno
from sockharness.peers._addresses import family_for_host, format_address
from sockharness.peers._base import PeerBase
from sockharness.peers._errors import PeerError
from sockharness.peers._registry import Registry
from sockharness.peers._steps import Close, Drain, Echo, RecvSome, SendAll, Stall, Step
from sockharness.peers._tcp_server import ScriptedTCPServer
from sockharness.peers._tls import TLSCertificates, TLSOptions
from sockharness.peers._transcript import Transcript
from sockharness.peers._udp import UDPClosedPort, UDPEcho

__all__ = [
    "HTTP_HELLO_RESPONSE",
    "ClosedPort",
    "DiscardServer",
    "EchoServer",
    "FullBacklog",
    "HTTPHelloServer",
    "ReplyServer",
    "SilentServer",
    "UDPClosedPort",
    "UDPEcho",
]

#: Exactly what the seed's minimal HTTP server answers: a status line, an empty header block, the body.
HTTP_HELLO_RESPONSE = b"HTTP/1.1 200 OK\r\n\r\nHello, World"


class _BuiltinServer(ScriptedTCPServer):
    def __init__(
        self,
        script: Sequence[Step],
        *,
        host: str,
        port: int,
        backlog: int,
        rcvbuf: int | None = None,
        sndbuf: int | None = None,
        name: str,
        registry: Registry | None,
        tls: TLSOptions | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        super().__init__(
            script,
            host=host,
            port=port,
            backlog=backlog,
            rcvbuf=rcvbuf,
            sndbuf=sndbuf,
            name=name,
            registry=registry,
            tolerate_disconnects=True,
            tls=tls,
            certificates=certificates,
        )


class EchoServer(_BuiltinServer):
    """The HOWTO's echo server: ``recv(1024)`` / ``sendall`` until EOF, then close; any number of clients."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 5,
        bufsize: int = 1024,
        name: str = "echo",
        registry: Registry | None = None,
        tls: TLSOptions | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        super().__init__(
            [Echo(bufsize)],
            host=host,
            port=port,
            backlog=backlog,
            name=name,
            registry=registry,
            tls=tls,
            certificates=certificates,
        )


class DiscardServer(_BuiltinServer):
    """Reads and throws away everything until EOF (sizes are still in the transcript)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 5,
        name: str = "discard",
        registry: Registry | None = None,
        tls: TLSOptions | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        super().__init__(
            [Drain()],
            host=host,
            port=port,
            backlog=backlog,
            name=name,
            registry=registry,
            tls=tls,
            certificates=certificates,
        )


class SilentServer(_BuiltinServer):
    """Accepts and then never reads or writes; connections stay open until the peer stops.

    With small ``rcvbuf``/``sndbuf`` (set on the listener, inherited by accepted sockets) a client's send
    buffer fills after a few KiB: the partial-send recipe of socket-facts 2.2 (4096/4096 -> first send 6144).
    """

    def __init__(
        self,
        *,
        rcvbuf: int | None = None,
        sndbuf: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 5,
        name: str = "silent",
        registry: Registry | None = None,
        tls: TLSOptions | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        super().__init__(
            [Stall()],
            host=host,
            port=port,
            backlog=backlog,
            rcvbuf=rcvbuf,
            sndbuf=sndbuf,
            name=name,
            registry=registry,
            tls=tls,
            certificates=certificates,
        )


class ReplyServer(_BuiltinServer):
    """Reads one request with a single ``recv(read)``, sends ``reply``, closes.

    Like the programs it imitates, it does not read the rest of a longer request, so closing with those
    bytes unread makes the kernel send RST: the client sees the reply followed by ConnectionResetError.
    """

    def __init__(
        self,
        reply: bytes,
        read: int = 1024,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 5,
        name: str = "reply",
        registry: Registry | None = None,
        tls: TLSOptions | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        self.reply = reply
        super().__init__(
            [RecvSome(read), SendAll(reply), Close()],
            host=host,
            port=port,
            backlog=backlog,
            name=name,
            registry=registry,
            tls=tls,
            certificates=certificates,
        )


class HTTPHelloServer(ReplyServer):
    """The seed's minimal HTTP server, flaws included: one ``recv(1024)``, a fixed 200 response, close.

    ``http.client`` gets status 200 and body ``b"Hello, World"`` (read until EOF: there is no
    Content-Length). A request over 1024 bytes gets the 200 and then a reset.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        backlog: int = 5,
        name: str = "http_hello",
        registry: Registry | None = None,
        tls: TLSOptions | None = None,
        certificates: TLSCertificates | None = None,
    ) -> None:
        super().__init__(
            HTTP_HELLO_RESPONSE,
            1024,
            host=host,
            port=port,
            backlog=backlog,
            name=name,
            registry=registry,
            tls=tls,
            certificates=certificates,
        )

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT/`` (``https://`` with TLS, ``[::1]`` for IPv6): where a client goes."""
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{format_address((self.host, self.port))}/"


class ClosedPort(PeerBase):
    """An address where nothing listens: a TCP socket bound to it but never listening holds the port.

    Connecting gets ECONNREFUSED at once on Linux and macOS, and no other process can take the port while the
    peer runs (race-free, unlike bind-and-close).
    """

    def __init__(
        self, *, host: str = "127.0.0.1", name: str = "closed_port", registry: Registry | None = None
    ):
        super().__init__(name=name, registry=registry)
        self.requested_host = host

    def _start(self) -> None:
        sock = self._track_socket(
            socket.socket(family_for_host(self.requested_host), socket.SOCK_STREAM), "holder"
        )
        sock.bind((self.requested_host, 0))
        self.address = sock.getsockname()


class FullBacklog(PeerBase):
    """A listener with ``backlog`` that never accepts, pre-filled so the next connect does not complete.

    Linux completes ``backlog + 1`` handshakes without accept() and then drops further SYNs, so a client
    with ``settimeout(t)`` gets TimeoutError after ``t`` (socket-facts 3). The prefill does not assume N+1:
    it connects (non-blocking) until one connect does not complete within ``probe_timeout`` -- proof that
    the queue is full here -- and gives up with PeerError after ``max_prefill`` completed connects.
    """

    def __init__(
        self,
        backlog: int = 1,
        *,
        host: str = "127.0.0.1",
        probe_timeout: float = 0.1,
        max_prefill: int | None = None,
        name: str = "full_backlog",
        registry: Registry | None = None,
    ) -> None:
        super().__init__(name=name, registry=registry)
        if isinstance(backlog, bool) or not isinstance(backlog, int) or backlog < 0:
            raise ValueError(f"backlog: expected an int >= 0, got {backlog!r}")
        if probe_timeout <= 0:
            raise ValueError(f"probe_timeout: expected seconds > 0, got {probe_timeout!r}")
        self.backlog = backlog
        self.requested_host = host
        self.probe_timeout = probe_timeout
        # BSD-derived stacks admit up to ~1.5 x backlog; leave room for that plus a little.
        self.max_prefill = max_prefill if max_prefill is not None else 2 * backlog + 8
        self.queued: list[socket.socket] = []
        """The client sockets sitting in the listener's queue (completed handshakes, never accepted)."""
        self.overflow_probe: socket.socket | None = None
        """The connect that proved the queue full (its SYN is being dropped); kept open until stop."""

    @property
    def prefilled(self) -> int:
        return len(self.queued)

    def _start(self) -> None:
        family = family_for_host(self.requested_host)
        transcript = Transcript(f"{self.name} backlog={self.backlog}")
        self.transcripts.append(transcript)
        listener = self._track_socket(socket.socket(family, socket.SOCK_STREAM), "listener")
        listener.bind((self.requested_host, 0))
        listener.listen(self.backlog)
        self.address = listener.getsockname()
        transcript.record_event(f"listening on {format_address(self.address)} with backlog {self.backlog}")
        for attempt in range(self.max_prefill + 1):
            client = socket.socket(family, socket.SOCK_STREAM)
            if self._probe(client, transcript, attempt):
                self._track_socket(client, f"queued client #{attempt + 1}")
                self.queued.append(client)
                continue
            if client.fileno() != -1:
                # Kept open rather than closed: if this connect was only slow (a loaded machine deferring
                # the loopback handshake), completing later still fills the queue instead of leaving room.
                self._track_socket(client, "overflow probe")
                self.overflow_probe = client
            transcript.record_event(
                f"connect #{attempt + 1} did not complete within {self.probe_timeout} s: queue full "
                f"with {len(self.queued)} connection(s)"
            )
            return
        raise PeerError(
            self.name,
            f"could not fill a backlog of {self.backlog}: "
            f"{len(self.queued)} connects completed without accept()",
            transcripts=self.transcripts,
        )

    def _probe(self, client: socket.socket, transcript: Transcript, attempt: int) -> bool:
        """Connect without blocking; True if the handshake completed within ``probe_timeout``."""
        client.setblocking(False)
        result = client.connect_ex(self.address)
        if result not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EAGAIN):
            client.close()
            raise PeerError(
                self.name,
                f"prefill connect #{attempt + 1} failed: {describe_errno(result)}",
                transcripts=[transcript],
            )
        if result != 0:
            _, writable, failed = select.select([], [client], [client], self.probe_timeout)
            if not writable and not failed:
                return False
            error = client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                client.close()
                if error == errno.ECONNREFUSED:  # Windows refuses when the queue is full
                    return False
                raise PeerError(
                    self.name,
                    f"prefill connect #{attempt + 1} failed: {describe_errno(error)}",
                    transcripts=[transcript],
                )
        client.setblocking(True)
        transcript.record_event(f"queued client #{attempt + 1} from {format_address(client.getsockname())}")
        return True
