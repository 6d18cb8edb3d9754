"""FaultEngine / EngineProxy: the Toxiproxy model (names, errors, enable/disable, reset) on real sockets."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator

import pytest

from sockharness.faults._backends.embedded import EmbeddedBackend
from sockharness.faults._engine.engine import FaultEngine
from sockharness.faults._engine.toxics import ToxicSpec, slicer_cuts
from sockharness.faults._errors import (
    ListenError,
    ProxyExists,
    ProxyNotFound,
    ToxicExists,
    ToxicNotFound,
)
from sockharness.fixtures._peers import TCPClientFactory
from sockharness.peers import EchoServer
from sockharness.peers._addresses import parse_host_port as parse_address
from tests.support.socket_io import echo


@pytest.fixture
def engine() -> Iterator[FaultEngine]:
    with FaultEngine(seed=11) as created:
        yield created
    assert created.reactor.errors == []
    thread = created.reactor.thread
    assert thread is not None and not thread.is_alive()


def upstream_of(peer: EchoServer) -> str:
    return f"{peer.host}:{peer.port}"


def echo_once(tcp_client: TCPClientFactory, listen: str, payload: bytes = b"hi") -> bytes:
    return echo(tcp_client(parse_address(listen), timeout=5), payload)


def test_create_resolves_listen_and_reports_json(engine: FaultEngine, echo_server: EchoServer) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    host, port = parse_address(proxy.listen)
    assert host == "127.0.0.1" and port > 0
    assert proxy.to_json() == {
        "name": "web",
        "listen": proxy.listen,
        "upstream": upstream_of(echo_server),
        "enabled": True,
        "toxics": [],
    }
    assert engine.get_proxy("web") is proxy and engine.proxies() == {"web": proxy}


def test_errors_match_toxiproxy(engine: FaultEngine, echo_server: EchoServer) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    with pytest.raises(ProxyExists) as exists:
        engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    assert (exists.value.status, exists.value.message) == (409, "proxy already exists")
    with pytest.raises(ProxyNotFound) as missing:
        engine.get_proxy("nope")
    assert (missing.value.status, missing.value.message) == (404, "proxy not found")
    with pytest.raises(ListenError) as busy:
        engine.create_proxy("other", proxy.listen, upstream_of(echo_server))
    assert busy.value.status == 500 and "address already in use" in busy.value.message
    assert "other" not in engine.proxies()
    proxy.add_toxic(ToxicSpec.from_json({"type": "latency"}))
    with pytest.raises(ToxicExists) as toxic_exists:
        proxy.add_toxic(ToxicSpec.from_json({"type": "latency"}))
    assert toxic_exists.value.message == "toxic already exists"
    with pytest.raises(ToxicNotFound):
        proxy.remove_toxic("nope")
    with pytest.raises(ToxicNotFound):
        proxy.update_toxic("nope", {"attributes": {"latency": 1}})


def test_toxics_list_upstream_first_then_in_added_order(engine: FaultEngine, echo_server: EchoServer) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    proxy.add_toxic(ToxicSpec.from_json({"type": "latency", "name": "d1"}))
    proxy.add_toxic(ToxicSpec.from_json({"type": "slicer", "name": "u1", "stream": "upstream"}))
    proxy.add_toxic(ToxicSpec.from_json({"type": "bandwidth", "name": "d2"}))
    assert [toxic.name for toxic in proxy.toxics()] == ["u1", "d1", "d2"]
    updated = proxy.update_toxic("d1", {"attributes": {"jitter": 3}, "toxicity": 0.25})
    assert updated.attributes == {"latency": 0, "jitter": 3} and updated.toxicity == 0.25
    assert proxy.get_toxic("d1") == updated
    assert proxy.to_json()["toxics"] == [toxic.to_json() for toxic in proxy.toxics()]


def test_disable_refuses_and_enable_rebinds_the_same_port(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    listen = proxy.listen
    assert echo_once(tcp_client, listen) == b"hi"
    engine.update_proxy("web", enabled=False)
    assert not proxy.enabled and proxy.listen == listen
    with pytest.raises(ConnectionRefusedError):
        tcp_client(parse_address(listen))
    engine.update_proxy("web", enabled=True)
    assert proxy.listen == listen and echo_once(tcp_client, listen) == b"hi"


def test_new_upstream_restarts_the_proxy(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", "127.0.0.1:1")
    engine.update_proxy("web", upstream=upstream_of(echo_server))
    assert proxy.enabled and proxy.upstream == upstream_of(echo_server)
    assert echo_once(tcp_client, proxy.listen) == b"hi"


def test_created_disabled_then_enabled(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server), enabled=False)
    assert not proxy.enabled
    engine.update_proxy("web", enabled=True)
    assert echo_once(tcp_client, proxy.listen) == b"hi"


def test_reset_enables_and_removes_toxics_but_keeps_proxies(
    engine: FaultEngine, echo_server: EchoServer
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    proxy.add_toxic(ToxicSpec.from_json({"type": "latency"}))
    engine.update_proxy("web", enabled=False)
    engine.reset()
    assert proxy.enabled and proxy.toxics() == [] and list(engine.proxies()) == ["web"]


def test_delete_closes_live_connections(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    sock = tcp_client(parse_address(proxy.listen), timeout=5)
    sock.sendall(b"x")
    assert sock.recv(1) == b"x"
    engine.delete_proxy("web")
    assert sock.recv(10) == b""
    with pytest.raises(ProxyNotFound):
        engine.get_proxy("web")
    assert engine.wait_idle(5)


def test_ipv6_listen_and_upstream(
    engine: FaultEngine, ipv6_loopback: str, tcp_client: TCPClientFactory
) -> None:
    listener = socket.create_server((ipv6_loopback, 0), family=socket.AF_INET6)
    try:
        port = listener.getsockname()[1]
        proxy = engine.create_proxy("v6", f"[{ipv6_loopback}]:0", f"[{ipv6_loopback}]:{port}")
        assert proxy.listen.startswith("[::1]:")
        sock = tcp_client(parse_address(proxy.listen), timeout=5)
        listener.settimeout(5)
        accepted, _ = listener.accept()
        with accepted:
            sock.sendall(b"six")
            accepted.settimeout(5)
            assert accepted.recv(10) == b"six"
    finally:
        listener.close()


def test_closed_engine_refuses_new_proxies(echo_server: EchoServer) -> None:
    engine = FaultEngine()
    engine.close()
    engine.close()
    with pytest.raises(RuntimeError, match="closed"):
        engine.create_proxy("late", "127.0.0.1:0", upstream_of(echo_server))


def test_closing_a_backend_leaves_no_thread_or_descriptor(
    echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    backend = EmbeddedBackend(seed=3)
    reactor = backend.engine.reactor
    proxy = backend.create_proxy(echo_server.address[:2])
    proxy.add_toxic("latency", latency=1)
    sock = tcp_client(proxy.address, timeout=5)
    sock.sendall(b"x" * 200_000)  # bulk: the directions open splice pipes
    received = 0
    while received < 200_000:
        received += len(sock.recv(65536))
    connections = list(proxy.engine_proxy._connections)
    backend.close()
    assert sock.recv(10) == b""
    assert reactor.thread is not None and not reactor.thread.is_alive()
    assert reactor.epoll.closed
    for connection in connections:
        assert connection.closed
        for direction in (connection.up, connection.down):
            assert direction.pipe_r == direction.pipe_w == -1
        assert connection.client.sock.fileno() == -1 and connection.upstream.sock.fileno() == -1


class _ListenerOutOfDescriptorsOnce:
    """Stands in for the listening socket: the first accept() fails with EMFILE, as when the process is
    out of file descriptors."""

    def __init__(self, real: socket.socket) -> None:
        self.real = real
        self.failures = 0

    def fileno(self) -> int:
        return self.real.fileno()

    def accept(self) -> tuple[socket.socket, object]:
        if self.failures == 0:
            self.failures += 1
            raise OSError(errno.EMFILE, "Too many open files")
        return self.real.accept()

    def close(self) -> None:
        self.real.close()


def test_running_out_of_descriptors_pauses_accepting_instead_of_spinning(
    engine: FaultEngine, echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    proxy = engine.create_proxy("web", "127.0.0.1:0", upstream_of(echo_server))
    stand_in = _ListenerOutOfDescriptorsOnce(proxy._listener)  # type: ignore[arg-type]

    def swap() -> None:
        proxy._listener = stand_in  # type: ignore[assignment]

    engine.reactor.call(swap)
    assert echo_once(tcp_client, proxy.listen) == b"hi"  # accepted once the pause is over
    assert stand_in.failures == 1


def _first_connection_draws(seed: int, upstream: str, tcp_client: TCPClientFactory) -> list[list[int]]:
    """Slicer cuts the engine's first connection would make, drawn from that connection's own RNGs."""
    with FaultEngine(seed=seed) as engine:
        proxy = engine.create_proxy("replay", "127.0.0.1:0", upstream)
        proxy.add_toxic(
            ToxicSpec.from_json({"type": "slicer", "attributes": {"average_size": 50, "size_variation": 40}})
        )
        assert echo_once(tcp_client, proxy.listen) == b"hi"  # the echo proves the connection is accepted

        def draws() -> list[list[int]]:
            [connection] = list(proxy._connections)
            [stage] = connection.down.chain.stages
            return [slicer_cuts(1000, 50, 40, stage.rng) for _ in range(3)]  # type: ignore[attr-defined]

        return engine.reactor.call(draws)


def test_a_seed_replays_every_connection_random_choice(
    echo_server: EchoServer, tcp_client: TCPClientFactory
) -> None:
    upstream = upstream_of(echo_server)
    assert _first_connection_draws(99, upstream, tcp_client) == _first_connection_draws(
        99, upstream, tcp_client
    )
    assert _first_connection_draws(99, upstream, tcp_client) != _first_connection_draws(
        98, upstream, tcp_client
    )
