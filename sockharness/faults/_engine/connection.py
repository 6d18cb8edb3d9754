"""A proxied TCP connection: the client socket, the upstream socket, and the two directions between them.

Runs on the reactor thread only. ``Endpoint`` keeps each socket's epoll interest exactly as its two
directions need it; ``Connection`` connects upstream without blocking and closes both sides together,
with FIN (``close``) or with RST (``abort``).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket
import struct
import time
from typing import TYPE_CHECKING

from sockharness.faults._engine.chain import Chain, ConnectionFacts, RngFactory
from sockharness.faults._engine.connection_log import ConnectionRecord
from sockharness.faults._engine.reactor import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, Reactor
from sockharness.faults._engine.relay import Direction
from sockharness.faults._engine.toxics import DOWNSTREAM, UPSTREAM, ToxicSpec
from sockharness.faults._events import engine_log, log_event

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

_LINGER_ABORT = struct.pack("ii", 1, 0)
_READ_EVENTS = EPOLLIN | EPOLLHUP | EPOLLERR
_WRITE_EVENTS = EPOLLOUT | EPOLLHUP | EPOLLERR


class Endpoint:
    """One socket of a connection and the epoll interest the two directions using it ask for."""

    __slots__ = ("fd", "mask", "name", "reactor", "reader", "sock", "writer")

    def __init__(self, sock: socket.socket, name: str, reactor: Reactor) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.name = name
        self.reactor = reactor
        self.mask = 0  # 0 = not registered
        self.reader: Direction | None = None
        self.writer: Direction | None = None

    def handle(self, events: int) -> None:
        reader, writer = self.reader, self.writer
        try:
            if reader is not None and reader.reading and events & _READ_EVENTS:
                reader.on_readable()
            if writer is not None and writer.blocked and events & _WRITE_EVENTS and self.fd >= 0:
                writer.on_writable()  # (unless reading just closed the connection)
        except Exception:
            # A bug must cost one connection, not spin the reactor on a level-triggered event forever.
            owner = reader if reader is not None else writer
            if owner is not None:
                owner.connection.abort()
            raise

    def update(self) -> None:
        """Register exactly the interest needed; an endpoint nobody waits on is unregistered (HUP/ERR are
        reported regardless of the mask, and would otherwise spin a paused connection)."""
        reader, writer = self.reader, self.writer
        mask = (EPOLLIN if reader is not None and reader.reading else 0) | (
            EPOLLOUT if writer is not None and writer.blocked else 0
        )
        if mask == self.mask or self.fd < 0:
            return
        if mask == 0:
            self.reactor.unregister(self.fd)
        elif self.mask == 0:
            self.reactor.register(self.fd, mask, self.handle)
        else:
            self.reactor.modify(self.fd, mask)
        self.mask = mask

    def close(self, abort: bool = False) -> None:
        if self.fd < 0:
            return
        if self.mask:
            self.reactor.unregister(self.fd)
            self.mask = 0
        if abort:
            with contextlib.suppress(OSError):
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ABORT)
        self.sock.close()
        self.fd = -1


class Connection:
    """A client socket accepted by a proxy, its upstream socket, and the two directions between them."""

    def __init__(
        self,
        reactor: Reactor,
        proxy_name: str,
        serial: int,
        seed: int,
        client: socket.socket,
        upstream: socket.socket,
        toxics: Iterable[ToxicSpec],
        on_closed: Callable[[Connection], None],
        record: ConnectionRecord | None = None,
        facts: ConnectionFacts | None = None,
    ) -> None:
        self.reactor = reactor
        self.serial = serial
        self.closed = False
        self.connected = False
        self.on_closed = on_closed
        self.log_fields: dict[str, object] = {}  # proxy, client, upstream: for log lines about it
        #: This connection's entry in its proxy's connection log (what the toxics did, how it ended).
        self.record = record
        self.client = Endpoint(client, "client", reactor)
        self.upstream = Endpoint(upstream, "upstream", reactor)
        self.up = Direction(
            self,
            self.client,
            self.upstream,
            UPSTREAM,
            Chain(RngFactory(seed, proxy_name, serial, UPSTREAM), facts),
        )
        self.down = Direction(
            self,
            self.upstream,
            self.client,
            DOWNSTREAM,
            Chain(RngFactory(seed, proxy_name, serial, DOWNSTREAM), facts),
        )
        now = time.monotonic()
        for spec in toxics:
            self.direction(spec.stream).chain.add(spec, now)

    def direction(self, stream: str) -> Direction:
        return self.up if stream == UPSTREAM else self.down

    def start(self, address: tuple[object, ...]) -> None:
        """Begin the non-blocking upstream connect; relaying starts once it completes."""
        result = self.upstream.sock.connect_ex(address)
        if result == 0:
            self._connected()
        elif result in (errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            try:
                # On loopback the handshake has usually finished inside connect(): skip the epoll round.
                self.upstream.sock.getpeername()
            except OSError:
                pass
            else:
                self._connected()
                return
            self.upstream.mask = EPOLLOUT
            self.reactor.register(self.upstream.fd, EPOLLOUT, self._on_connect)
        else:
            self._connect_failed(result)

    def _on_connect(self, events: int) -> None:
        result = self.upstream.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self.reactor.unregister(self.upstream.fd)
        self.upstream.mask = 0
        if result != 0:
            self._connect_failed(result)
            return
        self._connected()

    def _connect_failed(self, error: int) -> None:
        log_event(
            engine_log,
            logging.WARNING,
            "Unable to open connection to upstream",
            **self.log_fields,
            error=f"{errno.errorcode.get(error, error)} ({os.strerror(error)})",
        )
        if self.record is not None:
            self.record.end(f"upstream connect failed: {errno.errorcode.get(error, error)}")
        if error == errno.ECONNRESET:
            # The upstream accepted and then reset before the proxy saw the connect finish: that is a
            # reset, and the client gets one.
            self.abort()
        else:
            self.close()  # refused or unreachable: accept, then close the client at once, like Toxiproxy

    def _connected(self) -> None:
        self.connected = True
        for direction in (self.up, self.down):
            direction.pump(time.monotonic())  # arms timers of toxics that act without data (timeout)
            if self.closed:
                return
            direction.reading = not direction.ended
            direction.src.update()

    def direction_finished(self) -> None:
        if self.up.finished and self.down.finished:
            self.close()

    def close(self) -> None:
        """Close both sockets (FIN; the kernel sends RST instead where unread data remains)."""
        self._release(abort=False)

    def abort(self) -> None:
        """Close both sockets with SO_LINGER 0: each peer gets an RST."""
        self._release(abort=True)

    def note(self, text: str) -> None:
        """One event in this connection's log (a toxic's cut or corruption, a peer's FIN or RST)."""
        if self.record is not None:
            self.record.note(text)

    def _release(self, abort: bool) -> None:
        if self.closed:
            return
        self.closed = True
        record = self.record
        if record is not None:
            record.bytes_up, record.bytes_down = self.up.bytes_out, self.down.bytes_out
            record.end("reset" if abort else "closed")
        self.client.close(abort)
        self.upstream.close(abort)
        self.up.close_pipe()
        self.down.close_pipe()
        self.on_closed(self)


__all__ = ["Connection", "Endpoint"]
