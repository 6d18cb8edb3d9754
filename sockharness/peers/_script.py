"""Executes a script of steps on one connected socket, recording a transcript.

Reads take exactly the bytes a step needs (``RecvUntil`` peeks first), so whatever the script does not read
stays in the kernel's buffer: closing then behaves as the real program would (RST when unread bytes remain).
Blocking calls have no timeout of their own; a stopping peer sets its stop event and shuts the socket down,
which wakes any blocked call at once (socket-facts 1.9). Waits (Sleep, Stall) wait on the stop event.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Sequence

from sockharness.peers._steps import (
    Close,
    Drain,
    Echo,
    Expect,
    Recv,
    RecvEOF,
    RecvSome,
    RecvUntil,
    Reset,
    Send,
    SendAll,
    SetBuf,
    Shutdown,
    Sleep,
    Stall,
    Step,
    TlsCloseNotify,
    TlsHandshake,
    show_bytes,
)
from sockharness.peers._tls import TLSRole, describe_tls_error, unwrap_and_close
from sockharness.peers._transcript import Transcript

__all__ = ["ScriptFailure", "ScriptRunner", "reset_socket"]

_CHUNK = 65536


class ScriptFailure(Exception):
    """A step did not go as scripted; carries where and why (turned into a PeerError by the peer)."""

    def __init__(
        self,
        index: int,
        step: Step,
        problem: str,
        cause: BaseException | None = None,
        *,
        disconnected: bool = False,
    ) -> None:
        self.index = index
        self.step = step
        self.problem = problem
        self.cause = cause
        #: The other side hung up early (EOF before the step had its bytes), as opposed to wrong bytes.
        self.disconnected = disconnected
        super().__init__(problem)


#: What a hang-up looks like: on TLS, an RST or FIN mid-record reads as SSLEOFError (tls-facts 4.4).
_DISCONNECTS: tuple[type[OSError], ...] = (ConnectionError, ssl.SSLEOFError, ssl.SSLZeroReturnError)


class _Stopped(Exception):
    """The peer is stopping: end the script quietly."""


#: struct linger is two ints on POSIX, two unsigned shorts in Winsock.
_LINGER_FORMAT = "HH" if os.name == "nt" else "ii"


def reset_socket(sock: socket.socket) -> None:
    """Close with RST: SO_LINGER on with a zero timeout makes close() abort the connection."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack(_LINGER_FORMAT, 1, 0))
    sock.close()


class ScriptRunner:
    """Runs ``steps`` on ``sock``; the owner closes ``sock`` afterwards if the script left it open."""

    def __init__(
        self,
        sock: socket.socket,
        steps: Sequence[Step],
        transcript: Transcript,
        stop: threading.Event,
        *,
        tolerate_disconnects: bool | Callable[[], bool] = False,
        tls: TLSRole | None = None,
        track: Callable[[socket.socket], object] | None = None,
    ) -> None:
        #: The connection; a TlsHandshake step replaces it with its SSLSocket (the owner closes this one).
        self.sock = sock
        self.tls = tls
        self._track = track
        self.steps = tuple(steps)
        self.transcript = transcript
        self.stop = stop
        #: Asked when a disconnect happens (not when the script starts), so a peer told mid-connection that
        #: a fault will cut it tolerates the cut.
        self.tolerates_disconnects: Callable[[], bool] = (
            tolerate_disconnects if callable(tolerate_disconnects) else lambda: tolerate_disconnects
        )
        self.closed = False

    def run(self) -> None:
        """Run every step. Raises ScriptFailure; a stop or (if tolerated) a disconnect ends it quietly."""
        for index, step in enumerate(self.steps):
            if self.stop.is_set():
                self.transcript.record_event("stopped before " + repr(step))
                return
            try:
                self._run_step(step)
            except _Stopped:
                self.transcript.record_event(f"stopped during {step!r}")
                return
            except ScriptFailure as failure:
                if self.stop.is_set():
                    self.transcript.record_event(f"stopped during {step!r}")
                    return
                if failure.disconnected and self.tolerates_disconnects():
                    self.transcript.record_event(f"{step!r}: {failure.problem}; connection ends (tolerated)")
                    return
                failure.index, failure.step = index, step
                self.transcript.record_event(f"FAILED {step!r}: {failure.problem}")
                raise
            except OSError as exc:
                described = describe_tls_error(exc)
                if self.stop.is_set():
                    self.transcript.record_event(f"stopped during {step!r} ({described})")
                    return
                if isinstance(exc, _DISCONNECTS) and self.tolerates_disconnects():
                    self.transcript.record_event(f"{step!r}: {described}; connection ends (tolerated)")
                    return
                self.transcript.record_event(f"FAILED {step!r}: {described}")
                raise ScriptFailure(index, step, f"raised {described}", exc) from exc

    # -- primitives -----------------------------------------------------------------------------------------
    def _recv(self, bufsize: int, flags: int = 0) -> bytes:
        data = self.sock.recv(bufsize, flags)
        if data and not flags & socket.MSG_PEEK:
            self.transcript.record_in(data)
        return data

    def _recv_exactly(self, n: int, step: Step) -> bytes:
        received = bytearray()
        while len(received) < n:  # bounded: each pass consumes >= 1 byte or ends at EOF
            chunk = self._recv(min(n - len(received), _CHUNK))
            if not chunk:
                self._check_stop()
                raise ScriptFailure(
                    0,
                    step,
                    f"EOF after {len(received)} of {n} bytes: {show_bytes(bytes(received))}",
                    disconnected=True,
                )
            received += chunk
        return bytes(received)

    def _check_stop(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def _wait(self, seconds: float | None) -> None:
        if self.stop.wait(seconds):
            raise _Stopped

    # -- steps ----------------------------------------------------------------------------------------------
    def _run_step(self, step: Step) -> None:
        sock = self.sock
        if isinstance(step, Recv):
            self._recv_exactly(step.n, step)
        elif isinstance(step, Expect):
            got = self._recv_exactly(len(step.data), step)
            if got != step.data:
                offset = next(i for i, (a, b) in enumerate(zip(got, step.data, strict=True)) if a != b)
                raise ScriptFailure(
                    0,
                    step,
                    f"expected {show_bytes(step.data)}, got {show_bytes(got)} "
                    f"(first difference at byte {offset})",
                )
        elif isinstance(step, RecvUntil):
            self._recv_until(step)
        elif isinstance(step, RecvSome):
            if not self._recv(step.bufsize):
                self._check_stop()
                self.transcript.record_event("EOF")
        elif isinstance(step, RecvEOF | Drain):
            self._until_eof(step.bufsize if isinstance(step, Drain) else _CHUNK)
        elif isinstance(step, Send):
            sent = sock.send(step.data)
            self.transcript.record_out(step.data[:sent])
            if sent < len(step.data):
                self.transcript.record_event(f"send took {sent} of {len(step.data)} bytes")
        elif isinstance(step, SendAll):
            sock.sendall(step.data)
            self.transcript.record_out(step.data)
        elif isinstance(step, Echo):
            self._echo(step.bufsize)
        elif isinstance(step, Sleep):
            self._wait(step.seconds)
        elif isinstance(step, Stall):
            self.transcript.record_event("stalling" + (f" for {step.seconds} s" if step.seconds else ""))
            self._wait(step.seconds)
        elif isinstance(step, Shutdown):
            sock.shutdown(step.how)
            self.transcript.record_event(f"shutdown({step.how_name})")
        elif isinstance(step, SetBuf):
            self._set_buffers(step)
        elif isinstance(step, Close):
            sock.close()
            self.closed = True
            self.transcript.record_event("closed")
        elif isinstance(step, Reset):
            reset_socket(sock)
            self.closed = True
            self.transcript.record_event("reset (SO_LINGER 0, close: RST)")
        elif isinstance(step, TlsHandshake):
            self._handshake(step)
        elif isinstance(step, TlsCloseNotify):
            if not isinstance(sock, ssl.SSLSocket):
                raise ScriptFailure(
                    0, step, "TlsCloseNotify on a connection that is not TLS (no TlsHandshake)"
                )
            answer = unwrap_and_close(sock)
            self.closed = True
            self.transcript.record_event(f"sent close_notify ({answer}), closed")
        else:  # pragma: no cover - validate_script rejects anything else
            raise TypeError(f"not a step: {step!r}")

    def _handshake(self, step: TlsHandshake) -> None:
        if self.tls is None:
            raise ScriptFailure(0, step, "TlsHandshake in the script of a peer without tls options")
        if isinstance(self.sock, ssl.SSLSocket):
            raise ScriptFailure(0, step, "TlsHandshake on a connection that is already TLS")
        wrapped = self.tls.wrap(self.sock)
        self.sock = wrapped
        if self._track is not None:
            self._track(wrapped)
        try:
            wrapped.do_handshake()
        except ssl.SSLError as exc:
            self._check_stop()
            # The other side refused (its alert) or spoke no TLS: like a disconnect, a tolerant peer
            # (the built-in servers) ends the connection quietly; the client under test sees its own error.
            problem = f"TLS handshake failed: {describe_tls_error(exc)}"
            raise ScriptFailure(0, step, problem, exc, disconnected=True) from exc
        cipher = wrapped.cipher()
        alpn = wrapped.selected_alpn_protocol()
        self.transcript.record_event(
            f"TLS handshake done: {wrapped.version()} {cipher[0] if cipher else ''}"
            + (f", ALPN {alpn!r}" if alpn else "")
        )

    def _recv_until_tls(self, step: RecvUntil) -> None:
        """RecvUntil on TLS: SSLSocket.recv takes no MSG_PEEK, so read byte by byte (bounded by max_bytes)."""
        received = bytearray()
        while not received.endswith(step.delimiter):
            if len(received) >= step.max_bytes:
                raise ScriptFailure(
                    0,
                    step,
                    f"{step.delimiter!r} not seen in the first {len(received)} bytes: "
                    f"{show_bytes(bytes(received))}",
                )
            byte = self._recv(1)
            if not byte:
                self._check_stop()
                raise ScriptFailure(
                    0,
                    step,
                    f"EOF before {step.delimiter!r}; got {show_bytes(bytes(received))}",
                    disconnected=True,
                )
            received += byte

    def _recv_until(self, step: RecvUntil) -> None:
        if isinstance(self.sock, ssl.SSLSocket):
            self._recv_until_tls(step)
            return
        received = bytearray()
        delimiter = step.delimiter
        while True:  # bounded: each pass consumes >= 1 byte, and max_bytes caps the total
            peeked = self._recv(_CHUNK, socket.MSG_PEEK)
            if not peeked:
                self._check_stop()
                raise ScriptFailure(
                    0,
                    step,
                    f"EOF before {delimiter!r}; got {show_bytes(bytes(received))}",
                    disconnected=True,
                )
            window = received + peeked
            found = window.find(delimiter, max(0, len(received) - len(delimiter) + 1))
            take = len(peeked) if found < 0 else found + len(delimiter) - len(received)
            received += self._recv_exactly(take, step)
            if found >= 0:
                return
            if len(received) >= step.max_bytes:
                raise ScriptFailure(
                    0,
                    step,
                    f"{delimiter!r} not seen in the first {len(received)} bytes: "
                    f"{show_bytes(bytes(received))}",
                )

    def _until_eof(self, bufsize: int) -> None:
        while self._recv(bufsize):  # bounded by the peer's EOF or our stop (shutdown wakes recv with b'')
            pass
        self._check_stop()
        self.transcript.record_event("EOF")

    def _echo(self, bufsize: int) -> None:
        while True:  # bounded by EOF; a stop shuts the socket down, which ends it
            chunk = self._recv(bufsize)
            if not chunk:
                self._check_stop()
                self.transcript.record_event("EOF")
                return
            self.sock.sendall(chunk)
            self.transcript.record_out(chunk)

    def _set_buffers(self, step: SetBuf) -> None:
        parts = []
        for option, value, label in (
            (socket.SO_RCVBUF, step.rcvbuf, "SO_RCVBUF"),
            (socket.SO_SNDBUF, step.sndbuf, "SO_SNDBUF"),
        ):
            if value is not None:
                self.sock.setsockopt(socket.SOL_SOCKET, option, value)
                actual = self.sock.getsockopt(socket.SOL_SOCKET, option)
                parts.append(f"{label} {value} (kernel reports {actual})")
        self.transcript.record_event("set " + ", ".join(parts))
