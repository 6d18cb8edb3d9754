"""One test (at least) per built-in peer kind, on real loopback sockets."""

from __future__ import annotations

import errno
import select
import socket
import sys
import time

import pytest

from sockharness._errnos import is_errno
from sockharness.peers import (
    HTTP_HELLO_RESPONSE,
    ClosedPort,
    EchoServer,
    FullBacklog,
    PeerError,
    Registry,
    SilentServer,
    UDPClosedPort,
    UDPEcho,
)

WAIT = 5.0


def read_until_eof(sock: socket.socket) -> bytes:
    received = bytearray()
    while chunk := sock.recv(65536):  # bounded: the peers here close after answering
        received += chunk
    return bytes(received)


def test_echo_server_serves_several_clients(echo_server, tcp_client):
    clients = [tcp_client(echo_server, timeout=WAIT) for _ in range(3)]
    for index, client in enumerate(clients):
        client.sendall(b"client %d" % index)
    assert [c.recv(1024) for c in clients] == [b"client 0", b"client 1", b"client 2"]
    for client in clients:
        client.close()
    echo_server.wait_done(WAIT, connections=3)


def test_echo_server_tolerates_a_client_reset(echo_server, tcp_client):
    client = tcp_client(echo_server, timeout=WAIT)
    client.sendall(b"x")
    assert client.recv(1) == b"x"
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    client.close()
    echo_server.wait_done(WAIT)  # no PeerError: a client hanging up is not the echo server's failure


def test_discard_server_reads_everything_and_answers_nothing(discard_server, tcp_client):
    client = tcp_client(discard_server, timeout=WAIT)
    client.sendall(b"z" * 200_000)
    client.shutdown(socket.SHUT_WR)
    assert read_until_eof(client) == b""
    discard_server.wait_done(WAIT)
    assert discard_server.transcripts[0].bytes_received() == 200_000


def test_silent_server_never_reads_or_writes(silent_server, tcp_client):
    client = tcp_client(silent_server, timeout=0.05)
    client.sendall(b"hello?")
    with pytest.raises(TimeoutError):
        client.recv(1)
    silent_server.wait_connections(1, WAIT)
    assert silent_server.transcripts[0].bytes_received() == 0


def test_silent_server_with_small_buffers_fills_quickly(start_peer, tcp_client):
    silent = start_peer(SilentServer(rcvbuf=4096, sndbuf=4096))
    client = tcp_client(silent, sndbuf=4096, blocking=False)
    total = 0
    with pytest.raises(BlockingIOError):
        for _ in range(64):  # bounded: a few KiB fill both buffers
            total += client.send(b"y" * 65536)
    assert 0 < total < 200_000  # defaults would absorb megabytes (socket-facts 2.2)


def test_reply_server_sends_its_reply_and_closes(reply_server, tcp_client):
    server = reply_server(b"pong\n", read=16)
    client = tcp_client(server, timeout=WAIT)
    client.sendall(b"ping\n")
    assert read_until_eof(client) == b"pong\n"
    server.wait_done(WAIT)
    assert server.transcripts[0].received() == b"ping\n"


def test_http_hello_server_answers_exactly_the_seed_response(http_hello_server, tcp_client):
    client = tcp_client(http_hello_server, timeout=WAIT)
    client.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert read_until_eof(client) == HTTP_HELLO_RESPONSE == b"HTTP/1.1 200 OK\r\n\r\nHello, World"


def test_http_hello_server_resets_after_a_request_over_1024_bytes(http_hello_server, tcp_client):
    client = tcp_client(http_hello_server, timeout=WAIT)
    client.sendall(b"GET / HTTP/1.1\r\nX-Pad: " + b"p" * 1500 + b"\r\n\r\n")
    http_hello_server.wait_done(WAIT)
    received = bytearray()
    with pytest.raises(ConnectionResetError):
        for _ in range(16):  # bounded: the response is 33 bytes, then the reset
            chunk = client.recv(1024)
            assert chunk, "expected a reset, not an orderly EOF"
            received += chunk
    assert bytes(received) == HTTP_HELLO_RESPONSE


def test_closed_port_refuses_and_holds_the_port(closed_port, tcp_client):
    assert tcp_client().connect_ex(closed_port.address) == errno.ECONNREFUSED
    other = tcp_client()
    with pytest.raises(OSError) as info:
        other.bind(closed_port.address)  # the holder socket keeps the port from anyone else
    assert is_errno(info.value, "EADDRINUSE")


def test_full_backlog_is_filled_to_n_plus_one_on_linux(full_backlog):
    for backlog in (0, 1, 3):
        peer = full_backlog(backlog=backlog)
        assert peer.prefilled >= backlog
        if sys.platform.startswith("linux"):  # Linux completes exactly N+1 (socket-facts 3)
            assert peer.prefilled == backlog + 1
        assert "queue full" in peer.transcripts[0].texts()[-1]


def test_full_backlog_queued_clients_are_usable(full_backlog):
    peer = full_backlog(backlog=1)
    for client in peer.queued:
        client.sendall(b"queued data is accepted by the kernel")


def test_full_backlog_nonblocking_connect_stays_pending(full_backlog, tcp_client):
    peer = full_backlog(backlog=1)
    client = tcp_client(blocking=False)
    assert is_errno(client.connect_ex(peer.address), ["EINPROGRESS", "EWOULDBLOCK"])
    _, writable, _ = select.select([], [client], [], 0.2)
    assert writable == []


def test_full_backlog_that_cannot_fill_fails_clearly():
    registry = Registry()
    peer = FullBacklog(backlog=5, max_prefill=2, registry=registry)
    with pytest.raises(PeerError, match=r"could not fill a backlog of 5: 3 connects completed"):
        peer.start()
    assert registry.close_all() == []
    assert registry.open_sockets() == []


def test_udp_echo_echoes_datagrams_with_boundaries(udp_echo, udp_client):
    client = udp_client(udp_echo, connect=True, timeout=WAIT)
    for payload in (b"one", b"", b"three"):
        client.send(payload)
        assert client.recv(1024) == payload
    assert udp_echo.transcripts[0].received() == b"onethree"


def test_udp_closed_port_draws_icmp_refusal_on_a_connected_socket(udp_closed_port, udp_client):
    client = udp_client(udp_closed_port, connect=True, timeout=WAIT)
    client.send(b"anyone?")
    with pytest.raises(ConnectionRefusedError):
        client.recv(1024)
    client.settimeout(0.05)
    with pytest.raises(TimeoutError):  # reported exactly once
        client.recv(1024)


def test_udp_closed_port_is_silent_for_an_unconnected_socket(udp_closed_port, udp_client):
    client = udp_client(timeout=0.05)
    client.sendto(b"anyone?", udp_closed_port.address)
    with pytest.raises(TimeoutError):
        client.recvfrom(1024)


@pytest.mark.parametrize("kind", [EchoServer, SilentServer, ClosedPort, UDPEcho, UDPClosedPort])
def test_builtins_bind_ipv6(ipv6_loopback, start_peer, kind):
    peer = start_peer(kind(host=ipv6_loopback))
    assert peer.host == "::1" and peer.port > 0


def test_full_backlog_on_ipv6(ipv6_loopback, full_backlog, tcp_client):
    peer = full_backlog(backlog=1, host=ipv6_loopback)
    client = tcp_client(family=socket.AF_INET6, timeout=0.2)
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        client.connect(peer.address)
    assert time.perf_counter() - started >= 0.2 - 0.002


def test_every_builtin_stops_quickly_and_leaves_nothing():
    registry = Registry()
    peers = [
        EchoServer(registry=registry),
        SilentServer(registry=registry),
        ClosedPort(registry=registry),
        FullBacklog(registry=registry),
        UDPEcho(registry=registry),
        UDPClosedPort(registry=registry),
    ]
    held = []
    for peer in peers:
        peer.start()
        if isinstance(peer, EchoServer | SilentServer):
            held.append(registry.track_socket(socket.create_connection(peer.address, timeout=WAIT), "test"))
    started = time.perf_counter()
    assert registry.close_all() == []
    assert time.perf_counter() - started < 1.0
    assert registry.open_sockets() == [] and registry.live_threads() == []
    for peer in peers:
        peer.check()
