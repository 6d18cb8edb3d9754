"""Stream order survives the embedded proxy: FIN and RST arrive after every byte sent before them.

A fault proxy that delays or slices data keeps it in queues between two sockets. If an end-of-stream
event (a FIN from ``shutdown(SHUT_WR)``, or an RST) were forwarded as soon as the proxy saw it, it would
overtake the queued bytes: the far side would see EOF early (a truncated request) or a reset instead of
the reply's last bytes. These tests put latency *and* slicer toxics on both streams, so many small,
delayed chunks are in flight when the end-of-stream event arrives, and check each byte (SHA-256) and the
event's position.

Byte volume: about 25 MiB here (8 MiB each way in the half-close test, 48 KiB, 1 MiB and 8 MiB in the
reset tests); the 1 GiB budget is carried by faults/test_faults_integrity.py (512 MiB up and the same
512 MiB back through latency and slicer chains, CRC-32 checked, plus 200 concurrent connections compared
byte for byte), see "What sockharness promises" in the README.
"""

from __future__ import annotations

import fcntl
import hashlib
import random
import socket
import struct
import termios
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from sockharness.faults._backends.embedded import EmbeddedBackend
from sockharness.faults._interface import FaultProxy
from sockharness.fixtures._peers import TCPClientFactory
from sockharness.peers import Close, Expect, RecvEOF, ScriptedTCPServer, SendAll
from tests.support.polling import wait_until

MIB = 1 << 20
TCP_CLOSE = 7  # include/net/tcp_states.h
LATE_READ_WAIT = 1.0  # seconds a late client waits before reading (cut short once the reset is there)
TRANSFER_TIMEOUT = 60.0  # seconds; generous for 2 loaded cores, a healthy run takes well under 5 s
# The proxy must keep both directions' chains full of small, delayed pieces when the FIN/RST comes.
SLICER = {"average_size": 16 * 1024, "size_variation": 8 * 1024, "delay": 200}


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def embedded_backend(sockharness_seed: int) -> Iterator[EmbeddedBackend]:
    """Always the embedded engine: real Toxiproxy does not pass a half-close on (toxiproxy-facts)."""
    backend = EmbeddedBackend(seed=sockharness_seed)
    try:
        yield backend
    finally:
        backend.close()


def toxic_proxy(backend: EmbeddedBackend, upstream: tuple[str, int]) -> FaultProxy:
    proxy = backend.create_proxy(upstream)
    for stream in ("upstream", "downstream"):
        proxy.add_toxic("latency", name=f"lag_{stream}", stream=stream, latency=5, jitter=3)
        proxy.add_toxic("slicer", name=f"slices_{stream}", stream=stream, **SLICER)
    return proxy


def test_half_close_arrives_after_all_data_and_the_reply_still_returns(
    embedded_backend: EmbeddedBackend,
    tcp_server: Callable[..., ScriptedTCPServer],
    tcp_client: TCPClientFactory,
) -> None:
    rng = random.Random(0x5EED)
    request, reply = rng.randbytes(8 * MIB), rng.randbytes(8 * MIB)
    # The server answers only once it has the whole request AND its EOF: the shape of HTTP/1.0 uploads.
    server = tcp_server([Expect(request), RecvEOF(), SendAll(reply), Close()])
    proxy = toxic_proxy(embedded_backend, server.address[:2])
    client = tcp_client(proxy.address, timeout=TRANSFER_TIMEOUT)

    client.sendall(request)
    client.shutdown(socket.SHUT_WR)
    received = bytearray()
    while chunk := client.recv(MIB):
        received += chunk

    server.wait_done(TRANSFER_TIMEOUT)
    server.check()  # Expect compared every byte; EOF came after them, never in the middle
    transcript = server.transcripts[0]
    assert transcript.bytes_received() == len(request)  # nothing after the EOF position, nothing lost
    assert len(received) == len(reply)
    assert digest(bytes(received)) == digest(reply)


def unsent_bytes(sock: socket.socket) -> int:
    """Bytes in ``sock``'s send queue not yet acknowledged by the other kernel (Linux SIOCOUTQ)."""
    raw = fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, struct.pack("i", 0))
    count: int = struct.unpack("i", raw)[0]
    return count


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of ``sock`` (first byte of TCP_INFO); reading it consumes nothing."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)[0]


@dataclass(frozen=True)
class ResetOutcome:
    received: bytes
    ended_by: BaseException | None
    proxy_aborted_before_reading: bool


def reset_after_data(backend: EmbeddedBackend, tcp_client: TCPClientFactory, payload: bytes) -> ResetOutcome:
    """Server sends ``payload`` and, once the proxy's kernel has acknowledged every byte, resets.

    The client reads only after the proxy has passed the reset on (its TCP state turned CLOSE) or after
    ``LATE_READ_WAIT``, whichever comes first: a reader that is a little late must not lose bytes the
    proxy already acknowledged to the server. Only acknowledged bytes are the proxy's to deliver: an RST
    sent earlier would make the *server's* kernel drop the rest, which says nothing about the proxy.
    """
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TRANSFER_TIMEOUT)
        proxy = toxic_proxy(backend, listener.getsockname()[:2])
        client = tcp_client(proxy.address, timeout=TRANSFER_TIMEOUT)
        server, _ = listener.accept()
        with server:
            server.sendall(payload)
            assert wait_until(lambda: unsent_bytes(server) == 0, TRANSFER_TIMEOUT), (
                "proxy never took the data"
            )
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    aborted = wait_until(lambda: tcp_state(client) == TCP_CLOSE, LATE_READ_WAIT)
    received = bytearray()
    try:
        while chunk := client.recv(MIB):
            received += chunk
    except OSError as error:
        return ResetOutcome(bytes(received), error, aborted)
    return ResetOutcome(bytes(received), None, aborted)


def check_data_then_reset(outcome: ResetOutcome, payload: bytes) -> None:
    got = len(outcome.received)
    assert got == len(payload), (
        f"{got} of {len(payload)} bytes arrived before the end "
        f"(the proxy had passed the reset on before the client read: {outcome.proxy_aborted_before_reading})"
    )
    assert digest(outcome.received) == digest(payload)
    assert isinstance(outcome.ended_by, ConnectionResetError), (
        f"expected the RST after the data, got {outcome.ended_by!r} (None: a FIN, the reset was lost)"
    )


def test_reset_arrives_after_data_delayed_by_the_toxics(
    embedded_backend: EmbeddedBackend, tcp_client: TCPClientFactory
) -> None:
    # Less than the client's receive buffer: the RST must wait behind every delayed, sliced chunk.
    payload = random.Random(0xBEEF).randbytes(48 * 1024)
    check_data_then_reset(reset_after_data(embedded_backend, tcp_client, payload), payload)


def test_reset_never_discards_data_the_proxy_acknowledged(
    embedded_backend: EmbeddedBackend, tcp_client: TCPClientFactory
) -> None:
    # More than the client's receive buffer holds: the rest waits in the proxy's socket send queue, and an
    # abortive close at that moment would discard it (before the fix, 118,864 of 1,048,576 bytes arrived).
    payload = random.Random(0xFACE).randbytes(MIB)
    check_data_then_reset(reset_after_data(embedded_backend, tcp_client, payload), payload)


def test_reset_while_the_client_reads_along_loses_nothing(
    embedded_backend: EmbeddedBackend, tcp_client: TCPClientFactory
) -> None:
    # The client drains as fast as it can while 8 MiB stream through; the RST comes while megabytes are
    # still queued in the proxy (2 of 20 such runs lost 172 KB and 767 KB before bc22868).
    payload = random.Random(0xD00D).randbytes(8 * MIB)
    received = bytearray()
    ended_by: list[BaseException] = []
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(TRANSFER_TIMEOUT)
        proxy = toxic_proxy(embedded_backend, listener.getsockname()[:2])
        client = tcp_client(proxy.address, timeout=TRANSFER_TIMEOUT)

        def read_along() -> None:
            try:
                while chunk := client.recv(MIB):
                    received.extend(chunk)
            except OSError as error:
                ended_by.append(error)

        reader = threading.Thread(target=read_along, name="reliability reader", daemon=True)
        server, _ = listener.accept()
        reader.start()
        try:
            with server:
                server.sendall(payload)
                assert wait_until(lambda: unsent_bytes(server) == 0, TRANSFER_TIMEOUT)
                server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            reader.join(TRANSFER_TIMEOUT)
        finally:
            if reader.is_alive():  # never leave the thread behind, even when an assertion failed
                client.shutdown(socket.SHUT_RDWR)
                reader.join(5)
    assert not reader.is_alive()
    check_data_then_reset(ResetOutcome(bytes(received), ended_by[0] if ended_by else None, False), payload)
