"""Property tests on real sockets: steps read exactly what they should however the stream is chunked."""

from __future__ import annotations

import itertools
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sockharness.peers import Expect, RecvUntil, Registry, ScriptedTCPServer, SendAll

WAIT = 5.0
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _send_in_chunks(sock: socket.socket, data: bytes, cuts: list[int]) -> None:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    for start, end in itertools.pairwise(points):
        sock.sendall(data[start:end])


@SETTINGS
@given(
    head=st.binary(max_size=300).filter(
        lambda b: b"\r\n\r\n" not in b and not b.endswith((b"\r", b"\r\n", b"\r\n\r"))
    ),
    tail=st.binary(min_size=1, max_size=100),
    cuts=st.lists(st.integers(min_value=0, max_value=500), max_size=6),
)
def test_recv_until_consumes_exactly_through_the_delimiter(head, tail, cuts):
    registry = Registry()
    try:
        server = ScriptedTCPServer(
            [RecvUntil(b"\r\n\r\n"), SendAll(b"ack"), Expect(tail)], registry=registry
        ).start()
        client = registry.track_socket(socket.create_connection(server.address, timeout=WAIT), "test")
        _send_in_chunks(client, head + b"\r\n\r\n" + tail, cuts)
        assert client.recv(3) == b"ack"
        server.wait_done(WAIT)
        assert server.transcripts[0].received() == head + b"\r\n\r\n" + tail
    finally:
        assert registry.close_all() == []


@SETTINGS
@given(payload=st.binary(min_size=1, max_size=20000), cuts=st.lists(st.integers(min_value=0), max_size=8))
def test_echo_returns_any_payload_intact(payload, cuts):
    from sockharness.peers import EchoServer

    registry = Registry()
    try:
        server = EchoServer(registry=registry).start()
        client = registry.track_socket(socket.create_connection(server.address, timeout=WAIT), "test")
        _send_in_chunks(client, payload, cuts)
        client.shutdown(socket.SHUT_WR)
        received = bytearray()
        while chunk := client.recv(65536):  # bounded: the echo server closes after EOF
            received += chunk
        assert bytes(received) == payload
    finally:
        assert registry.close_all() == []
