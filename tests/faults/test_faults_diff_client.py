"""toxiproxy-python 0.1.1 scripts behave the same against the embedded API as against real Toxiproxy.

The library keeps the server address in ``APIConsumer`` class attributes: ``restore_toxiproxy_client``
puts them back after each test. Scripts here call server-wide operations (``reset``, ``destroy_all``),
so the real side is a private Toxiproxy process, never the shared TOXIPROXY_URL server.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from toxiproxy import Proxy, Toxiproxy
from toxiproxy.exceptions import InvalidToxic, NotFound, ProxyExists

from sockharness.faults._backends.toxiproxy_backend import parse_toxiproxy_url
from sockharness.peers._builtin import EchoServer
from tests.support.toxiproxy_api import BACKENDS, unique


@pytest.fixture(params=BACKENDS)
def server(request: pytest.FixtureRequest, restore_toxiproxy_client: None) -> Iterator[Toxiproxy]:
    """A ``Toxiproxy()`` client pointed at the embedded API or a private real server, emptied after."""
    if request.param == "embedded":
        url = request.getfixturevalue("embedded_api").url
    else:
        url = request.getfixturevalue("private_toxiproxy_url")
    client = Toxiproxy()
    client.update_api_consumer(*parse_toxiproxy_url(url))
    client.destroy_all()
    try:
        yield client
    finally:
        client.destroy_all()


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as peer:
        yield peer


def upstream_of(peer: EchoServer) -> str:
    return f"{peer.host}:{peer.port}"


def echo_once(proxy: Proxy) -> bytes:
    host, port = proxy.listen.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5.0) as sock:
        sock.sendall(b"hello")
        return sock.recv(16)


def test_running_and_version(server: Toxiproxy) -> None:
    assert server.running() is True
    assert b'"version"' in server.version()


def test_create_lists_and_gets(server: Toxiproxy, echo: EchoServer) -> None:
    name = unique("py")
    proxy = server.create(upstream=upstream_of(echo), name=name, listen="127.0.0.1:0")
    assert (proxy.name, proxy.upstream, proxy.enabled) == (name, upstream_of(echo), True)
    assert proxy.listen.startswith("127.0.0.1:") and not proxy.listen.endswith(":0")
    assert set(server.proxies()) == {name}
    fetched = server.get_proxy(name)
    assert fetched is not None and fetched.listen == proxy.listen
    assert server.get_proxy("absent") is None
    assert echo_once(proxy) == b"hello"


def test_create_defaults_to_loopback_any_port(server: Toxiproxy, echo: EchoServer) -> None:
    proxy = server.create(upstream=upstream_of(echo), name=unique("pydef"))  # the library sends 127.0.0.1:0
    assert proxy.listen.startswith("127.0.0.1:")


def test_create_duplicate_raises(server: Toxiproxy, echo: EchoServer) -> None:
    name = unique("pydup")
    server.create(upstream=upstream_of(echo), name=name)
    with pytest.raises(ProxyExists):
        server.create(upstream=upstream_of(echo), name=name)


def test_toxic_lifecycle(server: Toxiproxy, echo: EchoServer) -> None:
    proxy = server.create(upstream=upstream_of(echo), name=unique("pytox"))
    proxy.add_toxic(type="latency", attributes={"latency": 20, "jitter": 1})
    proxy.add_toxic(type="bandwidth", stream="upstream", name="bw", toxicity=0.5, attributes={"rate": 1000})
    toxics = proxy.toxics()
    assert list(toxics) == ["bw", "latency_downstream"]  # upstream first
    latency = toxics["latency_downstream"]
    assert (latency.type, latency.stream, latency.toxicity) == ("latency", "downstream", 1)
    assert latency.attributes == {"latency": 20, "jitter": 1}
    assert (toxics["bw"].stream, toxics["bw"].toxicity, toxics["bw"].attributes) == (
        "upstream",
        0.5,
        {"rate": 1000},
    )
    got = proxy.get_toxic("bw")
    assert got is not None and got.name == "bw"
    assert proxy.get_toxic("absent") is None
    assert echo_once(proxy) == b"hello"
    assert proxy.destroy_toxic("bw") is True
    assert list(proxy.toxics()) == ["latency_downstream"]
    with pytest.raises(NotFound):
        proxy.destroy_toxic("bw")


def test_duplicate_and_invalid_toxics_raise(server: Toxiproxy, echo: EchoServer) -> None:
    proxy = server.create(upstream=upstream_of(echo), name=unique("pybad"))
    proxy.add_toxic(type="timeout", attributes={"timeout": 5})
    with pytest.raises(ProxyExists):  # the library maps every 409 to ProxyExists
        proxy.add_toxic(type="timeout", attributes={"timeout": 5})
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="no_such_toxic")
    with pytest.raises(InvalidToxic):
        proxy.add_toxic(type="latency", stream="sideways")


def test_disable_enable_and_down(server: Toxiproxy, echo: EchoServer) -> None:
    proxy = server.create(upstream=upstream_of(echo), name=unique("pydown"))
    host, port = proxy.listen.rsplit(":", 1)
    proxy.disable()
    assert proxy.enabled is False
    remote = server.get_proxy(proxy.name)
    assert remote is not None and remote.enabled is False
    with socket.socket() as probe:
        assert probe.connect_ex((host, int(port))) != 0
    proxy.enable()
    assert echo_once(proxy) == b"hello"
    with proxy.down():
        again = server.get_proxy(proxy.name)
        assert again is not None and again.enabled is False
    after = server.get_proxy(proxy.name)
    assert after is not None and after.enabled is True and after.listen == proxy.listen


def test_reset_clears_toxics_and_reenables(server: Toxiproxy, echo: EchoServer) -> None:
    first = server.create(upstream=upstream_of(echo), name=unique("pyreset"))
    second = server.create(upstream=upstream_of(echo), name=unique("pyreset"))
    first.add_toxic(type="latency", attributes={"latency": 1000})
    second.disable()
    assert server.reset() is True
    assert first.toxics() == {}
    remote = server.get_proxy(second.name)
    assert remote is not None and remote.enabled is True
    assert set(server.proxies()) == {first.name, second.name}  # reset keeps the proxies


def test_populate(server: Toxiproxy, echo: EchoServer) -> None:
    names = [unique("pypop"), unique("pypop")]
    wanted = [{"name": name, "upstream": upstream_of(echo), "listen": "127.0.0.1:0"} for name in names]
    made = server.populate(wanted)
    assert [proxy.name for proxy in made] == names
    assert set(server.proxies()) == set(names)
    # The library compares the requested listen ("127.0.0.1:0") with the resolved one, so it recreates.
    again = server.populate(wanted)
    assert [proxy.name for proxy in again] == names
    assert all(echo_once(proxy) == b"hello" for proxy in again)


def test_destroy_and_destroy_all(server: Toxiproxy, echo: EchoServer) -> None:
    keep = server.create(upstream=upstream_of(echo), name=unique("pykeep"))
    gone = server.create(upstream=upstream_of(echo), name=unique("pygone"))
    assert server.destroy(gone) is True
    assert server.destroy("not a proxy") is False
    assert set(server.proxies()) == {keep.name}
    with pytest.raises(NotFound):
        gone.destroy()
    server.destroy_all()
    assert server.proxies() == {}
