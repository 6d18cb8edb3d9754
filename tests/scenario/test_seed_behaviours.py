"""Every socket behaviour the seed tutorial describes, reached through the fixtures alone (real loopback)."""

from __future__ import annotations

import errno
import http.client
import select
import socket
import time

import pytest

from sockharness._errnos import assert_errno, is_errno
from sockharness.peers import Close, Recv, Reset, SilentServer

TIMEOUT = 0.3
EARLY_SLACK = 0.002  # socket-facts 6.3: never early, 2 ms covers clock differences
LATE_SLACK = 0.25  # generous for a loaded 2-core CI machine (measured max overshoot 7 ms)


def test_connect_ex_to_closed_port_returns_econnrefused(closed_port, tcp_client):
    client = tcp_client()
    assert_errno(client.connect_ex(closed_port.address), "ECONNREFUSED", source="connect_ex")


def test_connect_to_closed_port_raises_connection_refused(closed_port, tcp_client):
    with pytest.raises(ConnectionRefusedError) as info:
        tcp_client(closed_port)
    assert info.value.errno == errno.ECONNREFUSED


def test_recv_from_reset_peer_raises_connection_reset(tcp_server, tcp_client):
    # The client speaks first: a reset racing the client's connect() would make connect itself fail.
    server = tcp_server([Recv(1), Reset()])
    client = tcp_client(server, timeout=5)
    client.sendall(b"!")
    server.wait_done(5)
    with pytest.raises(ConnectionResetError) as info:
        client.recv(1024)
    assert is_errno(info.value, "ECONNRESET")


def test_recv_after_peer_close_returns_empty_bytes(tcp_server, tcp_client):
    server = tcp_server([Close()])
    client = tcp_client(server, timeout=5)
    server.wait_done(5)
    assert client.recv(1024) == b""
    assert client.recv(1024) == b""


def test_connect_to_full_backlog_times_out_after_the_timeout(full_backlog, tcp_client):
    backlog = full_backlog(backlog=1)
    client = tcp_client(timeout=TIMEOUT)
    started = time.perf_counter()
    with pytest.raises(TimeoutError) as info:
        client.connect(backlog.address)
    elapsed = time.perf_counter() - started
    assert info.value.errno is None, "a Python-level timeout carries no errno"
    assert TIMEOUT - EARLY_SLACK <= elapsed <= TIMEOUT + LATE_SLACK, elapsed


def test_nonblocking_recv_with_nothing_pending_raises_blocking_io(silent_server, tcp_client):
    client = tcp_client(silent_server, blocking=False)
    with pytest.raises(BlockingIOError) as info:
        client.recv(1024)
    assert_errno(info.value, "EWOULDBLOCK", source="recv")
    assert_errno(info.value, "EAGAIN", source="recv")


def test_nonblocking_accept_with_nothing_pending_raises_blocking_io(sockharness_registry):
    listener = sockharness_registry.track_socket(socket.socket(), "test listener")
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.setblocking(False)
    with pytest.raises(BlockingIOError) as info:
        listener.accept()
    assert is_errno(info.value, "EAGAIN")


def test_nonblocking_connect_ex_returns_einprogress_or_zero(echo_server, tcp_client):
    client = tcp_client(blocking=False)
    result = client.connect_ex(echo_server.address)
    assert is_errno(result, "EINPROGRESS") or result == 0, result
    _, writable, _ = select.select([], [client], [], 5)
    assert writable
    assert client.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0


def test_nonblocking_send_to_silent_peer_is_partial_then_blocks(start_peer, tcp_client):
    silent = start_peer(SilentServer(rcvbuf=4096, sndbuf=4096))
    client = tcp_client(silent, sndbuf=4096, rcvbuf=4096, blocking=False)
    payload = b"x" * (1 << 20)
    sent = client.send(payload)
    assert 0 < sent < len(payload)
    with pytest.raises(BlockingIOError) as info:
        for _ in range(64):  # bounded: with 4 KiB buffers the second or third send already blocks
            client.send(payload)
    assert is_errno(info.value, "EAGAIN")


def test_sendall_to_silent_peer_under_timeout_raises_timeout(start_peer, tcp_client):
    silent = start_peer(SilentServer(rcvbuf=4096, sndbuf=4096))
    client = tcp_client(silent, sndbuf=4096, timeout=TIMEOUT)
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        client.sendall(b"x" * (1 << 20))
    elapsed = time.perf_counter() - started
    assert TIMEOUT - EARLY_SLACK <= elapsed <= TIMEOUT + LATE_SLACK, elapsed


def test_getpeername_on_unconnected_socket_raises_enotconn(tcp_client):
    client = tcp_client()
    with pytest.raises(OSError) as info:
        client.getpeername()
    assert_errno(info.value, "ENOTCONN", source="getpeername")


def test_fileno_is_minus_one_after_close(echo_server, tcp_client):
    client = tcp_client(echo_server)
    assert client.fileno() >= 0
    client.close()
    assert client.fileno() == -1


def test_bind_to_an_address_in_use_raises_eaddrinuse(echo_server, tcp_client):
    client = tcp_client()
    with pytest.raises(OSError) as info:
        client.bind(echo_server.address)
    assert_errno(info.value, "EADDRINUSE", source="bind")


def test_seed_echo_example_answers_with_the_same_bytes(echo_server, tcp_client):
    client = tcp_client(echo_server, timeout=5)
    client.sendall(b"Hello, world")
    assert client.recv(1024) == b"Hello, world"


def test_seed_echo_example_returns_a_large_payload_intact(echo_server, tcp_client):
    client = tcp_client(echo_server, timeout=5)
    payload = bytes(range(256)) * 400  # 100 KiB: arrives in arbitrary chunks
    client.sendall(payload)
    client.shutdown(socket.SHUT_WR)
    received = bytearray()
    while chunk := client.recv(65536):  # bounded: the server closes after echoing everything
        received += chunk
    assert bytes(received) == payload


def test_seed_http_example_answers_200_hello_world(http_hello_server):
    connection = http.client.HTTPConnection(http_hello_server.host, http_hello_server.port, timeout=5)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        assert (response.status, response.reason, response.version) == (200, "OK", 11)
        assert response.getheaders() == []
        assert response.read() == b"Hello, World"
    finally:
        connection.close()


def test_seed_http_example_resets_after_the_200_for_a_long_request(http_hello_server):
    connection = http.client.HTTPConnection(http_hello_server.host, http_hello_server.port, timeout=5)
    try:
        connection.request("GET", "/", headers={"X-Padding": "p" * 2000})
        response = connection.getresponse()
        assert response.status == 200
        with pytest.raises(ConnectionResetError):
            response.read()
    finally:
        connection.close()


def test_connected_udp_socket_sees_the_icmp_refusal_once(udp_closed_port, udp_client):
    client = udp_client(udp_closed_port, connect=True, timeout=5)
    client.send(b"ping")
    with pytest.raises(ConnectionRefusedError):
        client.recv(1024)


def test_udp_echo_round_trip(udp_echo, udp_client):
    client = udp_client(timeout=5)
    client.sendto(b"datagram", udp_echo.address)
    data, sender = client.recvfrom(1024)
    assert (data, sender) == (b"datagram", udp_echo.address)
