"""UDP peers: an echo server, and an address where nothing receives.

A thread blocked in ``recvfrom()`` on an unconnected UDP socket is woken portably by a datagram, so stopping
sends an empty one to the peer's own address (on Linux ``shutdown()`` also wakes it, but raises ENOTCONN
while doing so, and other stacks do not promise it).

UDPClosedPort's race: a UDP port cannot be *held* without receiving on it (a bound UDP socket accepts
datagrams), so the port is picked by binding port 0 and closing the socket at once. Until some other
process binds that port, datagrams to it draw an ICMP port-unreachable; another process could in principle
take it in between (never observed: the kernel hands out ephemeral ports round-robin over ~28,000).
"""

from __future__ import annotations

import contextlib
import socket

from sockharness._errnos import describe_exception
from sockharness.peers._addresses import family_for_host, format_address
from sockharness.peers._base import PeerBase
from sockharness.peers._registry import Registry
from sockharness.peers._transcript import Transcript

__all__ = ["UDPClosedPort", "UDPEcho"]

_MAX_DATAGRAM = 65535


def wake_datagram_socket(address: tuple[str, int]) -> None:
    """Send an empty datagram to ``address``, so a thread blocked in its ``recvfrom`` sees the stop."""
    with (
        contextlib.suppress(OSError),
        socket.socket(family_for_host(address[0]), socket.SOCK_DGRAM) as waker,
    ):
        waker.sendto(b"", address)


class UDPEcho(PeerBase):
    """Sends every datagram back to its sender (one transcript for all datagrams)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "udp_echo",
        registry: Registry | None = None,
    ) -> None:
        super().__init__(name=name, registry=registry)
        self.requested_host = host
        self.requested_port = port
        self._sock: socket.socket | None = None

    def _start(self) -> None:
        sock = self._track_socket(
            socket.socket(family_for_host(self.requested_host), socket.SOCK_DGRAM), "socket"
        )
        self._sock = sock
        sock.bind((self.requested_host, self.requested_port))
        self.address = sock.getsockname()
        transcript = Transcript(f"{self.name} {format_address(self.address)}")
        self.transcripts.append(transcript)
        self._spawn(
            lambda: self._guard(lambda: self._loop(sock, transcript), "echo loop", transcript), "echo"
        )

    def _loop(self, sock: socket.socket, transcript: Transcript) -> None:
        while not self._stopping():  # bounded: a stop sets the flag and sends a wake-up datagram
            try:
                data, sender = sock.recvfrom(_MAX_DATAGRAM)
            except ConnectionError as exc:
                # Windows reports an earlier ICMP unreachable on the next recvfrom; it is not ours to fail on.
                transcript.record_event(f"recvfrom: {describe_exception(exc)} (ignored)")
                continue
            if self._stopping():
                return
            transcript.record_in(data)
            sock.sendto(data, sender)
            transcript.record_out(data)

    def _wake(self, sockets: list[socket.socket]) -> None:
        super()._wake(sockets)
        if self.address:
            wake_datagram_socket(self.address)


class UDPClosedPort(PeerBase):
    """A loopback UDP address where nothing receives (see the module docstring for the race)."""

    def __init__(
        self, *, host: str = "127.0.0.1", name: str = "udp_closed_port", registry: Registry | None = None
    ):
        super().__init__(name=name, registry=registry)
        self.requested_host = host

    def _start(self) -> None:
        with socket.socket(family_for_host(self.requested_host), socket.SOCK_DGRAM) as probe:
            probe.bind((self.requested_host, 0))
            self.address = probe.getsockname()
