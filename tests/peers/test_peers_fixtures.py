"""The client-socket factories and start_peer: modes, families, argument errors, cleanup."""

from __future__ import annotations

import socket

import pytest

from sockharness.peers import EchoServer, PeerError, Registry, default_registry


def test_tcp_client_modes(echo_server, tcp_client):
    assert tcp_client(echo_server).gettimeout() is None
    assert tcp_client(echo_server, timeout=0.3).gettimeout() == 0.3
    assert tcp_client(echo_server, blocking=False).getblocking() is False
    unconnected = tcp_client(timeout=0.3)
    assert unconnected.gettimeout() == 0.3
    with pytest.raises(OSError):
        unconnected.getpeername()


def test_tcp_client_connected_is_connected(echo_server, tcp_client):
    client = tcp_client(echo_server)
    assert client.getpeername() == echo_server.address


def test_tcp_client_connect_false_keeps_it_unconnected(echo_server, tcp_client):
    client = tcp_client(echo_server, connect=False)
    with pytest.raises(OSError):
        client.getpeername()


def test_tcp_client_accepts_an_address_tuple(echo_server, tcp_client):
    client = tcp_client(list(echo_server.address), timeout=5)
    client.sendall(b"tuple")
    assert client.recv(5) == b"tuple"


def test_tcp_client_sets_buffers_before_connecting(echo_server, tcp_client):
    client = tcp_client(echo_server, sndbuf=4096, rcvbuf=4096)
    # Set before connect, so auto-tuning never grows them (Linux reports double the request: 8192).
    assert 4096 <= client.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) <= 2 * 4096
    assert 4096 <= client.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) <= 2 * 4096


def test_tcp_client_argument_errors(tcp_client):
    with pytest.raises(ValueError, match="timeout: a non-blocking socket has no timeout"):
        tcp_client(blocking=False, timeout=1)
    with pytest.raises(TypeError, match="connect=True needs a target"):
        tcp_client(connect=True)
    with pytest.raises(TypeError, match=r"target: expected a peer, a \(host, port\) tuple or 'host:port'"):
        tcp_client(3.5)
    with pytest.raises(ValueError, match=r"'::::not-an-address' is not host:port"):
        tcp_client("::::not-an-address")


def test_tcp_client_ipv6_family(ipv6_loopback, tcp_client):
    client = tcp_client(family=socket.AF_INET6)
    assert client.family == socket.AF_INET6


def test_udp_client_is_bound_to_the_loopback(udp_client):
    client = udp_client()
    host, port = client.getsockname()
    assert host == "127.0.0.1" and port > 0
    assert udp_client(bind=False).getsockname() == ("0.0.0.0", 0)


def test_udp_client_connected_and_nonblocking(udp_echo, udp_client):
    client = udp_client(udp_echo, connect=True, blocking=False)
    assert client.getpeername() == udp_echo.address
    with pytest.raises(BlockingIOError):
        client.recv(10)


def test_udp_client_ipv6(ipv6_loopback, start_peer, udp_client):
    from sockharness.peers import UDPEcho

    echo = start_peer(UDPEcho(host=ipv6_loopback))
    client = udp_client(echo, connect=True, timeout=5)
    client.send(b"six")
    assert client.recv(10) == b"six"


def test_start_peer_adopts_a_peer_made_without_a_registry(start_peer, sockharness_registry):
    peer = EchoServer()
    assert peer.registry is default_registry()
    start_peer(peer)
    assert peer.registry is sockharness_registry
    assert peer in sockharness_registry.peers()


def test_start_peer_rejects_a_started_peer(start_peer):
    registry = Registry()
    peer = EchoServer(registry=registry).start()
    try:
        with pytest.raises(ValueError, match="already started"):
            start_peer(peer)
    finally:
        registry.close_all()


def test_reply_and_full_backlog_factories_pass_options(reply_server, full_backlog):
    assert reply_server(b"x", read=8, name="custom").name == "custom"
    assert full_backlog(backlog=2, probe_timeout=0.05).prefilled >= 2


def test_fixture_peers_are_tracked_for_teardown(echo_server, closed_port, sockharness_registry):
    assert {echo_server, closed_port} <= set(sockharness_registry.peers())
    origins = {record.origin for record in sockharness_registry.open_sockets()}
    assert "listener of echo" in origins and "holder of closed_port" in origins


def test_teardown_failure_is_raised_once_the_test_checked(tcp_server, tcp_client):
    from sockharness.peers import Expect

    server = tcp_server([Expect(b"right")])
    tcp_client(server).sendall(b"wrong")
    with pytest.raises(PeerError):
        server.wait_done(5)
    # teardown stays quiet: this failure was already seen by the test
