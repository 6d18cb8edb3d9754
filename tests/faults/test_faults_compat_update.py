"""``FaultEngine.update_proxy`` is all-or-nothing: a listen it cannot use leaves the proxy as it was.

Toxiproxy resolves a new listen address before stopping the proxy, so a typo changes nothing. A listen
that parses but cannot be bound leaves a real Toxiproxy disabled on the new address, and its ``/reset``
then fails; the engine binds the new address before it stops anything, so the proxy keeps listening,
its live connections keep flowing and ``reset()`` keeps working. Tested through the Python interface
(FaultEngine and EmbeddedBackend), which has no HTTP layer to pre-check anything.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from sockharness.faults._backends.embedded import EmbeddedBackend
from sockharness.faults._engine.engine import EngineProxy, FaultEngine
from sockharness.faults._engine.toxics import ToxicSpec
from sockharness.faults._errors import ListenError
from sockharness.fixtures._peers import TCPClientFactory
from sockharness.peers import EchoServer
from sockharness.peers._addresses import parse_host_port as parse_address
from tests.support.socket_io import echo


@pytest.fixture
def engine() -> Iterator[FaultEngine]:
    with FaultEngine(seed=7) as created:
        yield created
    assert created.reactor.errors == []


@pytest.fixture
def held_port() -> Iterator[str]:
    """A loopback address some other socket is listening on."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen(1)
        yield f"127.0.0.1:{held.getsockname()[1]}"


def upstream_of(peer: EchoServer) -> str:
    return f"{peer.host}:{peer.port}"


def snapshot(proxy: EngineProxy) -> dict[str, object]:
    return {**proxy.to_json(), "connections": proxy.engine.reactor.call(proxy.connection_count)}


BAD_LISTENS = [
    ("bogus", "address bogus: missing port in address"),
    ("127.0.0.1:abc", "lookup tcp/abc: unknown port"),
    ("127.0.0.1:99999", "address 99999: invalid port"),
]


@pytest.mark.parametrize(("listen", "message"), BAD_LISTENS, ids=[listen for listen, _ in BAD_LISTENS])
@pytest.mark.parametrize("enabled", [None, True, False], ids=["keep", "enable", "disable"])
def test_unusable_listen_changes_nothing(
    engine: FaultEngine,
    echo_server: EchoServer,
    tcp_client: TCPClientFactory,
    listen: str,
    message: str,
    enabled: bool | None,
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    proxy.add_toxic(ToxicSpec.from_json({"type": "noop"}))
    live = tcp_client(parse_address(proxy.listen), timeout=5)
    assert echo(live, b"before") == b"before"
    before = snapshot(proxy)
    with pytest.raises(ListenError) as caught:
        engine.update_proxy("web", listen=listen, upstream="127.0.0.1:1", enabled=enabled)
    assert caught.value.message == message and caught.value.status == 500
    assert snapshot(proxy) == before
    assert echo(live, b"after") == b"after"  # the live connection was not touched
    engine.reset()
    assert proxy.enabled and proxy.listen == before["listen"] and proxy.toxics() == []


def test_listen_in_use_changes_nothing_and_reset_still_works(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory, held_port: str
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    live = tcp_client(parse_address(proxy.listen), timeout=5)
    assert echo(live, b"x") == b"x"
    before = snapshot(proxy)
    with pytest.raises(ListenError, match=f"^listen tcp {held_port}: bind: address already in use$"):
        engine.update_proxy("web", listen=held_port)
    assert snapshot(proxy) == before
    assert echo(live, b"y") == b"y"
    engine.reset()
    assert echo(tcp_client(parse_address(proxy.listen), timeout=5), b"z") == b"z"


def test_a_disabled_proxy_keeps_its_listen_when_enabling_on_a_taken_port_fails(
    engine: FaultEngine, echo_server: EchoServer, held_port: str
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server), enabled=False)
    with pytest.raises(ListenError, match="address already in use"):
        engine.update_proxy("web", listen=held_port, enabled=True)
    assert (proxy.listen, proxy.enabled) == ("127.0.0.1:0", False)
    engine.reset()
    assert proxy.enabled and proxy.listen != "127.0.0.1:0"


def test_a_disabled_proxy_takes_a_new_listen_as_written(engine: FaultEngine, held_port: str) -> None:
    """Like Toxiproxy: while disabled the address is only resolved, and bound when it is enabled."""
    proxy = engine.create_proxy("web", "127.0.0.1:0", "127.0.0.1:1")
    engine.update_proxy("web", listen=held_port, enabled=False)
    assert (proxy.listen, proxy.enabled) == (held_port, False)
    with pytest.raises(ListenError, match="address already in use"):
        engine.reset()
    engine.update_proxy("web", listen="127.0.0.1:0")
    engine.reset()
    assert proxy.enabled


def test_a_new_listen_moves_the_proxy_and_closes_live_connections(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    old = proxy.listen
    live = tcp_client(parse_address(old), timeout=5)
    assert echo(live, b"a") == b"a"
    engine.update_proxy("web", listen="127.0.0.1:0")
    assert proxy.enabled and proxy.listen != old
    assert live.recv(1) == b""  # closed by the restart
    with pytest.raises(ConnectionRefusedError):
        tcp_client(parse_address(old))
    assert echo(tcp_client(parse_address(proxy.listen), timeout=5), b"b") == b"b"


def test_the_same_address_spelled_differently_keeps_the_listener(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    if socket.getaddrinfo("localhost", 0, socket.AF_UNSPEC, socket.SOCK_STREAM)[0][4][0] != "127.0.0.1":
        pytest.skip("localhost does not resolve to 127.0.0.1 first here")
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    listen = proxy.listen
    live = tcp_client(parse_address(listen), timeout=5)
    assert echo(live, b"a") == b"a"
    engine.update_proxy("web", listen=f"localhost:{parse_address(listen)[1]}")
    assert proxy.enabled and proxy.listen == listen
    assert live.recv(1) == b""  # a new listen restarts the proxy, as in Toxiproxy
    assert echo(tcp_client(parse_address(listen), timeout=5), b"b") == b"b"


def test_a_new_upstream_closes_live_connections_but_keeps_listening(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", "127.0.0.1:1")
    listen = proxy.listen
    engine.update_proxy("web", upstream=upstream_of(echo_server))
    live = tcp_client(parse_address(listen), timeout=5)
    assert echo(live, b"a") == b"a"
    engine.update_proxy("web", upstream="127.0.0.1:1")
    assert live.recv(1) == b""
    assert (proxy.listen, proxy.enabled, proxy.upstream) == (listen, True, "127.0.0.1:1")


def test_embedded_backend_proxy_survives_a_bad_listen(
    echo_server: EchoServer, tcp_client: TCPClientFactory, held_port: str
) -> None:
    with EmbeddedBackend(seed=3) as backend:
        proxy = backend.create_proxy(echo_server.address[:2])
        address = proxy.address
        for listen in ("nonsense", held_port):
            with pytest.raises(ListenError):
                backend.engine.update_proxy(proxy.name, listen=listen)
            assert proxy.address == address and proxy.enabled
        proxy.disable()
        proxy.reset()
        backend.reset()
        assert proxy.enabled and proxy.address == address
        assert echo(tcp_client(address, timeout=5), b"ok") == b"ok"
