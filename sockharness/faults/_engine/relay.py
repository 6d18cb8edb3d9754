"""One direction of a proxied connection: a socket-to-socket pump through a toxic chain.

Runs on the reactor thread only. A direction whose chain cannot change the stream forwards straight from
the read buffer, and once it turns bulk moves bytes with ``os.splice`` through a pipe (the kernel copies,
Python never touches them); otherwise it reads chunks, stamps them with their read time, feeds the chain
and writes whatever the chain says is due. Stream ends are passed on as they happened, which is where
this differs from Toxiproxy on purpose: a FIN becomes a half-close (``shutdown(SHUT_WR)``) towards the
other side, so a reply to a half-closed request still arrives, and an RST becomes an RST.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections import deque
from typing import TYPE_CHECKING

from sockharness.faults._engine.chain import CLOSE, DATA, EOF, PEER_RESET, Chain, Chunk
from sockharness.faults._engine.reactor import EPOLLOUT

if TYPE_CHECKING:
    from collections.abc import Callable

    from sockharness.faults._engine.connection import Connection, Endpoint

HAVE_SPLICE = hasattr(os, "splice")  # Linux; elsewhere every direction copies
PIPE_SIZE = 1024 * 1024  # asked for with F_SETPIPE_SZ; the kernel may give less
BACKPRESSURE_BYTES = 4 * 1024 * 1024  # a direction stops reading while this much is queued in it
SPLICE_ROUNDS = 8
READ_ROUNDS = 4
SPLICE_BULK = 65536  # a read at least this big suggests more is waiting
READ_SIZE = 256 * 1024  # the most one copying read takes
_SPLICE_FLAGS = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)


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
        self.resetting = False  # a peer's RST waits for the destination's send queue to be sent
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
        if not self.out and not self.chain.output and self.chain.transparent:
            # The pipe is this direction's queue: a backlog in it must not push reads onto the copy path.
            if self.bulk and self.splice_ok:
                self._splice_in()
                return
            if not self.pipe_bytes:
                self._forward()
                return
        elif self.out and self._splice_next():
            # Copied bytes still queued ahead of the pipe: let them drain (no read until then), so the
            # next read can splice again instead of staying on the copy path for good.
            self._flush()
            self._update_interest()
            return
        recv = self.src.sock.recv
        chain = self.chain
        now = 0.0
        for _ in range(READ_ROUNDS):
            try:
                # recv() shrinks its fresh buffer in place to what arrived: the chunk's bytes are copied
                # once (kernel to the chunk), not twice through the shared read buffer.
                data = recv(READ_SIZE)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as error:
                self._src_failed(error)
                return
            now = time.monotonic()
            n = len(data)
            if n == 0:
                self._src_ended(Chunk(EOF, b"", now), now)
                return
            self.bytes_in += n
            chain.feed(Chunk(DATA, data, now), now)
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
        if not self.reactor.within_budget(max(self.pipe_r, self.pipe_w)):
            self.close_pipe()
            self.splice_ok = False  # near the descriptor limit: copy instead (fewer fds, same bytes)
            return False
        with contextlib.suppress(OSError):
            fcntl.fcntl(self.pipe_w, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self.pipe_size = fcntl.fcntl(self.pipe_w, fcntl.F_GETPIPE_SZ)
        return True

    def close_pipe(self) -> None:
        if self.pipe_r < 0:
            return
        for fd in (self.pipe_r, self.pipe_w):
            os.close(fd)
        self.pipe_r = self.pipe_w = -1

    def _src_ended(self, chunk: Chunk, now: float) -> None:
        if self.connection.record is not None:
            who = "client" if self.stream == "upstream" else "upstream"
            self.connection.note(f"{who} sent {'FIN' if chunk.kind == EOF else 'RST'}")
        self.ended = True
        self.reading = False
        self.chain.feed(chunk, now)
        self.pump(now)

    def _src_failed(self, error: OSError) -> None:
        # ECONNRESET (or any other read error): the peer aborted; pass an abort on, in stream order.
        now = time.monotonic()
        self._src_ended(Chunk(PEER_RESET, b"", now), now)

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
        if self.resetting:
            self.connection.abort()  # every byte before the peer's RST has been sent: now the RST
            return
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
            elif chunk.kind == PEER_RESET:
                self._pass_reset()
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

    def _pass_reset(self) -> None:
        """Pass a peer's RST on without losing bytes the proxy already took from that peer.

        An abortive close discards whatever still waits in the destination's send queue, though the
        proxy's kernel acknowledged those bytes to the peer long ago. So the RST waits until the queue has
        been sent: with TCP_NOTSENT_LOWAT 1, EPOLLOUT means exactly that (at once if it already is).
        """
        self.finished = True
        lowat = getattr(socket, "TCP_NOTSENT_LOWAT", None)
        if lowat is None:
            self.connection.abort()
            return
        try:
            self.dst.sock.setsockopt(socket.IPPROTO_TCP, lowat, 1)
        except OSError:
            self.connection.abort()
            return
        self.resetting = True
        self.blocked = True

    def _dst_failed(self, error: OSError) -> None:
        # The destination is gone (EPIPE, ECONNRESET...): the source must learn it the way it would
        # have without the proxy, by an RST.
        self.connection.abort()

    def _splice_next(self) -> bool:
        """True when, once ``out`` drains, the next read would splice (bulk, and no toxic acts)."""
        return self.bulk and self.splice_ok and not self.chain.output and self.chain.transparent

    def _update_interest(self) -> None:
        reading = (
            not self.ended
            and not self.finished
            and self.pipe_bytes < max(1, self.pipe_size)
            and self.out_bytes + self.chain.pending_bytes < BACKPRESSURE_BYTES
            and not (self.out and self._splice_next())
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


__all__ = ["BACKPRESSURE_BYTES", "HAVE_SPLICE", "Direction"]
