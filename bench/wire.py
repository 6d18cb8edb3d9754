"""Client-side measurement primitives, run in the benchmark process (the load generator).

Sockets stay in blocking mode so every call is one system call (Python's timeout mode adds a poll per
call, which would inflate round-trip figures); SO_RCVTIMEO/SO_SNDTIMEO still bound every wait, so a
lost byte fails the run with an error instead of hanging it.
"""

from __future__ import annotations

import socket
import struct
import time

from bench.peerproc import ACK, CHUNK, HEADER

Address = tuple[str, int]
IO_TIMEOUT = 30.0


class WireError(RuntimeError):
    """The bytes that came back were not the bytes the protocol promised."""


def set_io_timeout(sock: socket.socket, seconds: float) -> None:
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1_000_000))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def connect(address: Address, timeout: float = IO_TIMEOUT) -> socket.socket:
    """A blocking TCP_NODELAY connection whose waits (connect included) end after ``timeout``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        set_io_timeout(sock, timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.connect(address)
    except BaseException:
        sock.close()
        raise
    return sock


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise WireError(f"EOF after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def bulk_upload(address: Address, nbytes: int) -> float:
    """Seconds to push ``nbytes`` to a sink: 8-byte length header, 64 KiB ``sendall`` calls, until the
    sink's one-byte acknowledgement (the clock stops only when every byte arrived)."""
    block = memoryview(bytes(CHUNK))
    with connect(address) as sock:
        start = time.perf_counter()
        sock.sendall(HEADER.pack(nbytes))
        remaining = nbytes
        while remaining:
            size = min(remaining, CHUNK)
            sock.sendall(block[:size])
            remaining -= size
        if sock.recv(1) != ACK:
            raise WireError("sink did not acknowledge the transfer")
        return time.perf_counter() - start


def ping_pong_on(sock: socket.socket, count: int, payload_size: int = 1) -> list[float]:
    """Round-trip times (seconds) of ``count`` ``payload_size``-byte messages on a connected socket to an
    echo server."""
    payload = b"p" * payload_size
    samples: list[float] = []
    clock = time.perf_counter_ns
    for index in range(count):
        start = clock()
        sock.sendall(payload)
        received = sock.recv(payload_size)
        while len(received) < payload_size:
            more = sock.recv(payload_size - len(received))
            if not more:
                raise WireError(f"EOF in round trip {index}")
            received += more
        elapsed = clock() - start
        if received != payload:
            raise WireError(f"round trip {index} echoed {received!r}")
        samples.append(elapsed / 1e9)
    return samples


def ping_pong(address: Address, count: int, warmup: int, payload_size: int = 1) -> list[float]:
    """``count`` round-trip times on a new connection, after ``warmup`` discarded round trips."""
    with connect(address) as sock:
        ping_pong_on(sock, warmup, payload_size)
        return ping_pong_on(sock, count, payload_size)


def connect_echo_close(address: Address, count: int) -> list[float]:
    """Per-connection seconds of connect + 1-byte echo + close, ``count`` fresh connections."""
    samples: list[float] = []
    for index in range(count):
        start = time.perf_counter_ns()
        with connect(address) as sock:
            sock.sendall(b"c")
            if sock.recv(1) != b"c":
                raise WireError(f"connection {index}: the byte did not come back")
        samples.append((time.perf_counter_ns() - start) / 1e9)
    return samples


def download(address: Address, nbytes: int) -> tuple[float, float]:
    """Ask a source for ``nbytes``; returns (seconds to the first byte, seconds to the last byte), both
    counted from sending the request."""
    buffer = bytearray(1024 * 1024)
    view = memoryview(buffer)
    with connect(address) as sock:
        start = time.perf_counter()
        sock.sendall(HEADER.pack(nbytes))
        received = sock.recv_into(view)
        first = time.perf_counter() - start
        while received < nbytes:
            got = sock.recv_into(view, min(len(buffer), nbytes - received))
            if not got:
                raise WireError(f"EOF after {received} of {nbytes} bytes")
            received += got
        last = time.perf_counter() - start
        if received != nbytes:
            raise WireError(f"received {received} bytes, asked for {nbytes}")
        return first, last
