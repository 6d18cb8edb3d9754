"""Read-and-compare helpers the fault-proxy tests share (not a test module: pytest does not collect it).

The proxy tests all need "send this, read exactly that many bytes back"; one copy keeps the EOF message
the same everywhere.
"""

from __future__ import annotations

import socket
import time


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    """Read exactly ``count`` bytes; an EOF before that fails the test, saying how much had arrived."""
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise AssertionError(f"EOF after {len(data)} of {count} bytes: {bytes(data)[:80]!r}")
        data += chunk
    return bytes(data)


def echo(sock: socket.socket, payload: bytes) -> bytes:
    """Send ``payload`` and read back as many bytes (from an echoing peer, through whatever proxy)."""
    sock.sendall(payload)
    return recv_exactly(sock, len(payload))


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Echo ``payload``, check it came back unchanged, and return the seconds it took."""
    started = time.perf_counter()
    assert echo(sock, payload) == payload
    return time.perf_counter() - started
