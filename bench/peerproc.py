"""Test servers for the benchmarks, each run as its own process (``python -m bench.peerproc KIND``).

Separate processes keep the servers' GIL apart from the load generator's and the proxy's. The process
prints ``READY <port>`` once listening on 127.0.0.1 and exits when its standard input closes, so a
crashed benchmark never leaves a server behind.

Kinds (every socket sets TCP_NODELAY, as Go does by default on Toxiproxy's sockets):

- ``echo``: one thread per connection, echoes until EOF.
- ``sink``: one thread per connection; reads an 8-byte big-endian length, consumes that many bytes with
  ``recv_into`` a 1 MiB buffer, answers one byte; repeats until EOF.
- ``source``: one thread per connection; reads an 8-byte length, sends that many bytes in 64 KiB
  ``sendall`` calls; repeats until EOF.
- ``mass-echo``: a single epoll loop that echoes on thousands of connections (threads would not scale).
- ``udp-echo``: one UDP socket that sends every datagram back to where it came from.
"""

from __future__ import annotations

import contextlib
import os
import resource
import selectors
import socket
import struct
import sys
import threading
from collections.abc import Callable

HEADER = struct.Struct("!Q")
CHUNK = 64 * 1024
RECV_BUFFER = 1024 * 1024
ACK = b"\x01"
KINDS = ("echo", "sink", "source", "mass-echo", "udp-echo")


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (unprivileged processes may go no further)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def recv_exactly(conn: socket.socket, size: int) -> bytes | None:
    """``size`` bytes, or None on a clean EOF before the first byte."""
    data = bytearray()
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            if data:
                raise ConnectionError(f"EOF after {len(data)} of {size} bytes")
            return None
        data += chunk
    return bytes(data)


def serve_echo(conn: socket.socket) -> None:
    while True:
        data = conn.recv(CHUNK)
        if not data:
            return
        conn.sendall(data)


def serve_sink(conn: socket.socket) -> None:
    buffer = bytearray(RECV_BUFFER)
    view = memoryview(buffer)
    while True:
        header = recv_exactly(conn, HEADER.size)
        if header is None:
            return
        (remaining,) = HEADER.unpack(header)
        while remaining:
            received = conn.recv_into(view, min(remaining, RECV_BUFFER))
            if not received:
                raise ConnectionError(f"EOF with {remaining} bytes still expected")
            remaining -= received
        conn.sendall(ACK)


def serve_source(conn: socket.socket) -> None:
    block = memoryview(bytes(CHUNK))
    while True:
        header = recv_exactly(conn, HEADER.size)
        if header is None:
            return
        (remaining,) = HEADER.unpack(header)
        while remaining:
            size = min(remaining, CHUNK)
            conn.sendall(block[:size])
            remaining -= size


def handle(conn: socket.socket, serve: Callable[[socket.socket], None]) -> None:
    """Run one connection's protocol; a peer that vanishes mid-way is the client's business, not ours."""
    with conn, contextlib.suppress(OSError):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        serve(conn)


def accept_threads(listener: socket.socket, serve: Callable[[socket.socket], None]) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        threading.Thread(target=handle, args=(conn, serve), daemon=True).start()


def mass_echo(listener: socket.socket) -> None:
    """Echo on many connections from one thread with epoll; writes are small, so a short write is
    finished with a blocking ``sendall`` rather than an output queue."""
    listener.setblocking(False)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, None)
    while True:
        for key, _ in selector.select():
            if key.data is None:
                while True:
                    try:
                        conn, _ = listener.accept()
                    except BlockingIOError:
                        break
                    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    conn.setblocking(False)
                    selector.register(conn, selectors.EVENT_READ, "conn")
                continue
            if not isinstance(key.fileobj, socket.socket):
                raise TypeError(f"selector returned {key.fileobj!r}, not a socket")
            conn = key.fileobj
            try:
                data = conn.recv(CHUNK)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:
                selector.unregister(conn)
                conn.close()
                continue
            conn.setblocking(True)
            try:
                conn.sendall(data)
            except OSError:
                selector.unregister(conn)
                conn.close()
                continue
            conn.setblocking(False)


def udp_echo(sock: socket.socket) -> None:
    while True:
        try:
            data, sender = sock.recvfrom(65535)
            sock.sendto(data, sender)
        except OSError:
            continue  # an ICMP error for an earlier reply: that client is gone, others are not


SERVERS: dict[str, Callable[[socket.socket], None]] = {
    "echo": serve_echo,
    "sink": serve_sink,
    "source": serve_source,
}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in KINDS:
        print(f"usage: python -m bench.peerproc {{{'|'.join(KINDS)}}}", file=sys.stderr)
        return 2
    kind = argv[0]
    raise_fd_limit()
    if kind == "udp-echo":
        listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        listener.bind(("127.0.0.1", 0))
    else:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(4096)
    if kind == "udp-echo":
        target: Callable[[], None] = lambda: udp_echo(listener)  # noqa: E731
    elif kind == "mass-echo":
        target = lambda: mass_echo(listener)  # noqa: E731
    else:
        serve = SERVERS[kind]
        target = lambda: accept_threads(listener, serve)  # noqa: E731
    threading.Thread(target=target, name=f"bench-{kind}", daemon=True).start()
    print(f"READY {listener.getsockname()[1]}", flush=True)
    sys.stdin.read()  # returns at EOF: the benchmark closed our stdin or died
    os._exit(0)  # daemon threads may be blocked in accept/recv; nothing to flush


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
