"""One proxied TCP connection: two directions, each a socket-to-socket pump through a toxic chain.

Runs on the reactor thread only. A direction whose chain cannot change the stream moves bytes with
``os.splice`` through a pipe (no copy through Python); otherwise it reads chunks, stamps them with their
read time, feeds the chain and writes whatever the chain says is due. Stream ends are passed on as they
happened, which is where this differs from Toxiproxy on purpose: a FIN from one side becomes a half-close
(``shutdown(SHUT_WR)``) towards the other, so a reply to a half-closed request still arrives, and an RST
from one side becomes an RST (SO_LINGER 0 close) towards the other.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import struct
import time
from collections import deque
from typing import TYPE_CHECKING

from sockharness.faults.chain import CLOSE, DATA, EOF, RESET, Chain, Chunk, RngFactory
from sockharness.faults.reactor import EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, Reactor
from sockharness.faults.toxics import DOWNSTREAM, UPSTREAM, ToxicSpec

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

HAVE_SPLICE = hasattr(os, "splice")  # Linux; elsewhere every direction copies
PIPE_SIZE = 1024 * 1024  # asked for with F_SETPIPE_SZ; the kernel may give less
BACKPRESSURE_BYTES = 4 * 1024 * 1024  # a direction stops reading while this much is queued in it
SPLICE_ROUNDS = 8
READ_ROUNDS = 4
SPLICE_BULK = 65536  # a read at least this big suggests more is waiting
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)
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
            if writer is not None and writer.blocked and events & _WRITE_EVENTS:
                writer.on_writable()
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


class Direction:
    """src -> dst through a toxic chain (``stream`` says which way: upstream is client -> server)."""

    def __init__(
        self, connection: Connection, src: Endpoint, dst: Endpoint, stream: str, chain: Chain
    ) -> None:
        self.connection = connection
        self.reactor = connection.reactor
        self.src = src
        self.dst = dst
        self.stream = stream
        self.chain = chain
        self.reading = False  # waiting for src to become readable
        self.blocked = False  # waiting for dst to become writable
        self.ended = False  # src gave EOF or an error: nothing more to read
        self.finished = False  # the end of the stream was passed on
        self.out: deque[Chunk] = deque()  # due chunks not yet (fully) written
        self.out_offset = 0
        self.out_bytes = 0
        self.pipe_r = -1
        self.pipe_w = -1
        self.pipe_size = 0
        self.pipe_bytes = 0
        self.splice_ok = HAVE_SPLICE
        # Small exchanges are copied (no pipe to set up per connection); the first big read switches the
        # direction to splice, which moves bulk data without copying it through Python.
        self.bulk = False
        self.timer_due: float | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        src.reader = self
        dst.writer = self

    # --- reading ---------------------------------------------------------------------------------------
    def on_readable(self) -> None:
        idle = not self.out and not self.pipe_bytes and not self.chain.output and self.chain.transparent
        if idle:
            if self.bulk and self.splice_ok:
                self._splice_in()
            else:
                self._forward()
            return
        view = self.reactor.read_view
        recv_into = self.src.sock.recv_into
        chain = self.chain
        now = 0.0
        for _ in range(READ_ROUNDS):
            try:
                n = recv_into(view)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                self._src_failed(error)
                return
            now = time.monotonic()
            if n == 0:
                self._src_ended(Chunk(EOF, b"", now), now)
                return
            self.bytes_in += n
            chain.feed(Chunk(DATA, bytes(view[:n]), now), now)
            if n >= SPLICE_BULK:
                self.bulk = True  # bulk transfer: splice from now on (while no toxic acts)
            if (
                n < SPLICE_BULK
                or self.out_bytes + chain.pending_bytes >= BACKPRESSURE_BYTES
                or self.reactor.timer_due()
            ):
                break
        if now:
            self.pump(now)

    def _forward(self) -> None:
        """No toxic acts and nothing is queued: send straight from the read buffer (the round-trip path)."""
        view = self.reactor.read_view
        try:
            n = self.src.sock.recv_into(view)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as error:
            self._src_failed(error)
            return
        if n == 0:
            now = time.monotonic()
            self._src_ended(Chunk(EOF, b"", now), now)
            return
        self.bytes_in += n
        if n >= SPLICE_BULK:
            self.bulk = True  # bulk transfer: splice from now on (while no toxic acts)
        try:
            sent = self.dst.sock.send(view[:n])
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as error:
            self._dst_failed(error)
            return
        self.bytes_out += sent
        if sent < n:
            self.out.append(Chunk(DATA, bytes(view[sent:n]), time.monotonic()))
            self.out_bytes += n - sent
            self.blocked = True
            self._update_interest()

    def _splice_in(self) -> None:
        if self.pipe_r < 0 and not self._open_pipe():
            self.on_readable()  # no pipe to be had: the copying path
            return
        # A few rounds per wake-up while data keeps flowing: epoll round trips cost more than a splice.
        for _ in range(SPLICE_ROUNDS):
            space = self.pipe_size - self.pipe_bytes
            if space <= 0:
                break
            try:
                n = os.splice(self.src.fd, self.pipe_w, space, flags=_SPLICE_FLAGS)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                self._src_failed(error)
                return
            if n == 0:
                now = time.monotonic()
                self._src_ended(Chunk(EOF, b"", now), now)
                return
            self.bytes_in += n
            self.pipe_bytes += n
            self._flush()
            if self.connection.closed:
                return
            if self.pipe_bytes or n < SPLICE_BULK or self.reactor.timer_due():
                break  # destination full, a small message, or a timer to serve: epoll will come back
        self._update_interest()

    def _open_pipe(self) -> bool:
        try:
            self.pipe_r, self.pipe_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            self.splice_ok = False
            return False
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.pipe_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self.pipe_size = fcntl.fcntl(self.pipe_w, fcntl.F_GETPIPE_SZ)
        return True

    def close_pipe(self) -> None:
        for fd in (self.pipe_r, self.pipe_w):
            if fd >= 0:
                os.close(fd)
        self.pipe_r = self.pipe_w = -1

    def _src_ended(self, chunk: Chunk, now: float) -> None:
        self.ended = True
        self.reading = False
        self.chain.feed(chunk, now)
        self.pump(now)

    def _src_failed(self, error: OSError) -> None:
        # ECONNRESET (or any other read error): the peer aborted; pass an abort on, in stream order.
        now = time.monotonic()
        self._src_ended(Chunk(RESET, b"", now), now)

    # --- the chain and writing -------------------------------------------------------------------------
    def pump(self, now: float) -> None:
        """Move due chunks out of the chain, write what the socket takes, re-arm timer and interest."""
        if self.connection.closed or not self.connection.connected:
            return  # before the upstream connect completes, _connected() pumps
        ready = self.chain.advance(now)
        if ready:
            for chunk in ready:
                self.out_bytes += len(chunk.data)
            self.out.extend(ready)
        if self.out or self.pipe_bytes:
            self._flush()
            if self.connection.closed:
                return
        due = self.chain.next_due()
        if due is not None and (self.timer_due is None or due < self.timer_due):
            self.timer_due = due
            self.reactor.call_at(due, self)
        self._update_interest()

    def on_timer(self, now: float) -> None:
        if self.timer_due is not None and now >= self.timer_due:
            self.timer_due = None
        try:
            self.pump(now)
        except Exception:
            self.connection.abort()
            raise

    def on_writable(self) -> None:
        self.blocked = False
        self._flush()
        if not self.connection.closed:
            self.pump(time.monotonic())

    def _flush(self) -> None:
        dst = self.dst
        while True:
            if self.pipe_bytes:
                try:
                    n = os.splice(self.pipe_r, dst.fd, self.pipe_bytes, flags=_SPLICE_FLAGS)
                except (BlockingIOError, InterruptedError):
                    self.blocked = True
                    return
                except OSError as error:
                    self._dst_failed(error)
                    return
                self.pipe_bytes -= n
                self.bytes_out += n
                if self.pipe_bytes:
                    self.blocked = True
                    return
            out = self.out
            if not out:
                self.blocked = False
                return
            chunk = out[0]
            if chunk.kind == DATA:
                data = chunk.data
                try:
                    n = dst.sock.send(memoryview(data)[self.out_offset :] if self.out_offset else data)
                except (BlockingIOError, InterruptedError):
                    self.blocked = True
                    return
                except OSError as error:
                    self._dst_failed(error)
                    return
                self.bytes_out += n
                self.out_bytes -= n
                if self.out_offset + n < len(data):
                    self.out_offset += n
                    self.blocked = True
                    return
                self.out_offset = 0
                out.popleft()
                continue
            out.popleft()
            self.blocked = False
            if chunk.kind == EOF:
                self._pass_eof()
            elif chunk.kind == CLOSE:
                self.connection.close()
            else:
                self.connection.abort()
            return

    def _pass_eof(self) -> None:
        self.finished = True
        self.out.clear()
        try:
            self.dst.sock.shutdown(socket.SHUT_WR)
        except OSError as error:
            self._dst_failed(error)
            return
        self.connection.direction_finished()

    def _dst_failed(self, error: OSError) -> None:
        # The destination is gone (EPIPE, ECONNRESET...): the source must learn it the way it would
        # have without the proxy, by an RST.
        self.connection.abort()

    def _update_interest(self) -> None:
        reading = (
            not self.ended
            and not self.finished
            and self.pipe_bytes < max(1, self.pipe_size)
            and self.out_bytes + self.chain.pending_bytes < BACKPRESSURE_BYTES
        )
        if reading != self.reading:
            self.reading = reading
            self.src.update()
        if self.blocked != bool(self.dst.mask & EPOLLOUT):
            self.dst.update()

    # --- toxics on a live connection -------------------------------------------------------------------
    def apply(self, change: Callable[[Chain, float], None]) -> None:
        now = time.monotonic()
        change(self.chain, now)
        self.pump(now)


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
    ) -> None:
        self.reactor = reactor
        self.serial = serial
        self.closed = False
        self.connected = False
        self.on_closed = on_closed
        self.client = Endpoint(client, "client", reactor)
        self.upstream = Endpoint(upstream, "upstream", reactor)
        self.up = Direction(
            self, self.client, self.upstream, UPSTREAM, Chain(RngFactory(seed, proxy_name, serial, UPSTREAM))
        )
        self.down = Direction(
            self,
            self.upstream,
            self.client,
            DOWNSTREAM,
            Chain(RngFactory(seed, proxy_name, serial, DOWNSTREAM)),
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
            self.close()  # refused: accept, then close the client at once, like Toxiproxy

    def _on_connect(self, events: int) -> None:
        result = self.upstream.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        self.reactor.unregister(self.upstream.fd)
        self.upstream.mask = 0
        if result != 0:
            self.close()
            return
        self._connected()

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

    def _release(self, abort: bool) -> None:
        if self.closed:
            return
        self.closed = True
        self.client.close(abort)
        self.upstream.close(abort)
        self.up.close_pipe()
        self.down.close_pipe()
        self.on_closed(self)


__all__ = ["BACKPRESSURE_BYTES", "HAVE_SPLICE", "Connection", "Direction", "Endpoint"]
