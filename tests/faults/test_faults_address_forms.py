"""One way to say an address (issue 12.3, faults side): ``fault_proxy`` and ``FaultBackend.create_proxy`` take
every form a peer takes, a proxy has ``.host``/``.port`` like a peer, and a name that cannot work fails at
the call with the reason. Real sockets: every accepted form is proven by an echo through the proxy."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from sockharness.faults._errors import BadRequest
from sockharness.faults._interface import FaultBackend, FaultProxy, upstream_text
from sockharness.fixtures._faults import InjectingProxy
from sockharness.peers import EchoServer

WAIT = 5.0


class _Named:
    """Anything with an ``.address`` names that address."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address


def _forms(server: EchoServer) -> list[Any]:
    return [
        server,
        server.address,
        (server.host, server.port),
        [server.host, server.port],
        f"127.0.0.1:{server.port}",
        f"localhost:{server.port}",  # taken as 127.0.0.1, as Toxiproxy resolves it
        _Named(server.address),
    ]


def _echoes(proxy: FaultProxy, payload: bytes = b"hello") -> None:
    with socket.create_connection(proxy.address, timeout=WAIT) as sock:
        sock.sendall(payload)
        assert sock.recv(len(payload)) == payload


def test_create_proxy_takes_every_form_a_peer_takes(any_fault_backend: FaultBackend, echo_server: EchoServer):
    for form in _forms(echo_server):
        proxy = any_fault_backend.create_proxy(form)
        assert proxy.upstream == ("127.0.0.1", echo_server.port), form
        assert (proxy.host, proxy.port) == proxy.address
        _echoes(proxy)


def test_a_proxy_is_an_upstream_too(any_fault_backend: FaultBackend, echo_server: EchoServer):
    front_of_front = any_fault_backend.create_proxy(any_fault_backend.create_proxy(echo_server))
    _echoes(front_of_front)


def test_ipv6_upstream_in_brackets(any_fault_backend: FaultBackend, ipv6_loopback: str, start_peer: Any):
    server = start_peer(EchoServer(host=ipv6_loopback))
    for form in (f"[::1]:{server.port}", server, ("::1", server.port)):
        proxy = any_fault_backend.create_proxy(form)
        assert proxy.upstream == ("::1", server.port)
        _echoes(proxy)


@pytest.mark.parametrize(
    ("upstream", "reason"),
    [
        ("localhost", "the port is missing"),
        ("example.com:80", r"an IP literal \(127.0.0.1, ::1\) or localhost is needed here"),
        ("::1:80", r"write an IPv6 literal in brackets, \[::1\]:80"),
        ("127.0.0.1:99999", r"port 99999 is out of range \(0..65535\)"),
        (("127.0.0.1", 70000), "port 70000 is out of range"),
    ],
)
def test_a_name_that_cannot_work_fails_at_the_call(
    any_fault_backend: FaultBackend, upstream: object, reason: str
) -> None:
    with pytest.raises(BadRequest, match=rf"create_proxy\(upstream=...\).*{reason}"):
        any_fault_backend.create_proxy(upstream)


def test_a_wrong_type_is_a_type_error_naming_the_argument(fault_backend: FaultBackend) -> None:
    with pytest.raises(TypeError, match=r"create_proxy\(upstream=...\): expected a peer"):
        fault_backend.create_proxy(object())
    with pytest.raises(TypeError, match="port must be an int"):
        fault_backend.create_proxy(("127.0.0.1", "80"))


def test_upstream_text_is_toxiproxys_notation() -> None:
    assert upstream_text(("::1", 80, 0, 0)) == "[::1]:80"
    assert upstream_text("localhost:80") == "127.0.0.1:80"
    assert upstream_text(_Named(("127.0.0.1", 9))) == "127.0.0.1:9"


def test_fault_proxy_fixture_takes_the_same_forms(fault_proxy: Any, echo_server: EchoServer) -> None:
    for form in _forms(echo_server):
        proxy = fault_proxy(form)
        assert isinstance(proxy, InjectingProxy) and isinstance(proxy, FaultProxy)
        assert proxy.upstream == ("127.0.0.1", echo_server.port)
        assert (proxy.host, proxy.port) == proxy.address
        _echoes(proxy)
    _echoes(fault_proxy(fault_proxy(echo_server)))  # a fixture proxy as the upstream of another


def test_fault_proxy_fixture_refuses_a_name_that_cannot_work(fault_proxy: Any) -> None:
    with pytest.raises(
        ValueError, match=r"fault_proxy\(upstream=...\): address 'localhost'.*port is missing"
    ):
        fault_proxy("localhost")
    with pytest.raises(ValueError, match=r"fault_proxy\(upstream=...\).*names the host 'db'"):
        fault_proxy("db:5432")


# -- the engine's reading: Toxiproxy's host:port on top of the one parser ------------------------------------
def test_the_engine_reads_host_port_as_toxiproxy_does() -> None:
    from sockharness.faults._engine.checks import split_host_port

    assert split_host_port(":8474") == ("", 8474)  # Go's empty host: every interface
    assert split_host_port("[::1]:80") == ("::1", 80)
    assert split_host_port("localhost:80") == ("localhost", 80)  # resolved by the engine, as Toxiproxy does
    for text in ("bad", "::1:80", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(ValueError, match=text.replace("[", r"\[")):
            split_host_port(text)
