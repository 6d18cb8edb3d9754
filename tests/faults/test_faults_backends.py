"""The same behaviour on both backends (any_fault_backend): embedded engine and a real Toxiproxy server.

The toxiproxy runs skip locally without a server (set TOXIPROXY_URL) and fail under CI.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

import pytest

from sockharness.faults._errors import ToxicExists, ToxicNotFound
from sockharness.faults._interface import FaultBackend, FaultProxy
from sockharness.fixtures._peers import TCPClientFactory
from sockharness.peers import EchoServer, ScriptedTCPServer
from sockharness.peers._steps import Close, RecvEOF, SendAll
from tests.support.socket_io import echo


def connect(tcp_client: TCPClientFactory, proxy: FaultProxy) -> socket.socket:
    sock = tcp_client(proxy.address, timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def test_proxies_and_lists_toxics(
    any_fault_backend: FaultBackend, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = any_fault_backend.create_proxy(echo_server.address[:2])
    assert proxy.upstream == (echo_server.host, echo_server.port)
    assert proxy.enabled
    assert echo(connect(tcp_client, proxy), b"hello") == b"hello"
    name = proxy.add_toxic("latency", latency=10, jitter=2)
    assert name == "latency_downstream"
    named = proxy.add_toxic("limit_data", name="cap", stream="upstream", bytes=100)
    [first, second] = sorted(proxy.toxics(), key=lambda toxic: toxic.name)
    assert (second.name, second.type, second.stream) == ("latency_downstream", "latency", "downstream")
    assert second.attributes == {"latency": 10, "jitter": 2}
    assert (first.name, first.attributes) == (named, {"bytes": 100})
    with pytest.raises(ToxicExists):
        proxy.add_toxic("latency", latency=1)
    proxy.update_toxic(name, latency=20)
    assert {toxic.name: toxic.attributes for toxic in proxy.toxics()}[name]["latency"] == 20
    proxy.remove_toxic(name)
    with pytest.raises(ToxicNotFound):
        proxy.remove_toxic(name)
    proxy.reset()
    assert proxy.toxics() == []


def test_latency_is_never_early(
    any_fault_backend: FaultBackend, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = any_fault_backend.create_proxy(echo_server.address[:2])
    proxy.add_toxic("latency", latency=40)
    sock = connect(tcp_client, proxy)
    for _ in range(3):
        started = time.perf_counter()
        assert echo(sock, b"x") == b"x"
        assert time.perf_counter() - started >= 0.040 - 0.0005


def test_limit_data_exact(
    any_fault_backend: FaultBackend,
    tcp_server: Callable[..., ScriptedTCPServer],
    tcp_client: TCPClientFactory,
) -> None:
    server = tcp_server([SendAll(b"abcdefghij" * 5), RecvEOF(), Close()])
    proxy = any_fault_backend.create_proxy(server.address[:2])
    proxy.add_toxic("limit_data", bytes=12)
    sock = connect(tcp_client, proxy)
    data = b""
    while chunk := sock.recv(100):
        data += chunk
    assert data == b"abcdefghijab"


def test_down_refuses_then_recovers_on_the_same_address(
    any_fault_backend: FaultBackend, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = any_fault_backend.create_proxy(echo_server.address[:2])
    address = proxy.address
    with proxy.down():
        assert not proxy.enabled
        with pytest.raises(ConnectionRefusedError):
            tcp_client(address)
    assert proxy.address == address and proxy.enabled
    assert echo(connect(tcp_client, proxy), b"back") == b"back"
