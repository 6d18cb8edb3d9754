"""One way to say an address: every form accepted by every peer entry point, bad ones refused at the call."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from sockharness.peers import ScriptedTCPClient
from sockharness.peers._addresses import (
    coerce_address,
    format_address,
    is_loopback,
    parse_host_port,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:80", ("127.0.0.1", 80)),
        ("[::1]:8080", ("::1", 8080)),
        ("localhost:0", ("localhost", 0)),
        ("[fe80::1%lo]:1", ("fe80::1%lo", 1)),
    ],
)
def test_parse_host_port(text, expected):
    assert parse_host_port(text) == expected
    assert parse_host_port(format_address(expected)) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("::::not-an-address", "write an IPv6 literal in brackets"),
        ("::1:80", "write an IPv6 literal in brackets"),
        ("localhost", "the port is missing"),
        ("127.0.0.1:http", "port 'http' is not a number"),
        ("127.0.0.1:65536", "port 65536 is out of range"),
        (":80", "the host is empty"),
        ("[::1]80", "an IPv6 literal is written"),
        ("127.0.0.1:٣", "is not a number"),
    ],
)
def test_parse_host_port_says_why(text, reason):
    with pytest.raises(ValueError, match=rf"address {text!r} is not host:port: .*{reason}|{reason}"):
        parse_host_port(text)


def test_format_address():
    assert format_address(("127.0.0.1", 5)) == "127.0.0.1:5"
    assert format_address(("::1", 5, 0, 0)) == "[::1]:5"
    assert format_address("already:1") == "already:1"
    assert format_address(None) == "None"


def test_is_loopback_never_resolves_a_name():
    assert is_loopback("127.0.0.1") and is_loopback("127.9.9.9") and is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")
    assert not is_loopback("::")
    assert not is_loopback("192.0.2.1")
    assert not is_loopback("example.invalid")


class _HasAddress:
    address = ("127.0.0.1", 9)


@pytest.mark.parametrize(
    "target",
    [("127.0.0.1", 9), ["127.0.0.1", 9], "127.0.0.1:9", "localhost:9", _HasAddress()],
    ids=["tuple", "list", "text", "localhost", "object"],
)
def test_coerce_address_accepts_every_form(target):
    assert coerce_address(target) == ("127.0.0.1", 9)


def test_coerce_address_keeps_ipv6_tuples_and_parses_brackets():
    assert coerce_address(("::1", 9, 0, 0)) == ("::1", 9, 0, 0)
    assert coerce_address("[::1]:9") == ("::1", 9)


@pytest.mark.parametrize(
    ("target", "error", "reason"),
    [
        ("::::not-an-address", ValueError, "write an IPv6 literal in brackets"),
        ("example.invalid:80", ValueError, "names the host 'example.invalid', but an IP literal"),
        (("example.invalid", 80), ValueError, "an IP literal"),
        (("127.0.0.1", 70000), ValueError, "out of range"),
        (("127.0.0.1", "80"), TypeError, "port must be an int"),
        (("127.0.0.1", True), TypeError, "port must be an int"),
        (8080, TypeError, "expected a peer, a \\(host, port\\) tuple or 'host:port' text"),
    ],
)
def test_coerce_address_refuses_with_the_reason(target, error, reason):
    with pytest.raises(error, match=rf"^upstream: .*{reason}"):
        coerce_address(target, argument="upstream")


def test_tcp_client_fixture_takes_text(echo_server, tcp_client):
    for target in (f"127.0.0.1:{echo_server.port}", echo_server, echo_server.address):
        client = tcp_client(target, timeout=5)
        client.sendall(b"form")
        assert client.recv(4) == b"form"


def test_tcp_client_fixture_takes_bracketed_ipv6(ipv6_loopback, start_peer, tcp_client):
    from sockharness.peers import EchoServer

    server = start_peer(EchoServer(host=ipv6_loopback))
    client = tcp_client(f"[::1]:{server.port}", timeout=5)
    assert client.family == socket.AF_INET6
    client.sendall(b"v6")
    assert client.recv(2) == b"v6"


def test_udp_client_fixture_takes_text(udp_echo, udp_client):
    client = udp_client(f"127.0.0.1:{udp_echo.port}", connect=True, timeout=5)
    client.send(b"datagram")
    assert client.recv(64) == b"datagram"


def test_tcp_client_fixture_refuses_a_name_at_the_call(tcp_client):
    with pytest.raises(ValueError, match=r"'example.invalid:1' names the host 'example.invalid'"):
        tcp_client("example.invalid:1")


def test_scripted_client_peer_fixture_takes_text(echo_server, tcp_client_peer):
    from sockharness.peers import Expect, SendAll, Shutdown

    client = tcp_client_peer(
        f"127.0.0.1:{echo_server.port}", [SendAll(b"hi"), Expect(b"hi"), Shutdown(socket.SHUT_WR)]
    )
    client.wait_done(5)
    assert client.target == ("127.0.0.1", echo_server.port)


def test_scripted_client_takes_a_proxy(fault_proxy, echo_server, tcp_client_peer):
    from sockharness.peers import Expect, SendAll

    proxy = fault_proxy(echo_server)
    client = tcp_client_peer(proxy, [SendAll(b"via"), Expect(b"via")])
    client.wait_done(5)
    assert client.target == tuple(proxy.address)


def test_peers_expose_host_port_address_and_the_http_peer_a_url(http_hello_server):
    assert http_hello_server.host == "127.0.0.1"
    assert http_hello_server.address == (http_hello_server.host, http_hello_server.port)
    assert http_hello_server.url == f"http://127.0.0.1:{http_hello_server.port}/"
    with urllib.request.urlopen(http_hello_server.url, timeout=5) as response:
        assert response.read() == b"Hello, World"


def test_constructing_a_scripted_client_with_localhost_text_uses_the_loopback():
    client = ScriptedTCPClient("localhost:1", [])
    assert client.target == ("127.0.0.1", 1)
